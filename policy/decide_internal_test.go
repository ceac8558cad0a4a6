package policy

import "testing"

// TestDecodeDecisionNumbers: a decision's amounts and times decode exactly,
// and one that is not an integer makes the reply an error, never a zero.
func TestDecodeDecisionNumbers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply []any
		max   Amount
		fails bool
	}{
		{"integer", []any{"allowed", "1", "max_affordable_now", "2500000", "now", "1764633600000"}, 2500000, false},
		{"empty is zero", []any{"allowed", "0", "max_affordable_now", ""}, 0, false},
		{"amount not an integer", []any{"allowed", "1", "max_affordable_now", "12.5"}, 0, true},
		{"check limit not an integer", []any{"allowed", "0", "check", []any{"code", "daily_limit", "limit", "x"}}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := decodeDecision(tc.reply)
			if tc.fails {
				if err == nil {
					t.Fatalf("decoded %+v; want an error", d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.MaxAffordableNow != tc.max {
				t.Fatalf("max_affordable_now = %d; want %d", d.MaxAffordableNow, tc.max)
			}
		})
	}
}
