package tools_test

import (
	"strings"
	"testing"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
)

// TestRedisDownIsAToolResult (issue 11, case 3): with Redis unreachable,
// every tool answers a tool result with isError and code unavailable (not a
// JSON-RPC error), naming no address; pay's result carries an idempotency
// key (the server's, when none was given) to retry with.
func TestRedisDownIsAToolResult(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100_000_000)
	k := st.Fund(t, "agent-a", user, 50_000_000, "")
	cut, rdb := testenv.RedisProxy(t)
	svc, _, _ := st.Via(t, "", rdb, service.Config{})
	c := connect(t, tools.NewServer(svc, tools.Options{DefaultAgent: "agent-a"}), nil)
	// Warm up: the key's owner is cached, as in a running server.
	if res, _ := call(t, c, "status", map[string]any{"session_key_id": k.SessionKeyID}); res.IsError {
		t.Fatal(text(res))
	}
	cut.Cut()
	defer cut.Restore()
	for _, tc := range []struct {
		tool string
		args map[string]any
	}{
		{"pay", map[string]any{"session_key_id": k.SessionKeyID, "recipient": newAddress(t), "amount": "1"}},
		{"status", map[string]any{"session_key_id": k.SessionKeyID}},
		{"can_afford", map[string]any{"session_key_id": k.SessionKeyID, "amount": "1"}},
		{"list_session_keys", map[string]any{}},
		{"revoke_session_key", map[string]any{"session_key_id": k.SessionKeyID}},
	} {
		res, m := call(t, c, tc.tool, tc.args)
		if !res.IsError || errCode(m) != "unavailable" {
			t.Errorf("%s with Redis down: %s %v; want an unavailable tool result", tc.tool, text(res), m)
		}
		if strings.Contains(text(res), "127.0.0.1") || strings.Contains(text(res), "dial tcp") {
			t.Errorf("%s names the infrastructure: %s", tc.tool, text(res))
		}
		if tc.tool == "pay" {
			d, _ := m["details"].(map[string]any)
			if d == nil || d["idempotency_key"] == "" || d["idempotency_key"] == nil || !strings.Contains(text(res), "never with a new one") {
				t.Errorf("pay's result lacks the idempotency key or the retry sentence: %s %v", text(res), m)
			}
		}
	}
}
