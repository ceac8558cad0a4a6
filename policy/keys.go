package policy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewKey describes a session key to create.
type NewKey struct {
	ID           string // empty: a new "sk_" id
	AgentID      string
	UserWallet   string
	Token        string
	Mint         string
	Decimals     int32
	Address      string
	PKPPublicKey string
	Attestation  string
	SealedSecret string
	MaxAmount    Amount
	ExpiresAt    time.Time
	DeviceHash   string // hex SHA-256 of the device fingerprint the key is bound to; "" = not bound
}

// CreateKey records a new session key in status pending_approval.
func (s *Store) CreateKey(ctx context.Context, k NewKey) (*SessionKey, error) {
	if k.ID == "" {
		k.ID = NewID("sk_")
	}
	if err := validWallet(k.UserWallet); err != nil {
		return nil, err
	}
	if k.AgentID == "" {
		return nil, Errorf(CodeInvalidArgument, "agent_id", "agent_id is required")
	}
	if k.MaxAmount <= 0 || k.MaxAmount > MaxAmount {
		return nil, Errorf(CodeInvalidArgument, "max_amount", "max_amount out of range")
	}
	if err := s.index(ctx, k.ID, k.UserWallet, k.AgentID, k.ExpiresAt, true); err != nil {
		return nil, err
	}
	r, err := runReply[keyReply](ctx, s, "create_key", k.UserWallet, "sk:"+k.ID, k.ID, k.AgentID, k.UserWallet, k.Token,
		k.Mint, k.Decimals, k.Address, k.PKPPublicKey, k.Attestation, k.SealedSecret, units(k.MaxAmount), ms(k.ExpiresAt), k.DeviceHash)
	if err != nil {
		return nil, err
	}
	return r.sessionKey(), nil
}

// SealedSecret returns the sealed secret of a session key (for the wallet layer to open).
func (s *Store) SealedSecret(ctx context.Context, id string) (string, error) {
	w, err := s.walletOf(ctx, id, "session_key_id")
	if err != nil {
		return "", err
	}
	v, err := s.rdb.HGet(ctx, s.prefixOf(w)+"sk:"+id, "sealed_key").Result()
	if errors.Is(err, redis.Nil) {
		return "", Errorf(CodeNotFound, "session_key_id", "no session key %q", id)
	}
	if err != nil {
		return "", fmt.Errorf("policy: sealed secret: %w", err)
	}
	return v, nil
}

// keyScript runs a script on one session key (its id is the script's first
// argument) and decodes its typed reply R.
func keyScript[R any](ctx context.Context, s *Store, name, id string, args ...any) (*R, error) {
	if err := validID(id, "sk_", "session_key_id"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, id, "session_key_id")
	if err != nil {
		return nil, err
	}
	return runReply[R](ctx, s, name, w, "sk:"+id, append([]any{id}, args...)...)
}

// changeKey runs a script that answers one session key (keyReply): those
// that change a key, and their checks that change nothing.
func (s *Store) changeKey(ctx context.Context, name, id string, args ...any) (*SessionKey, error) {
	r, err := keyScript[keyReply](ctx, s, name, id, args...)
	if err != nil {
		return nil, err
	}
	return r.sessionKey(), nil
}

// Activate turns a pending key active once its funding transfer (signature sig,
// amount funded) is confirmed on chain.
func (s *Store) Activate(ctx context.Context, id, sig string, funded Amount) (*SessionKey, error) {
	return s.changeKey(ctx, "activate", id, sig, units(funded), "0")
}

// TopUp adds a confirmed top-up (signature sig) to a key's max_amount; an
// exhausted key is active again. A signature counts once.
func (s *Store) TopUp(ctx context.Context, id string, amount Amount, sig string) (*SessionKey, error) {
	if amount <= 0 || amount > MaxAmount {
		return nil, Errorf(CodeInvalidArgument, "amount", "amount out of range")
	}
	return s.changeKey(ctx, "top_up", id, units(amount), sig, "0")
}

// CheckActivate answers whether a key may still be funded with this amount
// (pending, unexpired, the amount it was created for), changing nothing: the
// same rules as Activate, asked before the owner's transfer is sent.
func (s *Store) CheckActivate(ctx context.Context, id string, funded Amount) (*SessionKey, error) {
	return s.changeKey(ctx, "activate", id, "", units(funded), "1")
}

// CheckTopUp answers whether a key may take a top-up of this amount,
// changing nothing: the same rules as TopUp, asked before a top-up is issued
// or sent.
func (s *Store) CheckTopUp(ctx context.Context, id string, amount Amount) (*SessionKey, error) {
	if amount <= 0 || amount > MaxAmount {
		return nil, Errorf(CodeInvalidArgument, "amount", "amount out of range")
	}
	return s.changeKey(ctx, "top_up", id, units(amount), "", "1")
}

// Revoke makes a key revoked, at once and for good. agent "" is the owner or operator.
func (s *Store) Revoke(ctx context.Context, agent, id, reason string) (*SessionKey, error) {
	return s.changeKey(ctx, "revoke", id, agent, reason)
}

// Expire turns a key past its expires_at into expired; it reports whether this call did it.
func (s *Store) Expire(ctx context.Context, id string) (bool, *SessionKey, error) {
	r, err := keyScript[expireReply](ctx, s, "expire", id)
	if err != nil {
		return false, nil, err
	}
	return r.Expired, r.Key.sessionKey(), nil
}

// GetKey returns a session key as the agent (or the owner, agent "") may see
// it, with its linked session if any. Expiry shows even before the sweeper ran.
func (s *Store) GetKey(ctx context.Context, agent, id string) (*SessionKey, *Session, error) {
	r, err := s.getKey(ctx, agent, id, "", "0")
	if err != nil {
		return nil, nil, err
	}
	var sess *Session
	if r.Session != nil {
		sess = r.Session.session()
	}
	return r.Key.sessionKey(), sess, nil
}

// KeyForPayment returns what the service needs to sign a payment, in one
// round trip: the key as the agent may see it (RecipientPaid telling whether
// it ever paid recipient, for the risk score) and its sealed secret.
func (s *Store) KeyForPayment(ctx context.Context, agent, id, recipient string) (*SessionKey, string, error) {
	r, err := s.getKey(ctx, agent, id, recipient, "1")
	if err != nil {
		return nil, "", err
	}
	return r.Key.sessionKey(), r.SealedKey, nil
}

// getKey reads a key with get.lua; its reply always holds the key.
func (s *Store) getKey(ctx context.Context, agent, id, recipient, sealed string) (*getReply, error) {
	if err := validID(id, "sk_", "session_key_id"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, id, "session_key_id")
	if err != nil {
		return nil, err
	}
	r, err := runReply[getReply](ctx, s, "get", w, "sk:"+id, "sk", id, agent, recipient, sealed)
	if err != nil {
		return nil, err
	}
	if r.Key == nil {
		return nil, fmt.Errorf("policy: script get: reply without the key %s", id)
	}
	return r, nil
}

// GetSession returns a session with its window usage.
func (s *Store) GetSession(ctx context.Context, agent, id string) (*Session, error) {
	if err := validID(id, "sess_", "session_id"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, id, "session_id")
	if err != nil {
		return nil, err
	}
	r, err := runReply[getReply](ctx, s, "get", w, "as:"+id, "as", id, agent, "", "0")
	if err != nil {
		return nil, err
	}
	if r.Session == nil {
		return nil, fmt.Errorf("policy: script get: reply without the session %s", id)
	}
	return r.Session.session(), nil
}

// ListKeys returns the session keys of an agent ("" for every agent), newest first.
func (s *Store) ListKeys(ctx context.Context, agent string) ([]*SessionKey, error) {
	ids, err := s.keyIDsOf(ctx, agent)
	if err != nil {
		return nil, err
	}
	out := make([]*SessionKey, 0, len(ids))
	for _, id := range ids {
		k, _, err := s.GetKey(ctx, agent, id)
		if errors.Is(err, ErrNotFound) {
			continue // indexed but its record was never written
		}
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	sortKeys(out)
	return out, nil
}

func sortKeys(ks []*SessionKey) {
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j].CreatedAt.After(ks[j-1].CreatedAt); j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
}
