package service

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/wallet"
)

// CreateKeyInput asks for a new session key.
type CreateKeyInput struct {
	AgentID     string
	UserWallet  string
	MaxAmount   policy.Amount
	ExpiryHours float64 // 24 when zero
	SessionID   string  // optional: link to this session once created
	// DeviceFingerprint, when set, binds the key: every payment must present it (stored hashed).
	DeviceFingerprint string
	// Token selects the key's token by symbol; "" is the service's token. One that is not offered is invalid_argument.
	Token string
}

// ApprovalLink is what a human must open and sign.
type ApprovalLink struct {
	ApprovalToken       string `json:"-"`
	ApprovalURL         string `json:"approval_url"`
	ApprovalTransaction string `json:"approval_transaction,omitempty"`
	ApprovalMessage     string `json:"approval_message,omitempty"`
	ApprovalExpiresAt   string `json:"approval_expires_at"`
}

// KeyCreated is the answer to CreateSessionKey.
type KeyCreated struct {
	*KeyView
	ApprovalLink
}

// CreateSessionKey makes a keypair for the agent, records the key
// (pending_approval) and returns the funding transaction the owner signs.
func (s *Service) CreateSessionKey(ctx context.Context, in CreateKeyInput) (*KeyCreated, error) {
	user, err := parseWallet(in.UserWallet, "user_wallet")
	if err != nil {
		return nil, err
	}
	if in.AgentID == "" {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "agent_id", "agent_id is required")
	}
	if err := plainText("agent_id", in.AgentID); err != nil {
		return nil, err
	}
	if in.MaxAmount <= 0 {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "max_amount", "max_amount must be greater than zero")
	}
	if in.ExpiryHours == 0 {
		in.ExpiryHours = 24
	}
	ttl := time.Duration(in.ExpiryHours * float64(time.Hour))
	if in.ExpiryHours < 0 || ttl < time.Minute || ttl > s.cfg.MaxExpiry {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "expiry_hours", "expiry_hours must be between 0.02 and %.0f", s.cfg.MaxExpiry.Hours())
	}
	tok, err := s.token(in.Token)
	if err != nil {
		return nil, err
	}
	if in.DeviceFingerprint != "" {
		if err := policy.ValidDevice(in.DeviceFingerprint); err != nil {
			return nil, err
		}
	}
	if in.SessionID != "" {
		sess, err := s.store.GetSession(ctx, in.AgentID, in.SessionID)
		if err != nil {
			return nil, err
		}
		if sess.UserWallet != user.String() {
			return nil, policy.Errorf(policy.CodeConflict, "session_id", "session %s belongs to another user_wallet", in.SessionID)
		}
		if sess.Mint != "" && sess.Mint != tok.Mint() {
			// Refused before anything is recorded; link.lua holds the same rule.
			return nil, policy.Errorf(policy.CodeTokenMismatch, "session_id", "session %s has its limits in %s, not %s: create the key with token %s or use a session of %s",
				in.SessionID, s.symbolOf(sess.Mint), tok.Symbol, s.symbolOf(sess.Mint), tok.Symbol)
		}
	}
	kp, err := wallet.NewKeypair()
	if err != nil {
		return nil, fmt.Errorf("service: new keypair: %w", err)
	}
	sealed, err := s.sealer.Seal(kp)
	if err != nil {
		return nil, fmt.Errorf("service: seal key: %w", err)
	}
	now, err := s.store.Now(ctx)
	if err != nil {
		return nil, err
	}
	expiresAt := now.Add(ttl).Truncate(time.Second)
	att, err := kp.Attest(wallet.Attestation{AgentID: in.AgentID, UserWallet: user, Token: tok.Mint(),
		MaxAmount: uint64(in.MaxAmount), ExpiresAt: expiresAt, Address: kp.PublicKey(), SessionID: in.SessionID})
	if err != nil {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "agent_id", "cannot attest the key: %v", err)
	}
	tx, err := tok.Chain.BuildFundingMemo(ctx, user, kp.PublicKey(), uint64(in.MaxAmount), approvalMemo(policy.ApprovalFund))
	if err != nil {
		return nil, chainErr("build the funding transaction", err)
	}
	k, err := s.store.CreateKey(ctx, policy.NewKey{AgentID: in.AgentID, UserWallet: user.String(), Token: tok.Symbol,
		Mint: tok.Mint(), Decimals: tok.Decimals, Address: kp.PublicKey().String(),
		PKPPublicKey: kp.PublicKey().String(), Attestation: att, SealedSecret: sealed, MaxAmount: in.MaxAmount,
		ExpiresAt: expiresAt, DeviceHash: policy.HashDevice(in.DeviceFingerprint)})
	if err != nil {
		return nil, err
	}
	if in.SessionID != "" {
		if k, err = s.store.Link(ctx, in.AgentID, k.ID, in.SessionID); err != nil {
			return nil, err
		}
	}
	link, err := s.newApproval(ctx, policy.NewApproval{Kind: policy.ApprovalFund, UserWallet: k.UserWallet,
		AgentID: k.AgentID, SessionKeyID: k.ID, SessionID: k.LinkedSessionID, Amount: in.MaxAmount,
		Payload: base64.StdEncoding.EncodeToString(tx.Message), ExpiresAt: minTime(expiresAt, now.Add(s.cfg.ApprovalTTL))}, tx.Wire, "")
	if err != nil {
		return nil, err
	}
	s.log.Info("session key created", "session_key_id", k.ID, "agent_id", k.AgentID, "user_wallet", k.UserWallet,
		"token", tok.Symbol, "max_amount", s.formatIn(k.Mint, k.MaxAmount))
	return &KeyCreated{KeyView: s.keyView(k, nil), ApprovalLink: *link}, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (s *Service) newApproval(ctx context.Context, n policy.NewApproval, wire, message string) (*ApprovalLink, error) {
	if message != "" {
		n.Payload = message
	}
	a, err := s.store.CreateApproval(ctx, n)
	if err != nil {
		return nil, err
	}
	return &ApprovalLink{ApprovalToken: a.Token, ApprovalURL: s.ApprovalURL(a.Token), ApprovalTransaction: wire,
		ApprovalMessage: message, ApprovalExpiresAt: rfc(a.ExpiresAt)}, nil
}

// ApprovalURL is the link of an approval page.
func (s *Service) ApprovalURL(token string) string { return s.cfg.PublicURL + "/approve/" + token }

// Status returns a key as its agent (or the operator, agent "") sees it.
func (s *Service) Status(ctx context.Context, agent, keyID string) (*KeyView, error) {
	k, sess, err := s.store.GetKey(ctx, agent, keyID)
	if err != nil {
		return nil, err
	}
	return s.keyView(k, sess), nil
}

// ListKeys lists an agent's keys (every key for the operator, agent "").
func (s *Service) ListKeys(ctx context.Context, agent string) ([]*KeyView, error) {
	ks, err := s.store.ListKeys(ctx, agent)
	if err != nil {
		return nil, err
	}
	out := make([]*KeyView, 0, len(ks))
	for _, k := range ks {
		out = append(out, s.keyView(k, nil))
	}
	return out, nil
}

// TopUpCreated is the answer to a top-up request.
type TopUpCreated struct {
	SessionKeyID string `json:"session_key_id"`
	Amount       string `json:"amount"`
	NewMaxAmount string `json:"new_max_amount"`
	ApprovalLink
}

// TopUpRequest builds the owner's top-up transaction and its approval link.
func (s *Service) TopUpRequest(ctx context.Context, agent, keyID string, amount policy.Amount) (*TopUpCreated, error) {
	k, _, err := s.store.GetKey(ctx, agent, keyID)
	if err != nil {
		return nil, err
	}
	if k, err = s.store.CheckTopUp(ctx, k.ID, amount); err != nil {
		return nil, err
	}
	user, err := parseWallet(k.UserWallet, "user_wallet") // a stored address: checked when it was written, checked again before money moves
	if err != nil {
		return nil, err
	}
	keyPub, err := parseWallet(k.Address, "session_key_address") // a stored address: checked when it was written, checked again before money moves
	if err != nil {
		return nil, err
	}
	tx, err := s.chainOf(k).BuildFundingMemo(ctx, user, keyPub, uint64(amount), approvalMemo(policy.ApprovalTopUp))
	if err != nil {
		return nil, chainErr("build the top-up transaction", err)
	}
	now, err := s.store.Now(ctx)
	if err != nil {
		return nil, err
	}
	link, err := s.newApproval(ctx, policy.NewApproval{Kind: policy.ApprovalTopUp, UserWallet: k.UserWallet,
		AgentID: k.AgentID, SessionKeyID: k.ID, SessionID: k.LinkedSessionID, Amount: amount,
		Payload: base64.StdEncoding.EncodeToString(tx.Message), ExpiresAt: minTime(k.ExpiresAt, now.Add(s.cfg.ApprovalTTL))}, tx.Wire, "")
	if err != nil {
		return nil, err
	}
	return &TopUpCreated{SessionKeyID: k.ID, Amount: s.formatIn(k.Mint, amount), NewMaxAmount: s.formatIn(k.Mint, k.MaxAmount+amount),
		ApprovalLink: *link}, nil
}

// Revoked is the answer to a revocation.
type Revoked struct {
	*KeyView
	SweepSignature string `json:"sweep_signature,omitempty"`
	SweptAmount    string `json:"swept_amount"`
	SweepError     string `json:"sweep_error,omitempty"`
}

// Revoke stops a key for good, then sweeps what is left on it back to the
// owner. A sweep that cannot finish now (payments in flight, the network
// down) stays queued: the reconciler retries it until the balance is zero.
func (s *Service) Revoke(ctx context.Context, agent, keyID, reason string) (*Revoked, error) {
	k, err := s.store.Revoke(ctx, agent, keyID, reason)
	if err != nil {
		return nil, unavailable(err)
	}
	s.notify(Change{SessionKeyID: k.ID, Status: string(k.Status)})
	out := &Revoked{KeyView: s.keyView(k, nil), SweptAmount: s.formatIn(k.Mint, 0)}
	now, err := s.store.Now(ctx)
	if err == nil {
		err = s.store.EnqueueSweep(ctx, k.ID, now)
	}
	if err != nil {
		out.SweepError = "the sweep could not be queued yet (" + dependency(err) + " did not answer); the reconciler finds the balance and returns it"
		s.log.Error("queueing the sweep after revoke failed", "session_key_id", k.ID, "err", err)
		return out, nil
	}
	s.logFailure(s.store.Forget(ctx, k.ID), "forget a revoked key's expiry", "session_key_id", k.ID)
	if k.ActivatedAt.IsZero() {
		// Never funded: nothing to return now, and nothing to report. The
		// reconciler still checks its address (a transfer cut short by a crash).
		return out, nil
	}
	sw, err := s.SweepKey(ctx, k.ID)
	switch {
	case err != nil:
		out.SweepError = "the sweep did not finish yet; it is retried until the balance is zero: " + policyMessage(err)
		s.log.Warn("sweep after revoke not finished; queued", "session_key_id", k.ID, "err", err)
	case sw.Outcome == SweepWaiting:
		out.SweepError = "payments in flight must settle first; what is left goes back to the owner after them"
	case sw.Outcome == SweepPending:
		out.SweepError = "the sweep was sent and is not confirmed yet; it is retried until the balance is zero"
	default:
		out.SweepSignature, out.SweptAmount = sw.Signature, s.formatIn(k.Mint, policy.Amount(sw.Tokens))
	}
	return out, nil
}

// approvalMemo names one funding or top-up approval in its transaction (an
// SPL Memo), so that two approvals can never be one transfer.
func approvalMemo(kind policy.ApprovalKind) string {
	return "stipend " + string(kind) + " " + policy.NewID("")
}

// openKey reads a key's sealed secret and opens it.
func (s *Service) openKey(ctx context.Context, k *policy.SessionKey) (*wallet.Keypair, error) {
	sealed, err := s.store.SealedSecret(ctx, k.ID)
	if err != nil {
		return nil, err
	}
	return s.openSealed(k, sealed)
}

// openSealed opens a key's sealed secret, bound to its address.
func (s *Service) openSealed(k *policy.SessionKey, sealed string) (*wallet.Keypair, error) {
	addr, err := solana.PublicKeyFromBase58(k.Address)
	if err != nil {
		return nil, fmt.Errorf("service: key address: %w", err)
	}
	kp, err := s.sealer.Open(sealed, addr)
	if err != nil {
		return nil, fmt.Errorf("service: open key %s: %w", k.ID, err)
	}
	return kp, nil
}

// SweepExpired turns due keys expired (one Lua script each, so replicas
// racing produce one event per key) and queues the return of their tokens to
// the reconciler, trying each once at once. It returns how many keys it expired.
func (s *Service) SweepExpired(ctx context.Context, batch int64) (int, error) {
	ids, err := s.store.DueKeys(ctx, batch)
	if err != nil {
		return 0, err
	}
	now, err := s.store.Now(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var sweep []string
	for _, id := range ids {
		changed, k, err := s.store.Expire(ctx, id)
		if errors.Is(err, policy.ErrNotFound) {
			s.logFailure(s.store.Forget(ctx, id), "forget a key's expiry", "session_key_id", id)
			continue
		}
		if err != nil {
			return n, err
		}
		if changed {
			n++
			s.notify(Change{SessionKeyID: id, Status: string(k.Status)})
		}
		if k.Status == policy.StatusExpired || k.Status == policy.StatusRevoked {
			// Only a key that was ever funded may hold tokens now; the
			// reconciler's full check finds any other.
			if !k.ActivatedAt.IsZero() {
				if err := s.store.EnqueueSweep(ctx, id, now); err != nil {
					return n, err
				}
				sweep = append(sweep, id)
			}
			s.logFailure(s.store.Forget(ctx, id), "forget a key's expiry", "session_key_id", id)
		}
	}
	if s.chain != nil {
		for _, id := range sweep {
			if _, err := s.SweepKey(ctx, id); err != nil {
				s.log.Warn("sweep of expired key not finished; queued", "session_key_id", id, "err", err)
			}
		}
	}
	return n, nil
}

// RunSweeper expires due keys every interval until ctx ends.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.SweepExpired(ctx, 500); err != nil && ctx.Err() == nil {
			s.log.Error("expiry sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
