package tools_test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"testing"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/tools"
)

// amountSchemaPattern is the string pattern the tools publish for an amount,
// read from the schema itself.
func amountSchemaPattern(t testing.TB) *regexp.Regexp {
	t.Helper()
	s := tools.Amount{}.JSONSchema()
	for _, o := range s.OneOf {
		if o.Type == "string" {
			return regexp.MustCompile(o.Pattern)
		}
	}
	t.Fatal("the amount schema has no string form")
	return nil
}

// amountGrammar is the one table of amount texts: whether the published
// pattern matches, and whether the parser takes it (a text the pattern
// matches may still be refused for its value: zero, too many decimals, too large).
var amountGrammar = []struct {
	text    string
	pattern bool // the schema pattern matches
	parses  bool // ParseAmountJSON accepts it as a JSON string (6 decimals)
}{
	{"12", true, true},
	{"12.5", true, true},
	{"12.50", true, true},
	{"0.000001", true, true},
	{"007", true, true},
	{"9007199254.740991", true, true},
	{"0", true, false},                 // zero
	{"0.0", true, false},               // zero
	{"0.0000001", true, false},         // more decimals than USDC has
	{"9007199254.740992", true, false}, // more than the ledger holds exactly
	{"1e3", false, false},
	{"1E1", false, false},
	{"1e-2", false, false},
	{"5.", false, false},
	{".5", false, false},
	{"+5", false, false},
	{"-5", false, false},
	{" 5", false, false},
	{"5 ", false, false},
	{"5\n", false, false},
	{"1,5", false, false},
	{"1_000", false, false},
	{"0x10", false, false},
	{"NaN", false, false},
	{"Infinity", false, false},
	{"١٢", false, false}, // Arabic-Indic digits
	{"１２", false, false}, // fullwidth digits
	{"", false, false},
	{".", false, false},
	{"1..2", false, false},
	{"1.2.3", false, false},
}

// TestAmountGrammar: the schema pattern and the parser, side by side on one
// table, agree: the parser never takes a text the pattern refuses.
func TestAmountGrammar(t *testing.T) {
	re := amountSchemaPattern(t)
	if re.String() != policy.AmountPattern {
		t.Fatalf("schema pattern %q is not policy.AmountPattern %q", re, policy.AmountPattern)
	}
	for _, tc := range amountGrammar {
		t.Run(strconv.Quote(tc.text), func(t *testing.T) {
			if got := re.MatchString(tc.text); got != tc.pattern {
				t.Fatalf("pattern matches %q: %v; table says %v", tc.text, got, tc.pattern)
			}
			raw, _ := json.Marshal(tc.text)
			_, err := policy.ParseAmountJSON(raw, policy.USDCDecimals)
			if got := err == nil; got != tc.parses {
				t.Fatalf("parser takes %q: %v (%v); table says %v", tc.text, got, err, tc.parses)
			}
			if err != nil && policy.CodeOf(err) != policy.CodeInvalidArgument {
				t.Fatalf("refusal of %q is %v, not invalid_argument", tc.text, err)
			}
			if tc.parses && !tc.pattern {
				t.Fatalf("the table itself says the parser takes %q, which the schema forbids", tc.text)
			}
		})
	}
}

// FuzzAmountGrammar: for any text, the parser takes it only if the schema
// pattern matches, and takes every matching text whose value fits (at most 6
// decimals, more than zero, within the ledger's range).
func FuzzAmountGrammar(f *testing.F) {
	for _, tc := range amountGrammar {
		f.Add(tc.text)
	}
	re := amountSchemaPattern(f)
	f.Fuzz(func(t *testing.T, text string) {
		raw, _ := json.Marshal(text)
		a, err := policy.ParseAmountJSON(raw, policy.USDCDecimals)
		matches := re.MatchString(text)
		if err == nil && !matches {
			t.Fatalf("parser took %q (%d), which the schema pattern forbids", text, a)
		}
		if err == nil && a <= 0 {
			t.Fatalf("parser took %q as %d", text, a)
		}
		if err != nil && policy.CodeOf(err) != policy.CodeInvalidArgument {
			t.Fatalf("refusal of %q is %v, not invalid_argument", text, err)
		}
		// A matching text of at most 9 integer digits and 6 decimals, not zero, must parse.
		if matches && fits(text) && err != nil {
			t.Fatalf("parser refused %q, which the schema allows and which fits: %v", text, err)
		}
	})
}

// fits reports whether a text of the pattern has at most 9 integer digits
// (after leading zeros), at most 6 decimals, and is not zero.
func fits(text string) bool {
	intPart, frac := text, ""
	for i := 0; i < len(text); i++ {
		if text[i] == '.' {
			intPart, frac = text[:i], text[i+1:]
		}
	}
	for len(intPart) > 0 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	if len(intPart) > 9 || len(frac) > 6 || len(text) > 64 {
		return false
	}
	for _, c := range intPart + frac {
		if c != '0' {
			return true
		}
	}
	return false
}
