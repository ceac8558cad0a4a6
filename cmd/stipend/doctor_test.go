package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/internal/testenv"
)

// TestDoctor runs `stipend doctor` against the local chain and the test
// Redis: a good configuration passes every check; each broken one fails the
// check it breaks, says what to fix, and exits 1 (the other checks still run).
func TestDoctor(t *testing.T) {
	ln := testenv.Chain(t)
	ctx := context.Background()
	payer := solana.NewWallet().PrivateKey
	if err := ln.Airdrop(ctx, payer.PublicKey(), solana.LAMPORTS_PER_SOL); err != nil {
		t.Fatal(err)
	}
	broke := solana.NewWallet().PrivateKey // a fee payer without SOL
	holder := solana.NewWallet().PrivateKey
	if _, err := ln.MintTo(ctx, holder.PublicKey(), 1); err != nil {
		t.Fatal(err)
	}
	holderATA, _, _ := solana.FindAssociatedTokenAddress(holder.PublicKey(), ln.Mint)
	secret := func(k solana.PrivateKey) string { return k.String() }
	good := map[string]string{
		"STIPEND_RPC_URL":     ln.URL,
		"STIPEND_WS_URL":      ln.WSURL,
		"STIPEND_MINT":        ln.Mint.String(),
		"STIPEND_DECIMALS":    "6",
		"STIPEND_CLUSTER":     "solana:localnet",
		"STIPEND_FEE_PAYER":   secret(payer),
		"STIPEND_REDIS_URL":   "redis://127.0.0.1:6379/0",
		"STIPEND_MASTER_KEYS": masterKey(t, "k1"),
	}
	tests := []struct {
		name     string
		change   map[string]string
		wantCode int
		want     []string // lines or fragments the output must hold
	}{
		{"good", nil, exitOK, []string{"ok    config", "ok    rpc", "ok    ws", "ok    mint", "SPL Token mint, 6 decimals",
			"ok    fee_payer    " + payer.PublicKey().String() + " holds 1.000000000 SOL", "ok    priority", "ok    redis", "All checks passed."}},
		{"no fee payer, embedded store", map[string]string{"STIPEND_FEE_PAYER": "", "STIPEND_REDIS_URL": ""}, exitOK,
			[]string{"ok    fee_payer    none", "warn  redis        none configured", "All checks passed."}},
		{"websocket down: a warning", map[string]string{"STIPEND_WS_URL": "ws://127.0.0.1:1"}, exitOK,
			[]string{"warn  ws", "ws://127.0.0.1:1 does not accept a websocket", "confirmations will poll", "All checks passed."}},
		{"wrong decimals", map[string]string{"STIPEND_DECIMALS": "9"}, exitFail,
			[]string{"FAIL  mint", "has 6 decimals; the configuration says 9", "fix: set decimals: 6", "ok    redis", "1 check(s) failed."}},
		{"mint missing", map[string]string{"STIPEND_MINT": solana.NewWallet().PublicKey().String()}, exitFail,
			[]string{"FAIL  mint", "does not exist on solana:localnet", "fix: set mint"}},
		{"a token account as mint", map[string]string{"STIPEND_MINT": holderATA.String()}, exitFail,
			[]string{"FAIL  mint", "not a mint"}},
		{"a wallet as mint", map[string]string{"STIPEND_MINT": payer.PublicKey().String()}, exitFail,
			[]string{"FAIL  mint", "is not a token mint (owned by 11111111111111111111111111111111)"}},
		{"fee payer without SOL", map[string]string{"STIPEND_FEE_PAYER": secret(broke)}, exitFail,
			[]string{"FAIL  fee_payer", broke.PublicKey().String() + " has no SOL", "fix: send SOL to " + broke.PublicKey().String()}},
		{"RPC unreachable", map[string]string{"STIPEND_RPC_URL": "http://127.0.0.1:1"}, exitFail,
			[]string{"FAIL  rpc", "http://127.0.0.1:1 does not answer", "ok    redis"}},
		{"fallback unreachable", map[string]string{"STIPEND_RPC_FALLBACK_URLS": "http://127.0.0.1:1/?api-key=SECRET"}, exitFail,
			[]string{"ok    rpc", "FAIL  rpc", "http://127.0.0.1:1 does not answer", "ok    mint"}},
		{"wrong cluster", map[string]string{"STIPEND_CLUSTER": "solana:devnet"}, exitFail,
			[]string{"FAIL  rpc", "serves an unknown cluster", "set cluster: solana:localnet"}},
		{"Redis unreachable", map[string]string{"STIPEND_REDIS_URL": "redis://127.0.0.1:1/0"}, exitFail,
			[]string{"ok    mint", "FAIL  redis", "127.0.0.1:1 does not answer PING", "fix: start Redis"}},
		{"bad setting", map[string]string{"STIPEND_PRIORITY_FEE_PERCENTILE": "101"}, exitFail,
			[]string{"FAIL  config", "priority_fee_percentile: 101: want 1 to 100"}},
		{"no master key", map[string]string{"STIPEND_MASTER_KEYS": ""}, exitFail,
			[]string{"FAIL  config", "master_keys: required", "stipend keygen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range good {
				vars[k] = v
			}
			for k, v := range tt.change {
				vars[k] = v
			}
			var out, errb bytes.Buffer
			code := run(ctx, []string{"doctor"}, env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
				getenv: func(k string) string { return vars[k] }})
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d", code, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if strings.Contains(out.String()+errb.String(), "SECRET") {
				t.Error("doctor printed an RPC URL's API key")
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
			}
		})
	}
}

// TestDevnetConfig: configs/devnet.yaml, with a master key from the
// environment as the README says, is a valid devnet configuration.
func TestDevnetConfig(t *testing.T) {
	rt, err := loadAndCheck(t, map[string]string{"STIPEND_CONFIG": "../../configs/devnet.yaml", "STIPEND_MASTER_KEYS": masterKey(t, "k1")})
	if err != nil {
		t.Fatal(err)
	}
	if rt.Cluster != "solana:devnet" || rt.Mint.String() != "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU" || rt.Decimals != 6 ||
		rt.RPCURL != "https://api.devnet.solana.com" || rt.Redis != nil || rt.PriorityFeePercentile != 75 || rt.StdioAgentID != "claude-desktop" {
		t.Fatalf("%+v", rt.Config)
	}
}
