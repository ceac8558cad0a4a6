package service_test

import (
	"context"
	"errors"
	"testing"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
)

const usdc = 1_000_000

var ctx = context.Background()

func recipient(t *testing.T) solana.PublicKey {
	k, err := solana.NewRandomPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}

// TestLifecycle is the seed's whole flow on the local chain: create →
// approve → pay → can_afford refused → top-up → revoke and sweep.
func TestLifecycle(t *testing.T) {
	t.Run("redis", func(t *testing.T) { lifecycle(t, testenv.NewStack(t, testenv.StackOptions{})) })
	t.Run("cluster", func(t *testing.T) { lifecycle(t, testenv.NewStack(t, testenv.StackOptions{Cluster: true})) })
	t.Run("embedded", func(t *testing.T) { lifecycle(t, testenv.NewStack(t, testenv.StackOptions{Embedded: true})) })
}

func lifecycle(t *testing.T, st *testenv.Stack) {
	svc := st.Service
	user := st.NewUser(t, 500*usdc)

	c, err := svc.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: "shopping-bot", UserWallet: user.Address().String(), MaxAmount: 100 * usdc, ExpiryHours: 24})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != "pending_approval" || c.ApprovalTransaction == "" || c.ApprovalURL == "" || c.PKPPublicKey == "" {
		t.Fatalf("created: %+v", c)
	}
	// A tampered or foreign signature changes nothing.
	other := st.NewUser(t, 0)
	if _, err := svc.SubmitApproval(ctx, c.ApprovalToken, service.Submission{SignedTransaction: other.SignTransaction(t, c.ApprovalTransaction)}); policy.CodeOf(err) != service.CodeWrongSigner {
		t.Fatalf("signed by another wallet: %v", err)
	}
	res, err := svc.SubmitApproval(ctx, c.ApprovalToken, service.Submission{SignedTransaction: user.SignTransaction(t, c.ApprovalTransaction)})
	if err != nil || res.Status != "active" {
		t.Fatalf("approve: %+v %v", res, err)
	}
	key := solana.MustPublicKeyFromBase58(c.SessionKeyAddress)
	if got := st.TokenBalance(t, key); got != 100*usdc {
		t.Fatalf("key holds %d; want 100 USDC", got)
	}
	// The link is single-use.
	if _, err := svc.SubmitApproval(ctx, c.ApprovalToken, service.Submission{SignedTransaction: user.SignTransaction(t, c.ApprovalTransaction)}); !errors.Is(err, policy.ErrConflict) {
		t.Fatalf("reused link: %v", err)
	}

	shop := recipient(t)
	var stages []string
	p, err := svc.Pay(ctx, service.PayInput{AgentID: "shopping-bot", SessionKeyID: c.SessionKeyID, Recipient: shop.String(),
		Amount: 29_990_000, Description: "Premium widget", IdempotencyKey: "order-1", Progress: func(s string) { stages = append(stages, s) }})
	if err != nil || p.Status != "confirmed" || p.TransactionSignature == "" {
		t.Fatalf("pay: %+v %v", p, err)
	}
	if got := st.TokenBalance(t, shop); got != 29_990_000 {
		t.Fatalf("recipient got %d", got)
	}
	if len(stages) != 4 || stages[0] != "reserved" || stages[3] != "confirmed" {
		t.Fatalf("progress: %v", stages)
	}
	// The same idempotency key never pays twice.
	p2, err := svc.Pay(ctx, service.PayInput{AgentID: "shopping-bot", SessionKeyID: c.SessionKeyID, Recipient: shop.String(),
		Amount: 29_990_000, Description: "Premium widget", IdempotencyKey: "order-1"})
	if err != nil || !p2.Duplicate || p2.PaymentID != p.PaymentID || st.TokenBalance(t, shop) != 29_990_000 {
		t.Fatalf("replay: %+v %v", p2, err)
	}

	d, err := svc.CanAfford(ctx, "shopping-bot", c.SessionKeyID, 80*usdc, shop.String())
	if err != nil || d.Allowed || d.Checks[0].Code != "insufficient_funds" || d.MaxAffordableNow != "70.01" {
		t.Fatalf("can_afford: %+v %v", d, err)
	}
	refused, err := svc.Pay(ctx, service.PayInput{AgentID: "shopping-bot", SessionKeyID: c.SessionKeyID, Recipient: shop.String(), Amount: 80 * usdc})
	if !errors.Is(err, service.ErrRefused) || refused.Code != "insufficient_funds" || refused.Reason == "" {
		t.Fatalf("refused pay: %+v %v", refused, err)
	}

	top, err := svc.TopUpRequest(ctx, "shopping-bot", c.SessionKeyID, 50*usdc)
	if err != nil || top.NewMaxAmount != "150.00" {
		t.Fatalf("top-up request: %+v %v", top, err)
	}
	if _, err := svc.SubmitApproval(ctx, top.ApprovalToken, service.Submission{SignedTransaction: user.SignTransaction(t, top.ApprovalTransaction)}); err != nil {
		t.Fatal(err)
	}
	k, _ := svc.Status(ctx, "shopping-bot", c.SessionKeyID)
	if k.RemainingAmount != "120.01" || k.MaxAmount != "150.00" || st.TokenBalance(t, key) != 120_010_000 {
		t.Fatalf("after top-up: %+v", k)
	}

	before := st.TokenBalance(t, user.Address())
	r, err := svc.Revoke(ctx, "shopping-bot", c.SessionKeyID, "done")
	if err != nil || r.Status != "revoked" || r.SweptAmount != "120.01" || r.SweepError != "" {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	if after := st.TokenBalance(t, user.Address()); after-before != 120_010_000 {
		t.Fatalf("sweep returned %d", after-before)
	}
	if _, err := svc.Pay(ctx, service.PayInput{AgentID: "shopping-bot", SessionKeyID: c.SessionKeyID, Recipient: shop.String(), Amount: usdc}); !errors.Is(err, service.ErrRefused) {
		t.Fatalf("pay after revoke: %v", err)
	}
}

// TestApprovalRequiredPayment: a linked session with a threshold; the
// payment over it waits for the owner's signed message.
func TestApprovalRequiredPayment(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	svc := st.Service
	user := st.NewUser(t, 500*usdc)
	sess, err := svc.CreateSession(ctx, service.CreateSessionInput{AgentID: "bot", UserWallet: user.Address().String(),
		Limits: policy.Limits{PerTransaction: 25 * usdc, PerDay: 100 * usdc}, RequireApprovalAbove: 10 * usdc})
	if err != nil {
		t.Fatal(err)
	}
	k := st.Fund(t, "bot", user, 100*usdc, sess.SessionID)
	shop := recipient(t)
	p, err := svc.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop.String(), Amount: 20 * usdc})
	if err != nil || p.Status != "approval_required" || p.ApprovalLink == nil {
		t.Fatalf("pay over threshold: %+v %v", p, err)
	}
	if st.TokenBalance(t, shop) != 0 {
		t.Fatal("paid before approval")
	}
	view, err := svc.Approval(ctx, p.ApprovalToken)
	if err != nil || view.Sign != "message" || view.Kind != "payment" {
		t.Fatalf("approval view: %+v %v", view, err)
	}
	// A changed message does not verify.
	if _, err := svc.SubmitApproval(ctx, p.ApprovalToken, service.Submission{Signature: user.SignMessage(view.Message + " ")}); policy.CodeOf(err) != service.CodeWrongSigner {
		t.Fatalf("changed message: %v", err)
	}
	res, err := svc.SubmitApproval(ctx, p.ApprovalToken, service.Submission{Signature: user.SignMessage(view.Message)})
	if err != nil || res.Status != "confirmed" {
		t.Fatalf("approve payment: %+v %v", res, err)
	}
	if st.TokenBalance(t, shop) != 20*usdc {
		t.Fatal("approved payment not on chain")
	}
	// Over the per-transaction limit: refused, approval cannot override it.
	if _, err := svc.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop.String(), Amount: 30 * usdc}); !errors.Is(err, service.ErrRefused) {
		t.Fatalf("over per-tx: %v", err)
	}

	// The owner unlinks through a signed message.
	link, err := svc.RequestUnlink(ctx, "bot", k.SessionKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SubmitApproval(ctx, link.ApprovalToken, service.Submission{Signature: user.SignMessage(link.ApprovalMessage)}); err != nil {
		t.Fatal(err)
	}
	kv, _ := svc.Status(ctx, "bot", k.SessionKeyID)
	if kv.LinkedSessionID != "" {
		t.Fatal("still linked")
	}
}

// TestOwnWalletPayment: a session without a key pays from the owner's wallet;
// every payment is signed by the owner.
func TestOwnWalletPayment(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	svc := st.Service
	user := st.NewUser(t, 100*usdc)
	sess, err := svc.CreateSession(ctx, service.CreateSessionInput{AgentID: "bot", UserWallet: user.Address().String(),
		Limits: policy.Limits{PerDay: 50 * usdc}})
	if err != nil {
		t.Fatal(err)
	}
	shop := recipient(t)
	p, err := svc.Pay(ctx, service.PayInput{AgentID: "bot", SessionID: sess.SessionID, Recipient: shop.String(), Amount: 10 * usdc})
	if err != nil || p.Status != "approval_required" || p.ApprovalTransaction == "" {
		t.Fatalf("own payment: %+v %v", p, err)
	}
	res, err := svc.SubmitApproval(ctx, p.ApprovalToken, service.Submission{SignedTransaction: user.SignTransaction(t, p.ApprovalTransaction)})
	if err != nil || res.Status != "confirmed" {
		t.Fatalf("approve own payment: %+v %v", res, err)
	}
	if st.TokenBalance(t, shop) != 10*usdc {
		t.Fatal("own payment not on chain")
	}
	got, _ := svc.Session(ctx, "bot", sess.SessionID)
	if got.SpentToday != "10.00" {
		t.Fatalf("session window: %+v", got)
	}
}
