package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/webhook"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the stipend binary once per test run.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stipend-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "stipend")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// syncBuffer is a buffer safe to write from a process and read from the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func readFile(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}

// serverEnv is the environment of a server on the real Redis (a prefix of
// its own) and a local chain.
func serverEnv(t testing.TB, chainURL, mint string) []string {
	t.Helper()
	testenv.Redis(t) // skips (or fails in CI) without Redis
	return []string{
		"STIPEND_REDIS_URL=redis://" + testenv.RedisAddr() + "/0",
		"STIPEND_REDIS_PREFIX=stipendclitest" + policy.NewID("")[:10],
		"XDG_STATE_HOME=" + t.TempDir(), // the default audit sink, the test's own
		"STIPEND_RPC_URL=" + chainURL,
		"STIPEND_MINT=" + mint,
		"STIPEND_CLUSTER=solana:localnet",
		"STIPEND_MASTER_KEYS=" + masterKey(t, "k1"),
		"STIPEND_SWEEP_INTERVAL=1s",
	}
}

// cliResult is the outcome of one CLI run.
type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// TestCLIAgainstServer runs `stipend serve --http` on Redis and a local
// chain, and the operator's commands against it.
func TestCLIAgainstServer(t *testing.T) {
	chain := testenv.Chain(t)
	env := serverEnv(t, chain.URL, chain.Mint.String())
	sinkPath := filepath.Join(t.TempDir(), "audit.jsonl")
	env = append(env, "STIPEND_AUDIT_FILE="+sinkPath)
	admin := "stpadm_cli_test_token"
	addr := freeAddr(t)
	env = append(env, "STIPEND_ADMIN_TOKEN_SHA256="+stipend.TokenSHA256(admin), "STIPEND_API_KEYS=bot:"+stipend.TokenSHA256("stp_bot"))

	// A webhook receiver checking signatures.
	var hooksMu sync.Mutex
	var events []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := webhook.VerifyRequest(r, "whsec_test")
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		var ev webhook.Event
		_ = json.Unmarshal(body, &ev)
		hooksMu.Lock()
		events = append(events, ev.Type)
		hooksMu.Unlock()
	}))
	defer receiver.Close()
	sawEvent := func(name string) bool {
		hooksMu.Lock()
		defer hooksMu.Unlock()
		return slices.Contains(events, name)
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // refuses connections
	cfgFile := writeFile(t, "webhooks:\n  - name: ops\n    url: "+receiver.URL+"\n    secret: whsec_test\n"+
		"  - name: down\n    url: "+down.URL+"\n    secret: s\n    events: [session_key.revoked]\n    timeout: 2s\n    slots: 2\n")

	srv := exec.Command(binary(t), "serve", "--http", addr, "--config", cfgFile)
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

	cli := with(env, "STIPEND_SERVER="+base, "STIPEND_ADMIN_TOKEN="+admin)

	// A user with 500 USDC.
	user := testenv.Wallet(t, chain, 500_000_000)
	w := user.PublicKey().String()

	// create (text), then the same through --json to read the ids.
	r := runCLI(t, cli, "session-keys", "create", "--agent-id", "bot", "--wallet", w, "--max-amount", "100", "--expiry-hours", "24")
	if r.code != 0 || !strings.Contains(r.stdout, "pending_approval") || !strings.Contains(r.stdout, "Approval URL:") ||
		!strings.Contains(r.stdout, base+"/approve/") {
		t.Fatalf("create: %+v", r)
	}
	r = runCLI(t, cli, "session-keys", "create", "--agent-id", "bot", "--wallet", w, "--max-amount", "100", "--json")
	var created struct {
		SessionKeyID string `json:"session_key_id"`
		Status       string `json:"status"`
		ApprovalURL  string `json:"approval_url"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil || r.code != 0 || created.Status != "pending_approval" {
		t.Fatalf("create --json: %+v %v", r, err)
	}
	id := created.SessionKeyID

	// The owner approves through the server's approval endpoint.
	testenv.ApproveLink(t, created.ApprovalURL, user)

	r = runCLI(t, cli, "session-keys", "status", id)
	if r.code != 0 || !strings.Contains(r.stdout, "Status:") || !fieldIs(r.stdout, "Status", "active") || !fieldIs(r.stdout, "Remaining", "100.00") {
		t.Fatalf("status: %+v", r)
	}
	r = runCLI(t, cli, "session-keys", "list", "--agent-id", "bot")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "SESSION KEY") || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "Total: 2") {
		t.Fatalf("list: %+v", r)
	}
	r = runCLI(t, cli, "session-keys", "list", "--agent-id", "nobody")
	if r.code != 0 || !strings.Contains(r.stdout, "Total: 0") {
		t.Fatalf("list of nobody: %+v", r)
	}

	// A session, linked.
	r = runCLI(t, cli, "sessions", "create", "--agent-id", "bot", "--wallet", w, "--max-per-transaction", "25", "--max-per-day", "100", "--json")
	var sess service.SessionView
	if err := json.Unmarshal([]byte(r.stdout), &sess); err != nil || r.code != 0 || sess.MaxPerTransaction != "25.00" {
		t.Fatalf("sessions create: %+v %v", r, err)
	}
	r = runCLI(t, cli, "sessions", "link", id, sess.SessionID)
	if r.code != 0 || !fieldIs(r.stdout, "Linked session", sess.SessionID) || !fieldIs(r.stdout, "Max per transaction", "25.00") {
		t.Fatalf("sessions link: %+v", r)
	}
	// The fresh attestation after the link verifies offline (no server); an altered one does not.
	r = runCLI(t, cli, "session-keys", "status", id, "--json")
	attFile := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(attFile, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, nil, "attestation", "verify", attFile)
	if r.code != 0 || !strings.Contains(r.stdout, "valid") || !fieldIs(r.stdout, "Linked session", sess.SessionID) {
		t.Fatalf("attestation verify: %+v", r)
	}
	forged := strings.Replace(mustRead(t, attFile), `"max_amount": "100.00"`, `"max_amount": "900.00"`, 1)
	if err := os.WriteFile(attFile, []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	if r = runCLI(t, nil, "attestation", "verify", attFile); r.code != 1 || !strings.Contains(r.stderr, "invalid_signature") {
		t.Fatalf("attestation verify of an altered key: %+v", r)
	}
	r = runCLI(t, cli, "session-keys", "can-afford", id, "--amount", "30")
	if r.code != 0 || !fieldIs(r.stdout, "Allowed", "false") || !strings.Contains(r.stdout, "per_transaction_limit") {
		t.Fatalf("can-afford: %+v", r)
	}
	r = runCLI(t, cli, "sessions", "unlink", id)
	if r.code != 0 || !strings.Contains(r.stdout, "Approval URL") || !strings.Contains(r.stdout, "stays linked") {
		t.Fatalf("sessions unlink (the owner must sign): %+v", r)
	}
	r = runCLI(t, cli, "session-keys", "status", id)
	if r.code != 0 || !fieldIs(r.stdout, "Linked session", sess.SessionID) {
		t.Fatalf("unlinked before the owner signed: %+v", r)
	}
	r = runCLI(t, cli, "sessions", "unlink", id, "--force")
	if r.code != 0 || strings.Contains(r.stdout, "Linked session") {
		t.Fatalf("sessions unlink --force: %+v", r)
	}
	// The audit chain verifies across the audit sink (entries moved there
	// every sweep interval) and Redis.
	for i := 0; i < 100 && !strings.Contains(readFile(sinkPath), w); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(readFile(sinkPath), w) {
		t.Fatalf("no audit entry of %s reached the audit sink %s", w, sinkPath)
	}
	r = runCLI(t, cli, "audit", "verify", id)
	if r.code != 0 || !strings.Contains(r.stdout, w) || !strings.Contains(r.stdout, "ok") {
		t.Fatalf("audit verify: %+v", r)
	}
	r = runCLI(t, cli, "audit", "show", "--wallet", w)
	if r.code != 0 || !strings.Contains(r.stdout, "session_key.activated") {
		t.Fatalf("audit show: %+v", r)
	}

	// Revoke: what is left goes back to the owner.
	r = runCLI(t, cli, "session-keys", "revoke", id, "--reason", "cli test")
	if r.code != 0 || !fieldIs(r.stdout, "Status", "revoked") || !fieldIs(r.stdout, "Swept to owner", "100.00 USDC") {
		t.Fatalf("revoke: %+v", r)
	}

	// Webhooks: a test event on demand; the ledger's events at least once.
	r = runCLI(t, cli, "webhooks", "test", "ops")
	if r.code != 0 || !strings.Contains(r.stdout, "delivered") || !sawEvent("webhook.test") {
		t.Fatalf("webhooks test: %+v", r)
	}
	if r := runCLI(t, cli, "webhooks", "test", "nope"); r.code != 1 || !strings.Contains(r.stderr, "not_found") {
		t.Fatalf("webhooks test of an unknown endpoint: %+v", r)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !(sawEvent("session_key.activated") && sawEvent("session_key.revoked")) {
		if time.Now().After(deadline) {
			hooksMu.Lock()
			t.Fatalf("webhook events: %v", events)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r = runCLI(t, cli, "webhooks", "dead")
	if r.code != 0 || !strings.Contains(r.stdout, "Total: 0") {
		t.Fatalf("webhooks dead: %+v", r)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r = runCLI(t, cli, "webhooks", "status")
		f, d := rowOf(r.stdout, "ops"), rowOf(r.stdout, "down")
		if r.code == 0 && strings.HasPrefix(r.stdout, "ENDPOINT") && len(f) > 2 && f[1] == "ok" && f[2] == "0" &&
			len(d) > 4 && d[1] == "failing" && d[2] == "1" && d[3] != "-" && strings.Contains(r.stdout, "connection refused") {
			break // ops healthy, nothing undelivered; down failing with the revocation waiting
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks status: %+v", r)
		}
	}
	r = runCLI(t, cli, "webhooks", "status", "--json")
	var hooks struct {
		Endpoints []stipend.WebhookEndpoint `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &hooks); err != nil || len(hooks.Endpoints) != 2 || hooks.Endpoints[0].Slots != 8 ||
		hooks.Endpoints[0].RetryWindowSeconds != 72*3600 || hooks.Endpoints[0].LastSuccessAt == "" ||
		hooks.Endpoints[1].Slots != 2 || hooks.Endpoints[1].TimeoutSeconds != 2 || hooks.Endpoints[1].State != "failing" ||
		hooks.Endpoints[1].OldestUndeliveredAt == "" {
		t.Fatalf("webhooks status --json: %+v %v", r, err)
	}
	if resp, err := http.Get(base + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`stipend_webhook_endpoint_failing{endpoint="ops"} 0`, `stipend_webhook_backlog_events{endpoint="ops"} 0`,
			`stipend_webhook_endpoint_failing{endpoint="down"} 1`, `stipend_webhook_backlog_events{endpoint="down"} 1`,
			`stipend_webhook_oldest_undelivered_age_seconds{endpoint="ops"} 0`, `stipend_webhook_attempts_total{endpoint="ops",outcome="delivered"}`} {
			if !strings.Contains(string(m), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	}

	// Refusals and usage errors.
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{"not found", cli, []string{"session-keys", "status", "sk_doesnotexist"}, 1, "not_found"},
		{"top-up revoked", cli, []string{"session-keys", "top-up", id, "--amount", "5"}, 1, "revoked"},
		{"bad amount", cli, []string{"session-keys", "create", "--agent-id", "bot", "--wallet", w, "--max-amount", "0"}, 1, "invalid_argument"},
		{"wrong admin token", with(cli, "STIPEND_ADMIN_TOKEN=wrong"), []string{"session-keys", "list"}, 1, "unauthorized"},
		{"no admin token", with(cli, "STIPEND_ADMIN_TOKEN="), []string{"session-keys", "list"}, 2, "admin token"},
		{"missing flags", cli, []string{"session-keys", "create", "--agent-id", "bot"}, 2, "required"},
		{"not an id", cli, []string{"session-keys", "status", "abc"}, 2, "sk_"},
		{"unknown subcommand", cli, []string{"session-keys", "frobnicate"}, 2, "unknown command"},
		{"unknown flag", cli, []string{"session-keys", "list", "--nope"}, 2, "nope"},
		{"unknown command", cli, []string{"frobnicate"}, 2, "unknown command"},
		{"no server", with(cli, "STIPEND_SERVER=http://"+freeAddr(t)), []string{"session-keys", "list"}, 1, "cannot reach"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}

	// An entry edited in the audit sink breaks the chain: verify says so.
	lines := strings.Split(readFile(sinkPath), "\n")
	for i, l := range lines {
		if strings.Contains(l, w) && strings.Contains(l, "session_key.activated") {
			lines[i] = strings.Replace(l, "session_key.activated", "session_key.revoked", 1)
			break
		}
	}
	if err := os.WriteFile(sinkPath, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, cli, "audit", "verify", id); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "audit_broken") {
		t.Fatalf("audit verify of an edited sink: %+v", r)
	}

	// Graceful shutdown on SIGTERM.
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("server exit: %v\n%s", err, srvErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not stop on SIGTERM:\n%s", srvErr.String())
	}
	if !strings.Contains(srvErr.String(), "stipend stopped") || srvOut.String() != "" {
		t.Fatalf("shutdown: stdout %q, stderr:\n%s", srvOut.String(), srvErr.String())
	}
}

// with returns a copy of env with more variables.
func with(env []string, kv ...string) []string {
	return append(append([]string(nil), env...), kv...)
}

// rowOf returns the fields of the table row whose first column is first.
func rowOf(out, first string) []string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == first {
			return f
		}
	}
	return nil
}

// fieldIs reports whether a key/value table has label: value.
func fieldIs(out, label, value string) bool {
	for _, line := range strings.Split(out, "\n") {
		if l, v, ok := strings.Cut(line, ":"); ok && l == label && strings.TrimSpace(v) == value {
			return true
		}
	}
	return false
}

func waitHealthy(t testing.TB, base string, exited chan error, stderr *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("server exited: %v\n%s", err, stderr.String())
		default:
		}
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server not healthy:\n%s", stderr.String())
}

// TestStdio runs `stipend serve` as an MCP host would: stdout must carry
// JSON-RPC and nothing else, the logs go to stderr.
func TestStdio(t *testing.T) {
	env := serverEnv(t, "http://127.0.0.1:1", testMint)
	env = append(env, "STIPEND_LISTEN="+freeAddr(t), "STIPEND_STDIO_AGENT_ID=desktop")

	// By hand: every stdout line is a JSON-RPC message.
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	send := func(v string) {
		if _, err := io.WriteString(stdin, v+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`)
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"status","arguments":{"session_key_id":"sk_doesnotexist"}}}`)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	got := map[float64]map[string]any{}
	timeout := time.After(30 * time.Second)
	for len(got) < 2 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stdout closed early; stderr:\n%s", stderr.String())
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil || m["jsonrpc"] != "2.0" {
				t.Fatalf("stdout line is not JSON-RPC: %q", l)
			}
			if id, ok := m["id"].(float64); ok {
				got[id] = m
			}
		case <-timeout:
			t.Fatalf("no answers; stderr:\n%s", stderr.String())
		}
	}
	if got[1]["result"] == nil || !strings.Contains(fmt.Sprint(got[2]["result"]), "not_found") {
		t.Fatalf("answers: %v", got)
	}
	_ = stdin.Close() // the host goes away: the server stops
	for l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["jsonrpc"] != "2.0" {
			t.Fatalf("stdout line is not JSON-RPC: %q", l)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "serving MCP on stdio") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}

	// Through mcp-go's stdio client.
	c, err := client.NewStdioMCPClient(binary(t), env, "serve", "--listen", "off")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "cli-test", Version: "0"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ir, err := c.Initialize(ctx, init)
	if err != nil || ir.ServerInfo.Name != "stipend" {
		t.Fatalf("initialize: %+v %v", ir, err)
	}
	tl, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tool := range tl.Tools {
		names[tool.Name] = true
	}
	for _, want := range []string{"create_session_key", "can_afford", "pay", "status", "top_up_request", "list_session_keys", "revoke_session_key"} {
		if !names[want] {
			t.Errorf("tool %s missing", want)
		}
	}
}

// TestServeBadConfig: a bad setting is named before anything is served.
func TestServeBadConfig(t *testing.T) {
	r := runCLI(t, []string{"STIPEND_RPC_URL=http://127.0.0.1:1", "STIPEND_MINT=" + testMint, "STIPEND_MASTER_KEYS=k1:short"}, "serve", "--http", freeAddr(t))
	if r.code != 1 || !strings.HasPrefix(r.stderr, "config: master_keys:") || r.stdout != "" {
		t.Fatalf("%+v", r)
	}
	r = runCLI(t, []string{"STIPEND_RPC_URL=http://127.0.0.1:1", "STIPEND_MINT=" + testMint, "STIPEND_MASTER_KEYS=" + masterKey(t, "k1"),
		"STIPEND_REDIS_URL=redis://127.0.0.1:1/0"}, "serve", "--http", freeAddr(t))
	if r.code != 1 || !strings.HasPrefix(r.stderr, "config: redis_url: cannot reach") {
		t.Fatalf("%+v", r)
	}
	if r := runCLI(t, nil, "serve", "extra"); r.code != 2 {
		t.Fatalf("extra argument: %+v", r)
	}
}

func TestKeygen(t *testing.T) {
	r := runCLI(t, nil, "keygen", "--json", "--agent-id", "bot")
	var s stipend.Secrets
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || r.code != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	if stipend.TokenSHA256(s.APIKey) != s.APIKeySHA256 || stipend.TokenSHA256(s.AdminToken) != s.AdminTokenSHA256 || s.AgentID != "bot" {
		t.Fatalf("%+v", s)
	}
	// What keygen prints is a config the server accepts.
	r = runCLI(t, nil, "keygen")
	p := writeFile(t, r.stdout+"\nrpc_url: http://127.0.0.1:8899\nmint: "+testMint+"\n")
	rt, err := loadAndCheck(t, map[string]string{"STIPEND_CONFIG": p})
	if err != nil || rt.AdminToken == nil || len(rt.APIKeys) != 1 || rt.Sealer == nil {
		t.Fatalf("keygen output as config: %+v %v\n%s", rt, err, r.stdout)
	}
}

// TestDemo runs the demo end to end.
func TestDemo(t *testing.T) {
	testenv.Chain(t) // skips (or fails in CI) without Node.js and the localnet packages
	var out, errb syncBuffer
	code := run(context.Background(), []string{"demo"}, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }})
	if code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	wants := []string{"create_session_key", "refused (insufficient_funds)", "refused (per_transaction_limit)",
		"user 470.01 | session key 0.00 | shop 29.99", "every step behaved as expected"}
	if !strings.Contains(out.String(), "x402 step skipped") || os.Getenv("CI") == "true" {
		wants = append(wants, "on chain: seller 0.01 USDC, key 0.99 USDC")
	}
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
