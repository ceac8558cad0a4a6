package policy_test

import (
	"time"

	"testing"

	"github.com/stipend/stipend/policy"
)

// TestEventsOnlyWhileRead: a store told that nothing reads the events stream
// (no webhook endpoint) appends nothing to it, while the audit log still
// records every change; a store whose events are read appends each change.
func TestEventsOnlyWhileRead(t *testing.T) {
	backends(t, func(t *testing.T, base *policy.Store) {
		for _, tc := range []struct {
			name    string
			without bool
			want    []string
		}{
			{"read", false, []string{"session_key.created", "session_key.activated", "payment.confirmed"}},
			{"unread", true, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := policy.New(base.Redis(), policy.Options{WithoutEvents: tc.without})
				f := newFixture(t, s)
				k := f.key(10*usdc, time.Hour)
				d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: f.agent,
					Amount: usdc, Recipient: "merchant", Signature: "sig", IdempotencyKey: "e-1"})
				if err != nil || d.Outcome != policy.OutcomeReserved {
					t.Fatalf("reserve: %v %+v", err, d)
				}
				if _, err := s.Commit(ctx, f.wallet, d.Payment.ID); err != nil {
					t.Fatal(err)
				}
				got := f.events()
				if len(got) != len(tc.want) {
					t.Fatalf("events = %v; want %v", got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("events = %v; want %v", got, tc.want)
					}
				}
				entries, err := s.Audit(ctx, f.wallet)
				if err != nil {
					t.Fatal(err)
				}
				var audited []string
				for _, e := range entries {
					audited = append(audited, e.Event)
				}
				for _, w := range []string{"session_key.created", "session_key.activated", "payment.reserved", "payment.confirmed"} {
					found := false
					for _, a := range audited {
						found = found || a == w
					}
					if !found {
						t.Fatalf("audit log %v lacks %s", audited, w)
					}
				}
			})
		}
	})
}
