package service

import (
	"context"

	"github.com/stipend/stipend/policy"
)

// LimitsPatch is a requested change of a session's limits: a nil field keeps
// the session's current limit.
type LimitsPatch struct {
	PerTransaction, PerDay, PerWeek, PerMonth, ApprovalAbove *policy.Amount
}

// RequestLimitsPatch returns an approval link by which the owner changes the
// limits given in p, keeping the others (an agent may ask, to raise or to
// lower; only the owner's signature does it).
func (s *Service) RequestLimitsPatch(ctx context.Context, agent, sessionID string, p LimitsPatch) (*ApprovalLink, error) {
	sess, err := s.store.GetSession(ctx, agent, sessionID)
	if err != nil {
		return nil, err
	}
	l, above := sess.Limits, sess.RequireApprovalAbove
	for _, f := range []struct {
		from *policy.Amount
		to   *policy.Amount
	}{{p.PerTransaction, &l.PerTransaction}, {p.PerDay, &l.PerDay}, {p.PerWeek, &l.PerWeek}, {p.PerMonth, &l.PerMonth}, {p.ApprovalAbove, &above}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	if l == sess.Limits && above == sess.RequireApprovalAbove {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "limits", "give at least one limit that differs from the session's current limits")
	}
	return s.RequestLimits(ctx, agent, sess.ID, l, above)
}

// KeyIDByAddress finds the session key of agent whose address is addr (the
// documented SDK names the paying key by its address, as user_wallet).
func (s *Service) KeyIDByAddress(ctx context.Context, agent, addr string) (string, error) {
	if agent == "" {
		return "", policy.Errorf(policy.CodeInvalidArgument, "agent_id", "agent_id is required to find a session key by its address")
	}
	ks, err := s.ListKeys(ctx, agent)
	if err != nil {
		return "", err
	}
	for _, k := range ks {
		if k.SessionKeyAddress == addr {
			return k.SessionKeyID, nil
		}
	}
	return "", policy.Errorf(policy.CodeInvalidArgument, "user_wallet", "user_wallet %s is not the address of a session key of agent %s (to pay from the owner's own wallet, give session_id)", addr, agent)
}
