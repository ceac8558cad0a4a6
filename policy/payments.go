package policy

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Commit records that a reserved payment landed on chain. Committing twice changes nothing.
func (s *Store) Commit(ctx context.Context, userWallet, paymentID string) (*Payment, error) {
	return s.runPayment(ctx, "commit", userWallet, paymentID, s.idemTTL.Milliseconds())
}

// Release gives back what a payment held, once it is known never to land (or
// its approval was refused or lapsed).
func (s *Store) Release(ctx context.Context, userWallet, paymentID, reason string) (*Payment, error) {
	return s.runPayment(ctx, "release", userWallet, paymentID, reason, s.idemTTL.Milliseconds())
}

// runPayment runs a script that answers a payment record (text fields),
// decoded straight into a map of strings: commit and release are hot.
func (s *Store) runPayment(ctx context.Context, name, userWallet, paymentID string, args ...any) (*Payment, error) {
	if validWallet(userWallet) != nil {
		return nil, Errorf(CodeNotFound, "payment_id", "no payment %q", paymentID)
	}
	raw, err := s.run(ctx, name, userWallet, "pay:"+paymentID, append([]any{paymentID}, args...)...)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("policy: %s: bad reply: %w", name, err)
	}
	f := fields{}
	for k, v := range m {
		f[k] = v
	}
	return f.payment(), nil
}

// GetPayment returns a payment of a user_wallet.
func (s *Store) GetPayment(ctx context.Context, userWallet, paymentID string) (*Payment, error) {
	if validWallet(userWallet) != nil || len(paymentID) < 20 {
		return nil, Errorf(CodeNotFound, "payment_id", "no payment %q", paymentID)
	}
	p, err := s.payment(ctx, userWallet, paymentID[4:20], paymentID)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, Errorf(CodeNotFound, "payment_id", "no payment %q", paymentID)
	}
	return p, nil
}

// payment reads the payment in a slot (see lib.lua's pay_put): the one with
// id paymentID, or with any id if paymentID is "". Without one there, it
// reads a payment of the earlier layout (a hash under its id). nil: none.
func (s *Store) payment(ctx context.Context, userWallet, slot, paymentID string) (*Payment, error) {
	v, err := s.rdb.Get(ctx, s.prefixOf(userWallet)+"pay:"+slot).Result()
	switch {
	case err == nil:
		f := decodePayment(v)
		f["payment_id"], f["user_wallet"] = "pay_"+slot+f.str("tail"), userWallet
		if paymentID != "" && f.str("payment_id") != paymentID {
			return nil, nil
		}
		if _, ok := f["agent_id"]; !ok {
			if f["agent_id"], err = s.payAgent(ctx, userWallet, f); err != nil {
				return nil, err
			}
		}
		return f.payment(), nil
	case !errors.Is(err, redis.Nil):
		return nil, fmt.Errorf("policy: get payment: %w", err)
	case paymentID == "":
		return nil, nil
	}
	m, err := s.rdb.HGetAll(ctx, s.prefixOf(userWallet)+"pay:"+paymentID).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: get payment: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	f := fields{}
	for k, v := range m {
		f[k] = v
	}
	return f.payment(), nil
}

// payAgent is the agent of a payment whose record does not hold it: its
// session key's, else its session's (lib.lua's pay_agent).
func (s *Store) payAgent(ctx context.Context, userWallet string, f fields) (string, error) {
	owner := ""
	switch {
	case f.str("session_key_id") != "":
		owner = "sk:" + f.str("session_key_id")
	case f.str("session_id") != "":
		owner = "as:" + f.str("session_id")
	default:
		return "", nil
	}
	a, err := s.rdb.HGet(ctx, s.prefixOf(userWallet)+owner, "agent_id").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("policy: get payment: %w", err)
	}
	return a, nil
}

// payFields is the order of a payment's fields in the text layout (lib.lua's PAY_FIELDS).
var payFields = []string{"status", "tail", "session_key_id", "session_id", "agent_id", "amount", "recipient", "signature",
	"created_at", "updated_at", "idempotency_key", "description", "reason", "blockhash", "b_day", "b_week", "b_month"}

var payStatus = map[string]string{"a": "approval_required", "r": "reserved", "c": "confirmed", "f": "failed"}

// payLayout is the compact layout of a payment record (lib.lua's PAY_LAYOUT
// and PAY_KINDS): its fields after the status byte, each a text ('t', and
// 'k' and 's' with their id prefix left out) or a number ('n').
var payLayout = []struct {
	name string
	kind byte
}{{"tail", 't'}, {"session_key_id", 'k'}, {"session_id", 's'}, {"amount", 'n'}, {"created_at", 'n'},
	{"updated_at", 'n'}, {"recipient", 't'}, {"signature", 't'}, {"idempotency_key", 't'}, {"description", 't'},
	{"reason", 't'}, {"blockhash", 't'}, {"b_day", 't'}, {"b_week", 't'}, {"b_month", 't'}}

var payPrefix = map[byte]string{'k': "sk_", 's': "sess_"}

// decodePayment reads a payment record of either layout (see lib.lua's
// pay_decode); a compact record does not hold its agent_id.
func decodePayment(v string) fields {
	f := fields{}
	if v != "" && v[0] > 128 { // the compact layout: 128 + the status's letter
		f["status"] = payStatus[string(v[0]-128)]
		b := []byte(v[1:])
		for _, l := range payLayout {
			if len(b) == 0 {
				break
			}
			n, w := binary.Uvarint(b)
			if w <= 0 {
				break
			}
			b = b[w:]
			if l.kind == 'n' {
				f[l.name] = ""
				if n > 0 {
					f[l.name] = strconv.FormatUint(n-1, 10)
				}
				continue
			}
			if n > uint64(len(b)) {
				break
			}
			t := string(b[:n])
			b = b[n:]
			if t != "" {
				t = payPrefix[l.kind] + t
			}
			f[l.name] = t
		}
	} else {
		for _, name := range payFields {
			c := strings.IndexByte(v, ':')
			if c < 0 {
				break
			}
			n, err := strconv.Atoi(v[:c])
			if err != nil || n < 0 || c+1+n > len(v) {
				break
			}
			f[name], v = v[c+1:c+1+n], v[c+1+n:]
		}
		if st, ok := payStatus[f.str("status")]; ok {
			f["status"] = st
		}
	}
	if f.str("updated_at") != "" {
		f["updated_at"] = strconv.FormatInt(f.int("created_at")+f.int("updated_at"), 10)
	}
	return f
}

// idemSlot is the slot of the payment an idempotency key of a session key
// ("sk") or session ("as") leads to (lib.lua's idem_slot).
func idemSlot(kind, id, idem string) string {
	h := sha1.Sum([]byte(kind + ":" + id + ":" + idem))
	return hex.EncodeToString(h[:])[:16]
}

// NewPaymentID returns the id of a new payment from a session key (or, with
// sessionKeyID "", a session): with an idempotency key, one its key leads
// to (the ledger finds a payment from its idempotency key by its id), else
// a random one.
func NewPaymentID(sessionKeyID, sessionID, idempotencyKey string) string {
	if idempotencyKey == "" {
		return NewID("pay_")
	}
	kind, id := "sk", sessionKeyID
	if sessionKeyID == "" {
		kind, id = "as", sessionID
	}
	return "pay_" + idemSlot(kind, id, idempotencyKey) + NewID("")[:6]
}

// InFlight returns the reserved payments of every user_wallet: after a crash
// between reserve and confirm, the service looks each signature up.
func (s *Store) InFlight(ctx context.Context) ([]*Payment, error) {
	wallets, err := s.rdb.SMembers(ctx, s.walletsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: in flight: %w", err)
	}
	var out []*Payment
	for _, w := range wallets {
		ids, err := s.rdb.ZRange(ctx, s.prefixOf(w)+"inflight", 0, -1).Result()
		if err != nil {
			return nil, fmt.Errorf("policy: in flight: %w", err)
		}
		for _, id := range ids {
			p, err := s.GetPayment(ctx, w, id)
			if err != nil {
				continue
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// WithClockSkew returns a Store on the same Redis whose clock runs d ahead.
