// Package x402 holds the wire format of the x402 payment protocol, version 2
// (the one @x402/core, @x402/express and @x402/svm speak): the three HTTP
// headers, their base64 JSON bodies, and the choice of an offer. It also holds
// the HTTP client that fetches paid resources safely. It knows nothing of
// limits or of the chain.
package x402

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The HTTP headers of x402 version 2.
const (
	// HeaderPaymentRequired carries a 402 answer's PaymentRequired.
	HeaderPaymentRequired = "PAYMENT-REQUIRED"
	// HeaderPaymentSignature carries the client's PaymentPayload on the paid retry.
	HeaderPaymentSignature = "PAYMENT-SIGNATURE"
	// HeaderPaymentResponse carries the server's SettleResponse.
	HeaderPaymentResponse = "PAYMENT-RESPONSE"
)

// Version is the protocol version this package speaks.
const Version = 2

// SchemeExact is the scheme whose payment is one transfer of an exact amount.
const SchemeExact = "exact"

// maxHeader bounds a header this package decodes (base64 text).
const maxHeader = 64 << 10

// ErrMalformed is returned for a header that is not valid x402.
var ErrMalformed = errors.New("x402: malformed header")

// Resource describes what is sold.
type Resource struct {
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
	MimeType    string `json:"mimeType,omitempty"`
}

// Requirements is one offer of a 402 answer ("PaymentRequirements"). Raw
// keeps the offer exactly as the server sent it: the paid retry echoes it as
// "accepted", and the server compares the two.
type Requirements struct {
	Scheme            string          `json:"scheme"`
	Network           string          `json:"network"`
	Amount            string          `json:"amount"`
	Asset             string          `json:"asset"`
	PayTo             string          `json:"payTo"`
	MaxTimeoutSeconds int64           `json:"maxTimeoutSeconds"`
	Extra             Extra           `json:"extra"`
	Raw               json.RawMessage `json:"-"`
}

// Extra is the scheme's extra data of an offer on Solana.
type Extra struct {
	FeePayer             string `json:"feePayer"`
	Memo                 string `json:"memo,omitempty"`
	RecentBlockhash      string `json:"recentBlockhash,omitempty"`
	LastValidBlockHeight any    `json:"lastValidBlockHeight,omitempty"`
}

// PaymentRequired is the body of the PAYMENT-REQUIRED header.
type PaymentRequired struct {
	X402Version int             `json:"x402Version"`
	Error       string          `json:"error,omitempty"`
	Resource    json.RawMessage `json:"resource,omitempty"`
	Accepts     []Requirements  `json:"accepts"`
	Extensions  json.RawMessage `json:"extensions,omitempty"`
}

// PaymentPayload is the body of the PAYMENT-SIGNATURE header.
type PaymentPayload struct {
	X402Version int             `json:"x402Version"`
	Resource    json.RawMessage `json:"resource,omitempty"`
	Accepted    json.RawMessage `json:"accepted"`
	Payload     SVMPayload      `json:"payload"`
	Extensions  json.RawMessage `json:"extensions,omitempty"`
}

// SVMPayload is the exact scheme's payload on Solana: the base64 wire
// transaction, signed by the payer and not yet by the fee payer.
type SVMPayload struct {
	Transaction string `json:"transaction"`
}

// SettleResponse is the body of the PAYMENT-RESPONSE header.
type SettleResponse struct {
	Success     bool   `json:"success"`
	ErrorReason string `json:"errorReason,omitempty"`
	Payer       string `json:"payer,omitempty"`
	Transaction string `json:"transaction"`
	Network     string `json:"network"`
}

// decodeHeader decodes base64 JSON into v.
func decodeHeader(h string, v any) error {
	h = strings.TrimSpace(h)
	if h == "" || len(h) > maxHeader {
		return fmt.Errorf("%w: empty or longer than %d bytes", ErrMalformed, maxHeader)
	}
	raw, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return fmt.Errorf("%w: not base64: %w", ErrMalformed, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: not JSON: %w", ErrMalformed, err)
	}
	return nil
}

// ParsePaymentRequired decodes a PAYMENT-REQUIRED header of version 2.
func ParsePaymentRequired(h string) (*PaymentRequired, error) {
	var pr PaymentRequired
	if err := decodeHeader(h, &pr); err != nil {
		return nil, err
	}
	if pr.X402Version != Version {
		return nil, fmt.Errorf("%w: x402Version %d (this client speaks %d)", ErrMalformed, pr.X402Version, Version)
	}
	// Keep each offer's exact JSON to echo it back.
	var raw struct {
		Accepts []json.RawMessage `json:"accepts"`
	}
	b, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(h))
	if err := json.Unmarshal(b, &raw); err != nil || len(raw.Accepts) != len(pr.Accepts) {
		return nil, fmt.Errorf("%w: accepts", ErrMalformed)
	}
	if len(pr.Accepts) == 0 || len(pr.Accepts) > 32 {
		return nil, fmt.Errorf("%w: %d offers", ErrMalformed, len(pr.Accepts))
	}
	for i := range pr.Accepts {
		pr.Accepts[i].Raw = raw.Accepts[i]
	}
	return &pr, nil
}

// ParseSettleResponse decodes a PAYMENT-RESPONSE header.
func ParseSettleResponse(h string) (*SettleResponse, error) {
	var sr SettleResponse
	if err := decodeHeader(h, &sr); err != nil {
		return nil, err
	}
	return &sr, nil
}

// Encode writes a PaymentPayload as the PAYMENT-SIGNATURE header's value.
func (p *PaymentPayload) Encode() (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("x402: encode payment payload: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Units parses an offer's amount: a decimal integer of the asset's base units.
func (r *Requirements) Units() (int64, error) {
	if r.Amount == "" || len(r.Amount) > 19 || strings.TrimLeft(r.Amount, "0123456789") != "" {
		return 0, fmt.Errorf("x402: amount %q is not an integer of base units", r.Amount)
	}
	n, err := strconv.ParseInt(r.Amount, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("x402: amount %q is not a positive integer of base units", r.Amount)
	}
	return n, nil
}

// Want is what this client can pay: the exact scheme, on one network, in one
// asset, at most Max base units.
type Want struct {
	Network string
	Asset   string
	Max     int64
	// Format writes base units for people (e.g. "0.01").
	Format func(int64) string
}

// Mismatch names why one offer cannot be paid.
type Mismatch struct {
	Index  int    `json:"index"`
	Field  string `json:"field"` // scheme, network, asset, payTo, extra.feePayer, extra.memo, amount (malformed), price (above the maximum)
	Reason string `json:"reason"`
}

// Choose picks the cheapest offer this client can pay; with none, it returns
// every offer's reasons (and nil).
func Choose(offers []Requirements, w Want, validAddress func(string) bool) (*Requirements, []Mismatch) {
	var best *Requirements
	var bestUnits int64
	var why []Mismatch
	format := w.Format
	if format == nil {
		format = func(n int64) string { return strconv.FormatInt(n, 10) }
	}
	for i := range offers {
		o := &offers[i]
		miss := func(field, reason string, args ...any) {
			why = append(why, Mismatch{Index: i, Field: field, Reason: fmt.Sprintf(reason, args...)})
		}
		switch {
		case o.Scheme != SchemeExact:
			miss("scheme", "scheme %q is not supported (only %q)", o.Scheme, SchemeExact)
			continue
		case o.Network != w.Network:
			miss("network", "network %q is not this server's network %q", o.Network, w.Network)
			continue
		case o.Asset != w.Asset:
			miss("asset", "token %s is not the session key's token %s", o.Asset, w.Asset)
			continue
		case !validAddress(o.PayTo):
			miss("payTo", "payTo %q is not a Solana address", o.PayTo)
			continue
		case !validAddress(o.Extra.FeePayer):
			miss("extra.feePayer", "extra.feePayer %q is not a Solana address", o.Extra.FeePayer)
			continue
		case len(o.Extra.Memo) > 256:
			miss("extra.memo", "extra.memo is longer than 256 bytes")
			continue
		}
		n, err := o.Units()
		if err != nil {
			miss("amount", "%v", err)
			continue
		}
		if n > w.Max {
			miss("price", "price %s is above your max_amount %s", format(n), format(w.Max))
			continue
		}
		if best == nil || n < bestUnits {
			best, bestUnits = o, n
		}
	}
	if best != nil {
		return best, nil
	}
	return nil, why
}
