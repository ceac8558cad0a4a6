package web

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/mcpsession"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
)

// TestBrowserSessionsOverMCP: an agent, over MCP (streamable HTTP, its API
// key), creates a session, links its key to it and asks to unlink; the key
// stays linked until the owner signs the unlink on the approval page in
// Chromium with a Wallet Standard wallet, and a tampered signature changes
// nothing.
func TestBrowserSessionsOverMCP(t *testing.T) {
	ctx := context.Background()
	b := browserEnv(t)
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	st := testenv.NewStack(t, testenv.StackOptions{PublicURL: base})
	const apiKey = "stp_browser_sessions"
	h, err := NewHandler(Options{Service: st.Service, MCP: tools.NewServer(st.Service, tools.Options{Version: "test"}), Guard: tools.NewGuard(st.Service),
		APIKeys:  []APIKey{{AgentID: "shopping-bot", SHA256: HashToken(apiKey)}},
		Sessions: mcpsession.New(testenv.Redis(t), "stipendtest"+policy.NewID("")[:10], 0)})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })

	c, err := client.NewStreamableHttpClient(base+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + apiKey}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "browser-sessions", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	call := func(name string, args map[string]any) map[string]any {
		t.Helper()
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = name, args
		res, err := c.CallTool(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var m map[string]any
		raw, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(raw, &m)
		if res.IsError {
			t.Fatalf("%s: %v", name, m)
		}
		return m
	}

	owner := st.NewUser(t, 500_000_000)
	w := owner.Address().String()
	m := call("create_session_key", map[string]any{"user_wallet": w, "max_amount": "100"})
	id := m["session_key_id"].(string)
	fund := m["approval_url"].(string)
	if _, err := st.Service.SubmitApproval(ctx, fund[strings.LastIndex(fund, "/")+1:],
		service.Submission{SignedTransaction: owner.SignTransaction(t, m["approval_transaction"].(string))}); err != nil {
		t.Fatal(err)
	}
	sess := call("create_session", map[string]any{"user_wallet": w, "max_per_transaction": "25", "max_per_day": "100"})["session_id"].(string)
	if got := call("link_session", map[string]any{"session_key_id": id, "session_id": sess}); got["linked_session_id"] != sess {
		t.Fatalf("link_session: %v", got)
	}
	if got := call("can_afford", map[string]any{"session_key_id": id, "amount": "30"}); got["allowed"] != false {
		t.Fatalf("linked limit not applied: %v", got)
	}
	unlink := call("request_session_change", map[string]any{"change": "unlink", "session_key_id": id})["approval_url"].(string)
	linked := func() string {
		t.Helper()
		k, err := st.Service.Status(ctx, "shopping-bot", id)
		if err != nil {
			t.Fatal(err)
		}
		return k.LinkedSessionID
	}
	if linked() != sess {
		t.Fatal("unlinked before the owner signed")
	}
	secret := owner.Key.String()
	b.run(t, base, []realCase{
		{Name: "mcp-unlink-view", URL: pathOf(unlink), SecretKey: secret, Mode: "view", Expect: map[string]any{"state": "ready"}},
		{Name: "mcp-unlink-tamper", URL: pathOf(unlink), SecretKey: secret, Mode: "tamper", Expect: map[string]any{"state": "error"}},
	})
	if linked() != sess {
		t.Fatal("unlinked without the owner's valid signature")
	}
	b.run(t, base, []realCase{
		{Name: "mcp-unlink", URL: pathOf(unlink), SecretKey: secret, Mode: "ok", Expect: map[string]any{"state": "success", "code": "unlinked"}},
	})
	if got := linked(); got != "" {
		t.Fatalf("still linked to %s after the owner signed", got)
	}
	if got := call("can_afford", map[string]any{"session_key_id": id, "amount": "30"}); got["allowed"] != true {
		t.Fatalf("after the unlink only the key's balance applies: %v", got)
	}
}
