package policy_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
)

// backends runs a test on the real Redis server (the one that counts), on a
// real Redis Cluster (the same scripts, one slot per user_wallet) and on the
// embedded miniredis (the zero-setup default).
func backends(t *testing.T, fn func(t *testing.T, s *policy.Store)) {
	t.Helper()
	t.Run("redis", func(t *testing.T) {
		fn(t, policy.New(testenv.Redis(t), policy.Options{}))
	})
	t.Run("cluster", func(t *testing.T) {
		fn(t, policy.New(testenv.RedisCluster(t), policy.Options{}))
	})
	t.Run("miniredis", func(t *testing.T) {
		e, err := policy.NewEmbedded()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close() })
		fn(t, policy.New(e.Client, policy.Options{}))
	})
}

const usdc = 1_000_000 // one USDC in base units

var ctx = context.Background()

// wallet returns a random base58 text standing in for a user_wallet.
func wallet() string { return testenv.FakeWallet() }

type fixture struct {
	t      testing.TB
	s      *policy.Store
	wallet string
	agent  string
}

func newFixture(t testing.TB, s *policy.Store) *fixture {
	return &fixture{t: t, s: s, wallet: wallet(), agent: "agent-" + wallet()[:8]}
}

// key creates a session key of max units, expiring in ttl, and activates it.
func (f *fixture) key(maxAmount policy.Amount, ttl time.Duration) *policy.SessionKey {
	f.t.Helper()
	k := f.pending(maxAmount, ttl)
	k, err := f.s.Activate(ctx, k.ID, "fundsig-"+k.ID, maxAmount)
	if err != nil {
		f.t.Fatalf("activate: %v", err)
	}
	return k
}

func (f *fixture) pending(maxAmount policy.Amount, ttl time.Duration) *policy.SessionKey {
	f.t.Helper()
	now, err := f.s.Now(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	k, err := f.s.CreateKey(ctx, policy.NewKey{AgentID: f.agent, UserWallet: f.wallet, Token: "USDC",
		Decimals: 6, Address: wallet(), PKPPublicKey: wallet(), SealedSecret: "sealed", MaxAmount: maxAmount,
		ExpiresAt: now.Add(ttl)})
	if err != nil {
		f.t.Fatalf("create key: %v", err)
	}
	return k
}

func (f *fixture) session(l policy.Limits, approvalAbove policy.Amount, recipients ...string) *policy.Session {
	f.t.Helper()
	now, err := f.s.Now(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := f.s.CreateSession(ctx, policy.NewSession{AgentID: f.agent, UserWallet: f.wallet, Limits: l,
		RequireApprovalAbove: approvalAbove, AllowedRecipients: recipients, ExpiresAt: now.Add(7 * 24 * time.Hour)})
	if err != nil {
		f.t.Fatalf("create session: %v", err)
	}
	return s
}

func (f *fixture) linked(maxAmount policy.Amount, l policy.Limits) (*policy.SessionKey, *policy.Session) {
	f.t.Helper()
	k := f.key(maxAmount, 30*24*time.Hour+time.Hour)
	s := f.session(l, 0)
	if _, err := f.s.Link(ctx, f.agent, k.ID, s.ID); err != nil {
		f.t.Fatalf("link: %v", err)
	}
	return k, s
}

func (f *fixture) reserve(s *policy.Store, keyID string, amount policy.Amount) *policy.Decision {
	f.t.Helper()
	d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: keyID, AgentID: f.agent,
		Amount: amount, Recipient: "merchant", Signature: "sig"})
	if err != nil {
		f.t.Fatalf("reserve %d: %v", amount, err)
	}
	return d
}

func (f *fixture) pay(s *policy.Store, keyID string, amount policy.Amount) *policy.Decision {
	f.t.Helper()
	d := f.reserve(s, keyID, amount)
	if d.Outcome == policy.OutcomeReserved {
		if _, err := s.Commit(ctx, f.wallet, d.Payment.ID); err != nil {
			f.t.Fatalf("commit: %v", err)
		}
	}
	return d
}

func (f *fixture) check(s *policy.Store, keyID string, amount policy.Amount) *policy.Decision {
	f.t.Helper()
	d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeCheck, SessionKeyID: keyID, AgentID: f.agent,
		Amount: amount, Recipient: "merchant"})
	if err != nil {
		f.t.Fatalf("check %d: %v", amount, err)
	}
	return d
}

// events returns the names of the events in the wallet's stream.
func (f *fixture) events() []string {
	f.t.Helper()
	msgs, err := f.s.Redis().XRange(ctx, f.s.Events().Stream(f.wallet), "-", "+").Result()
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, m.Values["event"].(string))
	}
	return out
}

// settlePayment commits ("commit") or releases (anything else) a payment.
func settlePayment(s *policy.Store, wallet, pid, how string) (*policy.Payment, error) {
	if how == "commit" {
		return s.Commit(ctx, wallet, pid)
	}
	return s.Release(ctx, wallet, pid, "test")
}

// settledOnce: settling pid again changes nothing, and its key holds nothing
// reserved and has spent spentIfCommitted if it was committed (nothing if released).
func (f *fixture) settledOnce(s *policy.Store, keyID, pid, how string, spentIfCommitted policy.Amount) {
	f.t.Helper()
	p, err := settlePayment(s, f.wallet, pid, how)
	if err != nil || !p.Duplicate {
		f.t.Fatalf("second %s: %+v %v", how, p, err)
	}
	k, _, err := s.GetKey(ctx, f.agent, keyID)
	wantSpent := policy.Amount(0)
	if how == "commit" {
		wantSpent = spentIfCommitted
	}
	if err != nil || k.Reserved != 0 || k.Spent != wantSpent {
		f.t.Fatalf("key after %s: %+v %v", how, k, err)
	}
}

func codes(d *policy.Decision) []policy.Code {
	var out []policy.Code
	for _, c := range d.Checks {
		out = append(out, c.Code)
	}
	return out
}

var _ redis.UniversalClient = (*redis.Client)(nil)
