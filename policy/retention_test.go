package policy_test

import (
	"testing"
	"time"

	"github.com/stipend/stipend/policy"
)

// TestSettledPaymentsLeaveAfterTheIdempotencyWindow: a payment in flight
// stays in Redis for as long as it is in flight; once confirmed or failed it
// (which its idempotency key finds) leaves after the idempotency window.
func TestSettledPaymentsLeaveAfterTheIdempotencyWindow(t *testing.T) {
	backends(t, func(t *testing.T, base *policy.Store) {
		for _, window := range []time.Duration{30 * 24 * time.Hour, 2 * time.Hour} {
			s := policy.New(base.Redis(), policy.Options{IdempotencyTTL: window})
			f := newFixture(t, s)
			k, _ := f.linked(100*usdc, policy.Limits{PerDay: 50 * usdc})
			ttl := func(key string) time.Duration {
				t.Helper()
				d, err := s.Redis().PTTL(ctx, s.Events().Key(f.wallet, key)).Result()
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			for _, settle := range []string{"commit", "release"} {
				d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent,
					Amount: usdc, Recipient: "merchant", Signature: "sig", IdempotencyKey: "order-" + settle})
				if err != nil || d.Outcome != policy.OutcomeReserved {
					t.Fatalf("reserve: %v %+v", err, d)
				}
				// The record is in the slot its idempotency key leads to; no other record.
				pay, idem := "pay:"+d.Payment.ID[4:20], "idem:sk:"+k.ID+":order-"+settle
				if got := ttl(pay); got != -1 {
					t.Fatalf("%s: a payment in flight has a TTL %v; it must stay until settled", settle, got)
				}
				if got := ttl(idem); got != -2 {
					t.Fatalf("%s: an idempotency record beside the payment (TTL %v)", settle, got)
				}
				if settle == "commit" {
					_, err = s.Commit(ctx, f.wallet, d.Payment.ID)
				} else {
					_, err = s.Release(ctx, f.wallet, d.Payment.ID, "test")
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := ttl(pay); got <= window-time.Minute || got > window {
					t.Fatalf("%s: settled payment TTL %v; want the idempotency window %v", settle, got, window)
				}
				if _, err := s.GetPayment(ctx, f.wallet, d.Payment.ID); err != nil {
					t.Fatalf("%s: settled payment not readable within the window: %v", settle, err)
				}
			}
		}
	})
}
