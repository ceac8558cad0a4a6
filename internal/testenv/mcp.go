package testenv

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/wallet"
)

// CallTool calls a tool through an MCP client (a minute at most) and decodes
// its structured content into out, when out is not nil. A transport or
// protocol error fails the test; a tool result with isError is returned for
// the test to check.
func CallTool(tb testing.TB, c *client.Client, name string, args map[string]any, out any) *mcp.CallToolResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	if out == nil || res.StructuredContent == nil {
		return res
	}
	b, err := json.Marshal(res.StructuredContent)
	if err == nil {
		err = json.Unmarshal(b, out)
	}
	// An error result's content has the error's shape: a typed out need not
	// fit it (a map does), and the test reads the result's error instead.
	if err != nil && !res.IsError {
		tb.Fatalf("%s: structured content: %v", name, err)
	}
	return res
}

// NewAddress returns the address (base58) of a fresh random Solana key.
func NewAddress(tb testing.TB) string {
	tb.Helper()
	k, err := solana.NewRandomPrivateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k.PublicKey().String()
}

// FakeWallet returns random base58 text standing in for a user_wallet in
// tests of the ledger alone (no key behind it, not a point on the curve).
func FakeWallet() string {
	const a = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	b := make([]byte, 44)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	for i := range b {
		b[i] = a[int(b[i])%len(a)]
	}
	return string(b)
}

// MasterKey returns a fresh master key (kid:base64) for a configuration.
func MasterKey(tb testing.TB, kid string) string {
	tb.Helper()
	k, err := wallet.GenerateMasterKey(kid)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}
