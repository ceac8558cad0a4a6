package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/invopop/jsonschema"

	"github.com/stipend/stipend/policy"
)

// The data objects of the events, in the API's dialect: amounts as decimal
// strings of the token ("29.99"), times in RFC 3339, and the field names of
// the API's views (max_per_day, require_approval_above,
// transaction_signature). The ledger's stream keeps base units and unix
// milliseconds; View turns one into the other when an event is delivered.

// KeyEvent is the data of session_key.exhausted and session_key.expired.
type KeyEvent struct {
	SessionKeyID string `json:"session_key_id"`
	AgentID      string `json:"agent_id"`
	UserWallet   string `json:"user_wallet"`
	OccurredAt   string `json:"occurred_at" jsonschema:"format=date-time"`
}

// KeyCreatedEvent is the data of session_key.created.
type KeyCreatedEvent struct {
	KeyEvent
	SessionKeyAddress string `json:"session_key_address"`
	MaxAmount         string `json:"max_amount"`
	ExpiresAt         string `json:"expires_at" jsonschema:"format=date-time"`
}

// KeyActivatedEvent is the data of session_key.activated.
type KeyActivatedEvent struct {
	KeyEvent
	MaxAmount            string `json:"max_amount"`
	TransactionSignature string `json:"transaction_signature"`
}

// KeyToppedUpEvent is the data of session_key.topped_up.
type KeyToppedUpEvent struct {
	KeyEvent
	Amount               string `json:"amount"`
	NewMaxAmount         string `json:"new_max_amount"`
	TransactionSignature string `json:"transaction_signature"`
}

// KeyRevokedEvent is the data of session_key.revoked.
type KeyRevokedEvent struct {
	KeyEvent
	Reason string `json:"reason"`
}

// KeyLowBalanceEvent is the data of session_key.low_balance.
type KeyLowBalanceEvent struct {
	KeyEvent
	RemainingAmount string `json:"remaining_amount"`
	MaxAmount       string `json:"max_amount"`
}

// KeyLinkEvent is the data of session_key.linked and session_key.unlinked
// (By: "owner" or "operator_forced", on an unlink).
type KeyLinkEvent struct {
	KeyEvent
	SessionID string `json:"session_id"`
	By        string `json:"by,omitempty" jsonschema:"enum=owner,enum=operator_forced"`
}

// SessionEvent is the data of session.created and session.expired.
type SessionEvent struct {
	SessionID  string `json:"session_id"`
	AgentID    string `json:"agent_id"`
	UserWallet string `json:"user_wallet"`
	OccurredAt string `json:"occurred_at" jsonschema:"format=date-time"`
}

// SessionLimitsEvent is the data of session.limits_changed; an absent limit is none.
type SessionLimitsEvent struct {
	SessionEvent
	MaxPerTransaction    string `json:"max_per_transaction,omitempty"`
	MaxPerDay            string `json:"max_per_day,omitempty"`
	MaxPerWeek           string `json:"max_per_week,omitempty"`
	MaxPerMonth          string `json:"max_per_month,omitempty"`
	RequireApprovalAbove string `json:"require_approval_above,omitempty"`
	By                   string `json:"by" jsonschema:"enum=owner,enum=operator_forced"`
}

// PaymentEvent is the data of payment.approval_required, payment.confirmed
// and payment.failed.
type PaymentEvent struct {
	PaymentID            string `json:"payment_id"`
	SessionKeyID         string `json:"session_key_id,omitempty"`
	SessionID            string `json:"session_id,omitempty"`
	AgentID              string `json:"agent_id"`
	UserWallet           string `json:"user_wallet"`
	Amount               string `json:"amount"`
	Recipient            string `json:"recipient"`
	TransactionSignature string `json:"transaction_signature,omitempty"`
	Reason               string `json:"reason,omitempty"`
	OccurredAt           string `json:"occurred_at" jsonschema:"format=date-time"`
}

// EventTypes maps each event type to its data object.
var EventTypes = map[string]any{
	"session_key.created":       KeyCreatedEvent{},
	"session_key.activated":     KeyActivatedEvent{},
	"session_key.exhausted":     KeyEvent{},
	"session_key.expired":       KeyEvent{},
	"session_key.revoked":       KeyRevokedEvent{},
	"session_key.topped_up":     KeyToppedUpEvent{},
	"session_key.low_balance":   KeyLowBalanceEvent{},
	"session_key.linked":        KeyLinkEvent{},
	"session_key.unlinked":      KeyLinkEvent{},
	"session.created":           SessionEvent{},
	"session.expired":           SessionEvent{},
	"session.limits_changed":    SessionLimitsEvent{},
	"payment.approval_required": PaymentEvent{},
	"payment.confirmed":         PaymentEvent{},
	"payment.failed":            PaymentEvent{},
}

// Schema returns the JSON Schema of an event type's data object.
func Schema(event string) (*jsonschema.Schema, bool) {
	v, ok := EventTypes[event]
	if !ok {
		return nil, false
	}
	r := &jsonschema.Reflector{DoNotReference: true, ExpandedStruct: true}
	s := r.Reflect(v)
	s.Title = event
	return s, true
}

// amountFields are base units in the stream and decimal strings in the API.
var amountFields = map[string]bool{"max_amount": true, "new_max_amount": true, "amount": true, "remaining_amount": true,
	"per_transaction": true, "per_day": true, "per_week": true, "per_month": true, "approval_above": true}

// timeFields are unix milliseconds in the stream and RFC 3339 in the API.
var timeFields = map[string]bool{"expires_at": true, "ts": true}

// renames gives the API's name of a stream field.
var renames = map[string]string{"ts": "occurred_at", "signature": "transaction_signature",
	"per_transaction": "max_per_transaction", "per_day": "max_per_day", "per_week": "max_per_week",
	"per_month": "max_per_month", "approval_above": "require_approval_above"}

// View turns an event's data as the ledger recorded it into the API's
// dialect, checked against the event type's data object (unknown fields are
// an error). An event type without a data object (webhook.test) passes as it is.
func View(event string, raw []byte, decimals int32) (json.RawMessage, error) {
	typ, ok := EventTypes[event]
	if !ok {
		return raw, nil
	}
	var in map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("webhook: %s data: %w", event, err)
	}
	out := make(map[string]any, len(in))
	for k, v := range in {
		s := fmt.Sprint(v)
		name := k
		if n, ok := renames[k]; ok {
			name = n
		}
		switch {
		case amountFields[k]:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("webhook: %s data: %s is not base units: %q", event, k, s)
			}
			if n == 0 && (k == "per_transaction" || k == "per_day" || k == "per_week" || k == "per_month" || k == "approval_above") {
				continue // no limit, as the API's view leaves it out
			}
			out[name] = policy.Amount(n).Format(decimals)
		case timeFields[k]:
			ms, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("webhook: %s data: %s is not unix milliseconds: %q", event, k, s)
			}
			out[name] = time.UnixMilli(ms).UTC().Format(time.RFC3339)
		default:
			if s == "" {
				continue
			}
			out[name] = v
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	// Check the result against the data object: every field known.
	strict := json.NewDecoder(bytes.NewReader(b))
	strict.DisallowUnknownFields()
	ptr := newOf(typ)
	if err := strict.Decode(ptr); err != nil {
		return nil, fmt.Errorf("webhook: %s data does not fit its schema: %w", event, err)
	}
	return json.Marshal(ptr)
}

func newOf(v any) any { return reflect.New(reflect.TypeOf(v)).Interface() }
