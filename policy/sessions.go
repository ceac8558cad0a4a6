package policy

import (
	"context"
	"time"
)

// NewSession describes an agent session to create.
type NewSession struct {
	ID                   string // empty: a new "sess_" id
	AgentID              string
	UserWallet           string
	Limits               Limits
	RequireApprovalAbove Amount
	AllowedRecipients    []string
	ExpiresAt            time.Time
	// Mint is the token the limits are in: only keys of this mint link to
	// the session (token_mismatch). Empty: keys of any mint (sessions made
	// before a server offered several tokens).
	Mint string
}

// CreateSession records a new agent session.
func (s *Store) CreateSession(ctx context.Context, n NewSession) (*Session, error) {
	if n.ID == "" {
		n.ID = NewID("sess_")
	}
	if err := validWallet(n.UserWallet); err != nil {
		return nil, err
	}
	if n.AgentID == "" {
		return nil, Errorf(CodeInvalidArgument, "agent_id", "agent_id is required")
	}
	for _, l := range []struct {
		a Amount
		n string
	}{{n.Limits.PerTransaction, "max_per_transaction"}, {n.Limits.PerDay, "max_per_day"},
		{n.Limits.PerWeek, "max_per_week"}, {n.Limits.PerMonth, "max_per_month"},
		{n.RequireApprovalAbove, "require_approval_above"}} {
		if l.a < 0 || l.a > MaxAmount {
			return nil, Errorf(CodeInvalidArgument, l.n, "%s out of range", l.n)
		}
	}
	if err := s.index(ctx, n.ID, n.UserWallet, n.AgentID, n.ExpiresAt, false); err != nil {
		return nil, err
	}
	args := []any{n.ID, n.AgentID, n.UserWallet, units(n.Limits.PerTransaction), units(n.Limits.PerDay),
		units(n.Limits.PerWeek), units(n.Limits.PerMonth), units(n.RequireApprovalAbove), ms(n.ExpiresAt), n.Mint}
	for _, r := range n.AllowedRecipients {
		args = append(args, r)
	}
	r, err := runReply[sessionReply](ctx, s, "create_session", n.UserWallet, "as:"+n.ID, args...)
	if err != nil {
		return nil, err
	}
	return r.Session.session(), nil
}

// Link links a session key to a session of the same user_wallet and agent;
// from then on a payment must pass both. agent "" is the owner or operator.
func (s *Store) Link(ctx context.Context, agent, keyID, sessionID string) (*SessionKey, error) {
	if err := validID(sessionID, "sess_", "session_id"); err != nil {
		return nil, err
	}
	kw, err := s.walletOf(ctx, keyID, "session_key_id")
	if err != nil {
		return nil, err
	}
	sw, err := s.walletOf(ctx, sessionID, "session_id")
	if err != nil {
		return nil, err
	}
	if kw != sw {
		return nil, Errorf(CodeConflict, "session_id", "session %s belongs to another user_wallet", sessionID)
	}
	return s.changeKey(ctx, "link", keyID, sessionID, agent)
}

// Unlink removes a key's policy layer. Only the owner (after a signed
// approval) or the operator may: agent must be "".
func (s *Store) Unlink(ctx context.Context, agent, keyID string) (*SessionKey, error) {
	return s.changeKey(ctx, "unlink", keyID, agent)
}

// SetLimits changes a session's limits. Only the owner (after a signed
// approval) or the operator may: agent must be "".
func (s *Store) SetLimits(ctx context.Context, agent, sessionID string, l Limits, approvalAbove Amount) (*Session, error) {
	if err := validID(sessionID, "sess_", "session_id"); err != nil {
		return nil, err
	}
	w, err := s.walletOf(ctx, sessionID, "session_id")
	if err != nil {
		return nil, err
	}
	r, err := runReply[sessionReply](ctx, s, "set_limits", w, "as:"+sessionID, sessionID, agent, units(l.PerTransaction),
		units(l.PerDay), units(l.PerWeek), units(l.PerMonth), units(approvalAbove))
	if err != nil {
		return nil, err
	}
	return r.Session.session(), nil
}
