package policy_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
)

// TestConcurrentReservations: 1,000 reservations at once on one key and its
// linked session never overspend by one base unit, and the counters equal
// the sum of the successful ones.
func TestConcurrentReservations(t *testing.T) {
	s := policy.New(testenv.Redis(t), policy.Options{})
	f := newFixture(t, s)
	// $1000 on the key, $300 a day on the session, $7 each (not a divisor of the limits).
	k, sess := f.linked(1000*usdc, policy.Limits{PerTransaction: 10 * usdc, PerDay: 300 * usdc, PerWeek: 500 * usdc, PerMonth: 900 * usdc})
	const n = 1000
	const amount = 7*usdc + 3
	var ok atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var reserved []string
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent,
				Amount: amount, Recipient: "merchant", Signature: "sig"})
			if err != nil {
				errs <- err
				return
			}
			if d.Outcome == policy.OutcomeReserved {
				ok.Add(1)
				mu.Lock()
				reserved = append(reserved, d.Payment.ID)
				mu.Unlock()
				// Half of them land, the other half fail and are released.
				if i%2 == 0 {
					_, err = s.Commit(ctx, f.wallet, d.Payment.ID)
				} else {
					_, err = s.Release(ctx, f.wallet, d.Payment.ID, "failed")
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, gotSess, err := s.GetKey(ctx, f.agent, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	committed := policy.Amount(0)
	for _, id := range reserved {
		p, err := s.GetPayment(ctx, f.wallet, id)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status == policy.PaymentConfirmed {
			committed += p.Amount
		}
	}
	if got.Spent != committed || got.Reserved != 0 {
		t.Fatalf("spent %d reserved %d; want spent %d", got.Spent, got.Reserved, committed)
	}
	if got.Spent > 300*usdc || gotSess.UsedDay != committed {
		t.Fatalf("overspent: key spent %d, session day %d, limit %d", got.Spent, gotSess.UsedDay, 300*usdc)
	}
	if ok.Load() < 300*usdc/amount {
		t.Fatalf("only %d reservations passed; the limits allow at least %d", ok.Load(), 300*usdc/amount)
	}
	if got.TransactionCount != int64(len(reserved)+1)/2 && got.TransactionCount == 0 {
		t.Fatalf("transaction_count %d", got.TransactionCount)
	}
	_ = sess
}

// TestConcurrentNeverOverspend: with no releases, exactly floor(limit/amount)
// reservations pass out of 1,000.
func TestConcurrentNeverOverspend(t *testing.T) {
	t.Run("redis", func(t *testing.T) { neverOverspend(t, policy.New(testenv.Redis(t), policy.Options{})) })
	t.Run("cluster", func(t *testing.T) { neverOverspend(t, policy.New(testenv.RedisCluster(t), policy.Options{})) })
}

func neverOverspend(t *testing.T, s *policy.Store) {
	f := newFixture(t, s)
	k, _ := f.linked(500*usdc, policy.Limits{PerTransaction: 10 * usdc, PerDay: 100 * usdc, PerWeek: 400 * usdc, PerMonth: 450 * usdc})
	const amount = 3*usdc + 1
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent,
				Amount: amount, Recipient: "merchant"})
			if err != nil {
				t.Error(err)
				return
			}
			if d.Outcome == policy.OutcomeReserved {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	want := int64(100 * usdc / amount)
	got, sess, _ := s.GetKey(ctx, f.agent, k.ID)
	if ok.Load() != want || got.Reserved != policy.Amount(want)*amount || sess.UsedDay != got.Reserved {
		t.Fatalf("%d reservations (%d reserved, day %d); want exactly %d", ok.Load(), got.Reserved, sess.UsedDay, want)
	}
}
