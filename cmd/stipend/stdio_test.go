package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/wallet"
)

func stdioCall(t testing.TB, c *client.Client, name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
	t.Helper()
	var m map[string]any
	res := testenv.CallTool(t, c, name, args, &m)
	return res, m
}

// TestStdioTools drives every tool over stdio against the built binary, on
// the real Redis and the local chain, as an MCP host would; the owner
// approves through the approval endpoint the same process serves.
func TestStdioTools(t *testing.T) {
	ln := testenv.Chain(t)
	listen := freeAddr(t)
	env := append(serverEnv(t, ln.URL, ln.Mint.String()), "STIPEND_LISTEN="+listen, "STIPEND_STDIO_AGENT_ID=desktop")
	c, err := client.NewStdioMCPClient(binary(t), env, "serve")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	init.Params.ClientInfo = mcp.Implementation{Name: "stdio-test", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	owner := testenv.Wallet(t, ln, 200_000_000)
	waitHealthy(t, "http://"+listen, nil, &syncBuffer{})

	res, m := stdioCall(t, c, "create_session_key", map[string]any{"user_wallet": owner.PublicKey().String(), "max_amount": "50"})
	if res.IsError || m["status"] != "pending_approval" {
		t.Fatalf("create_session_key: %v", m)
	}
	id := m["session_key_id"].(string)
	testenv.ApproveLink(t, m["approval_url"].(string), owner)
	if _, m = stdioCall(t, c, "status", map[string]any{"session_key_id": id}); m["status"] != "active" {
		t.Fatalf("status: %v", m)
	}
	shop, _ := solana.NewRandomPrivateKey()
	if res, m = stdioCall(t, c, "can_afford", map[string]any{"session_key_id": id, "amount": "60"}); res.IsError || m["allowed"] != false {
		t.Fatalf("can_afford: %v", m)
	}
	if res, m = stdioCall(t, c, "pay", map[string]any{"session_key_id": id, "recipient": shop.PublicKey().String(), "amount": "12.5", "idempotency_key": "x"}); res.IsError || m["status"] != "confirmed" {
		t.Fatalf("pay: %v", m)
	}
	chain, err := wallet.New(wallet.Config{RPCURL: ln.URL, Mint: ln.Mint, Decimals: ln.Decimals})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := chain.TokenBalance(ctx, shop.PublicKey()); got != 12_500_000 {
		t.Fatalf("recipient holds %d", got)
	}
	if res, m = stdioCall(t, c, "pay", map[string]any{"session_key_id": id, "recipient": "nope", "amount": "1"}); !res.IsError {
		t.Fatalf("bad recipient accepted: %v", m)
	}
	if res, m = stdioCall(t, c, "top_up_request", map[string]any{"session_key_id": id, "amount": "10"}); res.IsError || m["new_max_amount"] != "60.00" {
		t.Fatalf("top_up_request: %v", m)
	}
	if res, m = stdioCall(t, c, "list_session_keys", map[string]any{}); res.IsError || m["total"].(float64) != 1 {
		t.Fatalf("list: %v", m)
	}
	if res, m = stdioCall(t, c, "revoke_session_key", map[string]any{"session_key_id": id}); res.IsError || m["swept_amount"] != "37.50" {
		t.Fatalf("revoke: %v", m)
	}
}

// TestReadmeHostConfig runs exactly the MCP host configuration the README
// shows (command, args and env; the secret placeholders filled with keygen's
// output) over stdio, and lists the tools.
func TestReadmeHostConfig(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)### Claude Desktop.*?```json\n(.*?)```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("README has no Claude Desktop JSON block")
	}
	var cfg struct {
		MCPServers map[string]struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Env     map[string]string `json:"env"`
		} `json:"mcpServers"`
	}
	if err := json.Unmarshal(block[1], &cfg); err != nil {
		t.Fatalf("README's host config is not JSON: %v", err)
	}
	srv, ok := cfg.MCPServers["stipend"]
	if !ok || srv.Command != "stipend" {
		t.Fatalf("README's host config: %+v", cfg)
	}
	// The command is found on PATH, as the host would find it.
	dir := t.TempDir()
	if err := os.Symlink(binary(t), filepath.Join(dir, "stipend")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range srv.Env {
		if strings.Contains(v, "<") {
			v = masterKey(t, "k1") // "<output of stipend keygen>"
		}
		env = append(env, k+"="+v)
	}
	testenv.Redis(t)
	c, err := client.NewStdioMCPClient(srv.Command, env, srv.Args...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "claude-desktop-like", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	tl, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil || len(tl.Tools) != 11 {
		t.Fatalf("tools/list: %v %v", tl, err)
	}
}
