package tools_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
)

// TestRefusalAsTheAgentSeesIt: a pay refused by the daily limit and the key's
// balance at once names both checks, what remains, when the window resets,
// and the largest amount that passes now, in one sentence and as structure.
func TestRefusalAsTheAgentSeesIt(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	c := connect(t, tools.NewServer(st.Service, tools.Options{DefaultAgent: "agent-a"}), nil)
	user := st.NewUser(t, 100_000_000)
	sess, err := st.Service.CreateSession(ctx, service.CreateSessionInput{AgentID: "agent-a", UserWallet: user.Address().String(),
		Limits: policy.Limits{PerTransaction: 25_000_000, PerDay: 30_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	k := st.Fund(t, "agent-a", user, 40_000_000, sess.SessionID)
	shop := newAddress(t)
	if res, m := call(t, c, "pay", map[string]any{"session_key_id": k.SessionKeyID, "recipient": shop, "amount": "17.50", "idempotency_key": "a"}); res.IsError {
		t.Fatalf("first payment: %v", m)
	}
	res, m := call(t, c, "pay", map[string]any{"session_key_id": k.SessionKeyID, "recipient": shop, "amount": "24", "idempotency_key": "b"})
	b, _ := json.MarshalIndent(res, "", "  ")
	t.Logf("refused pay as the agent sees it:\n%s", b)
	if !res.IsError || errCode(m) != "insufficient_funds" {
		t.Fatalf("want a refusal coded by its first failing check: %s", b)
	}
	details := m["details"].(map[string]any)
	dec := details["decision"].(map[string]any)
	checks := dec["checks"].([]any)
	if len(checks) != 2 || dec["max_affordable_now"] != "12.50" || dec["next_available_at"] != nil {
		t.Fatalf("decision: %v", dec)
	}
	if checks[0].(map[string]any)["code"] != "insufficient_funds" || checks[1].(map[string]any)["code"] != "daily_limit" ||
		checks[1].(map[string]any)["resets_at"] == nil {
		t.Fatalf("checks: %v", checks)
	}
	txt := text(res)
	for _, want := range []string{"Daily limit: 12.50 USDC left until", "Session key balance: 22.50 USDC left", "top_up_request", "at most 12.50"} {
		if !strings.Contains(txt, want) {
			t.Errorf("text %q lacks %q", txt, want)
		}
	}
}
