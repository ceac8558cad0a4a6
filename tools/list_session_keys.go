package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/service"
)

// ListSessionKeysArgs are the arguments of list_session_keys (none).
type ListSessionKeysArgs struct{}

// KeyList is the result of list_session_keys.
type KeyList struct {
	Total       int                `json:"total"`
	SessionKeys []*service.KeyView `json:"session_keys"`
}

func (h *handlers) listSessionKeys() Tool {
	return tool(h, "list_session_keys",
		"List your session keys, newest first, with status, remaining_amount and expires_at.",
		annotations("List session keys", true, false, true), h.doList)
}

func (h *handlers) doList(ctx context.Context, req mcp.CallToolRequest, agent string, a *ListSessionKeysArgs) (*KeyList, string, error) {
	keys, err := h.svc.ListKeys(ctx, agent)
	if err != nil {
		return nil, "", err
	}
	text := fmt.Sprintf("%d session keys.", len(keys))
	for _, k := range keys {
		text += fmt.Sprintf("\n%s: %s, %s %s left, expires %s", k.SessionKeyID, k.Status, k.RemainingAmount, k.Token, k.ExpiresAt)
	}
	return &KeyList{Total: len(keys), SessionKeys: keys}, text, nil
}
