package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
)

// RevokeSessionKeyArgs are the arguments of revoke_session_key.
type RevokeSessionKeyArgs struct {
	SessionKeyID string `json:"session_key_id" jsonschema:"description=The session key (sk_…) to revoke."`
	Reason       string `json:"reason,omitempty" jsonschema:"description=Why\\, for the owner's records."`
}

func (h *handlers) revokeSessionKey() Tool {
	def := mcp.NewToolWithRawSchema("revoke_session_key",
		"Revoke one of your session keys at once and for good; what is left on it is swept back to the human's wallet. "+
			"Use it when the task is done or the key is no longer needed.",
		schemaOf(&RevokeSessionKeyArgs{}))
	def.Annotations = annotations("Revoke a session key", false, true, true)
	return Tool{Def: def, Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		out, text, err := h.doRevoke(ctx, req)
		return h.result("revoke_session_key", out, text, err)
	}}
}

func (h *handlers) doRevoke(ctx context.Context, req mcp.CallToolRequest) (any, string, error) {
	var a RevokeSessionKeyArgs
	if err := bind(req, &a); err != nil {
		return nil, "", err
	}
	agent, err := h.agent(ctx)
	if err != nil {
		return nil, "", err
	}
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
