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
	f, err := s.runFields(ctx, "create_key", k.UserWallet, "sk:"+k.ID, k.ID, k.AgentID, k.UserWallet, k.Token,
		k.Mint, k.Decimals, k.Address, k.PKPPublicKey, k.Attestation, k.SealedSecret, units(k.MaxAmount), ms(k.ExpiresAt), k.DeviceHash)
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
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

func (s *Store) keyScript(ctx context.Context, name, id string, args ...any) (fields, error) {
	if err := validID(id, "sk_", "session_key_id"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, id, "session_key_id")
	if err != nil {
		return nil, err
	}
	return s.runFields(ctx, name, w, "sk:"+id, append([]any{id}, args...)...)
}

// Activate turns a pending key active once its funding transfer (signature sig,
// amount funded) is confirmed on chain.
func (s *Store) Activate(ctx context.Context, id, sig string, funded Amount) (*SessionKey, error) {
	f, err := s.keyScript(ctx, "activate", id, sig, units(funded), "0")
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// TopUp adds a confirmed top-up (signature sig) to a key's max_amount; an
// exhausted key is active again. A signature counts once.
func (s *Store) TopUp(ctx context.Context, id string, amount Amount, sig string) (*SessionKey, error) {
	if amount <= 0 || amount > MaxAmount {
		return nil, Errorf(CodeInvalidArgument, "amount", "amount out of range")
	}
	f, err := s.keyScript(ctx, "top_up", id, units(amount), sig, "0")
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// CheckActivate answers whether a key may still be funded with this amount
// (pending, unexpired, the amount it was created for), changing nothing: the
// same rules as Activate, asked before the owner's transfer is sent.
func (s *Store) CheckActivate(ctx context.Context, id string, funded Amount) (*SessionKey, error) {
	f, err := s.keyScript(ctx, "activate", id, "", units(funded), "1")
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// CheckTopUp answers whether a key may take a top-up of this amount,
// changing nothing: the same rules as TopUp, asked before a top-up is issued
// or sent.
func (s *Store) CheckTopUp(ctx context.Context, id string, amount Amount) (*SessionKey, error) {
	if amount <= 0 || amount > MaxAmount {
		return nil, Errorf(CodeInvalidArgument, "amount", "amount out of range")
	}
	f, err := s.keyScript(ctx, "top_up", id, units(amount), "", "1")
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// Revoke makes a key revoked, at once and for good. agent "" is the owner or operator.
func (s *Store) Revoke(ctx context.Context, agent, id, reason string) (*SessionKey, error) {
	f, err := s.keyScript(ctx, "revoke", id, agent, reason)
	if err != nil {
		return nil, err
	}
	return f.sessionKey(), nil
}

// Expire turns a key past its expires_at into expired; it reports whether this call did it.
func (s *Store) Expire(ctx context.Context, id string) (bool, *SessionKey, error) {
	f, err := s.keyScript(ctx, "expire", id)
	if err != nil {
		return false, nil, err
	}
	return f["expired"] == true, f.sub("key").sessionKey(), nil
}

// GetKey returns a session key as the agent (or the owner, agent "") may see
// it, with its linked session if any. Expiry shows even before the sweeper ran.
func (s *Store) GetKey(ctx context.Context, agent, id string) (*SessionKey, *Session, error) {
	f, err := s.getKey(ctx, agent, id, "", "0")
	if err != nil {
		return nil, nil, err
	}
	var sess *Session
	if sf := f.sub("session"); sf != nil {
		sess = sf.session()
	}
	return f.sub("key").sessionKey(), sess, nil
}

// KeyForPayment returns what the service needs to sign a payment, in one
// round trip: the key as the agent may see it (RecipientPaid telling whether
// it ever paid recipient, for the risk score) and its sealed secret.
func (s *Store) KeyForPayment(ctx context.Context, agent, id, recipient string) (*SessionKey, string, error) {
	f, err := s.getKey(ctx, agent, id, recipient, "1")
	if err != nil {
		return nil, "", err
	}
	return f.sub("key").sessionKey(), f.str("sealed_key"), nil
}

func (s *Store) getKey(ctx context.Context, agent, id, recipient, sealed string) (fields, error) {
	if err := validID(id, "sk_", "session_key_id"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, id, "session_key_id")
	if err != nil {
		return nil, err
	}
	return s.runFields(ctx, "get", w, "sk:"+id, "sk", id, agent, recipient, sealed)
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
	f, err := s.runFields(ctx, "get", w, "as:"+id, "as", id, agent, "", "0")
	if err != nil {
		return nil, err
	}
	return f.sub("session").session(), nil
}

// ListKeys returns the session keys of an agent ("" for every agent), newest first.
func (s *Store) ListKeys(ctx context.Context, agent string) ([]*SessionKey, error) {
	set := s.allKeysKey()
	if agent != "" {
		set = s.agentKeysKey(agent)
	}
	ids, err := s.rdb.SMembers(ctx, set).Result()
	if err != nil {
		return nil, fmt.Errorf("policy: list keys: %w", err)
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
