package policy_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stipend/stipend/policy"
)

func TestKeyLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k := f.pending(100*usdc, 24*time.Hour)
		if k.Status != policy.StatusPendingApproval || k.Remaining != 100*usdc || k.MaxAmount != 100*usdc {
			t.Fatalf("new key: %+v", k)
		}
		// A pending key pays nothing.
		if d := f.check(s, k.ID, usdc); d.Allowed || !slices.Equal(codes(d), []policy.Code{policy.CodeNotActive}) || d.MaxAffordableNow != 0 {
			t.Fatalf("pending key check: %+v", d)
		}
		// Funding of another amount does not activate it.
		if _, err := s.Activate(ctx, k.ID, "sig", 99*usdc); !errors.Is(err, policy.ErrConflict) {
			t.Fatalf("activate with wrong amount: %v", err)
		}
		k, err := s.Activate(ctx, k.ID, "sig", 100*usdc)
		if err != nil || k.Status != policy.StatusActive {
			t.Fatalf("activate: %+v %v", k, err)
		}
		// Activating again with the same funding is a no-op.
		if _, err := s.Activate(ctx, k.ID, "sig", 100*usdc); err != nil {
			t.Fatalf("activate twice: %v", err)
		}
		d := f.reserve(s, k.ID, 30*usdc)
		if d.Outcome != policy.OutcomeReserved || d.Payment == nil || d.Payment.Status != policy.PaymentReserved || d.Payment.Signature != "sig" {
			t.Fatalf("reserve: %+v", d)
		}
		k, _, err = s.GetKey(ctx, f.agent, k.ID)
		if err != nil || k.Reserved != 30*usdc || k.Remaining != 70*usdc || k.Spent != 0 {
			t.Fatalf("after reserve: %+v %v", k, err)
		}
		p, err := s.Commit(ctx, f.wallet, d.Payment.ID)
		if err != nil || p.Status != policy.PaymentConfirmed {
			t.Fatalf("commit: %+v %v", p, err)
		}
		if _, err := s.Commit(ctx, f.wallet, d.Payment.ID); err != nil {
			t.Fatalf("commit twice: %v", err)
		}
		k, _, _ = s.GetKey(ctx, f.agent, k.ID)
		if k.Spent != 30*usdc || k.Reserved != 0 || k.TransactionCount != 1 || k.Remaining != 70*usdc {
			t.Fatalf("after commit: %+v", k)
		}
		// A released payment gives its amount back.
		d = f.reserve(s, k.ID, 20*usdc)
		if _, err := s.Release(ctx, f.wallet, d.Payment.ID, "blockhash expired"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(ctx, f.wallet, d.Payment.ID); !errors.Is(err, policy.ErrConflict) {
			t.Fatalf("commit after release: %v", err)
		}
		k, _, _ = s.GetKey(ctx, f.agent, k.ID)
		if k.Remaining != 70*usdc || k.TransactionCount != 1 {
			t.Fatalf("after release: %+v", k)
		}
		// Revoke is final.
		if k, err = s.Revoke(ctx, f.agent, k.ID, "done"); err != nil || k.Status != policy.StatusRevoked {
			t.Fatalf("revoke: %+v %v", k, err)
		}
		if d := f.check(s, k.ID, usdc); d.Allowed || codes(d)[0] != policy.CodeRevoked {
			t.Fatalf("revoked key check: %+v", d)
		}
		if _, err := s.TopUp(ctx, k.ID, usdc, "topsig"); !errors.Is(err, policy.ErrRevoked) {
			t.Fatalf("top-up of revoked key: %v", err)
		}
		want := []string{"session_key.created", "session_key.activated", "payment.confirmed", "payment.failed", "session_key.revoked"}
		if got := f.events(); !reflect.DeepEqual(got, want) {
			t.Fatalf("events = %v; want %v", got, want)
		}
	})
}

func TestExhaustAndTopUp(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k := f.key(10*usdc, time.Hour)
		d := f.pay(s, k.ID, 10*usdc)
		if d.Outcome != policy.OutcomeReserved {
			t.Fatalf("pay all: %+v", d)
		}
		k, _, _ = s.GetKey(ctx, f.agent, k.ID)
		if k.Status != policy.StatusExhausted || k.Remaining != 0 {
			t.Fatalf("after last unit: %+v", k)
		}
		if d := f.check(s, k.ID, 1); d.Allowed || codes(d)[0] != policy.CodeInsufficientFunds || d.NextAvailableAt != nil {
			t.Fatalf("exhausted check: %+v", d)
		}
		k, err := s.TopUp(ctx, k.ID, 5*usdc, "top1")
		if err != nil || k.Status != policy.StatusActive || k.MaxAmount != 15*usdc || k.Remaining != 5*usdc {
			t.Fatalf("top-up: %+v %v", k, err)
		}
		// The same top-up transaction counts once.
		if k, err = s.TopUp(ctx, k.ID, 5*usdc, "top1"); err != nil || k.MaxAmount != 15*usdc {
			t.Fatalf("top-up replay: %+v %v", k, err)
		}
		// A reservation of the last unit, released, makes the key active again.
		d = f.reserve(s, k.ID, 5*usdc)
		k, _, _ = s.GetKey(ctx, f.agent, k.ID)
		if k.Status != policy.StatusExhausted {
			t.Fatalf("reserve last unit: %+v", k)
		}
		if _, err := s.Release(ctx, f.wallet, d.Payment.ID, "failed"); err != nil {
			t.Fatal(err)
		}
		k, _, _ = s.GetKey(ctx, f.agent, k.ID)
		if k.Status != policy.StatusActive || k.Remaining != 5*usdc {
			t.Fatalf("after release: %+v", k)
		}
		ev := f.events()
		if !slices.Contains(ev, "session_key.exhausted") || !slices.Contains(ev, "session_key.topped_up") || !slices.Contains(ev, "session_key.low_balance") {
			t.Fatalf("events: %v", ev)
		}
	})
}

func TestExpiry(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		active := f.key(10*usdc, time.Hour)
		pending := f.pending(10*usdc, time.Hour)
		later := s.WithClockSkew(time.Hour + time.Second)
		// Every script sees the expiry, before any sweeper.
		if d := f.check(later, active.ID, usdc); d.Allowed || codes(d)[0] != policy.CodeExpired {
			t.Fatalf("expired check: %+v", d)
		}
		if k, _, _ := later.GetKey(ctx, f.agent, active.ID); k.Status != policy.StatusExpired {
			t.Fatalf("status of expired key: %s", k.Status)
		}
		if _, err := later.Activate(ctx, pending.ID, "sig", 10*usdc); !errors.Is(err, policy.ErrExpired) {
			t.Fatalf("activate after expiry: %v", err)
		}
		d := f.reserve(later, active.ID, usdc)
		if d.Outcome != policy.OutcomeRefused {
			t.Fatalf("reserve after expiry: %+v", d)
		}
		changed, k, err := later.Expire(ctx, active.ID)
		if err != nil || changed || k.Status != policy.StatusExpired {
			t.Fatalf("expire after reserve already expired it: %v %+v %v", changed, k, err)
		}
		if _, err := later.Revoke(ctx, f.agent, active.ID, ""); !errors.Is(err, policy.ErrExpired) {
			t.Fatalf("revoke expired: %v", err)
		}
		if _, err := later.TopUp(ctx, active.ID, usdc, "t"); !errors.Is(err, policy.ErrExpired) {
			t.Fatalf("top-up expired: %v", err)
		}
		n := 0
		for _, e := range f.events() {
			if e == "session_key.expired" {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("%d expired events; want 2 (one per key)", n)
		}
	})
}

func TestIdempotency(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k := f.key(100*usdc, time.Hour)
		req := policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent,
			Amount: 10 * usdc, Recipient: "merchant", IdempotencyKey: "order-1", Signature: "s1"}
		first, err := s.Decide(ctx, req)
		if err != nil || first.Outcome != policy.OutcomeReserved {
			t.Fatalf("first: %+v %v", first, err)
		}
		req.Signature = "s2" // a retry builds a new transaction; the first one stands
		again, err := s.Decide(ctx, req)
		if err != nil || !again.Duplicate || again.Payment.ID != first.Payment.ID || again.Payment.Signature != "s1" {
			t.Fatalf("retry: %+v %v", again, err)
		}
		if _, err := s.Commit(ctx, f.wallet, first.Payment.ID); err != nil {
			t.Fatal(err)
		}
		again, _ = s.Decide(ctx, req)
		if again.Outcome != policy.OutcomeConfirmed {
			t.Fatalf("retry after commit: %+v", again)
		}
		req.Amount = 11 * usdc
		if _, err := s.Decide(ctx, req); !errors.Is(err, policy.ErrConflict) {
			t.Fatalf("same key, other amount: %v", err)
		}
		k, _, _ = s.GetKey(ctx, f.agent, k.ID)
		if k.Spent != 10*usdc || k.Reserved != 0 {
			t.Fatalf("paid twice: %+v", k)
		}
	})
}

// TestWhyLinkThem is the seed's table: a key funded with $500 linked to a
// session of $25 per transaction, $100 per day, $1000 per month.
func TestWhyLinkThem(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		alone := f.key(500*usdc, 48*time.Hour)
		k, _ := f.linked(500*usdc, policy.Limits{PerTransaction: 25 * usdc, PerDay: 100 * usdc, PerMonth: 1000 * usdc})

		// Agent tries a $500 payment.
		if d := f.check(s, alone.ID, 500*usdc); !d.Allowed {
			t.Fatalf("key alone refused $500: %+v", d)
		}
		d := f.check(s, k.ID, 500*usdc)
		if d.Allowed || !slices.Contains(codes(d), policy.CodePerTransactionLimit) {
			t.Fatalf("linked allowed $500: %+v", d)
		}

		// 5 × $50 in a day (the per-transaction limit lifted to see the daily one).
		f2 := newFixture(t, s)
		k2, _ := f2.linked(500*usdc, policy.Limits{PerDay: 100 * usdc, PerMonth: 1000 * usdc})
		var outcomes []policy.Outcome
		for range 5 {
			outcomes = append(outcomes, f2.pay(s, k2.ID, 50*usdc).Outcome)
			f.pay(s, alone.ID, 50*usdc)
		}
		want := []policy.Outcome{"reserved", "reserved", "refused", "refused", "refused"}
		if !reflect.DeepEqual(outcomes, want) {
			t.Fatalf("5 × $50 linked: %v; want %v", outcomes, want)
		}
		if a, _, _ := s.GetKey(ctx, f.agent, alone.ID); a.Spent != 250*usdc {
			t.Fatalf("key alone spent %d; want $250", a.Spent)
		}

		// A compromised agent tries to drain: capped at the policy ($25 × 4 = $100 a day).
		var drained policy.Amount
		for range 100 {
			if d := f.pay(s, k.ID, 25*usdc); d.Outcome == policy.OutcomeReserved {
				drained += 25 * usdc
			}
		}
		if drained != 100*usdc {
			t.Fatalf("drain got %d; want the daily cap of $100", drained)
		}
	})
}

func TestLimitChecks(t *testing.T) {
	limits := policy.Limits{PerTransaction: 40 * usdc, PerDay: 100 * usdc, PerWeek: 200 * usdc, PerMonth: 300 * usdc}
	tests := []struct {
		name      string
		max       policy.Amount // key funding
		spentDays []policy.Amount
		amount    policy.Amount
		want      []policy.Code
		maxNow    policy.Amount
		waiting   bool // next_available_at is set
	}{
		{"allowed", 1000 * usdc, nil, 40 * usdc, nil, 40 * usdc, false},
		{"per transaction", 1000 * usdc, nil, 41 * usdc, []policy.Code{policy.CodePerTransactionLimit}, 40 * usdc, false},
		{"insufficient funds", 30 * usdc, nil, 31 * usdc, []policy.Code{policy.CodeInsufficientFunds}, 30 * usdc, false},
		{"funds and per transaction", 30 * usdc, nil, 50 * usdc, []policy.Code{policy.CodeInsufficientFunds, policy.CodePerTransactionLimit}, 30 * usdc, false},
		{"daily", 1000 * usdc, []policy.Amount{90 * usdc}, 20 * usdc, []policy.Code{policy.CodeDailyLimit}, 10 * usdc, true},
		{"daily used up", 1000 * usdc, []policy.Amount{100 * usdc}, 1, []policy.Code{policy.CodeDailyLimit}, 0, true},
		{"over the daily limit itself", 1000 * usdc, nil, 101 * usdc, []policy.Code{policy.CodePerTransactionLimit, policy.CodeDailyLimit}, 40 * usdc, false},
		{"weekly", 1000 * usdc, []policy.Amount{100 * usdc, 95 * usdc, 0}, 20 * usdc, []policy.Code{policy.CodeWeeklyLimit}, 5 * usdc, true},
		{"daily and weekly", 1000 * usdc, []policy.Amount{100 * usdc, 100 * usdc}, 20 * usdc, []policy.Code{policy.CodeDailyLimit, policy.CodeWeeklyLimit}, 0, true},
		{"monthly", 1000 * usdc, []policy.Amount{100 * usdc, 0, 0, 0, 0, 0, 0, 0, 100 * usdc, 0, 0, 0, 0, 0, 0, 0, 95 * usdc, 0}, 20 * usdc, []policy.Code{policy.CodeMonthlyLimit}, 5 * usdc, true},
		{"every window and funds", 300 * usdc, []policy.Amount{100 * usdc, 0, 0, 0, 0, 0, 0, 0, 100 * usdc, 95 * usdc}, 40 * usdc,
			[]policy.Code{policy.CodeInsufficientFunds, policy.CodeDailyLimit, policy.CodeWeeklyLimit, policy.CodeMonthlyLimit}, 5 * usdc, false},
	}
	backends(t, func(t *testing.T, s *policy.Store) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, s)
				start := s.WithClockSkew(-40 * 24 * time.Hour)
				now0, _ := start.Now(ctx)
				k := f.key(tc.max, 50*24*time.Hour)
				sess, err := start.CreateSession(ctx, policy.NewSession{AgentID: f.agent, UserWallet: f.wallet,
					Limits: limits, ExpiresAt: now0.Add(60 * 24 * time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Link(ctx, f.agent, k.ID, sess.ID); err != nil {
					t.Fatal(err)
				}
				// Spend tc.spentDays[i] (in $40 payments), 25 h apart, the last one now.
				var skew time.Duration
				for i, amt := range tc.spentDays {
					skew = -time.Duration(len(tc.spentDays)-1-i) * 25 * time.Hour
					at := s.WithClockSkew(skew)
					for amt > 0 {
						part := min(amt, 40*usdc)
						if d := f.pay(at, k.ID, part); d.Outcome != policy.OutcomeReserved {
							t.Fatalf("setup payment refused: %+v", d)
						}
						amt -= part
					}
				}
				d := f.check(s, k.ID, tc.amount)
				if got := codes(d); !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("codes = %v; want %v (%+v)", got, tc.want, d)
				}
				if d.Allowed != (len(tc.want) == 0) || d.MaxAffordableNow != tc.maxNow {
					t.Fatalf("allowed=%v max_affordable_now=%d; want %d", d.Allowed, d.MaxAffordableNow, tc.maxNow)
				}
				if (d.NextAvailableAt != nil) != tc.waiting {
					t.Fatalf("next_available_at = %v; want set=%v", d.NextAvailableAt, tc.waiting)
				}
				// Exactly max_affordable_now passes; one base unit more does not.
				if tc.maxNow > 0 {
					if d := f.check(s, k.ID, tc.maxNow+1); d.Allowed {
						t.Fatalf("max_affordable_now+1 allowed")
					}
					if d := f.reserve(s, k.ID, tc.maxNow); d.Outcome != policy.OutcomeReserved {
						t.Fatalf("max_affordable_now refused: %+v", d)
					}
				}
				if tc.waiting {
					// At next_available_at the amount passes (had nothing else been spent).
					wait := d.NextAvailableAt.Sub(d.Now)
					if wait <= 0 {
						t.Fatalf("next_available_at %v not after now %v", d.NextAvailableAt, d.Now)
					}
					if tc.maxNow == 0 { // (the ledger's clock only moves forward: a check may retire buckets)
						if d2 := f.check(s.WithClockSkew(wait-time.Second), k.ID, tc.amount); d2.Allowed {
							t.Fatalf("a second before next_available_at allowed")
						}
						if d2 := f.check(s.WithClockSkew(wait), k.ID, tc.amount); !d2.Allowed {
							t.Fatalf("at next_available_at still refused: %+v", d2)
						}
					}
					for _, c := range d.Checks {
						if c.ResetsAt.IsZero() || c.Remaining != c.Limit-c.Used {
							t.Fatalf("check without reset or remaining: %+v", c)
						}
					}
				}
			})
		}
	})
}

func TestRollingWindow(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		base := s.WithClockSkew(-3 * 24 * time.Hour)
		k := f.key(1000*usdc, 5*24*time.Hour)
		sess := f.session(policy.Limits{PerDay: 100 * usdc}, 0)
		if _, err := s.Link(ctx, f.agent, k.ID, sess.ID); err != nil {
			t.Fatal(err)
		}
		_ = base
		f.pay(s, k.ID, 100*usdc)
		// No burst across midnight: 23 h later the payment still counts.
		if d := f.check(s.WithClockSkew(23*time.Hour), k.ID, usdc); d.Allowed {
			t.Fatal("window forgot a payment after 23 h")
		}
		// It never counts for less than 24 h ...
		if d := f.check(s.WithClockSkew(24*time.Hour-time.Second), k.ID, usdc); d.Allowed {
			t.Fatal("window forgot a payment before 24 h")
		}
		got, _ := s.GetSession(ctx, f.agent, sess.ID)
		if got.UsedDay != 100*usdc || got.UsedWeek != 100*usdc || got.UsedMonth != 100*usdc {
			t.Fatalf("session usage: %+v", got)
		}
		// ... and at most one bucket (15 min) longer.
		if d := f.check(s.WithClockSkew(24*time.Hour+15*time.Minute), k.ID, 100*usdc); !d.Allowed {
			t.Fatalf("window still counts after 24 h 15 min: %+v", d)
		}
		got, _ = s.GetSession(ctx, f.agent, sess.ID) // the check retired the day's bucket; week and month keep it
		if got.UsedDay != 0 || got.UsedWeek != 100*usdc || got.UsedMonth != 100*usdc {
			t.Fatalf("session usage a day later: %+v", got)
		}
	})
}

func TestLinkRules(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k := f.key(100*usdc, time.Hour)
		sess := f.session(policy.Limits{PerTransaction: 5 * usdc}, 0)
		other := newFixture(t, s)
		otherSess := other.session(policy.Limits{}, 0)
		if _, err := s.Link(ctx, f.agent, k.ID, otherSess.ID); !errors.Is(err, policy.ErrConflict) && !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("link to another user's session: %v", err)
		}
		if _, err := s.Link(ctx, "intruder", k.ID, sess.ID); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("another agent links: %v", err)
		}
		if _, err := s.Link(ctx, f.agent, k.ID, sess.ID); err != nil {
			t.Fatal(err)
		}
		if d := f.check(s, k.ID, 6*usdc); d.Allowed {
			t.Fatal("linked limit not applied")
		}
		// The agent may not unlink (it would loosen its limits); the owner may.
		if _, err := s.Unlink(ctx, f.agent, k.ID); policy.CodeOf(err) != policy.CodeApprovalRequired {
			t.Fatalf("agent unlink: %v", err)
		}
		if _, err := s.SetLimits(ctx, f.agent, sess.ID, policy.Limits{PerTransaction: 50 * usdc}, 0); policy.CodeOf(err) != policy.CodeApprovalRequired {
			t.Fatalf("agent raises limit: %v", err)
		}
		if _, err := s.Unlink(ctx, "", k.ID); err != nil {
			t.Fatal(err)
		}
		if d := f.check(s, k.ID, 6*usdc); !d.Allowed {
			t.Fatalf("unlinked key still limited: %+v", d)
		}
		// Agent isolation: another agent neither sees nor spends the key.
		if _, _, err := s.GetKey(ctx, "intruder", k.ID); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("other agent reads key: %v", err)
		}
		if _, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: "intruder", Amount: 1, Recipient: "x"}); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("other agent pays: %v", err)
		}
		if _, err := s.Revoke(ctx, "intruder", k.ID, ""); !errors.Is(err, policy.ErrNotFound) {
			t.Fatalf("other agent revokes: %v", err)
		}
		keys, err := s.ListKeys(ctx, f.agent)
		if err != nil || len(keys) != 1 || keys[0].ID != k.ID {
			t.Fatalf("list: %v %v", keys, err)
		}
	})
}

func TestApprovalAndAllowList(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k := f.key(100*usdc, time.Hour)
		sess := f.session(policy.Limits{PerTransaction: 50 * usdc}, 20*usdc, "merchant", "shop2")
		if _, err := s.Link(ctx, f.agent, k.ID, sess.ID); err != nil {
			t.Fatal(err)
		}
		d := f.reserve(s, k.ID, 30*usdc)
		if d.Outcome != policy.OutcomeApprovalRequired || d.Payment == nil || d.Payment.Status != policy.PaymentApprovalRequired {
			t.Fatalf("over threshold: %+v", d)
		}
		kk, _, _ := s.GetKey(ctx, f.agent, k.ID)
		if kk.Reserved != 0 {
			t.Fatal("approval_required reserved money")
		}
		// The owner approves: now it is reserved, under every other limit.
		d2, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, Amount: 30 * usdc,
			Recipient: "merchant", PaymentID: d.Payment.ID, Approved: true, Signature: "sig"})
		if err != nil || d2.Outcome != policy.OutcomeReserved {
			t.Fatalf("approved: %+v %v", d2, err)
		}
		// Approval of other terms is refused.
		if _, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, Amount: 30 * usdc,
			Recipient: "merchant", PaymentID: d.Payment.ID, Approved: true}); !errors.Is(err, policy.ErrConflict) {
			t.Fatalf("approve twice: %v", err)
		}
		// Recipient allow-list.
		dd, _ := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeCheck, SessionKeyID: k.ID, AgentID: f.agent, Amount: usdc, Recipient: "stranger"})
		if dd.Allowed || codes(dd)[0] != policy.CodeRecipientNotAllowed {
			t.Fatalf("stranger: %+v", dd)
		}
		// A session alone pays from the owner's wallet: always approval_required.
		alone := f.session(policy.Limits{PerDay: 10 * usdc}, 0)
		da, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionID: alone.ID, AgentID: f.agent, Amount: usdc, Recipient: "x"})
		if err != nil || da.Outcome != policy.OutcomeApprovalRequired {
			t.Fatalf("session alone: %+v %v", da, err)
		}
		da, _ = s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionID: alone.ID, AgentID: f.agent, Amount: 11 * usdc, Recipient: "x"})
		if da.Outcome != policy.OutcomeRefused {
			t.Fatalf("session alone over its limit: %+v", da)
		}
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		k := f.key(100*usdc, time.Hour)
		before := f.events()
		bad := []policy.PaymentRequest{
			{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent, Amount: 0, Recipient: "m"},
			{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent, Amount: -5, Recipient: "m"},
			{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent, Amount: policy.MaxAmount + 1, Recipient: "m"},
			{Mode: policy.ModeReserve, SessionKeyID: "sk_nope", AgentID: f.agent, Amount: 1, Recipient: "m"},
			{Mode: policy.ModeReserve, SessionKeyID: "sk_{x}", AgentID: f.agent, Amount: 1, Recipient: "m"},
			{Mode: policy.ModeReserve, AgentID: f.agent, Amount: 1, Recipient: "m"},
			{Mode: "drain", SessionKeyID: k.ID, AgentID: f.agent, Amount: 1, Recipient: "m"},
		}
		for i, r := range bad {
			if _, err := s.Decide(ctx, r); policy.CodeOf(err) == "" {
				t.Errorf("bad request %d: %v (want a coded error)", i, err)
			}
		}
		if _, err := s.TopUp(ctx, k.ID, policy.MaxAmount, "big"); !errors.Is(err, policy.ErrInvalidArgument) {
			t.Fatalf("top-up beyond exact range: %v", err)
		}
		got, _, _ := s.GetKey(ctx, f.agent, k.ID)
		if got.Remaining != 100*usdc || got.Reserved != 0 || got.MaxAmount != 100*usdc {
			t.Fatalf("bad input changed the key: %+v", got)
		}
		if after := f.events(); !reflect.DeepEqual(after, before) {
			t.Fatalf("bad input emitted events: %v", after)
		}
	})
}

// TestFundingChecks: asking whether a key may be funded or topped up applies
// the same rules as doing it, and changes nothing.
func TestFundingChecks(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		f := newFixture(t, s)
		pending := f.pending(10*usdc, time.Hour)
		if _, err := s.CheckActivate(ctx, pending.ID, 10*usdc); err != nil {
			t.Fatalf("pending key may be funded: %v", err)
		}
		if _, err := s.CheckActivate(ctx, pending.ID, 9*usdc); !errors.Is(err, policy.ErrConflict) {
			t.Fatalf("other amount: %v", err)
		}
		if _, err := s.CheckTopUp(ctx, pending.ID, usdc); !errors.Is(err, policy.ErrNotActive) {
			t.Fatalf("top-up of a pending key: %v", err)
		}
		active := f.key(10*usdc, time.Hour)
		if _, err := s.CheckTopUp(ctx, active.ID, usdc); err != nil {
			t.Fatalf("top-up of an active key: %v", err)
		}
		if _, err := s.CheckActivate(ctx, active.ID, 10*usdc); !errors.Is(err, policy.ErrConflict) {
			t.Fatalf("funding an active key again: %v", err)
		}
		later := s.WithClockSkew(2 * time.Hour)
		if _, err := later.CheckTopUp(ctx, active.ID, usdc); !errors.Is(err, policy.ErrExpired) {
			t.Fatalf("top-up of an expired key: %v", err)
		}
		if _, err := later.CheckActivate(ctx, pending.ID, 10*usdc); !errors.Is(err, policy.ErrExpired) {
			t.Fatalf("funding an expired key: %v", err)
		}
		k, _, _ := s.GetKey(ctx, f.agent, active.ID)
		if k.MaxAmount != 10*usdc || slices.Contains(f.events(), "session_key.expired") || slices.Contains(f.events(), "session_key.topped_up") {
			t.Fatalf("checks changed something: %+v %v", k, f.events())
		}
	})
}
