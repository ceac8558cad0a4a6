package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
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
	res, err := s.eval(ctx, "decide", w, kind+":"+id, r.args(kind, id)...)
	if err != nil {
		return nil, err
	}
	d, err := decodeDecision(res)
	if err != nil {
		return nil, err
	}
	if d.newPayment != nil {
		d.Payment, d.newPayment = r.newPayment(w, d), nil
	}
	return d, nil
}

// newPayment is the payment a decision created from this request: the
// script answers only what the request does not say (its session, its agent).
func (r PaymentRequest) newPayment(wallet string, d *Decision) *Payment {
	p := &Payment{ID: r.PaymentID, SessionKeyID: r.SessionKeyID, SessionID: d.newPayment["session_id"],
		AgentID: d.newPayment["agent_id"], UserWallet: wallet, Amount: r.Amount, Recipient: r.Recipient,
		Description: r.Description, Status: PaymentStatus(d.Outcome), IdempotencyKey: r.IdempotencyKey,
		CreatedAt: d.Now, UpdatedAt: d.Now}
	if d.Outcome == OutcomeReserved {
		p.Signature, p.Blockhash = r.Signature, r.Blockhash
	}
	return p
}

// args are decide.lua's arguments, in the order it reads them (see there),
// built from the request in one place; a check leaves out what only a
// reservation reads.
func (r PaymentRequest) args(kind, id string) []any {
	flags := ""
	if r.Approved {
		flags += "a"
	}
	if r.Risky {
		flags += "r"
	}
	a := []any{string(r.Mode), kind, id, r.AgentID, units(r.Amount), r.Recipient, r.DeviceHash, flags}
	if r.Mode == ModeReserve {
		fp := ""
		if r.IdempotencyKey != "" {
			fp = r.Fingerprint()
		}
		a = append(a, r.PaymentID, r.IdempotencyKey, fp, r.Signature, r.Description, r.Blockhash)
	}
	return a
}

// decodeDecision turns decide.lua's answer into a Decision: name/value pairs
// (each check and the payment nested pairs), or fail()'s JSON for a refused
// argument.
func decodeDecision(res any) (*Decision, error) {
	list, ok := res.([]any)
	if !ok {
		text, _ := res.(string)
		if _, err := decodeReply("decide", text); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("policy: decide: reply is %T, not a decision", res)
	}
	d := &Decision{}
	var num numbers
	err := eachPair(list, func(name string, v any) error {
		text, _ := v.(string)
		switch name {
		case "allowed":
			d.Allowed = text == "1"
		case "approval_required":
			d.ApprovalRequired = text == "1"
		case "duplicate":
			d.Duplicate = text == "1"
		case "outcome":
			d.Outcome = Outcome(text)
		case "max_affordable_now":
			d.MaxAffordableNow = num.units(text)
		case "next_available_at":
			t := num.millis(text)
			d.NextAvailableAt = &t
		case "session_key_remaining":
			a := num.units(text)
			d.SessionKeyRemaining = &a
		case "session_remaining_today":
			a := num.units(text)
			d.SessionRemainingToday = &a
		case "now":
			d.Now = num.millis(text)
		case "mint":
			d.Mint = text
		case "sealed_key":
			d.SealedKey = text
		case "session_key_address":
			d.KeyAddress = text
		case "check":
			c, err := decodeCheck(v, &num)
			if err != nil {
				return err
			}
			d.Checks = append(d.Checks, c)
		case "new_payment":
			f, err := pairFields(v)
			if err != nil {
				return err
			}
			d.newPayment = f
		case "payment":
			f, err := pairFields(v)
			if err != nil {
				return err
			}
			d.Payment = f.payment()
		}
		return nil
	})
	if err == nil {
		err = num.err
	}
	if err != nil {
		return nil, fmt.Errorf("policy: decide: bad reply: %w", err)
	}
	return d, nil
}

func decodeCheck(v any, num *numbers) (Check, error) {
	var c Check
	list, _ := v.([]any)
	err := eachPair(list, func(name string, x any) error {
		text, _ := x.(string)
		switch name {
		case "code":
			c.Code = Code(text)
		case "param":
			c.Param = text
		case "message":
			c.Message = text
		case "window":
			c.Window = text
		case "limit":
			c.Limit = num.units(text)
		case "used":
			c.Used = num.units(text)
		case "remaining":
			c.Remaining = num.units(text)
		case "resets_at":
			c.ResetsAt = num.millis(text)
		}
		return nil
	})
	return c, err
}

// pairFields reads a nested list of name/value pairs of a script's answer.
func pairFields(v any) (fields, error) {
	f := fields{}
	sub, _ := v.([]any)
	err := eachPair(sub, func(n string, x any) error { f[n], _ = x.(string); return nil })
	return f, err
}

// eachPair calls fn for every name/value pair of a script's list answer.
func eachPair(list []any, fn func(name string, value any) error) error {
	if len(list)%2 != 0 {
		return fmt.Errorf("%d items, not name/value pairs", len(list))
	}
	for i := 0; i < len(list); i += 2 {
		name, ok := list[i].(string)
		if !ok {
			return fmt.Errorf("item %d is %T, not a name", i, list[i])
		}
		if err := fn(name, list[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// numbers reads the integers of a script's answer; the first text that is
// not one (an empty text is zero) is kept in err, so a corrupt reply is an
// error rather than an amount of zero.
type numbers struct{ err error }

func (p *numbers) int(s string) int64 {
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%q is not an integer", s)
	}
	return n
}

func (p *numbers) units(s string) Amount { return Amount(p.int(s)) }

func (p *numbers) millis(s string) time.Time {
	n := p.int(s)
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}
