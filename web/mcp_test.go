package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/web"
)

const otherKey = "stp_other"

// twoAgents is an env with two agents: agent (apiKey) and other-bot (otherKey).
func twoAgents(t *testing.T, o web.Options) *env {
	o.APIKeys = []web.APIKey{{AgentID: agent, SHA256: web.HashToken(apiKey)}, {AgentID: "other-bot", SHA256: web.HashToken(otherKey)}}
	return newEnv(t, o, testenv.StackOptions{})
}

// rpc is one raw MCP POST to /mcp; header pairs follow.
func (e *env) rpc(token, session, body string, header ...string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	s := string(b)
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		// The last data line is the response.
		for line := range strings.SplitSeq(s, "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				s = d
			}
		}
	}
	return res, s
}

func initBody(version string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + version +
		`","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
}

// open initializes a session as the key's agent and returns its id.
func (e *env) open(token, version string) string {
	e.t.Helper()
	res, body := e.rpc(token, "", initBody(version))
	id := res.Header.Get("Mcp-Session-Id")
	if res.StatusCode != 200 || id == "" {
		e.t.Fatalf("initialize: %d %s", res.StatusCode, body)
	}
	if r, b := e.rpc(token, id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "MCP-Protocol-Version", version); r.StatusCode != 202 {
		e.t.Fatalf("initialized: %d %s", r.StatusCode, b)
	}
	return id
}

func (e *env) send(method, token, session string) int {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, e.srv.URL+"/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(c))
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

const ping = `{"jsonrpc":"2.0","id":7,"method":"ping"}`

// TestMCPSessions: sessions are issued at initialize, bound to the agent,
// required (400 without), unknown → 404, ended by DELETE (404 after).
func TestMCPSessions(t *testing.T) {
	e := twoAgents(t, web.Options{})
	id := e.open(apiKey, "2025-06-18")
	v := "2025-06-18"
	tests := []struct {
		name, token, session string
		want                 int
	}{
		{"own session", apiKey, id, 200},
		{"no session header", apiKey, "", 400},
		{"unknown session", apiKey, "mcp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 404},
		{"made-up session", apiKey, "anything-at-all", 404},
		{"another agent's session", otherKey, id, 404},
	}
	for _, tc := range tests {
		if res, body := e.rpc(tc.token, tc.session, ping, "MCP-Protocol-Version", v); res.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, res.StatusCode, body, tc.want)
		}
	}
	if got := e.send("GET", apiKey, ""); got != 400 {
		t.Errorf("GET without a session: %d", got)
	}
	if got := e.send("GET", otherKey, id); got != 404 {
		t.Errorf("GET of another agent's session: %d", got)
	}
	if got := e.send("DELETE", otherKey, id); got != 404 {
		t.Errorf("another agent's DELETE: %d", got)
	}
	if res, _ := e.rpc(apiKey, id, ping, "MCP-Protocol-Version", v); res.StatusCode != 200 {
		t.Fatalf("another agent's DELETE ended the session: %d", res.StatusCode)
	}
	if got := e.send("DELETE", apiKey, id); got != 200 {
		t.Fatalf("DELETE: %d", got)
	}
	if res, body := e.rpc(apiKey, id, ping, "MCP-Protocol-Version", v); res.StatusCode != 404 {
		t.Errorf("a deleted session still answers: %d %s", res.StatusCode, body)
	}
	if got := e.send("DELETE", apiKey, id); got != 404 {
		t.Errorf("second DELETE: %d", got)
	}
	// Another replica (a second handler on the same Redis) knows the session.
	id2 := e.open(apiKey, v)
	other, err := web.NewHandler(web.Options{Service: e.st.Service, MCP: e.o.MCP, Guard: e.o.Guard, Sessions: e.o.Sessions,
		APIKeys: []web.APIKey{{AgentID: agent, SHA256: web.HashToken(apiKey)}}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "/mcp", strings.NewReader(ping))
	req.Host = "127.0.0.1"
	req.RemoteAddr = "127.0.0.1:1234"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Mcp-Session-Id", id2)
	req.Header.Set("MCP-Protocol-Version", v)
	rec := httptest.NewRecorder()
	other.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("the other replica refused the session: %d %s", rec.Code, rec.Body.String())
	}
}

// TestSSESessionBound: an SSE sessionId is refused with another agent's key.
func TestSSESessionBound(t *testing.T) {
	e := twoAgents(t, web.Options{})
	c, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(c, "GET", e.srv.URL+"/sse", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") == "*" {
		t.Error("/sse allows every origin")
	}
	sc := bufio.NewScanner(res.Body)
	endpoint := ""
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			endpoint = d
			break
		}
	}
	if !strings.Contains(endpoint, "sessionId=") {
		t.Fatalf("endpoint event: %q", endpoint)
	}
	for _, tc := range []struct {
		name, token, path string
		want              int
	}{
		{"another agent", otherKey, endpoint, 404},
		{"unknown", apiKey, "/message?sessionId=mcp_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", 404},
		{"owner", apiKey, endpoint, 202},
	} {
		r := e.do("POST", tc.path, tc.token, ping)
		if r.status != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.want)
		}
	}
}

// TestMCPOrigin: a foreign Origin gets 403 on every MCP route; the server's
// own and the configured ones pass.
func TestMCPOrigin(t *testing.T) {
	e := twoAgents(t, web.Options{AllowedOrigins: []string{"https://app.example"}})
	for _, path := range []string{"/mcp", "/sse", "/message?sessionId=x"} {
		method := "POST"
		if path == "/sse" {
			method = "GET"
		}
		r := e.do(method, path, apiKey, initBody("2025-06-18"), "Origin", "http://evil.example", "Accept", "application/json, text/event-stream")
		if r.status != 403 {
			t.Errorf("%s from evil.example: %d %s", path, r.status, r.body)
		}
	}
	for _, origin := range []string{e.srv.URL, "https://app.example"} {
		r := e.do("POST", "/mcp", apiKey, initBody("2025-06-18"), "Origin", origin, "Accept", "application/json, text/event-stream")
		if r.status != 200 {
			t.Errorf("origin %s: %d %s", origin, r.status, r.body)
		}
		if got := r.header.Get("Access-Control-Allow-Origin"); got == "*" {
			t.Errorf("origin %s: wildcard CORS", origin)
		}
	}
}

// TestMCPStreamCap: an agent holds at most MaxStreamsPerAgent streams; beyond, 429.
func TestMCPStreamCap(t *testing.T) {
	e := twoAgents(t, web.Options{MaxStreamsPerAgent: 2})
	id := e.open(apiKey, "2025-06-18")
	c, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	openStream := func(token, session string) int {
		req, _ := http.NewRequestWithContext(c, "GET", e.srv.URL+"/mcp", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 {
			res.Body.Close()
			return res.StatusCode
		}
		wg.Go(func() { _, _ = io.Copy(io.Discard, res.Body); res.Body.Close() })
		return 200
	}
	for i := range 2 {
		if got := openStream(apiKey, id); got != 200 {
			t.Fatalf("stream %d: %d", i+1, got)
		}
	}
	if got := openStream(apiKey, id); got != 429 {
		t.Fatalf("third stream: %d, want 429", got)
	}
	if got := openStream(otherKey, e.open(otherKey, "2025-06-18")); got != 200 {
		t.Fatalf("the other agent's stream: %d", got)
	}
}

// TestMCPBatch: a 2025-03-26 session may send a JSON-RPC batch; later revisions may not.
func TestMCPBatch(t *testing.T) {
	e := twoAgents(t, web.Options{})
	old := e.open(apiKey, "2025-03-26")
	batch := `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/roots/list_changed"},{"jsonrpc":"2.0","id":"b","method":"tools/list"}]`
	res, body := e.rpc(apiKey, old, batch)
	var out []struct {
		ID     any             `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  any             `json:"error"`
	}
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &out) != nil || len(out) != 2 {
		t.Fatalf("batch: %d %s", res.StatusCode, body)
	}
	if out[0].ID != float64(1) || out[1].ID != "b" || out[0].Error != nil || !strings.Contains(string(out[1].Result), "pay") {
		t.Fatalf("batch answers: %s", body)
	}
	if res, body := e.rpc(apiKey, old, `[{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}]`); res.StatusCode != 202 {
		t.Fatalf("batch of notifications: %d %s", res.StatusCode, body)
	}
	cur := e.open(apiKey, "2025-06-18")
	if res, body := e.rpc(apiKey, cur, batch, "MCP-Protocol-Version", "2025-06-18"); res.StatusCode != 400 {
		t.Fatalf("batch on 2025-06-18: %d %s", res.StatusCode, body)
	}
}

// TestMCPErrorCodesAndCapabilities: the capabilities and error codes the
// spec defines, over HTTP.
func TestMCPErrorCodesAndCapabilities(t *testing.T) {
	e := twoAgents(t, web.Options{})
	res, body := e.rpc(apiKey, "", initBody("2025-11-25"))
	var init struct {
		Result struct {
			Capabilities map[string]any `json:"capabilities"`
		} `json:"result"`
	}
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &init) != nil {
		t.Fatalf("initialize: %d %s", res.StatusCode, body)
	}
	caps := init.Result.Capabilities
	if _, ok := caps["elicitation"]; ok {
		t.Errorf("the server declares elicitation, a client capability: %v", caps)
	}
	for _, want := range []string{"logging", "completions", "tools", "resources", "prompts"} {
		if _, ok := caps[want]; !ok {
			t.Errorf("capability %s missing: %v", want, caps)
		}
	}
	user := e.st.NewUser(t, 100*usdc)
	k := e.st.Fund(t, agent, user, 10*usdc, "")
	id := e.open(otherKey, "2025-11-25")
	mine := e.open(apiKey, "2025-11-25")
	v := "2025-11-25"
	for _, tc := range []struct {
		name, session, token, body string
		code                       int
	}{
		{"read unknown key", mine, apiKey, `{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"stipend://session-keys/sk_nope"}}`, -32002},
		{"read another agent's key", id, otherKey, `{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"stipend://session-keys/` + k.SessionKeyID + `"}}`, -32002},
		{"subscribe to another agent's key", id, otherKey, `{"jsonrpc":"2.0","id":3,"method":"resources/subscribe","params":{"uri":"stipend://session-keys/` + k.SessionKeyID + `"}}`, -32002},
		{"prompt without its required argument", mine, apiKey, `{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"pay_with_session_key","arguments":{}}}`, -32602},
		{"unknown prompt", mine, apiKey, `{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"nope"}}`, -32602},
	} {
		res, body := e.rpc(tc.token, tc.session, tc.body, "MCP-Protocol-Version", v)
		var m struct {
			Error struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		if res.StatusCode != 200 || json.Unmarshal([]byte(body), &m) != nil || m.Error.Code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, res.StatusCode, body, tc.code)
		}
	}
	if _, body := e.rpc(apiKey, mine, `{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"stipend://session-keys/`+k.SessionKeyID+`"}}`, "MCP-Protocol-Version", v); !strings.Contains(body, `\"status\":\"active\"`) {
		t.Errorf("own read: %s", body)
	}
	// completion/complete offers the caller's own key ids only.
	comp := `{"jsonrpc":"2.0","id":5,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"stipend://session-keys/{id}"},"argument":{"name":"id","value":"sk_"}}}`
	if _, body := e.rpc(apiKey, mine, comp, "MCP-Protocol-Version", v); !strings.Contains(body, k.SessionKeyID) {
		t.Errorf("own completion: %s", body)
	}
	if _, body := e.rpc(otherKey, id, comp, "MCP-Protocol-Version", v); strings.Contains(body, k.SessionKeyID) || !strings.Contains(body, `"values":[]`) {
		t.Errorf("another agent completes the key: %s", body)
	}
	promptComp := `{"jsonrpc":"2.0","id":6,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"pay_with_session_key"},"argument":{"name":"session_key_id","value":""}}}`
	if _, body := e.rpc(otherKey, id, promptComp, "MCP-Protocol-Version", v); strings.Contains(body, k.SessionKeyID) {
		t.Errorf("another agent completes the prompt argument: %s", body)
	}
}

// TestSubscriptionNotLeaked: another agent subscribing to a key is refused
// and hears nothing when its owner pays.
func TestSubscriptionNotLeaked(t *testing.T) {
	e := twoAgents(t, web.Options{})
	user := e.st.NewUser(t, 100*usdc)
	k := e.st.Fund(t, agent, user, 10*usdc, "")
	b, err := client.NewStreamableHttpClient(e.srv.URL+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + otherKey}),
		//lint:ignore SA1019 this client speaks 2025-11-25, whose standalone GET stream is served
		transport.WithContinuousListening()) //nolint:staticcheck // SA1019: this client speaks 2025-11-25, whose standalone GET stream is served
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := initialize(t, b); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var heard []string
	b.OnNotification(func(n mcp.JSONRPCNotification) {
		mu.Lock()
		heard = append(heard, n.Method)
		mu.Unlock()
	})
	//lint:ignore SA1019 the session negotiates 2025-11-25, where resources/subscribe is served
	if err := b.Subscribe(ctx, mcp.SubscribeRequest{Params: mcp.SubscribeParams{URI: "stipend://session-keys/" + k.SessionKeyID}}); err == nil { //nolint:staticcheck // SA1019: the session negotiates 2025-11-25, where resources/subscribe is served
		t.Fatal("another agent subscribed to the key")
	}
	a, err := client.NewStreamableHttpClient(e.srv.URL+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + apiKey}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := initialize(t, a); err != nil {
		t.Fatal(err)
	}
	if res := callTool(t, a, "pay", map[string]any{"session_key_id": k.SessionKeyID, "recipient": e.st.NewUser(t, 0).Address().String(), "amount": "1", "idempotency_key": "s-1"}, nil); res.IsError {
		t.Fatalf("pay: %+v", res.Content)
	}
	time.Sleep(300 * time.Millisecond) // what would leak arrives within it
	mu.Lock()
	defer mu.Unlock()
	for _, m := range heard {
		if m == "notifications/resources/updated" {
			t.Fatal("another agent heard of the key's update")
		}
	}
}

// TestMCPCancelledPay: a pay cancelled after its reservation runs to a known
// outcome, and the cancelled request gets no response.
func TestMCPCancelledPay(t *testing.T) {
	e := twoAgents(t, web.Options{})
	user := e.st.NewUser(t, 100*usdc)
	k := e.st.Fund(t, agent, user, 10*usdc, "")
	v := "2025-06-18"
	id := e.open(apiKey, v)
	call := `{"jsonrpc":"2.0","id":"pay-1","method":"tools/call","params":{"name":"pay","_meta":{"progressToken":"p"},"arguments":{"session_key_id":"` +
		k.SessionKeyID + `","recipient":"` + e.st.NewUser(t, 0).Address().String() + `","amount":"2","idempotency_key":"cancel-1"}}}`
	req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/mcp", strings.NewReader(call))
	for h, val := range map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
		"Authorization": "Bearer " + apiKey, "Mcp-Session-Id": id, "MCP-Protocol-Version": v} {
		req.Header.Set(h, val)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	var rest []string
	cancelled := false
	for sc.Scan() {
		line := sc.Text()
		if !cancelled && strings.Contains(line, `"notifications/progress"`) {
			// The payment is reserved: cancel it now.
			if r, b := e.rpc(apiKey, id, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"pay-1","reason":"test"}}`, "MCP-Protocol-Version", v); r.StatusCode != 202 {
				t.Fatalf("cancel: %d %s", r.StatusCode, b)
			}
			cancelled = true
			continue
		}
		if cancelled {
			rest = append(rest, line)
		}
	}
	if !cancelled {
		t.Fatal("no progress before the response")
	}
	for _, line := range rest {
		if strings.Contains(line, `"id":"pay-1"`) {
			t.Fatalf("the cancelled request got a response: %s", line)
		}
	}
	waitUntil(t, func() bool {
		after, _ := e.st.Service.Status(ctx, agent, k.SessionKeyID)
		return after.TransactionCount == 1 && after.RemainingAmount == "8.00" && after.ReservedAmount == "0.00"
	})
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("timed out")
}
