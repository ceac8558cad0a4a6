package tools_test

import (
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
)

// signMessage approves a message approval (unlink, limits) as its owner, through the service.
func signMessage(t *testing.T, st *testenv.Stack, u *testenv.User, url string) *service.ApprovalResult {
	t.Helper()
	token := url[strings.LastIndex(url, "/")+1:]
	v, err := st.Service.Approval(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Service.SubmitApproval(ctx, token, service.Submission{Signature: u.SignMessage(v.Message)})
	if err != nil {
		t.Fatalf("sign %s: %v", v.Kind, err)
	}
	return res
}

// TestSessionToolsOverMCP: an agent creates a session (limits on itself),
// links its key to it (no approval), and asks to unlink and to raise a
// limit: each returns the owner's approval link and nothing changes until the
// owner signs.
func TestSessionToolsOverMCP(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	srv := tools.NewServer(st.Service, tools.Options{DefaultAgent: "agent-a"})
	c := connect(t, srv, nil)
	user := st.NewUser(t, 500_000_000)
	w := user.Address().String()

	res, m := call(t, c, "create_session_key", map[string]any{"user_wallet": w, "max_amount": "100"})
	if res.IsError {
		t.Fatal(text(res))
	}
	id := m["session_key_id"].(string)
	approve(t, st, user, m["approval_url"].(string), m["approval_transaction"].(string))

	res, m = call(t, c, "create_session", map[string]any{"user_wallet": w, "max_per_transaction": "25", "max_per_day": 100, "duration_hours": 48})
	if res.IsError || m["max_per_transaction"] != "25.00" || m["max_per_day"] != "100.00" || m["agent_id"] != "agent-a" {
		t.Fatalf("create_session: %s %v", text(res), m)
	}
	sess := m["session_id"].(string)

	res, m = call(t, c, "link_session", map[string]any{"session_key_id": id, "session_id": sess})
	if res.IsError || m["linked_session_id"] != sess {
		t.Fatalf("link_session: %s %v", text(res), m)
	}
	if res, m = call(t, c, "can_afford", map[string]any{"session_key_id": id, "amount": "30"}); m["allowed"] != false {
		t.Fatalf("the linked per-transaction limit does not apply: %s", text(res))
	}

	// Unlink: the owner's link; the key stays linked until the owner signs.
	res, m = call(t, c, "request_session_change", map[string]any{"change": "unlink", "session_key_id": id})
	if res.IsError || m["status"] != "approval_required" || m["approval_url"] == nil {
		t.Fatalf("request unlink: %s %v", text(res), m)
	}
	unlinkURL := m["approval_url"].(string)
	if k, _ := st.Service.Status(ctx, "agent-a", id); k.LinkedSessionID != sess {
		t.Fatalf("unlinked before the owner signed: %+v", k)
	}

	// Raise one limit: the others are kept; nothing changes until the owner signs.
	res, m = call(t, c, "request_session_change", map[string]any{"change": "limits", "session_id": sess, "max_per_day": "300"})
	if res.IsError || m["approval_url"] == nil {
		t.Fatalf("request limits: %s %v", text(res), m)
	}
	limitsURL := m["approval_url"].(string)
	if s, _ := st.Service.Session(ctx, "agent-a", sess); s.MaxPerDay != "100.00" {
		t.Fatalf("limits changed before the owner signed: %+v", s)
	}
	if r := signMessage(t, st, user, limitsURL); r.Status != "limits_changed" {
		t.Fatalf("limits approval: %+v", r)
	}
	if s, _ := st.Service.Session(ctx, "agent-a", sess); s.MaxPerDay != "300.00" || s.MaxPerTransaction != "25.00" {
		t.Fatalf("after the owner signed: %+v", s)
	}
	if r := signMessage(t, st, user, unlinkURL); r.Status != "unlinked" {
		t.Fatalf("unlink approval: %+v", r)
	}
	if k, _ := st.Service.Status(ctx, "agent-a", id); k.LinkedSessionID != "" {
		t.Fatalf("still linked after the owner signed: %+v", k)
	}

	// Bad requests: a coded tool error, nothing changed.
	other := tools.NewServer(st.Service, tools.Options{DefaultAgent: "agent-b"})
	oc := connect(t, other, nil)
	for _, tc := range []struct {
		name string
		c    *client.Client
		tool string
		args map[string]any
		code string
	}{
		{"unknown change", c, "request_session_change", map[string]any{"change": "delete", "session_id": sess}, "invalid_argument"},
		{"unlink with limits", c, "request_session_change", map[string]any{"change": "unlink", "session_key_id": id, "max_per_day": "5"}, "invalid_argument"},
		{"unlink of an unlinked key", c, "request_session_change", map[string]any{"change": "unlink", "session_key_id": id}, "conflict"},
		{"limits unchanged", c, "request_session_change", map[string]any{"change": "limits", "session_id": sess, "max_per_day": "300"}, "invalid_argument"},
		{"bad limit", c, "create_session", map[string]any{"user_wallet": w, "max_per_day": "-1"}, "invalid_argument"},
		{"bad wallet", c, "create_session", map[string]any{"user_wallet": "nope"}, "invalid_argument"},
		{"a token not offered", c, "create_session_key", map[string]any{"user_wallet": w, "max_amount": "10", "token": "SOL"}, "invalid_argument"},
		{"another agent links", oc, "link_session", map[string]any{"session_key_id": id, "session_id": sess}, "not_found"},
		{"another agent asks", oc, "request_session_change", map[string]any{"change": "limits", "session_id": sess, "max_per_day": "1000"}, "not_found"},
	} {
		res, m := call(t, tc.c, tc.tool, tc.args)
		if !res.IsError || errCode(m) != tc.code || (tc.name == "a token not offered" && !strings.Contains(text(res), "offered: USDC")) {
			t.Errorf("%s: want %s, got %s %v", tc.name, tc.code, text(res), m)
		}
	}
}

// TestSessionChangeElicitation: with URL-mode elicitation the approval link of
// a session change goes to the human through the host, not to the model.
func TestSessionChangeElicitation(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	el := &elicitor{}
	c := connect(t, tools.NewServer(st.Service, tools.Options{DefaultAgent: "agent-a"}), el)
	user := st.NewUser(t, 0)
	_, m := call(t, c, "create_session", map[string]any{"user_wallet": user.Address().String(), "max_per_day": "10"})
	res, m := call(t, c, "request_session_change", map[string]any{"change": "limits", "session_id": m["session_id"], "max_per_day": "20"})
	if res.IsError || m["approval_url"] != nil || m["approval"] == nil {
		t.Fatalf("with URL elicitation: %s %v", text(res), m)
	}
	el.mu.Lock()
	defer el.mu.Unlock()
	if len(el.got) != 1 || el.got[0].Mode != mcp.ElicitationModeURL || !strings.Contains(el.got[0].URL, "/approve/") {
		t.Fatalf("elicitation: %+v", el.got)
	}
}
