package tools_test

import (
	"encoding/json"
	"testing"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/tools"
)

// TestPayResultSize logs the size of a typical confirmed pay result as a
// client receives it (text blocks and structured content).
func TestPayResultSize(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	c := connect(t, tools.NewServer(st.Service, tools.Options{DefaultAgent: "agent-a"}), nil)
	k := st.Fund(t, "agent-a", st.NewUser(t, 100_000_000), 50_000_000, "")
	res, m := call(t, c, "pay", map[string]any{"session_key_id": k.SessionKeyID, "recipient": newAddress(t), "amount": "12.50",
		"description": "Premium widget", "idempotency_key": "size-1"})
	if res.IsError || m["status"] != "confirmed" {
		t.Fatalf("pay: %s %v", text(res), m)
	}
	b, _ := json.Marshal(res)
	t.Logf("pay result: %d bytes", len(b))
}
