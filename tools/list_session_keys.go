package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
)

// ListSessionKeysArgs are the arguments of list_session_keys (none).
type ListSessionKeysArgs struct{}

func (h *handlers) listSessionKeys() Tool {
	def := mcp.NewToolWithRawSchema("list_session_keys",
		"List your session keys, newest first, with status, remaining_amount and expires_at.",
		schemaOf(&ListSessionKeysArgs{}))
	def.Annotations = annotations("List session keys", true, false, true)
	return Tool{Def: def, Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		out, text, err := h.doList(ctx, req)
		return h.result("list_session_keys", out, text, err)
	}}
}

func (h *handlers) doList(ctx context.Context, req mcp.CallToolRequest) (any, string, error) {
	var a ListSessionKeysArgs
	if err := bind(req, &a); err != nil {
		return nil, "", err
	}
	agent, err := h.agent(ctx)
	if err != nil {
		return nil, "", err
	}
	keys, err := h.svc.ListKeys(ctx, agent)
	if err != nil {
		return nil, "", err
	}
	text := fmt.Sprintf("%d session keys.", len(keys))
	for _, k := range keys {
		text += fmt.Sprintf("\n%s: %s, %s %s left, expires %s", k.SessionKeyID, k.Status, k.RemainingAmount, k.Token, k.ExpiresAt)
	}
	return map[string]any{"total": len(keys), "session_keys": keys}, text, nil
}
