package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
)

// StatusArgs are the arguments of status.
type StatusArgs struct {
	SessionKeyID string `json:"session_key_id" jsonschema:"description=The session key (sk_…)."`
}

func (h *handlers) status() Tool {
	def := mcp.NewToolWithRawSchema("status",
		"Read a session key: status (pending_approval, active, exhausted, expired, revoked), max_amount, spent_amount, "+
			"remaining_amount, transaction_count, expires_at, the linked session's limits and use, and security (last_activity, risk_score).",
		schemaOf(&StatusArgs{}))
	def.Annotations = annotations("Session key status", true, false, true)
	return Tool{Def: def, Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		out, text, err := h.doStatus(ctx, req)
		return h.result("status", out, text, err)
	}}
}

func (h *handlers) doStatus(ctx context.Context, req mcp.CallToolRequest) (any, string, error) {
	var a StatusArgs
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
	k, err := h.svc.Status(ctx, agent, a.SessionKeyID)
	if err != nil {
		return nil, "", err
	}
	return k, fmt.Sprintf("Session key %s is %s: %s of %s %s left, %d payments, expires %s.",
		k.SessionKeyID, k.Status, k.RemainingAmount, k.MaxAmount, k.Token, k.TransactionCount, k.ExpiresAt), nil
}
