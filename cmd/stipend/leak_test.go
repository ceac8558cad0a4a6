package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/testenv"
)

// Secrets carried by the infrastructure URLs in TestNoInfrastructureURLInOutputs.
const (
	leakRPCUser   = "rpcuser-7f3a19"
	leakRPCPass   = "rpcpass-9b2c44"
	leakRPCPath   = "tok-path-51e0c8"
	leakRPCKey    = "APIKEY-d41d8cd98f"
	leakRedisPass = "redispass-5e6f02"
)

// TestNoInfrastructureURLInOutputs runs `stipend serve --http` with an RPC URL
// and a Redis URL that carry secrets (user:pass@, a key in the path,
// ?api-key=), works, then breaks the RPC (an HTML error page, then dropped
// connections) and Redis (killed), and searches everything the server said
// for the secrets: readiness, metrics, tool results over MCP, admin API
// answers, the CLI's output and the server's logs. Logs may name the
// endpoints by scheme and host.
func TestNoInfrastructureURLInOutputs(t *testing.T) {
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("SKIPPING: redis-server is not installed")
	}
	chain := testenv.Chain(t)

	// A Redis of its own that needs a password, so the test can kill it.
	redisAddr := freeAddr(t)
	_, redisPort, _ := net.SplitHostPort(redisAddr)
	rs := exec.Command(redisBin, "--port", redisPort, "--bind", "127.0.0.1", "--requirepass", leakRedisPass,
		"--save", "", "--appendonly", "no")
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	var killRedis sync.Once
	stopRedis := func() { killRedis.Do(func() { _ = rs.Process.Kill(); _ = rs.Wait() }) }
	t.Cleanup(stopRedis)
	waitTCP(t, redisAddr)

	// The RPC behind a proxy that wants the credentials of the URL, and can break.
	var mode atomic.Value
	mode.Store("ok")
	target, _ := url.Parse(chain.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		if u != leakRPCUser || p != leakRPCPass || r.URL.Query().Get("api-key") != leakRPCKey || !strings.Contains(r.URL.Path, leakRPCPath) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch mode.Load() {
		case "html":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
			return
		case "drop":
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					_ = c.Close()
				}
			}
			return
		}
		r.URL.Path, r.URL.RawQuery = "/", ""
		r.Header.Del("Authorization")
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	rpcURL := "http://" + leakRPCUser + ":" + leakRPCPass + "@" + pu.Host + "/" + leakRPCPath + "/v1?api-key=" + leakRPCKey
	redisURL := "redis://default:" + leakRedisPass + "@" + redisAddr + "/0"
	secrets := []string{leakRPCUser, leakRPCPass, leakRPCPath, leakRPCKey, leakRedisPass, "api-key="}

	admin, agentKey := "stpadm_leak_test", "stp_leak_bot"
	addr := freeAddr(t)
	env := []string{
		"STIPEND_REDIS_URL=" + redisURL,
		"XDG_STATE_HOME=" + t.TempDir(), // the default audit sink, the test's own
		"STIPEND_RPC_URL=" + rpcURL,
		"STIPEND_MINT=" + chain.Mint.String(),
		"STIPEND_CLUSTER=solana:localnet",
		"STIPEND_MASTER_KEYS=" + masterKey(t, "k1"),
		"STIPEND_ADMIN_TOKEN_SHA256=" + stipend.TokenSHA256(admin),
		"STIPEND_API_KEYS=bot:" + stipend.TokenSHA256(agentKey),
		"STIPEND_LOG_LEVEL=debug",
		"STIPEND_SWEEP_INTERVAL=1s",
	}
	srv := exec.Command(binary(t), "serve", "--http", addr)
	srv.Env = append(os.Environ(), env...)
	var srvOut, srvErr syncBuffer
	srv.Stdout, srv.Stderr = &srvOut, &srvErr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		<-exited
	})
	base := "http://" + addr
	waitHealthy(t, base, exited, &srvErr)

	var seen bytes.Buffer // everything any client was told
	say := func(what string, b []byte) { seen.WriteString("\n--- " + what + "\n"); seen.Write(b) }
	get := func(path, token string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		say("GET "+path, b)
	}
	post := func(path string, body any) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		say("POST "+path, b)
	}
	mcpc, err := client.NewStreamableHttpClient(base+"/mcp", transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + agentKey}))
	if err != nil {
		t.Fatal(err)
	}
	defer mcpc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	init.Params.ClientInfo = mcp.Implementation{Name: "leak-test", Version: "0"}
	if _, err := mcpc.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	tool := func(name string, args map[string]any) map[string]any {
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = name, args
		res, err := mcpc.CallTool(ctx, req)
		if err != nil {
			say("tool "+name+" (protocol error)", []byte(err.Error()))
			return nil
		}
		b, _ := json.Marshal(res)
		say("tool "+name, b)
		var m map[string]any
		sc, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(sc, &m)
		return m
	}
	cli := func(args ...string) {
		r := runCLI(t, []string{"STIPEND_SERVER=" + base, "STIPEND_ADMIN_TOKEN=" + admin}, args...)
		say("cli "+strings.Join(args, " "), []byte(r.stdout+r.stderr))
	}

	// Working: an active key.
	owner := testenv.Wallet(t, chain, 100_000_000)
	m := tool("create_session_key", map[string]any{"user_wallet": owner.PublicKey().String(), "max_amount": "20"})
	if m == nil || m["approval_url"] == nil {
		t.Fatalf("create_session_key while everything works: %v\n%s", m, srvErr.String())
	}
	keyID := m["session_key_id"].(string)
	testenv.ApproveLink(t, m["approval_url"].(string), owner)
	shop, _ := solana.NewRandomPrivateKey()

	exercise := func(phase string) {
		get("/readyz", "")
		get("/metrics", "")
		tool("create_session_key", map[string]any{"user_wallet": owner.PublicKey().String(), "max_amount": "5"})
		tool("pay", map[string]any{"session_key_id": keyID, "recipient": shop.PublicKey().String(), "amount": "1", "idempotency_key": phase})
		tool("status", map[string]any{"session_key_id": keyID})
		tool("top_up_request", map[string]any{"session_key_id": keyID, "amount": "1"})
		tool("list_session_keys", map[string]any{})
		get("/admin/session-keys/"+keyID, admin)
		post("/admin/session-keys", map[string]any{"agent_id": "bot", "user_wallet": owner.PublicKey().String(), "max_amount": "5"})
		post("/admin/session-keys/"+keyID+"/top-up", map[string]any{"amount": "1"})
		cli("session-keys", "create", "--agent-id", "bot", "--wallet", owner.PublicKey().String(), "--max-amount", "5")
		cli("session-keys", "status", keyID)
	}
	mode.Store("html")
	exercise("rpc-html")
	mode.Store("drop")
	exercise("rpc-drop")
	tool("revoke_session_key", map[string]any{"session_key_id": keyID}) // the sweep fails
	stopRedis()
	exercise("redis-down")
	if !strings.Contains(seen.String(), `"rpc":"unreachable"`) || !strings.Contains(seen.String(), `"redis":"unreachable"`) {
		t.Fatalf("readiness never said unreachable:\n%s", seen.String())
	}

	_ = srv.Process.Signal(os.Interrupt)
	select {
	case <-exited:
		exited <- nil
	case <-time.After(20 * time.Second):
	}
	logs := srvErr.String() + srvOut.String()
	for _, s := range secrets {
		if i := strings.Index(seen.String(), s); i >= 0 {
			t.Errorf("a client was told %q: …%s…", s, excerpt(seen.String(), i))
		}
		if i := strings.Index(logs, s); i >= 0 {
			t.Errorf("the log holds %q: …%s…", s, excerpt(logs, i))
		}
	}
	if !strings.Contains(logs, "http://"+pu.Host) {
		t.Errorf("the log never names the RPC by scheme and host (http://%s)", pu.Host)
	}
	if t.Failed() {
		t.Logf("told to clients:\n%s", seen.String())
	}
}

func excerpt(s string, i int) string {
	return s[max(0, i-200):min(len(s), i+100)]
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}
