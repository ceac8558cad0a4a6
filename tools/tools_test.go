package tools_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
)

var ctx = context.Background()

type elicitor struct {
	mu  sync.Mutex
	got []mcp.ElicitationParams
}

func (e *elicitor) Elicit(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	e.mu.Lock()
	e.got = append(e.got, req.Params)
	e.mu.Unlock()
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionAccept}}, nil
}

// connect starts an in-process MCP client of srv; with el, it declares URL-mode elicitation.
func connect(t *testing.T, srv *server.MCPServer, el *elicitor) *client.Client {
	t.Helper()
	var opts []client.ClientOption
	if el != nil {
		opts = append(opts, client.WithElicitationHandler(el))
	}
	c, err := client.NewInProcessClientWithOptions(srv, opts...)
	if err != nil {
		t.Fatal(err)
	}
	initialize(t, c, el != nil)
	return c
}

func initialize(t *testing.T, c *client.Client, elicitation bool) {
	t.Helper()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	req := mcp.InitializeRequest{}
	// 2025-11-25: URL-mode elicitation and resources/subscribe as that revision defines them.
	req.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	req.Params.ClientInfo = mcp.Implementation{Name: "stipend-test", Version: "1"}
	if elicitation {
		req.Params.Capabilities.Elicitation = &mcp.ElicitationCapability{URL: &struct{}{}}
	}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatal(err)
	}
}

// call runs a tool and returns its result and structured content as a map.
func call(t *testing.T, c *client.Client, name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
	t.Helper()
	var m map[string]any
	res := testenv.CallTool(t, c, name, args, &m)
	checkOutput(t, name, res)
	return res, m
}

func text(res *mcp.CallToolResult) string {
	// The sentence: the first block (the second is the JSON of structuredContent).
	if len(res.Content) > 0 {
		if tc, ok := res.Content[0].(mcp.TextContent); ok {
			return tc.Text
		}
	}
	return ""
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func newAddress(t *testing.T) string { return testenv.NewAddress(t) }

// approve signs the approval of a created key as its owner, through the service.
func approve(t *testing.T, st *testenv.Stack, u *testenv.User, url, wire string) {
	t.Helper()
	token := url[strings.LastIndex(url, "/")+1:]
	if _, err := st.Service.SubmitApproval(ctx, token, service.Submission{SignedTransaction: u.SignTransaction(t, wire)}); err != nil {
		t.Fatalf("approve: %v", err)
	}
}

// lifecycle drives every tool through an MCP client: the seed's flow.
func lifecycle(t *testing.T, st *testenv.Stack, c *client.Client) {
	user := st.NewUser(t, 500_000_000)
	res, m := call(t, c, "create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "100", "expiry_hours": 24})
	if res.IsError || m["status"] != "pending_approval" || m["approval_url"] == nil {
		t.Fatalf("create_session_key: %s %v", text(res), m)
	}
	id := m["session_key_id"].(string)
	approve(t, st, user, m["approval_url"].(string), m["approval_transaction"].(string))

	res, m = call(t, c, "status", map[string]any{"session_key_id": id})
	if res.IsError || m["status"] != "active" || m["remaining_amount"] != "100.00" {
		t.Fatalf("status: %s %v", text(res), m)
	}
	shop := newAddress(t)
	res, m = call(t, c, "can_afford", map[string]any{"session_key_id": id, "amount": 29.99, "recipient": shop})
	if res.IsError || m["allowed"] != true {
		t.Fatalf("can_afford: %s %v", text(res), m)
	}
	res, m = call(t, c, "pay", map[string]any{"session_key_id": id, "recipient": shop, "amount": "29.99", "description": "Premium widget", "idempotency_key": "o-1"})
	if res.IsError || m["status"] != "confirmed" || m["transaction_signature"] == "" {
		t.Fatalf("pay: %s %v", text(res), m)
	}
	if got := st.TokenBalance(t, solana.MustPublicKeyFromBase58(shop)); got != 29_990_000 {
		t.Fatalf("recipient has %d", got)
	}
	res, m = call(t, c, "pay", map[string]any{"session_key_id": id, "recipient": shop, "amount": "80", "idempotency_key": "o-2"})
	if !res.IsError || errCode(m) != "insufficient_funds" || !strings.Contains(text(res), "top_up_request") {
		t.Fatalf("refused pay: %s %v", text(res), m)
	}
	res, m = call(t, c, "top_up_request", map[string]any{"session_key_id": id, "amount": "50"})
	if res.IsError || m["new_max_amount"] != "150.00" {
		t.Fatalf("top_up_request: %s %v", text(res), m)
	}
	res, m = call(t, c, "list_session_keys", map[string]any{})
	if res.IsError || m["total"].(float64) < 1 {
		t.Fatalf("list: %s %v", text(res), m)
	}
	res, m = call(t, c, "revoke_session_key", map[string]any{"session_key_id": id})
	if res.IsError || m["status"] != "revoked" || m["swept_amount"] != "70.01" {
		t.Fatalf("revoke: %s %v", text(res), m)
	}
}

func TestToolsInProcess(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	srv := tools.NewServer(st.Service, tools.Options{DefaultAgent: "agent-a"})
	lifecycle(t, st, connect(t, srv, nil))
}

// bearer maps the test's API keys to agents, as the HTTP layer does.
func bearer(keys map[string]string) server.HTTPContextFunc {
	return func(ctx context.Context, r *http.Request) context.Context {
		if a, ok := keys[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]; ok {
			return service.WithAgent(ctx, a)
		}
		return ctx
	}
}

func httpClient(t *testing.T, url, key string) *client.Client {
	t.Helper()
	c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key}))
	if err != nil {
		t.Fatal(err)
	}
	initialize(t, c, false)
	return c
}

func TestToolsStreamableHTTP(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	srv := tools.NewServer(st.Service, tools.Options{})
	ts := httptest.NewServer(server.NewStreamableHTTPServer(srv, server.WithHTTPContextFunc(bearer(map[string]string{"key-a": "agent-a", "key-b": "agent-b"}))))
	t.Cleanup(ts.Close)
	a := httpClient(t, ts.URL, "key-a")
	lifecycle(t, st, a)

	// Agent isolation: agent B neither sees nor spends agent A's key.
	user := st.NewUser(t, 100_000_000)
	k := st.Fund(t, "agent-a", user, 50_000_000, "")
	b := httpClient(t, ts.URL, "key-b")
	for _, tc := range []struct {
		tool string
		args map[string]any
	}{
		{"status", map[string]any{"session_key_id": k.SessionKeyID}},
		{"pay", map[string]any{"session_key_id": k.SessionKeyID, "recipient": newAddress(t), "amount": "1"}},
		{"can_afford", map[string]any{"session_key_id": k.SessionKeyID, "amount": "1"}},
		{"top_up_request", map[string]any{"session_key_id": k.SessionKeyID, "amount": "1"}},
		{"revoke_session_key", map[string]any{"session_key_id": k.SessionKeyID}},
	} {
		res, m := call(t, b, tc.tool, tc.args)
		if !res.IsError || errCode(m) != "not_found" {
			t.Errorf("agent B %s on A's key: %s %v", tc.tool, text(res), m)
		}
	}
	if _, m := call(t, b, "list_session_keys", map[string]any{}); m["total"].(float64) != 0 {
		t.Errorf("agent B lists A's keys: %v", m)
	}
	after, _ := st.Service.Status(ctx, "agent-a", k.SessionKeyID)
	if after.Status != "active" || after.RemainingAmount != "50.00" {
		t.Fatalf("agent B changed A's key: %+v", after)
	}
}

func TestBadInput(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	srv := tools.NewServer(st.Service, tools.Options{DefaultAgent: "agent-a"})
	c := connect(t, srv, nil)
	user := st.NewUser(t, 100_000_000)
	k := st.Fund(t, "agent-a", user, 50_000_000, "")
	id := k.SessionKeyID
	shop := newAddress(t)
	tests := []struct {
		tool string
		args map[string]any
		code string
	}{
		{"create_session_key", map[string]any{"max_amount": "10"}, "invalid_argument"},
		{"create_session_key", map[string]any{"user_wallet": "not-an-address", "max_amount": "10"}, "invalid_argument"},
		{"create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "0"}, "invalid_argument"},
		{"create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "-5"}, "invalid_argument"},
		{"create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "1.0000001"}, "invalid_argument"},
		{"create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "NaN"}, "invalid_argument"},
		{"create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "10", "expiry_hours": "soon"}, "invalid_argument"},
		{"create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "10", "expiry_hours": -1}, "invalid_argument"},
		{"create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "10", "agent_id": "someone-else"}, "invalid_argument"},
		{"can_afford", map[string]any{"session_key_id": id}, "invalid_argument"},
		{"can_afford", map[string]any{"amount": "1"}, "invalid_argument"},
		{"can_afford", map[string]any{"session_key_id": "sk_missing", "amount": "1"}, "not_found"},
		{"can_afford", map[string]any{"session_key_id": id, "amount": true}, "invalid_argument"},
		{"pay", map[string]any{"session_key_id": id, "amount": "1"}, "invalid_argument"},
		{"pay", map[string]any{"session_key_id": id, "recipient": "xyz", "amount": "1"}, "invalid_argument"},
		{"pay", map[string]any{"session_key_id": id, "recipient": shop, "amount": "1e999999999"}, "invalid_argument"},
		{"pay", map[string]any{"session_key_id": id, "recipient": shop, "amount": 0}, "invalid_argument"},
		{"pay", map[string]any{"session_key_id": id, "recipient": k.SessionKeyAddress, "amount": "1"}, "invalid_argument"},
		{"pay", map[string]any{"session_key_id": id, "recipient": shop, "amount": []int{1}}, "invalid_argument"},
		{"pay", map[string]any{"session_key_id": id, "session_id": "sess_x", "recipient": shop, "amount": "1"}, "invalid_argument"},
		{"pay", map[string]any{"recipient": shop, "amount": "1"}, "invalid_argument"},
		{"status", map[string]any{}, "invalid_argument"},
		{"status", map[string]any{"session_key_id": 42}, "invalid_argument"},
		{"status", map[string]any{"session_key_id": "sk_{evil}"}, "not_found"},
		{"top_up_request", map[string]any{"session_key_id": id, "amount": "abc"}, "invalid_argument"},
		{"top_up_request", map[string]any{"session_key_id": id}, "invalid_argument"},
		{"revoke_session_key", map[string]any{}, "invalid_argument"},
		{"revoke_session_key", map[string]any{"session_key_id": "sk_nope"}, "not_found"},
	}
	for _, tc := range tests {
		res, m := call(t, c, tc.tool, tc.args)
		if !res.IsError || errCode(m) != tc.code {
			t.Errorf("%s %v: want %s; got %s %v", tc.tool, tc.args, tc.code, text(res), m)
		}
	}
	after, _ := st.Service.Status(ctx, "agent-a", id)
	if after.Status != "active" || after.RemainingAmount != "50.00" || after.TransactionCount != 0 {
		t.Fatalf("bad input changed the key: %+v", after)
	}
	if keys, _ := st.Service.ListKeys(ctx, "agent-a"); len(keys) != 1 {
		t.Fatalf("bad input created keys: %d", len(keys))
	}
}

func TestElicitationAndProgress(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	srv := tools.NewServer(st.Service, tools.Options{DefaultAgent: "agent-a"})
	el := &elicitor{}
	c := connect(t, srv, el)
	var mu sync.Mutex
	var notes []mcp.JSONRPCNotification
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		mu.Lock()
		notes = append(notes, n)
		mu.Unlock()
	})
	user := st.NewUser(t, 100_000_000)
	res, m := call(t, c, "create_session_key", map[string]any{"user_wallet": user.Address().String(), "max_amount": "20"})
	if res.IsError || m["approval_url"] != nil || m["approval"] == nil {
		t.Fatalf("with URL elicitation the link goes to the host, not the model: %s %v", text(res), m)
	}
	el.mu.Lock()
	if len(el.got) != 1 || el.got[0].Mode != mcp.ElicitationModeURL || !strings.Contains(el.got[0].URL, "/approve/ap_") {
		t.Fatalf("elicitation: %+v", el.got)
	}
	url, elID := el.got[0].URL, el.got[0].ElicitationID
	el.mu.Unlock()
	approve(t, st, user, url, m["approval_transaction"].(string))
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range notes {
			if n.Method == "notifications/elicitation/complete" && n.Params.AdditionalFields["elicitationId"] == elID {
				return true
			}
		}
		return false
	}, "elicitation complete")

	// Subscribe to the key's resource, then pay with a progress token.
	id := m["session_key_id"].(string)
	//lint:ignore SA1019 the session negotiates 2025-11-25, where resources/subscribe is served
	if err := c.Subscribe(ctx, mcp.SubscribeRequest{Params: mcp.SubscribeParams{URI: "stipend://session-keys/" + id}}); err != nil { //nolint:staticcheck // SA1019: the session negotiates 2025-11-25, where resources/subscribe is served
		t.Fatal(err)
	}
	rr := mcp.ReadResourceRequest{}
	rr.Params.URI = "stipend://session-keys/" + id
	rc, err := c.ReadResource(ctx, rr)
	if err != nil || !strings.Contains(rc.Contents[0].(mcp.TextResourceContents).Text, `"status":"active"`) {
		t.Fatalf("read resource: %v %v", rc, err)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = "pay"
	req.Params.Arguments = map[string]any{"session_key_id": id, "recipient": newAddress(t), "amount": "5", "idempotency_key": "p1"}
	req.Params.Meta = &mcp.Meta{ProgressToken: "tok-1"}
	pres, err := c.CallTool(ctx, req)
	if err != nil || pres.IsError {
		t.Fatalf("pay: %v %v", pres, err)
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		var stages []string
		updated := false
		for _, n := range notes {
			switch n.Method {
			case "notifications/progress":
				stages = append(stages, n.Params.AdditionalFields["message"].(string))
			case "notifications/resources/updated":
				updated = updated || n.Params.AdditionalFields["uri"] == "stipend://session-keys/"+id
			}
		}
		return strings.Join(stages, ",") == "reserved,signed,sent,confirmed" && updated
	}, "progress in order and resource updated")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
