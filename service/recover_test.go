package service_test

import (
	"testing"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
)

// TestRecoverAfterCrash: the service died between reserve and confirm. A
// payment whose transaction landed is committed; one that never landed and
// whose blockhash expired is released; the key's balance is exact.
func TestRecoverAfterCrash(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	user := st.NewUser(t, 100*usdc)
	k := st.Fund(t, "bot", user, 50*usdc, "")
	sealed, err := st.Store.SealedSecret(ctx, k.SessionKeyID)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := st.Sealer.Open(sealed, solana.MustPublicKeyFromBase58(k.SessionKeyAddress))
	if err != nil {
		t.Fatal(err)
	}
	shop := recipient(t)
	// reserve builds and signs a payment and reserves it, as Pay does, then "crashes".
	reserve := func(amount policy.Amount) (*policy.Payment, *solana.Transaction) {
		id := policy.NewID("pay_")
		tx, err := st.Chain.BuildPayment(ctx, kp, shop, uint64(amount), id)
		if err != nil {
			t.Fatal(err)
		}
		d, err := st.Store.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.SessionKeyID, AgentID: "bot",
			Amount: amount, Recipient: shop.String(), PaymentID: id, Signature: tx.Signatures[0].String(),
			Blockhash: tx.Message.RecentBlockhash.String()})
		if err != nil || d.Outcome != policy.OutcomeReserved {
			t.Fatalf("reserve: %+v %v", d, err)
		}
		return d.Payment, tx
	}
	landed, tx := reserve(10 * usdc)
	if _, err := st.Chain.SendAndConfirm(ctx, tx); err != nil { // sent just before the crash
		t.Fatal(err)
	}
	lost, _ := reserve(5 * usdc) // never sent
	// Nothing can be decided while the lost one's blockhash is valid.
	if c, r, err := st.Service.Recover(ctx); err != nil || c != 1 || r != 0 {
		t.Fatalf("recover before expiry: committed %d released %d %v", c, r, err)
	}
	if _, err := st.Local.AdvanceSlots(ctx, 200); err != nil {
		t.Fatal(err)
	}
	if c, r, err := st.Service.Recover(ctx); err != nil || c != 0 || r != 1 {
		t.Fatalf("recover after expiry: committed %d released %d %v", c, r, err)
	}
	for _, p := range []struct {
		p    *policy.Payment
		want policy.PaymentStatus
	}{{landed, policy.PaymentConfirmed}, {lost, policy.PaymentFailed}} {
		got, err := st.Store.GetPayment(ctx, p.p.UserWallet, p.p.ID)
		if err != nil || got.Status != p.want {
			t.Fatalf("payment %s: %+v %v; want %s", p.p.ID, got, err, p.want)
		}
	}
	kv, _ := st.Service.Status(ctx, "bot", k.SessionKeyID)
	if kv.SpentAmount != "10.00" || kv.ReservedAmount != "0.00" || kv.RemainingAmount != "40.00" {
		t.Fatalf("key after recovery: %+v", kv)
	}
	if got := st.TokenBalance(t, solana.MustPublicKeyFromBase58(k.SessionKeyAddress)); got != 40*usdc {
		t.Fatalf("key holds %d on chain; the ledger says 40", got)
	}
}
