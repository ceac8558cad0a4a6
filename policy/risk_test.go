package policy_test

import (
	"testing"
	"time"

	"github.com/stipend/stipend/policy"
)

func TestKeyRisk(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	base := func() *policy.SessionKey {
		return &policy.SessionKey{MaxAmount: 100 * usdc, ActivatedAt: now.Add(-100 * time.Hour)}
	}
	tests := []struct {
		name    string
		key     func() *policy.SessionKey
		in      policy.RiskInput
		factors []string
		score   int
	}{
		{"quiet key", base, policy.RiskInput{}, nil, 0},
		{"new recipient", func() *policy.SessionKey { k := base(); k.TransactionCount = 5; k.Spent = 5 * usdc; return k },
			policy.RiskInput{Amount: usdc, NewRecipient: true}, []string{"new_recipient"}, 15},
		{"first payment to anyone is not a new-recipient signal", base, policy.RiskInput{Amount: usdc, NewRecipient: true}, nil, 0},
		{"unusual amount", func() *policy.SessionKey { k := base(); k.TransactionCount = 10; k.Spent = 10 * usdc; return k },
			policy.RiskInput{Amount: 10 * usdc}, []string{"unusual_amount"}, 25},
		{"limit mostly used", func() *policy.SessionKey { k := base(); k.Spent = 90 * usdc; k.TransactionCount = 1; return k },
			policy.RiskInput{}, []string{"limit_used"}, 12},
		{"refusals", func() *policy.SessionKey { k := base(); k.RefusalsLastHour = 5; return k }, policy.RiskInput{}, []string{"recent_refusals"}, 20},
		{"velocity", func() *policy.SessionKey {
			k := base()
			k.TransactionCount = 20
			k.PaymentsLastHour = 10
			k.Spent = 20 * usdc
			return k
		},
			policy.RiskInput{}, []string{"velocity"}, 25},
		{"everything", func() *policy.SessionKey {
			k := base()
			k.TransactionCount, k.PaymentsLastHour, k.Spent, k.RefusalsLastHour = 20, 10, 100*usdc, 5
			return k
		}, policy.RiskInput{Amount: 60 * usdc, NewRecipient: true}, []string{"velocity", "new_recipient", "unusual_amount", "limit_used", "recent_refusals"}, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now = now
			r := policy.KeyRisk(tc.key(), tc.in)
			var names []string
			sum := 0
			for _, f := range r.Factors {
				names = append(names, f.Name)
				sum += f.Points
				if f.Weight != policy.RiskWeights[f.Name] || f.Points > f.Weight {
					t.Fatalf("factor %+v does not follow the weights", f)
				}
			}
			if len(names) != len(tc.factors) {
				t.Fatalf("factors %v; want %v", names, tc.factors)
			}
			for i := range names {
				if names[i] != tc.factors[i] {
					t.Fatalf("factors %v; want %v", names, tc.factors)
				}
			}
			if r.Score != tc.score || (sum <= 100 && r.Score != sum) {
				t.Fatalf("score %d (sum %d); want %d", r.Score, sum, tc.score)
			}
		})
	}
}
