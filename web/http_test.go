package web_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/web"
)

func initialize(t *testing.T, c *client.Client) error {
	t.Helper()
	if err := c.Start(ctx); err != nil {
		return err
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: "web-test", Version: "0"}
	_, err := c.Initialize(ctx, req)
	return err
}

func callTool(t *testing.T, c *client.Client, name string, args map[string]any, out any) *mcp.CallToolResult {
	t.Helper()
	return testenv.CallTool(t, c, name, args, out)
}

// TestMCPAuth: the MCP routes need a known API key; the key decides the agent.
func TestMCPAuth(t *testing.T) {
	e := newEnv(t, web.Options{APIKeys: []web.APIKey{
		{AgentID: agent, SHA256: web.HashToken(apiKey)},
		{AgentID: "other-bot", SHA256: web.HashToken("stp_other")},
	}}, testenv.StackOptions{})
	user := e.st.NewUser(t, 0)

	// Missing or wrong keys: 401 with a JSON error, on every MCP route, and nothing created.
	initBody := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"0"}}}`
	callBody := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_session_key","arguments":{"user_wallet":"` + user.Address().String() + `","max_amount":"5"}}}`
	for _, tc := range []struct {
		name, method, path, token, body string
	}{
		{"mcp no key", "POST", "/mcp", "", initBody},
		{"mcp wrong key", "POST", "/mcp", "stp_wrong", callBody},
		{"mcp admin token", "POST", "/mcp", adminToken, callBody},
		{"sse no key", "GET", "/sse", "", ""},
		{"sse wrong key", "GET", "/sse", "nope", ""},
		{"message wrong key", "POST", "/message?sessionId=x", "nope", callBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := e.do(tc.method, tc.path, tc.token, body, "Accept", "application/json, text/event-stream")
			if code, _ := r.errCode(t); r.status != 401 || code != "unauthorized" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	if ks, _ := e.st.Service.ListKeys(ctx, ""); len(ks) != 0 {
		t.Fatalf("refused calls created %d keys", len(ks))
	}
	// A wrong key through a real MCP client fails at initialize.
	bad, err := client.NewStreamableHttpClient(e.srv.URL+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer wrong"}))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := initialize(t, bad); err == nil {
		t.Fatal("initialize with a wrong key succeeded")
	}

	// Streamable HTTP with the agent's key: the key's agent owns what it creates.
	c, err := client.NewStreamableHttpClient(e.srv.URL+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + apiKey}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := initialize(t, c); err != nil {
		t.Fatal(err)
	}
	var created service.KeyCreated
	created.KeyView = &service.KeyView{}
	if res := callTool(t, c, "create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "5"}, &created); res.IsError {
		t.Fatalf("create: %+v", res.Content)
	}
	if !strings.HasPrefix(created.ApprovalURL, e.srv.URL+"/approve/") {
		t.Fatalf("created: %+v", created.KeyView)
	}
	if k, err := e.st.Service.Status(ctx, "", created.SessionKeyID); err != nil || k.AgentID != agent {
		t.Fatalf("the key's agent: %v %v", k, err)
	}
	// Claiming another agent's id is refused.
	if res := callTool(t, c, "create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "5", "agent_id": "other-bot"}, nil); !res.IsError {
		t.Fatal("created a key for another agent")
	}

	// SSE with the other agent's key: it cannot see the first agent's key.
	sc, err := client.NewSSEMCPClient(e.srv.URL+"/sse", client.WithHeaders(map[string]string{"Authorization": "Bearer stp_other"}))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := initialize(t, sc); err != nil {
		t.Fatal(err)
	}
	if res := callTool(t, sc, "status", map[string]any{"session_key_id": created.SessionKeyID}, nil); !res.IsError {
		t.Fatalf("another agent read the key: %+v", res.Content)
	}
	var own service.KeyView
	if res := callTool(t, c, "status", map[string]any{"session_key_id": created.SessionKeyID}, &own); res.IsError || own.Status != "pending_approval" {
		t.Fatalf("own status: %+v", res.Content)
	}
}

// TestHealthReadyMetrics: /healthz answers while the process is up;
// /readyz runs its checks; /metrics counts requests by route.
func TestHealthReadyMetrics(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{Embedded: true})
	down := errors.New("connection refused")
	var fail atomic.Bool
	h, err := web.NewHandler(web.Options{Service: st.Service, Ready: []web.ReadyCheck{
		{Name: "rpc", Check: func(ctx context.Context) error { _, err := st.Chain.RPC().GetHealth(ctx); return err }},
		{Name: "flaky", Check: func(context.Context) error {
			if fail.Load() {
				return down
			}
			return nil
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, h: h, srv: newTestServer(t, h)}
	if r := e.do("GET", "/healthz", "", nil); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
	r := e.do("GET", "/readyz", "", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"rpc":"ok"`) {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	fail.Store(true)
	r = e.do("GET", "/readyz", "", nil)
	// Readiness says which dependency is down, never what it said (which may carry its URL).
	if r.status != 503 || !strings.Contains(string(r.body), `"flaky":"unreachable"`) || strings.Contains(string(r.body), "connection refused") {
		t.Fatalf("readyz failing: %d %s", r.status, r.body)
	}
	e.do("GET", "/approve/ap_nope", "", nil)
	r = e.do("GET", "/metrics", "", nil, "Accept", "text/plain")
	if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("/metrics X-Content-Type-Options = %q; want nosniff", got)
	}
	for _, want := range []string{
		`stipend_http_requests_total{code="404",method="GET",route="GET /approve/{token}"} 1`,
		`stipend_http_requests_total{code="503",method="GET",route="GET /readyz"} 1`,
		"stipend_http_request_duration_seconds_bucket",
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if r := e.do("GET", "/nowhere", "", nil); r.status != 404 {
		t.Fatalf("unknown route: %d", r.status)
	}
}
