package policy_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/policy"
)

// TestPaymentRecord: a payment reads back the same through every reader
// (the decision, GetPayment, the idempotency key, Commit) at each step, with
// free text that holds the record's own separator; what only a payment in
// flight needs is gone once it is settled.
func TestPaymentRecord(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		for _, tc := range []struct{ name, desc, idem string }{
			{"plain", "widget", "order-1"},
			{"separators", "12:ab 3:c ☕ – x402 GET https://x/y?q=1", "k:7:"},
			{"empty description", "", "0:"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, s)
				k, sess := f.linked(100*usdc, policy.Limits{PerDay: 50 * usdc})
				req := policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent, Amount: 3 * usdc,
					Recipient: "merchant", Description: tc.desc, IdempotencyKey: tc.idem}
				d, err := s.Decide(ctx, req)
				if err != nil || d.Outcome != policy.OutcomeReserved {
					t.Fatalf("reserve: %v %+v", err, d)
				}
				p := d.Payment
				if p.SessionKeyID != k.ID || p.SessionID != sess.ID || p.AgentID != f.agent || p.UserWallet != f.wallet ||
					p.Amount != 3*usdc || p.Description != tc.desc || p.IdempotencyKey != tc.idem || p.Status != policy.PaymentReserved {
					t.Fatalf("reserved payment: %+v", p)
				}
				if err := s.Attach(ctx, f.wallet, p.ID, "sig-"+tc.name, "hash", ""); err != nil {
					t.Fatal(err)
				}
				got, err := s.GetPayment(ctx, f.wallet, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				want := *p
				want.Signature, want.Blockhash = "sig-"+tc.name, "hash"
				want.UpdatedAt = got.UpdatedAt
				if *got != want || got.UpdatedAt.Before(got.CreatedAt) {
					t.Fatalf("GetPayment = %+v; want %+v", got, want)
				}
				if inflight, err := s.InFlight(ctx); err != nil || !hasPayment(inflight, p.ID) {
					t.Fatalf("in flight: %v %v", inflight, err)
				}
				c, err := s.Commit(ctx, f.wallet, p.ID)
				if err != nil || c.Status != policy.PaymentConfirmed || c.Blockhash != "" || c.Signature != want.Signature {
					t.Fatalf("commit: %+v %v", c, err)
				}
				c.KeyRemaining = 0
				after, err := s.GetPayment(ctx, f.wallet, p.ID)
				if err != nil || *after != *c {
					t.Fatalf("after commit GetPayment = %+v %v; want %+v", after, err, c)
				}
				rep, err := s.Decide(ctx, req)
				if err != nil || !rep.Duplicate || rep.Payment.ID != p.ID || rep.Outcome != policy.OutcomeConfirmed {
					t.Fatalf("replay: %v %+v", err, rep)
				}
				if byKey, err := s.PaymentByIdempotencyKey(ctx, k.ID, tc.idem); err != nil || byKey == nil || byKey.ID != p.ID {
					t.Fatalf("by idempotency key: %+v %v", byKey, err)
				}
				other := req
				other.Description += "!"
				if _, err := s.Decide(ctx, other); !errors.Is(err, policy.ErrConflict) {
					t.Fatalf("same key, other description: %v", err)
				}
				other = req
				other.Amount++
				if _, err := s.Decide(ctx, other); !errors.Is(err, policy.ErrConflict) {
					t.Fatalf("same key, other amount: %v", err)
				}
				if _, err := s.GetPayment(ctx, f.wallet, p.ID[:20]+"zzzzzz"); !errors.Is(err, policy.ErrNotFound) {
					t.Fatalf("another id in the same slot: %v", err)
				}
			})
		}
	})
}

// TestPaymentOfEarlierLayout: a payment written before the compact record
// (a hash under its id, its idempotency key in a record of its own) is still
// found, replayed, committed or released exactly once, and moves to the new
// layout when written.
func TestPaymentOfEarlierLayout(t *testing.T) {
	backends(t, func(t *testing.T, s *policy.Store) {
		for _, settle := range []string{"commit", "release"} {
			t.Run(settle, func(t *testing.T) {
				f := newFixture(t, s)
				k := f.key(10*usdc, time.Hour)
				// What the earlier decide.lua wrote for a reservation of 2 USDC.
				now, err := s.Now(ctx)
				if err != nil {
					t.Fatal(err)
				}
				pid, idem := policy.NewID("pay_"), "old-"+settle
				req := policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent, Amount: 2 * usdc,
					Recipient: "merchant", Description: "old", IdempotencyKey: idem}
				key := func(name string) string { return s.Events().Key(f.wallet, name) }
				ms := strconv.FormatInt(now.UnixMilli(), 10)
				rdb := s.Redis()
				if err := rdb.HSet(ctx, key("pay:"+pid), "payment_id", pid, "kind", "sk", "agent_id", f.agent, "user_wallet", f.wallet,
					"amount", "2000000", "recipient", "merchant", "description", "old", "idempotency_key", idem,
					"fingerprint", req.Fingerprint(), "created_at", ms, "updated_at", ms, "session_key_id", k.ID,
					"status", "reserved", "signature", "oldsig", "blockhash", "oldhash").Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.HSet(ctx, key("idem:sk:"+k.ID)+":"+idem, "payment_id", pid, "fingerprint", req.Fingerprint()).Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.HIncrBy(ctx, key("sk:"+k.ID), "reserved", 2*usdc).Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.ZAdd(ctx, key("inflight"), redis.Z{Score: float64(now.UnixMilli()), Member: pid}).Err(); err != nil {
					t.Fatal(err)
				}
				if p, err := s.GetPayment(ctx, f.wallet, pid); err != nil || p.Signature != "oldsig" || p.Status != policy.PaymentReserved {
					t.Fatalf("earlier payment: %+v %v", p, err)
				}
				if inflight, err := s.InFlight(ctx); err != nil || !hasPayment(inflight, pid) {
					t.Fatalf("in flight: %v %v", inflight, err)
				}
				rep, err := s.Decide(ctx, req)
				if err != nil || !rep.Duplicate || rep.Payment.ID != pid || rep.Outcome != policy.OutcomeReserved {
					t.Fatalf("replay of an earlier payment: %v %+v", err, rep)
				}
				var p *policy.Payment
				p, err = settlePayment(s, f.wallet, pid, settle)
				if err != nil || p.Duplicate {
					t.Fatalf("%s: %+v %v", settle, p, err)
				}
				if n := rdb.Exists(ctx, key("pay:"+pid)).Val(); n != 0 {
					t.Fatal("the hash of the earlier layout is still there")
				}
				again, err := s.GetPayment(ctx, f.wallet, pid)
				if err != nil || again.Status != p.Status || again.Signature != "oldsig" || again.IdempotencyKey != idem {
					t.Fatalf("after %s: %+v %v", settle, again, err)
				}
				f.settledOnce(s, k.ID, pid, settle, 2*usdc)
				if rep, err := s.Decide(ctx, req); err != nil || !rep.Duplicate || rep.Payment.ID != pid {
					t.Fatalf("replay after %s: %v %+v", settle, err, rep)
				}
			})
		}
	})
}

func hasPayment(ps []*policy.Payment, id string) bool {
	for _, p := range ps {
		if p.ID == id {
			return true
		}
	}
	return false
}
