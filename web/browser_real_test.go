package web

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
)

// realCase is one approval the browser carries out against the real server.
type realCase struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	SecretKey string `json:"secret_key"`
	Mode      string `json:"mode"`
	Viewport  string `json:"viewport,omitempty"`
	// Retry: after unavailable, try again, and sign again when the link was
	// issued anew (a transaction whose blockhash expired while the page was
	// open cannot land: the owner signs the new one).
	Retry  bool           `json:"retry,omitempty"`
	Expect map[string]any `json:"expect"`
	// SkipOtherSize: no look at the page at the other size first.
	SkipOtherSize bool `json:"skip_other_size,omitempty"`
}

// browse runs the cases in headless Chromium (web/e2e), with the test wallet
// holding the owner's local-chain keypair; the first case's page is also
// shown at the other size.
func browse(t *testing.T, base string, cases ...realCase) {
	t.Helper()
	for i := range cases {
		cases[i].SkipOtherSize = i > 0
	}
	browserEnv(t).run(t, base, cases)
}

func pathOf(url string) string { return url[strings.Index(url, "/approve/"):] }

// TestBrowserRealServer: the approval pages served by the real handler, on the
// real Redis and the local chain, approved in Chromium by a Wallet Standard
// wallet holding the owner's keypair: a funding (the key turns active and the
// tokens are on chain), a top-up, a payment over the threshold and a signed
// unlink, and the failures that change nothing.
func TestBrowserRealServer(t *testing.T) {
	ctx := context.Background()
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	st := testenv.NewStack(t, testenv.StackOptions{PublicURL: base})
	h, err := NewHandler(Options{Service: st.Service})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)
	svc := st.Service
	owner := st.NewUser(t, 500_000_000)
	secret := owner.Key.String()

	sess, err := svc.CreateSession(ctx, service.CreateSessionInput{AgentID: "shopping-bot", UserWallet: owner.Address().String(),
		Limits: policy.Limits{PerTransaction: 50_000_000, PerDay: 100_000_000}, RequireApprovalAbove: 10_000_000})
	if err != nil {
		t.Fatal(err)
	}
	created, err := svc.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: "shopping-bot", UserWallet: owner.Address().String(),
		MaxAmount: 100_000_000, ExpiryHours: 24, SessionID: sess.SessionID})
	if err != nil {
		t.Fatal(err)
	}
	fund := pathOf(created.ApprovalURL)
	// Wrong wallet, rejected in the wallet, tampered: each refused, nothing changes; then the real approval.
	browse(t, base,
		realCase{Name: "real-fund-wrong-wallet", URL: fund, SecretKey: secret, Mode: "wrong-wallet", Expect: map[string]any{"state": "error"}},
		realCase{Name: "real-fund-reject", URL: fund, SecretKey: secret, Mode: "reject", Expect: map[string]any{"state": "error"}},
		realCase{Name: "real-fund-tamper", URL: fund, SecretKey: secret, Mode: "tamper", Expect: map[string]any{"state": "error", "code": "tampered"}},
		realCase{Name: "real-fund", URL: fund, SecretKey: secret, Mode: "ok", Retry: true, Expect: map[string]any{"state": "success", "code": "active",
			// What the page read from the transaction the service built: the SOL for the key's fees too.
			"decoded_includes": []string{"System Program · Transfer: Send 0.01 SOL from your wallet (" + owner.Address().String() + ") to the session key (" + created.SessionKeyAddress + ")",
				"Move 100.00 USDC from the token account ", "Create, unless it exists already, the token account of the session key"},
			"fee_includes": "Network fee: at most "}},
		realCase{Name: "real-fund-used", URL: fund, SecretKey: secret, Mode: "view", Viewport: "phone", Expect: map[string]any{"state": "closed"}},
	)
	k, err := svc.Status(ctx, "shopping-bot", created.SessionKeyID)
	if err != nil || k.Status != "active" {
		t.Fatalf("after the browser funding: %+v %v", k, err)
	}
	keyAddr := solana.MustPublicKeyFromBase58(created.SessionKeyAddress)
	if got := st.TokenBalance(t, keyAddr); got != 100_000_000 {
		t.Fatalf("key holds %d on chain; want 100 USDC", got)
	}

	top, err := svc.TopUpRequest(ctx, "shopping-bot", created.SessionKeyID, 20_000_000)
	if err != nil {
		t.Fatal(err)
	}
	shop := st.NewUser(t, 0).Address()
	pay, err := svc.Pay(ctx, service.PayInput{AgentID: "shopping-bot", SessionKeyID: created.SessionKeyID,
		Recipient: shop.String(), Amount: 30_000_000, Description: "Conference ticket"})
	if err != nil || pay.Status != "approval_required" {
		t.Fatalf("payment over the threshold: %+v %v", pay, err)
	}
	unlink, err := svc.RequestUnlink(ctx, "shopping-bot", created.SessionKeyID)
	if err != nil {
		t.Fatal(err)
	}
	browse(t, base,
		realCase{Name: "real-top-up", URL: pathOf(top.ApprovalURL), SecretKey: secret, Mode: "ok", Viewport: "phone", Retry: true, Expect: map[string]any{"state": "success", "code": "active",
			"decoded_includes": []string{"Move 20.00 USDC from the token account ", "Send 0.01 SOL from your wallet"}}},
		realCase{Name: "real-payment", URL: pathOf(pay.ApprovalURL), SecretKey: secret, Mode: "ok", Expect: map[string]any{"state": "success", "code": "confirmed",
			"decoded_includes": []string{"that says: “Approve a payment of 30.00 USDC to " + shop.String()}}},
		realCase{Name: "real-unlink-tamper", URL: pathOf(unlink.ApprovalURL), SecretKey: secret, Mode: "tamper", Expect: map[string]any{"state": "error"}},
		realCase{Name: "real-unlink", URL: pathOf(unlink.ApprovalURL), SecretKey: secret, Mode: "ok", Expect: map[string]any{"state": "success", "code": "unlinked"}},
	)
	if got := st.TokenBalance(t, keyAddr); got != 90_000_000 {
		t.Fatalf("key holds %d after top-up and payment; want 90 USDC", got)
	}
	if got := st.TokenBalance(t, shop); got != 30_000_000 {
		t.Fatalf("recipient holds %d; want 30 USDC", got)
	}
	k, _ = svc.Status(ctx, "shopping-bot", created.SessionKeyID)
	if k.LinkedSessionID != "" || k.MaxAmount != "120.00" || k.RemainingAmount != "90.00" {
		t.Fatalf("after top-up, payment and unlink: %+v", k)
	}

	// A payment of a session alone, from the owner's own wallet: a transaction with a memo.
	solo, err := svc.CreateSession(ctx, service.CreateSessionInput{AgentID: "shopping-bot", UserWallet: owner.Address().String(),
		Limits: policy.Limits{PerTransaction: 50_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	own, err := svc.Pay(ctx, service.PayInput{AgentID: "shopping-bot", SessionID: solo.SessionID, Recipient: shop.String(), Amount: 5_000_000})
	if err != nil || own.ApprovalURL == "" {
		t.Fatalf("a session's payment: %+v %v", own, err)
	}
	// A funding link whose transaction also holds an instruction the page cannot describe.
	pending, err := svc.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: "shopping-bot", UserWallet: owner.Address().String(), MaxAmount: 1_000_000, ExpiryHours: 1})
	if err != nil {
		t.Fatal(err)
	}
	odd := unknownInstructionApproval(t, st, owner.Address(), pending.SessionKeyID)
	// Opened at once: a link opened after its blockhash expired is issued anew,
	// as the service builds it, without the odd instruction.
	browse(t, base, realCase{Name: "real-fund-unknown-instruction", URL: "/approve/" + odd, SecretKey: secret, Mode: "ok",
		Expect: map[string]any{"state": "closed", "code": "unknown_instruction", "offered": false}})
	declined, err := svc.Pay(ctx, service.PayInput{AgentID: "shopping-bot", SessionID: solo.SessionID, Recipient: shop.String(), Amount: 3_000_000, IdempotencyKey: "declined"})
	if err != nil || declined.ApprovalURL == "" {
		t.Fatalf("a second payment of the session: %+v %v", declined, err)
	}
	browse(t, base,
		realCase{Name: "real-own-payment", URL: pathOf(own.ApprovalURL), SecretKey: secret, Mode: "ok", Retry: true, Expect: map[string]any{"state": "success", "code": "confirmed",
			"decoded_includes": []string{"Move 5.00 USDC from the token account ", "to the token account ", " of " + shop.String(), "SPL Memo Program · Memo: Attach the note “pay_"}}},
		realCase{Name: "real-own-payment-declined", URL: pathOf(declined.ApprovalURL), SecretKey: secret, Mode: "decline", Viewport: "phone",
			Expect: map[string]any{"state": "success", "code": "cancelled", "offered": false}},
	)
	if got := st.TokenBalance(t, shop); got != 35_000_000 {
		t.Fatalf("recipient holds %d after the owner's own payment; want 35 USDC", got)
	}
	if v, err := svc.Approval(ctx, pathOf(declined.ApprovalURL)[len("/approve/"):]); err != nil || v.Status != "cancelled" {
		t.Fatalf("the declined link: %+v %v", v, err)
	}
	if k, _ := svc.Status(ctx, "shopping-bot", pending.SessionKeyID); k.Status != "pending_approval" {
		t.Fatalf("a link the page refused changed the key: %+v", k)
	}
}

// unknownInstructionApproval records a funding link for keyID whose
// transaction moves 1 USDC and also calls a program the page does not know.
func unknownInstructionApproval(t *testing.T, st *testenv.Stack, owner solana.PublicKey, keyID string) string {
	t.Helper()
	ctx := context.Background()
	bh, err := st.Chain.RPC().GetLatestBlockhash(ctx, rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	var program solana.PublicKey
	program[0] = 7
	ixs := []solana.Instruction{
		solana.NewInstruction(program, solana.AccountMetaSlice{solana.NewAccountMeta(owner, true, true)}, []byte{1, 2, 3}),
	}
	tx, err := solana.NewTransaction(ixs, bh.Value.Blockhash, solana.TransactionPayer(owner))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tx.Message.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	now, err := st.Store.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok := policy.NewToken()
	if _, err := st.Store.CreateApproval(ctx, policy.NewApproval{Token: tok, Kind: policy.ApprovalFund, UserWallet: owner.String(),
		AgentID: "shopping-bot", SessionKeyID: keyID, Amount: 1_000_000, Payload: base64.StdEncoding.EncodeToString(msg),
		ExpiresAt: now.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	return tok
}
