package policy_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stipend/stipend/policy"
)

func TestParseAmountJSON(t *testing.T) {
	tests := []struct {
		in   string
		want policy.Amount
		ok   bool
	}{
		{`"12.5"`, 12_500_000, true},
		{`12.5`, 12_500_000, true},
		{`"0.000001"`, 1, true},
		{`0.000001`, 1, true},
		{`"100"`, 100_000_000, true},
		{`1e2`, 100_000_000, true},
		{`"9007199254.740991"`, policy.MaxAmount, true},
		{`"9007199254.740992"`, 0, false},
		{`"0"`, 0, false},
		{`0`, 0, false},
		{`"-1"`, 0, false},
		{`-0.5`, 0, false},
		{`"0.0000001"`, 0, false},
		{`0.1234567`, 0, false},
		{`"NaN"`, 0, false},
		{`"Infinity"`, 0, false},
		{`"abc"`, 0, false},
		{`""`, 0, false},
		{`" 1"`, 0, false},
		{`null`, 0, false},
		{`true`, 0, false},
		{`[1]`, 0, false},
		{`{"a":1}`, 0, false},
		{`"1e999999999"`, 0, false},
		{`1e-999999999`, 0, false},
		{`"100000000000000000000"`, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := policy.ParseAmountJSON(json.RawMessage(tc.in), policy.USDCDecimals)
			if tc.ok {
				if err != nil || got != tc.want {
					t.Fatalf("ParseAmountJSON(%s) = %d, %v; want %d", tc.in, got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseAmountJSON(%s) = %d; want an error", tc.in, got)
			}
			if !errors.Is(err, policy.ErrInvalidArgument) {
				t.Fatalf("error %v is not invalid_argument", err)
			}
		})
	}
}

func TestAmountFormat(t *testing.T) {
	tests := []struct {
		a    policy.Amount
		want string
	}{
		{12_500_000, "12.50"}, {1, "0.000001"}, {100_000_000, "100.00"}, {123_456_789, "123.456789"}, {0, "0.00"},
	}
	for _, tc := range tests {
		if got := tc.a.Format(6); got != tc.want {
			t.Errorf("Format(%d) = %q; want %q", tc.a, got, tc.want)
		}
	}
}

func FuzzParseAmountJSON(f *testing.F) {
	for _, s := range []string{`"12.5"`, `12.5`, `"0.000001"`, `1e3`, `"NaN"`, `-1`, `"1e999999999"`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		a, err := policy.ParseAmountJSON(json.RawMessage(in), policy.USDCDecimals)
		if err != nil {
			if policy.CodeOf(err) != policy.CodeInvalidArgument {
				t.Fatalf("error without invalid_argument code: %v", err)
			}
			return
		}
		if a <= 0 || a > policy.MaxAmount {
			t.Fatalf("accepted out-of-range amount %d from %q", a, in)
		}
		// What is accepted formats back to the same amount.
		back, err := policy.ParseAmount(a.Format(policy.USDCDecimals), policy.USDCDecimals)
		if err != nil || back != a {
			t.Fatalf("round trip of %d: %d, %v", a, back, err)
		}
	})
}
