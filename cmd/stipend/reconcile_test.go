package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/wallet"
)

// TestReconcileCLI: `stipend reconcile` exits 0 while chain and ledger agree,
// and 1 with both figures and the reconciler's action when someone sends
// tokens to a revoked key; the reconciler returns them to the owner and the
// command agrees again.
func TestReconcileCLI(t *testing.T) {
	chain := testenv.Chain(t)
	env := serverEnv(t, chain.URL, chain.Mint.String())
	admin := "stpadm_reconcile_test_token"
	addr := freeAddr(t)
	env = append(env, "STIPEND_ADMIN_TOKEN_SHA256="+stipend.TokenSHA256(admin))
	srv := exec.Command(binary(t), "serve", "--http", addr)
	srv.Env = append(os.Environ(), env...)
	var srvErr syncBuffer
	srv.Stderr = &srvErr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() { _ = srv.Process.Kill(); <-exited })
	base := "http://" + addr
	waitHealthy(t, base, exited, &srvErr)
	cli := with(env, "STIPEND_SERVER="+base, "STIPEND_ADMIN_TOKEN="+admin)

	ctx := context.Background()
	user := testenv.Wallet(t, chain, 50_000_000)
	r := runCLI(t, cli, "session-keys", "create", "--agent-id", "bot", "--wallet", user.PublicKey().String(), "--max-amount", "20", "--json")
	var created struct {
		SessionKeyID      string `json:"session_key_id"`
		SessionKeyAddress string `json:"session_key_address"`
		ApprovalURL       string `json:"approval_url"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil || r.code != 0 {
		t.Fatalf("create: %+v %v", r, err)
	}
	testenv.ApproveLink(t, created.ApprovalURL, user)
	if r = runCLI(t, cli, "reconcile"); r.code != 0 || !strings.Contains(r.stdout, "agree") {
		t.Fatalf("reconcile with everything in place: %+v", r)
	}
	if r = runCLI(t, cli, "session-keys", "revoke", created.SessionKeyID); r.code != 0 {
		t.Fatalf("revoke: %+v", r)
	}
	// Someone sends tokens to the revoked key's address.
	key := solana.MustPublicKeyFromBase58(created.SessionKeyAddress)
	if _, err := chain.MintTo(ctx, key, 3_000_000); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, cli, "reconcile")
	if r.code != 1 || !strings.Contains(r.stdout, created.SessionKeyID) || !strings.Contains(r.stdout, "3.00") ||
		!strings.Contains(r.stdout, "returning") || !strings.Contains(r.stderr, "disagree") {
		t.Fatalf("reconcile with tokens on a revoked key: %+v", r)
	}
	ch, err := wallet.New(wallet.Config{RPCURL: chain.URL, Mint: chain.Mint, Decimals: chain.Decimals})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = runCLI(t, cli, "reconcile")
		if b, _ := ch.TokenBalance(ctx, user.PublicKey()); r.code == 0 && b == 53_000_000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reconciler did not return the tokens: %+v\n%s", r, srvErr.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}
