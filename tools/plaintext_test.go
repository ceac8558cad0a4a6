package tools_test

import (
	"strconv"
	"testing"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
)

// TestAgentTextRefusesControlAndBidi: agent-written text that a human reads on
// an approval page (a payment's description, an agent id) with control or
// bidirectional formatting characters is refused with invalid_argument
// through the MCP client, and nothing is recorded; plain text, accents and
// emoji pass.
func TestAgentTextRefusesControlAndBidi(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	c := connect(t, tools.NewServer(st.Service, tools.Options{DefaultAgent: "agent-a"}), nil)
	user := st.NewUser(t, 100_000_000)
	k := st.Fund(t, "agent-a", user, 40_000_000, "")
	shop := newAddress(t)
	bad := []string{
		"pay 5 USDC\u202Egnp.exe",   // right-to-left override
		"invoice \u2066#42\u2069",   // isolates
		"mark\u200Fed",              // right-to-left mark
		"arabic letter mark \u061C", // ALM
		"line\nbreak",               // C0 control
		"bell\a",                    // C0 control
		"del\x7f",                   // DEL
		"c1\u0085next line",         // C1 control
		"para\u2029graph",           // paragraph separator
	}
	for i, d := range bad {
		t.Run(strconv.Quote(d), func(t *testing.T) {
			res, m := call(t, c, "pay", map[string]any{"session_key_id": k.SessionKeyID, "recipient": shop, "amount": "1",
				"description": d, "idempotency_key": "bad-" + strconv.Itoa(i)})
			if !res.IsError || errCode(m) != "invalid_argument" {
				t.Fatalf("pay with description %q: %v; want invalid_argument", d, m)
			}
		})
	}
	if got, _ := st.Service.Status(ctx, "agent-a", k.SessionKeyID); got.TransactionCount != 0 || got.SpentAmount != "0.00" {
		t.Fatalf("refused payments changed the key: %+v", got)
	}
	if res, m := call(t, c, "pay", map[string]any{"session_key_id": k.SessionKeyID, "recipient": shop, "amount": "1",
		"description": "Café crème ☕ for the team – ticket #42 (שלום)", "idempotency_key": "good"}); res.IsError {
		t.Fatalf("plain description refused: %v", m)
	}

	// An agent id with a bidi override, as the operator's API or another face would pass it.
	for _, id := range []string{"bot\u202Eevil", "bot\x00", "bot\r\nX-Header: 1"} {
		_, err := st.Service.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: id, UserWallet: user.Address().String(), MaxAmount: 1_000_000, ExpiryHours: 1})
		if code := codeOf(err); code != "invalid_argument" {
			t.Fatalf("agent id %q: %v; want invalid_argument", id, err)
		}
		_, err = st.Service.CreateSession(ctx, service.CreateSessionInput{AgentID: id, UserWallet: user.Address().String()})
		if code := codeOf(err); code != "invalid_argument" {
			t.Fatalf("session for agent id %q: %v; want invalid_argument", id, err)
		}
	}
}

func codeOf(err error) string { return string(policy.CodeOf(err)) }
