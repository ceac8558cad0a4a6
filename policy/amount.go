package policy

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
)

// Amount is a token amount in integer base units (for USDC, 1 = 0.000001).
type Amount int64

// MaxAmount is the largest amount the ledger holds exactly: Lua numbers are
// doubles, exact up to 2^53-1.
const MaxAmount Amount = 1<<53 - 1

// USDCDecimals is the number of decimals of USDC.
const USDCDecimals int32 = 6

const maxAmountText = 64

// AmountPattern is the one grammar of an amount given as text: digits,
// optionally a point and more digits ("12", "12.50"). No sign, exponent,
// spaces, or a point without digits on both sides. The tools' JSON schema
// publishes it and ParseAmount enforces it.
const AmountPattern = `^[0-9]+(\.[0-9]+)?$`

var amountText = regexp.MustCompile(AmountPattern)

// ParseAmount parses a decimal text (in token units, such as "12.5") into
// base units. Text outside AmountPattern, zero, more decimals than the token
// has, or more than MaxAmount: an invalid_argument error.
func ParseAmount(text string, decimals int32) (Amount, error) {
	bad := func(msg string) error { return Errorf(CodeInvalidArgument, "amount", "%s", msg) }
	if text == "" {
		return 0, bad("amount is empty")
	}
	if len(text) > maxAmountText {
		return 0, bad("amount is too long")
	}
	if !amountText.MatchString(text) {
		return 0, bad("amount must be digits with an optional decimal point, such as 12 or 12.50 (no sign, exponent or spaces)")
	}
	return parseDecimal(text, decimals)
}

// parseDecimal parses a decimal text of either grammar (AmountPattern, or a
// JSON number) into base units.
func parseDecimal(text string, decimals int32) (Amount, error) {
	bad := func(msg string) error { return Errorf(CodeInvalidArgument, "amount", "%s", msg) }
	if len(text) > maxAmountText {
		return 0, bad("amount is too long")
	}
	d, err := decimal.NewFromString(text)
	if err != nil {
		return 0, bad("amount is not a decimal number")
	}
	// Refuse extreme exponents before any arithmetic: 1e999999999 must not
	// allocate a number with a billion digits.
	if e := d.Exponent(); e < -40 || e > 40 {
		return 0, bad("amount is out of range")
	}
	if d.Sign() <= 0 {
		return 0, bad("amount must be greater than zero")
	}
	units := d.Shift(decimals)
	if !units.Equal(units.Truncate(0)) {
		return 0, Errorf(CodeInvalidArgument, "amount", "amount has more than %d decimal places", decimals)
	}
	if units.GreaterThan(decimal.NewFromInt(int64(MaxAmount))) {
		return 0, bad("amount is too large")
	}
	return Amount(units.IntPart()), nil
}

// ParseAmountJSON parses an amount given as a JSON string ("12.5") or a JSON
// number (12.5), never going through a float.
func ParseAmountJSON(raw json.RawMessage, decimals int32) (Amount, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, Errorf(CodeInvalidArgument, "amount", "amount is required")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, Errorf(CodeInvalidArgument, "amount", "amount is not a valid JSON string")
		}
		return ParseAmount(s, decimals)
	}
	if raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9') {
		// A JSON number, as the schema's {"type": "number"} allows: its
		// grammar was checked by the JSON decoder (1e2 is a number).
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, Errorf(CodeInvalidArgument, "amount", "amount is not a valid JSON number")
		}
		return parseDecimal(n.String(), decimals)
	}
	return 0, Errorf(CodeInvalidArgument, "amount", "amount must be a string or a number")
}

// Decimal returns the amount in token units.
func (a Amount) Decimal(decimals int32) decimal.Decimal {
	return decimal.New(int64(a), -decimals)
}

// Format returns the amount in token units as text, with at least two
// decimals ("12.50", "0.000001").
func (a Amount) Format(decimals int32) string {
	d := a.Decimal(decimals)
	s := d.String()
	if i := strings.IndexByte(s, '.'); i >= 0 && len(s)-i-1 >= 2 {
		return s
	}
	return d.StringFixed(2)
}
