package service_test

import (
	"testing"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/wallet"
)

// TestApprovalNetworkFee: the approval of a transaction states its network
// fee in SOL, read from the very bytes the wallet signs (compute budget
// included), and the user's wallet is charged exactly that.
func TestApprovalNetworkFee(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{FeePayer: true})
	svc := st.Service
	user := st.NewUser(t, 100*usdc)
	c, err := svc.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: "bot", UserWallet: user.Address().String(), MaxAmount: 10 * usdc, ExpiryHours: 1})
	if err != nil {
		t.Fatal(err)
	}
	view, err := svc.Approval(ctx, c.ApprovalToken)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := solana.TransactionFromBase64(view.Transaction)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wallet.ReadBudget(&tx.Message)
	if err != nil {
		t.Fatalf("the funding transaction carries no compute budget: %v", err)
	}
	want := wallet.LamportsSOL(b.Fee()) + " SOL"
	if view.NetworkFee != want {
		t.Fatalf("network_fee %q, want %q", view.NetworkFee, want)
	}
	var line bool
	for _, l := range view.Summary.Lines {
		line = line || (l.Label == "Network fee" && l.Value == want+", paid by your wallet")
	}
	if !line {
		t.Fatalf("no network fee line in %+v", view.Summary.Lines)
	}
	before, err := st.Chain.SOLBalance(ctx, user.Address())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := svc.SubmitApproval(ctx, c.ApprovalToken, service.Submission{SignedTransaction: user.SignTransaction(t, view.Transaction)}); err != nil || res.Status != "active" {
		t.Fatalf("approve: %+v %v", res, err)
	}
	after, err := st.Chain.SOLBalance(ctx, user.Address())
	if err != nil {
		t.Fatal(err)
	}
	rent, err := st.Chain.RPC().GetMinimumBalanceForRentExemption(ctx, 165, "confirmed")
	if err != nil {
		t.Fatal(err)
	}
	if before-after != b.Fee()+rent { // gasless: no SOL for the key, only its token account's rent
		t.Fatalf("the user paid %d lamports, want the fee %d + rent %d", before-after, b.Fee(), rent)
	}

}
