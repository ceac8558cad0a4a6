package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/service"
)

// RevokeSessionKeyArgs are the arguments of revoke_session_key.
type RevokeSessionKeyArgs struct {
	SessionKeyID string `json:"session_key_id" jsonschema:"description=The session key (sk_…) to revoke."`
	Reason       string `json:"reason,omitempty" jsonschema:"description=Why\\, for the owner's records."`
}

func (h *handlers) revokeSessionKey() Tool {
	return tool(h, "revoke_session_key",
		"Revoke one of your session keys at once and for good; what is left on it is swept back to the human's wallet. "+
			"Use it when the task is done or the key is no longer needed.",
		annotations("Revoke a session key", false, true, true), h.doRevoke)
}

func (h *handlers) doRevoke(ctx context.Context, req mcp.CallToolRequest, agent string, a *RevokeSessionKeyArgs) (*service.Revoked, string, error) {
	if err := required("session_key_id", a.SessionKeyID); err != nil {
		return nil, "", err
	}
	if len(a.Reason) > 500 {
		a.Reason = a.Reason[:500]
	}
	r, err := h.svc.Revoke(ctx, agent, a.SessionKeyID, a.Reason)
	if err != nil {
		return nil, "", err
	}
	text := fmt.Sprintf("Session key %s revoked; %s %s swept back to the owner.", r.SessionKeyID, r.SweptAmount, r.Token)
	if r.SweepError != "" {
		text = fmt.Sprintf("Session key %s revoked; returning its funds failed for now (%s) and will be retried.", r.SessionKeyID, r.SweepError)
	}
	return r, text, nil
}
