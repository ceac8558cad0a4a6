package tools

import (
	"context"
	"sort"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

// maxCompletions is the most values one completion/complete answers (the spec's cap).
const maxCompletions = 100

// completer answers completion/complete for the key resource template and
// the prompts' arguments: a key id completes to the caller's own keys only.
type completer struct{ h *handlers }

// CompleteResourceArgument completes the {id} of stipend://session-keys/{id}.
func (c completer) CompleteResourceArgument(ctx context.Context, uri string, arg mcp.CompleteArgument, _ mcp.CompleteContext) (*mcp.Completion, error) {
	if uri != keyURIPrefix+"{id}" || arg.Name != "id" {
		return &mcp.Completion{Values: []string{}}, nil
	}
	return c.keyIDs(ctx, arg.Value)
}

// CompletePromptArgument completes a prompt's session_key_id (the caller's
// keys) and handle_refusal's code (the refusal codes).
func (c completer) CompletePromptArgument(ctx context.Context, prompt string, arg mcp.CompleteArgument, _ mcp.CompleteContext) (*mcp.Completion, error) {
	switch {
	case arg.Name == "session_key_id":
		return c.keyIDs(ctx, arg.Value)
	case prompt == "handle_refusal" && arg.Name == "code":
		return complete(refusalCodes, arg.Value), nil
	}
	return &mcp.Completion{Values: []string{}}, nil
}

var refusalCodes = []string{"approval_required", "conflict", "daily_limit", "expired", "insufficient_funds", "invalid_argument",
	"monthly_limit", "not_active", "not_found", "per_transaction_limit", "recipient_not_allowed", "revoked", "unavailable", "weekly_limit"}

func (c completer) keyIDs(ctx context.Context, prefix string) (*mcp.Completion, error) {
	agent, err := c.h.agent(ctx)
	if err != nil {
		return &mcp.Completion{Values: []string{}}, nil
	}
	keys, err := c.h.svc.ListKeys(ctx, agent)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, k.SessionKeyID)
	}
	return complete(ids, prefix), nil
}

// complete filters values by prefix, capped as the spec asks, with the total.
func complete(values []string, prefix string) *mcp.Completion {
	out := []string{}
	for _, v := range values {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	total := len(out)
	more := false
	if len(out) > maxCompletions {
		out, more = out[:maxCompletions], true
	}
	return &mcp.Completion{Values: out, Total: total, HasMore: more}
}
