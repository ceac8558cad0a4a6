package prompts_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/prompts"
)

func TestPrompts(t *testing.T) {
	byName := map[string]prompts.Prompt{}
	for _, p := range prompts.All() {
		byName[p.Def.Name] = p
	}
	tests := []struct {
		name    string
		args    map[string]string
		wantErr bool
		says    []string
	}{
		{"pay_with_session_key", map[string]string{"session_key_id": "sk_1", "purchase": "a widget"}, false, []string{"sk_1", "can_afford", "idempotency_key", "approval_url", "top_up_request"}},
		{"pay_with_session_key", map[string]string{}, true, nil},
		{"request_funding", map[string]string{"user_wallet": "W1", "budget": "20"}, false, []string{"create_session_key", "W1", "max_amount 20", "revoke_session_key"}},
		{"request_funding", map[string]string{}, true, nil},
		{"handle_refusal", map[string]string{"code": "daily_limit"}, false, []string{"daily_limit", "resets_at", "max_affordable_now", "top_up_request"}},
	}
	for _, tc := range tests {
		p, ok := byName[tc.name]
		if !ok {
			t.Fatalf("no prompt %s", tc.name)
		}
		req := mcp.GetPromptRequest{}
		req.Params.Name = tc.name
		req.Params.Arguments = tc.args
		res, err := p.Handler(context.Background(), req)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s %v: want an error for missing arguments", tc.name, tc.args)
			}
			continue
		}
		if err != nil || len(res.Messages) == 0 {
			t.Fatalf("%s: %v", tc.name, err)
		}
		text := res.Messages[0].Content.(mcp.TextContent).Text
		for _, s := range tc.says {
			if !strings.Contains(text, s) {
				t.Errorf("%s does not mention %q", tc.name, s)
			}
		}
	}
}
