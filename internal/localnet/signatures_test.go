package localnet_test

import (
	"testing"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/stipend/stipend/internal/testenv"
)

// TestGetSignaturesForAddress: the standard method's shape and paging:
// newest first, limit, before, until; an address never named is an empty list.
func TestGetSignaturesForAddress(t *testing.T) {
	c := testenv.Chain(t)
	cl := c.Client()
	ctx := ctxT(t)
	from := newWallet(t, c, solana.LAMPORTS_PER_SOL, 1_000)
	to := newWallet(t, c, 0, 0)
	var sent []solana.Signature
	for i, note := range []string{"a", "", ""} {
		tx := transferTx(t, c, from, to, uint64(i+1), note, latestBlockhash(t, cl).Value.Blockhash)
		sig, err := cl.SendTransaction(ctx, tx)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, sig)
	}
	list, err := cl.GetSignaturesForAddress(ctx, to.ata)
	if err != nil || len(list) != 3 {
		t.Fatalf("%d signatures, %v; want 3", len(list), err)
	}
	for i, s := range list {
		if s.Signature != sent[2-i] || s.Slot == 0 || s.Err != nil || s.BlockTime == nil || s.ConfirmationStatus != rpc.ConfirmationStatusFinalized {
			t.Fatalf("entry %d: %+v; want %s, newest first", i, s, sent[2-i])
		}
	}
	limit := 1
	page, err := cl.GetSignaturesForAddressWithOpts(ctx, to.ata, &rpc.GetSignaturesForAddressOpts{Limit: &limit, Before: sent[2]})
	if err != nil || len(page) != 1 || page[0].Signature != sent[1] {
		t.Fatalf("limit 1 before the newest: %+v %v", page, err)
	}
	page, err = cl.GetSignaturesForAddressWithOpts(ctx, to.ata, &rpc.GetSignaturesForAddressOpts{Until: sent[0]})
	if err != nil || len(page) != 2 {
		t.Fatalf("until the oldest: %+v %v", page, err)
	}
	if none, err := cl.GetSignaturesForAddress(ctx, solana.NewWallet().PublicKey()); err != nil || len(none) != 0 {
		t.Fatalf("unknown address: %+v %v", none, err)
	}
	limit = 1001
	if _, err := cl.GetSignaturesForAddressWithOpts(ctx, to.ata, &rpc.GetSignaturesForAddressOpts{Limit: &limit}); err == nil {
		t.Fatal("limit 1001 accepted; the standard maximum is 1000")
	}
}
