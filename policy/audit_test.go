package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend/policy"
)

func TestAuditChain(t *testing.T) {
	tamper := []struct {
		name  string
		do    func(f *fixture, key string) error
		index int
	}{
		{"edit", func(f *fixture, key string) error {
			e, _ := f.s.Redis().LIndex(ctx, key, 2).Result()
			return f.s.Redis().LSet(ctx, key, 2, strings.Replace(e, `"event":"`, `"event":"x`, 1)).Err()
		}, 2},
		{"delete", func(f *fixture, key string) error {
			e, _ := f.s.Redis().LIndex(ctx, key, 1).Result()
			return f.s.Redis().LRem(ctx, key, 1, e).Err()
		}, 1},
		{"reorder", func(f *fixture, key string) error {
			a, _ := f.s.Redis().LIndex(ctx, key, 1).Result()
			b, _ := f.s.Redis().LIndex(ctx, key, 2).Result()
			f.s.Redis().LSet(ctx, key, 1, b)
			return f.s.Redis().LSet(ctx, key, 2, a).Err()
		}, 1},
		{"delete last", func(f *fixture, key string) error { return f.s.Redis().RPop(ctx, key).Err() }, 0},
	}
	backends(t, func(t *testing.T, s *policy.Store) {
		for _, tc := range tamper {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, s)
				k := f.key(100*usdc, time.Hour)
				f.pay(s, k.ID, usdc)
				f.check(s, k.ID, 1000*usdc)
				f.reserve(s, k.ID, 1000*usdc) // refused: audited too
				if _, err := s.Revoke(ctx, f.agent, k.ID, ""); err != nil {
					t.Fatal(err)
				}
				n, err := s.VerifyAudit(ctx, f.wallet)
				if err != nil || n < 6 {
					t.Fatalf("intact chain: %d entries, %v", n, err)
				}
				entries, _ := s.Audit(ctx, f.wallet)
				var events []string
				for _, e := range entries {
					events = append(events, e.Event)
				}
				if !strings.Contains(strings.Join(events, ","), "payment.refused") {
					t.Fatalf("refusal not audited: %v", events)
				}
				if err := tc.do(f, s.Events().Key(f.wallet, "audit")); err != nil {
					t.Fatal(err)
				}
				_, err = s.VerifyAudit(ctx, f.wallet)
				var br *policy.AuditBreak
				if !errors.As(err, &br) {
					t.Fatalf("tampered chain verified: %v", err)
				}
				want := tc.index
				if tc.name == "delete last" {
					want = n - 2
				}
				if br.Index != want {
					t.Fatalf("broken link named at %d; want %d (%v)", br.Index, want, br)
				}
			})
		}
	})
}
