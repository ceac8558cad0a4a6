package localnet_test

import (
	"testing"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/ws"

	"github.com/stipend/stipend/internal/testenv"
)

// TestSignatureSubscribe: the chain's websocket answers signatureSubscribe
// as a validator's PubSub does, through solana-go's websocket client: one
// notification when the transaction lands, at once when it already has.
func TestSignatureSubscribe(t *testing.T) {
	c := testenv.Chain(t)
	cl := c.Client()
	ctx := ctxT(t)
	if c.WSURL == "" {
		t.Fatal("no ws_url in the ready line")
	}
	wsc, err := ws.Connect(ctx, c.WSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer wsc.Close()
	alice := newWallet(t, c, solana.LAMPORTS_PER_SOL, 10)
	bob := newWallet(t, c, 0, 1)

	tx := budgetTransfer(t, c, alice, bob, 1, 20_000, 0, latestBlockhash(t, cl).Value.Blockhash)
	sub, err := wsc.SignatureSubscribe(tx.Signatures[0], rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := cl.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := sub.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := status(t, cl, sig)
	if got.Value.Err != nil || got.Context.Slot != st.Slot {
		t.Fatalf("notification %+v, status %+v", got, st)
	}

	// Subscribing to a landed transaction notifies at once.
	again, err := wsc.SignatureSubscribe(sig, rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Recv(ctx); err != nil || got.Context.Slot != st.Slot {
		t.Fatalf("landed: %+v %v", got, err)
	}
}
