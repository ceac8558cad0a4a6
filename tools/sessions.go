package tools

import (
	"context"
	"fmt"

	"github.com/invopop/jsonschema"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/service"
)

// SessionLimits are a session's limits in USDC; an absent limit is none (on
// create_session) or unchanged (on request_session_change).
type SessionLimits struct {
	MaxPerTransaction    Limit `json:"max_per_transaction,omitempty" jsonschema:"description=Largest single payment."`
	MaxPerDay            Limit `json:"max_per_day,omitempty" jsonschema:"description=Most in any 24 hours."`
	MaxPerWeek           Limit `json:"max_per_week,omitempty" jsonschema:"description=Most in any 7 days."`
	MaxPerMonth          Limit `json:"max_per_month,omitempty" jsonschema:"description=Most in any 30 days."`
	RequireApprovalAbove Limit `json:"require_approval_above,omitempty" jsonschema:"description=Payments above this need the human's approval."`
}

// Limit is an optional USDC amount of a session's limits, parsed like Amount;
// its schema is shorter, to keep tools/list lean (five of them per tool).
type Limit struct{ Amount }

// JSONSchema describes a limit for the model: a decimal string or a number.
func (Limit) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: `^[0-9]+(\.[0-9]+)?$`}
}

// empty reports whether no limit was given.
func (l SessionLimits) empty() bool {
	return len(l.MaxPerTransaction.Amount)+len(l.MaxPerDay.Amount)+len(l.MaxPerWeek.Amount)+len(l.MaxPerMonth.Amount)+len(l.RequireApprovalAbove.Amount) == 0
}

// patch parses the limits that were given.
// parse reads each limit in the session's token.
func (h *handlers) patch(l SessionLimits, parse func([]byte) (service.Amount, error)) (service.LimitsPatch, error) {
	var p service.LimitsPatch
	for _, f := range []struct {
		raw  Limit
		name string
		dst  **service.Amount
	}{
		{l.MaxPerTransaction, "max_per_transaction", &p.PerTransaction},
		{l.MaxPerDay, "max_per_day", &p.PerDay},
		{l.MaxPerWeek, "max_per_week", &p.PerWeek},
		{l.MaxPerMonth, "max_per_month", &p.PerMonth},
		{l.RequireApprovalAbove, "require_approval_above", &p.ApprovalAbove},
	} {
		if len(f.raw.Amount) == 0 || string(f.raw.Amount) == "null" {
			continue
		}
		a, err := parse(f.raw.Amount)
		if err != nil {
			return p, fieldErr(err, f.name)
		}
		*f.dst = &a
	}
	return p, nil
}

// CreateSessionArgs are the arguments of create_session.
type CreateSessionArgs struct {
	UserWallet string `json:"user_wallet" jsonschema:"description=Solana address of the human who owns the money."`
	SessionLimits
	DurationHours     float64  `json:"duration_hours,omitempty" jsonschema:"description=Hours the session lasts (default 168)."`
	AllowedRecipients []string `json:"allowed_recipients,omitempty" jsonschema:"description=Only these addresses may be paid (default: any)."`
	Token             string   `json:"token,omitempty" jsonschema:"description=Token the limits are in; only keys of it link (default: the service's)."`
}

func (h *handlers) createSession() Tool {
	return tool(h, "create_session",
		"Put spending limits on yourself: create a session (sess_…) with per-transaction/day/week/month limits. "+
			"Link a session key to it with link_session; loosening it later needs the human (request_session_change).",
		annotations("Create a session", false, false, false), h.doCreateSession)
}

func (h *handlers) doCreateSession(ctx context.Context, req mcp.CallToolRequest, agent string, a *CreateSessionArgs) (any, string, error) {
	if err := required("user_wallet", a.UserWallet); err != nil {
		return nil, "", err
	}
	p, err := h.patch(a.SessionLimits, func(raw []byte) (service.Amount, error) { return h.svc.ParseAmountIn(a.Token, raw) })
	if err != nil {
		return nil, "", err
	}
	in := service.CreateSessionInput{AgentID: agent, UserWallet: a.UserWallet, AllowedRecipients: a.AllowedRecipients,
		DurationHours: a.DurationHours, Token: a.Token}
	for _, f := range []struct{ from, to *service.Amount }{{p.PerTransaction, &in.Limits.PerTransaction}, {p.PerDay, &in.Limits.PerDay},
		{p.PerWeek, &in.Limits.PerWeek}, {p.PerMonth, &in.Limits.PerMonth}, {p.ApprovalAbove, &in.RequireApprovalAbove}} {
		if f.from != nil {
			*f.to = *f.from
		}
	}
	s, err := h.svc.CreateSession(ctx, in)
	if err != nil {
		return nil, "", err
	}
	return s, fmt.Sprintf("Session %s created, expires %s. Link a session key to it with link_session.", s.SessionID, s.ExpiresAt), nil
}

// LinkSessionArgs are the arguments of link_session.
type LinkSessionArgs struct {
	SessionKeyID string `json:"session_key_id" jsonschema:"description=The session key (sk_…)."`
	SessionID    string `json:"session_id" jsonschema:"description=Your session (sess_…) whose limits then apply to every payment from the key."`
}

func (h *handlers) linkSession() Tool {
	return tool(h, "link_session",
		"Link a session key to one of your sessions: every payment must then pass the key's balance and the session's limits. "+
			"Adds limits, so no approval is needed.",
		annotations("Link a session", false, false, true), h.doLinkSession)
}

func (h *handlers) doLinkSession(ctx context.Context, req mcp.CallToolRequest, agent string, a *LinkSessionArgs) (any, string, error) {
	if err := required("session_key_id", a.SessionKeyID); err != nil {
		return nil, "", err
	}
	if err := required("session_id", a.SessionID); err != nil {
		return nil, "", err
	}
	k, err := h.svc.Link(ctx, agent, a.SessionKeyID, a.SessionID)
	if err != nil {
		return nil, "", err
	}
	return k, fmt.Sprintf("Session key %s is linked to session %s: payments must pass both.", k.SessionKeyID, a.SessionID), nil
}

// SessionChangeArgs are the arguments of request_session_change.
type SessionChangeArgs struct {
	Change       string `json:"change" jsonschema:"enum=unlink,enum=limits,description=unlink: remove a key's session (give session_key_id). limits: new limits for a session (give session_id and the limits to change)."`
	SessionKeyID string `json:"session_key_id,omitempty" jsonschema:"description=The session key to unlink (sk_…)."`
	SessionID    string `json:"session_id,omitempty" jsonschema:"description=The session whose limits change (sess_…)."`
	SessionLimits
}

func (h *handlers) requestSessionChange() Tool {
	return tool(h, "request_session_change",
		"Ask the human to unlink a session from a key, or to raise or lower a session's limits. Returns an approval_url for the human; "+
			"nothing changes until they sign it.",
		annotations("Request a session change", false, false, false), h.doRequestSessionChange)
}

func (h *handlers) doRequestSessionChange(ctx context.Context, req mcp.CallToolRequest, agent string, a *SessionChangeArgs) (any, string, error) {
	var link *service.ApprovalLink
	var what string
	switch a.Change {
	case "unlink":
		if err := required("session_key_id", a.SessionKeyID); err != nil {
			return nil, "", err
		}
		if a.SessionID != "" || !a.SessionLimits.empty() {
			return nil, "", service.Errorf(service.CodeInvalidArgument, "change", "unlink takes session_key_id only")
		}
		l, err := h.svc.RequestUnlink(ctx, agent, a.SessionKeyID)
		if err != nil {
			return nil, "", err
		}
		link, what = l, fmt.Sprintf("unlinking session key %s from its session", a.SessionKeyID)
	case "limits":
		if err := required("session_id", a.SessionID); err != nil {
			return nil, "", err
		}
		if a.SessionKeyID != "" {
			return nil, "", service.Errorf(service.CodeInvalidArgument, "change", "limits takes session_id, not session_key_id")
		}
		p, err := h.patch(a.SessionLimits, func(raw []byte) (service.Amount, error) {
			return h.svc.ParseSessionAmount(ctx, agent, a.SessionID, raw)
		})
		if err != nil {
			return nil, "", err
		}
		l, err := h.svc.RequestLimitsPatch(ctx, agent, a.SessionID, p)
		if err != nil {
			return nil, "", err
		}
		link, what = l, fmt.Sprintf("new limits for session %s", a.SessionID)
	default:
		return nil, "", service.Errorf(service.CodeInvalidArgument, "change", "change must be unlink or limits")
	}
	out := map[string]any{"status": "approval_required", "change": a.Change, "approval_expires_at": link.ApprovalExpiresAt}
	if h.elicit(ctx, link, "Approve "+what+".") {
		out["approval"] = "sent to the human through your host"
		return out, fmt.Sprintf("Requested %s; your host showed the human the approval link. Nothing changes until they sign.", what), nil
	}
	out["approval_url"] = link.ApprovalURL
	return out, fmt.Sprintf("Requested %s: ask the human to open %s. Nothing changes until they sign.", what, link.ApprovalURL), nil
}
