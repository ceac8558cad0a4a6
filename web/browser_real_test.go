package web

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
)

// realCase is one approval the browser carries out against the real server.
type realCase struct {
	Name      string         `json:"name"`
	URL       string         `json:"url"`
	SecretKey string         `json:"secret_key"`
	Mode      string         `json:"mode"`
	Viewport  string         `json:"viewport,omitempty"`
	Expect    map[string]any `json:"expect"`
}

// browse runs the cases in headless Chromium (web/e2e), with the test wallet
// holding the owner's local-chain keypair.
func browse(t *testing.T, base string, cases ...realCase) {
	t.Helper()
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
		realCase{Name: "real-fund", URL: fund, SecretKey: secret, Mode: "ok", Expect: map[string]any{"state": "success", "code": "active"}},
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
		realCase{Name: "real-top-up", URL: pathOf(top.ApprovalURL), SecretKey: secret, Mode: "ok", Viewport: "phone", Expect: map[string]any{"state": "success", "code": "active"}},
		realCase{Name: "real-payment", URL: pathOf(pay.ApprovalURL), SecretKey: secret, Mode: "ok", Expect: map[string]any{"state": "success", "code": "confirmed"}},
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
}
