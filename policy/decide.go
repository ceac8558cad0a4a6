package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Mode says whether a decision only checks or also reserves.
type Mode string

// The modes of a decision.
const (
	ModeCheck   Mode = "check"
	ModeReserve Mode = "reserve"
)

// PaymentRequest asks the ledger to check or reserve a payment.
type PaymentRequest struct {
	Mode           Mode
	SessionKeyID   string // either a session key ...
	SessionID      string // ... or a session alone (the owner's own wallet pays)
	AgentID        string // "" for the owner or operator
	Amount         Amount
	Recipient      string
	PaymentID      string // empty: a new "pay_" id; with an idempotency key, one of NewPaymentID (another is replaced)
	IdempotencyKey string
	Signature      string // the payment transaction's signature, known before it is sent
	Description    string
	Blockhash      string // the transaction's recent blockhash
	Approved       bool   // the owner approved this PaymentID
	Risky          bool   // the service's risk check asks for the owner's approval
	DeviceHash     string // hex SHA-256 of the device fingerprint presented (HashDevice); "" = none
}

// Fingerprint is what an idempotency key is bound to: the same key with other
// arguments is a conflict.
func (r PaymentRequest) Fingerprint() string {
	h := sha256.Sum256([]byte(strings.Join([]string{r.SessionKeyID, r.SessionID, units(r.Amount), r.Recipient, r.Description}, "\x00")))
	return hex.EncodeToString(h[:16])
}

// Decide runs the payment decision in one round trip: every check, and in
// ModeReserve the reservation against the key's balance and every window.
func (s *Store) Decide(ctx context.Context, r PaymentRequest) (*Decision, error) {
	kind, id, param, pfx := "sk", r.SessionKeyID, "session_key_id", "sk_"
	if r.SessionKeyID == "" {
		kind, id, param, pfx = "as", r.SessionID, "session_id", "sess_"
	} else if r.SessionID != "" {
		return nil, Errorf(CodeInvalidArgument, "session_id", "give session_key_id or session_id, not both")
	}
	if id == "" {
		return nil, Errorf(CodeInvalidArgument, param, "session_key_id or session_id is required")
	}
	if err := validID(id, pfx, param); err != nil {
		return nil, err
	}
	if r.Amount <= 0 || r.Amount > MaxAmount {
		return nil, Errorf(CodeInvalidArgument, "amount", "amount out of range")
	}
	if r.Mode != ModeCheck && r.Mode != ModeReserve {
		return nil, Errorf(CodeInvalidArgument, "mode", "unknown mode %q", r.Mode)
	}
	if r.Mode == ModeReserve && !r.Approved && r.IdempotencyKey != "" {
		// A payment with an idempotency key has an id that key leads to.
		if slot := idemSlot(kind, id, r.IdempotencyKey); len(r.PaymentID) < 20 || r.PaymentID[4:20] != slot {
			r.PaymentID = "pay_" + slot + NewID("")[:6]
		}
	} else if r.PaymentID == "" && r.Mode == ModeReserve {
		r.PaymentID = NewID("pay_")
	}
	w, err := s.walletOf(ctx, id, param)
	if err != nil {
		return nil, err
	}
	raw, err := s.run(ctx, "decide", w, kind+":"+id, string(r.Mode), kind, id, r.AgentID, units(r.Amount),
		r.Recipient, r.PaymentID, r.IdempotencyKey, r.Fingerprint(), r.Signature, r.Description,
		boolArg(r.Approved), s.idemTTL.Milliseconds(), boolArg(r.Risky), r.Blockhash, r.DeviceHash)
	if err != nil {
		return nil, err
	}
	var rep decisionReply
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, fmt.Errorf("policy: decide: bad reply: %w", err)
	}
	return rep.decision(), nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
