package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/internal/testenv"
)

// BenchmarkStdio measures, over stdio against the built binary (real Redis,
// local chain): a ping (the transport's floor), can_afford (the decision
// without the chain) and pay (reserve, sign, send, confirm, commit).
func BenchmarkStdio(b *testing.B) {
	t := b
	ln := testenv.Chain(b)
	listen := freeAddr(b)
	env := append(serverEnv(t, ln.URL, ln.Mint.String()), "STIPEND_LISTEN="+listen, "STIPEND_STDIO_AGENT_ID=bench")
	c, err := client.NewStdioMCPClient(binary(t), env, "serve")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	init.Params.ClientInfo = mcp.Implementation{Name: "bench", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		b.Fatal(err)
	}
	owner := testenv.Wallet(t, ln, 1_000_000_000_000)
	waitHealthy(t, "http://"+listen, nil, &syncBuffer{})
	_, m := stdioCall(t, c, "create_session_key", map[string]any{"user_wallet": owner.PublicKey().String(), "max_amount": "1000000"})
	id := m["session_key_id"].(string)
	testenv.ApproveLink(t, m["approval_url"].(string), owner)
	shop, _ := solana.NewRandomPrivateKey()
	stdioCall(t, c, "pay", map[string]any{"session_key_id": id, "recipient": shop.PublicKey().String(), "amount": "1"})

	b.Run("ping", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			//lint:ignore SA1019 the session negotiates 2025-11-25, where ping is a request the server answers
			if err := c.Ping(ctx); err != nil { //nolint:staticcheck // SA1019: the session negotiates 2025-11-25, where ping is a request the server answers
				b.Fatal(err)
			}
		}
	})
	b.Run("can_afford", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if res, _ := stdioCall(t, c, "can_afford", map[string]any{"session_key_id": id, "amount": "1"}); res.IsError {
				b.Fatal("can_afford failed")
			}
		}
	})
	b.Run("pay", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			res, m := stdioCall(t, c, "pay", map[string]any{"session_key_id": id, "recipient": shop.PublicKey().String(),
				"amount": "0.01", "idempotency_key": fmt.Sprint("bench-", i, time.Now().UnixNano())})
			if res.IsError || m["status"] != "confirmed" {
				b.Fatalf("pay: %v", m)
			}
		}
	})
}
