package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/service"
)

// StatusArgs are the arguments of status.
type StatusArgs struct {
	SessionKeyID string `json:"session_key_id" jsonschema:"description=The session key (sk_…)."`
}

func (h *handlers) status() Tool {
	return tool(h, "status",
		"Read a session key: status (pending_approval, active, exhausted, expired, revoked), max_amount, spent_amount, "+
			"remaining_amount, transaction_count, expires_at, the linked session's limits and use, and security (last_activity, risk_score).",
		annotations("Session key status", true, false, true), h.doStatus)
}

func (h *handlers) doStatus(ctx context.Context, req mcp.CallToolRequest, agent string, a *StatusArgs) (*service.KeyView, string, error) {
	if err := required("session_key_id", a.SessionKeyID); err != nil {
		return nil, "", err
	}
	k, err := h.svc.Status(ctx, agent, a.SessionKeyID)
	if err != nil {
		return nil, "", err
	}
	h.warnKey(ctx, k)
	return k, fmt.Sprintf("Session key %s is %s: %s of %s %s left, %d payments, expires %s.",
		k.SessionKeyID, k.Status, k.RemainingAmount, k.MaxAmount, k.Token, k.TransactionCount, k.ExpiresAt), nil
}
