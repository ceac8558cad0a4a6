package service_test

import (
	"testing"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/service"
)

// TestToken2022Lifecycle: with a Token-2022 mint (as PYUSD is) on the local
// chain, every transaction uses the mint's own token program: funding,
// a payment to a new recipient, a top-up and the revocation's sweep, with
// balances read from the chain and the key's token account owned by Token-2022.
func TestToken2022Lifecycle(t *testing.T) {
	for _, gasless := range []bool{false, true} {
		st := testenv.NewStack(t, testenv.StackOptions{Token2022: true, FeePayer: gasless})
		if !st.Local.TokenProgram.Equals(solana.Token2022ProgramID) {
			t.Fatalf("local chain mint program: %s", st.Local.TokenProgram)
		}
		svm := st.Service
		user := st.NewUser(t, 200_000_000)
		if got := st.TokenBalance(t, user.Address()); got != 200_000_000 {
			t.Fatalf("user holds %d of the Token-2022 mint", got)
		}
		k := st.Fund(t, "bot", user, 100_000_000, "")
		addr := solana.MustPublicKeyFromBase58(k.SessionKeyAddress)
		ata, err := st.Chain.TokenAccount(addr)
		if err != nil {
			t.Fatal(err)
		}
		acc, err := st.Chain.RPC().GetAccountInfoWithOpts(ctx, ata, &rpc.GetAccountInfoOpts{Encoding: solana.EncodingBase64})
		if err != nil || !acc.Value.Owner.Equals(solana.Token2022ProgramID) {
			t.Fatalf("the key's token account: %v %v", acc, err)
		}
		shop := st.NewUser(t, 0).Address()
		p, err := svm.Pay(ctx, service.PayInput{AgentID: "bot", SessionKeyID: k.SessionKeyID, Recipient: shop.String(), Amount: 29_990_000, IdempotencyKey: "o-1"})
		if err != nil || p.Status != "confirmed" {
			t.Fatalf("pay: %+v %v", p, err)
		}
		top, err := svm.TopUpRequest(ctx, "bot", k.SessionKeyID, 50_000_000)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svm.SubmitApproval(ctx, top.ApprovalToken, service.Submission{SignedTransaction: user.SignTransaction(t, top.ApprovalTransaction)}); err != nil {
			t.Fatalf("top-up: %v", err)
		}
		if got := st.TokenBalance(t, addr); got != 120_010_000 {
			t.Fatalf("key holds %d after payment and top-up", got)
		}
		rev, err := svm.Revoke(ctx, "bot", k.SessionKeyID, "done")
		if err != nil || rev.SweptAmount != "120.01" {
			t.Fatalf("revoke: %+v %v", rev, err)
		}
		if got := st.TokenBalance(t, user.Address()); got != 200_000_000-150_000_000+120_010_000 {
			t.Fatalf("owner holds %d after the sweep", got)
		}
		if got := st.TokenBalance(t, shop); got != 29_990_000 {
			t.Fatalf("recipient holds %d", got)
		}
	}
}
