package policy_test

import (
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
)

// BenchmarkReserveRelease measures a payment decision on a key linked to a
// session with all four limits (reserve, then release), in parallel, on the
// real Redis; BenchmarkRedisRateAllow is go-redis/redis_rate's Allow on the
// same server in the same run, for scale.
func BenchmarkReserveRelease(b *testing.B) {
	rdb := testenv.Redis(b)
	s := policy.New(rdb, policy.Options{})
	f := newFixture(b, s)
	now, _ := s.Now(ctx)
	k, err := s.CreateKey(ctx, policy.NewKey{AgentID: f.agent, UserWallet: f.wallet, Token: "USDC", Decimals: 6,
		Address: "addr", MaxAmount: policy.MaxAmount, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Activate(ctx, k.ID, "sig", policy.MaxAmount); err != nil {
		b.Fatal(err)
	}
	sess, err := s.CreateSession(ctx, policy.NewSession{AgentID: f.agent, UserWallet: f.wallet, ExpiresAt: now.Add(time.Hour),
		Limits: policy.Limits{PerTransaction: 10 * usdc, PerDay: 1e15, PerWeek: 1e15, PerMonth: 1e15}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Link(ctx, f.agent, k.ID, sess.ID); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent,
				Amount: usdc, Recipient: "merchant", Signature: "sig"})
			if err != nil || d.Outcome != policy.OutcomeReserved {
				b.Fatalf("reserve: %v %+v", err, d)
			}
			if _, err := s.Release(ctx, f.wallet, d.Payment.ID, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCanAfford measures the read-only decision (one round trip).
func BenchmarkCanAfford(b *testing.B) {
	rdb := testenv.Redis(b)
	s := policy.New(rdb, policy.Options{})
	f := newFixture(b, s)
	now, _ := s.Now(ctx)
	k, _ := s.CreateKey(ctx, policy.NewKey{AgentID: f.agent, UserWallet: f.wallet, Token: "USDC", Decimals: 6,
		Address: "addr", MaxAmount: 1000 * usdc, ExpiresAt: now.Add(time.Hour)})
	_, _ = s.Activate(ctx, k.ID, "sig", 1000*usdc)
	sess, _ := s.CreateSession(ctx, policy.NewSession{AgentID: f.agent, UserWallet: f.wallet, ExpiresAt: now.Add(time.Hour),
		Limits: policy.Limits{PerTransaction: 10 * usdc, PerDay: 100 * usdc, PerWeek: 200 * usdc, PerMonth: 300 * usdc}})
	_, _ = s.Link(ctx, f.agent, k.ID, sess.ID)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeCheck, SessionKeyID: k.ID, AgentID: f.agent,
				Amount: usdc, Recipient: "merchant"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRedisRateAllow(b *testing.B) {
	rdb := testenv.Redis(b)
	lim := redis_rate.NewLimiter(rdb)
	key := "bench:" + wallet()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := lim.Allow(ctx, key, redis_rate.PerSecond(1e9)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
