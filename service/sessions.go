package service

import (
	"context"
	"fmt"
	"time"

	bin "github.com/gagliardetto/binary"

	"github.com/stipend/stipend/policy"
)

func newDecoder(b []byte) *bin.Decoder { return bin.NewBinDecoder(b) }

// CreateSessionInput asks for an agent session (the policy layer).
type CreateSessionInput struct {
	AgentID              string
	UserWallet           string
	Limits               policy.Limits
	RequireApprovalAbove policy.Amount
	AllowedRecipients    []string
	DurationHours        float64 // 168 (7 days) when zero
	// Token is the symbol of the token the limits are in ("" is the first
	// offered): only keys of that token link to the session (token_mismatch).
	Token string
}

// CreateSession records an agent session with its limits.
func (s *Service) CreateSession(ctx context.Context, in CreateSessionInput) (*SessionView, error) {
	user, err := parseWallet(in.UserWallet, "user_wallet")
	if err != nil {
		return nil, err
	}
	if err := plainText("agent_id", in.AgentID); err != nil {
		return nil, err
	}
	for _, r := range in.AllowedRecipients {
		if _, err := parseWallet(r, "allowed_recipients"); err != nil {
			return nil, err
		}
	}
	tok, err := s.token(in.Token)
	if err != nil {
		return nil, err
	}
	if in.DurationHours == 0 {
		in.DurationHours = 168
	}
	ttl := time.Duration(in.DurationHours * float64(time.Hour))
	if in.DurationHours < 0 || ttl < time.Minute || ttl > s.cfg.MaxExpiry {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "duration_hours", "duration_hours must be between 0.02 and %.0f", s.cfg.MaxExpiry.Hours())
	}
	now, err := s.store.Now(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := s.store.CreateSession(ctx, policy.NewSession{AgentID: in.AgentID, UserWallet: user.String(),
		Limits: in.Limits, RequireApprovalAbove: in.RequireApprovalAbove, AllowedRecipients: in.AllowedRecipients,
		ExpiresAt: now.Add(ttl), Mint: tok.Mint()})
	if err != nil {
		return nil, err
	}
	got, err := s.store.GetSession(ctx, "", sess.ID)
	if err != nil {
		return nil, err
	}
	return s.sessionView(got), nil
}

// Session returns a session as its agent (or the operator, agent "") sees it.
func (s *Service) Session(ctx context.Context, agent, id string) (*SessionView, error) {
	sess, err := s.store.GetSession(ctx, agent, id)
	if err != nil {
		return nil, err
	}
	return s.sessionView(sess), nil
}

// Link links a key to a session: payments must then pass both. It only
// tightens what the agent may spend, so the agent may do it.
func (s *Service) Link(ctx context.Context, agent, keyID, sessionID string) (*KeyView, error) {
	k, err := s.store.Link(ctx, agent, keyID, sessionID)
	if err != nil {
		return nil, err
	}
	s.reattest(ctx, k.ID)
	s.notify(Change{SessionKeyID: k.ID, Status: string(k.Status)})
	return s.Status(ctx, agent, k.ID)
}

// ForceUnlink removes a key's policy layer at once, without the owner's
// approval: the operator's explicit override, recorded in the audit log as
// forced (by: operator_forced).
func (s *Service) ForceUnlink(ctx context.Context, keyID string) (*KeyView, error) {
	k, err := s.store.UnlinkBy(ctx, policy.ByOperatorForced, keyID)
	if err != nil {
		return nil, err
	}
	s.reattest(ctx, k.ID)
	s.notify(Change{SessionKeyID: k.ID, Status: string(k.Status)})
	return s.Status(ctx, "", k.ID)
}

// ForceLimits sets a session's limits at once, without the owner's approval:
// the operator's explicit override, recorded in the audit log as forced.
func (s *Service) ForceLimits(ctx context.Context, sessionID string, l policy.Limits, above policy.Amount) (*SessionView, error) {
	sess, err := s.store.SetLimitsBy(ctx, policy.ByOperatorForced, sessionID, l, above)
	if err != nil {
		return nil, err
	}
	return s.Session(ctx, "", sess.ID)
}

// RequestUnlink returns an approval link by which the owner unlinks a key's
// session (anyone may ask; only the owner's signature does it).
func (s *Service) RequestUnlink(ctx context.Context, agent, keyID string) (*ApprovalLink, error) {
	k, _, err := s.store.GetKey(ctx, agent, keyID)
	if err != nil {
		return nil, err
	}
	if k.LinkedSessionID == "" {
		return nil, policy.Errorf(policy.CodeConflict, "session_key_id", "session key %s is not linked to a session", keyID)
	}
	return s.messageApproval(ctx, policy.NewApproval{Kind: policy.ApprovalUnlink, UserWallet: k.UserWallet,
		AgentID: k.AgentID, SessionKeyID: k.ID, SessionID: k.LinkedSessionID},
		fmt.Sprintf("Remove the spending limits of session %s from session key %s (agent %s). Afterwards only the key's balance limits the agent.",
			k.LinkedSessionID, k.ID, k.AgentID))
}

// RequestLimits returns an approval link by which the owner changes a
// session's limits (an agent may ask; only the owner's signature does it).
func (s *Service) RequestLimits(ctx context.Context, agent, sessionID string, l policy.Limits, above policy.Amount) (*ApprovalLink, error) {
	sess, err := s.store.GetSession(ctx, agent, sessionID)
	if err != nil {
		return nil, err
	}
	nl := s.limitsMapIn(sess.Mint, l, above)
	units := map[string]int64{"max_per_transaction": int64(l.PerTransaction), "max_per_day": int64(l.PerDay),
		"max_per_week": int64(l.PerWeek), "max_per_month": int64(l.PerMonth), "require_approval_above": int64(above)}
	text := fmt.Sprintf("Change the limits of session %s (agent %s) to: per transaction %s, per day %s, per week %s, per month %s, approval above %s %s (empty = no limit).",
		sess.ID, sess.AgentID, nl["max_per_transaction"], nl["max_per_day"], nl["max_per_week"], nl["max_per_month"], nl["require_approval_above"], s.symbolOf(sess.Mint))
	return s.messageApproval(ctx, policy.NewApproval{Kind: policy.ApprovalLimits, UserWallet: sess.UserWallet,
		AgentID: sess.AgentID, SessionID: sess.ID, Details: map[string]any{"new_limits": nl, "units": units}}, text)
}

// RequestLink returns an approval link by which the owner links a key to a session.
func (s *Service) RequestLink(ctx context.Context, agent, keyID, sessionID string) (*ApprovalLink, error) {
	k, _, err := s.store.GetKey(ctx, agent, keyID)
	if err != nil {
		return nil, err
	}
	return s.messageApproval(ctx, policy.NewApproval{Kind: policy.ApprovalLink, UserWallet: k.UserWallet,
		AgentID: k.AgentID, SessionKeyID: k.ID, SessionID: sessionID},
		fmt.Sprintf("Link session key %s to session %s: every payment must then pass the session's limits too.", k.ID, sessionID))
}

func (s *Service) messageApproval(ctx context.Context, n policy.NewApproval, statement string) (*ApprovalLink, error) {
	now, err := s.store.Now(ctx)
	if err != nil {
		return nil, err
	}
	n.ExpiresAt = now.Add(s.cfg.ApprovalTTL)
	token := policy.NewToken()
	return s.newApprovalWithToken(ctx, n, token, "", s.message(n.UserWallet, statement, token, now, n.ExpiresAt))
}
