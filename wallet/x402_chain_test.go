package wallet_test

import (
	"context"
	"testing"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/wallet"
)

// TestFindSignedBy: an x402 payment, completed by a facilitator as fee payer,
// is found on chain by the key's own signature; a transaction id that was not
// signed with that signature (what a lying server could report) is not taken
// for it.
func TestFindSignedBy(t *testing.T) {
	ctx := context.Background()
	ln := testenv.Chain(t)
	c := chainFor(t, ln, nil)
	key := fundedWallet(t, ln, 5*usdc)
	facilitator := fundedWallet(t, ln, 0)
	seller := fundedWallet(t, ln, 0)
	if _, err := ln.MintTo(ctx, seller.PublicKey(), 0); err != nil { // the seller's token account
		t.Fatal(err)
	}
	build := func() (*solana.Transaction, solana.Signature) {
		tx, err := c.BuildX402(ctx, key, wallet.X402Offer{PayTo: seller.PublicKey(), FeePayer: facilitator.PublicKey(), Amount: 250_000})
		if err != nil {
			t.Fatal(err)
		}
		return tx, wallet.KeySignature(tx, key.PublicKey())
	}
	tx, keySig := build()
	if l, err := c.FindSignedBy(ctx, key.PublicKey(), keySig, solana.Signature{}, 100); err != nil || l != nil {
		t.Fatalf("before it is sent: %+v %v", l, err)
	}
	// The facilitator signs as fee payer and submits.
	if _, err := tx.PartialSign(facilitator.Getter()); err != nil {
		t.Fatal(err)
	}
	id, err := c.SendAndConfirm(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.TokenBalance(ctx, seller.PublicKey()); got != 250_000 {
		t.Fatalf("seller holds %d", got)
	}
	l, err := c.FindSignedBy(ctx, key.PublicKey(), keySig, solana.Signature{}, 100)
	if err != nil || l == nil || l.Signature != id || l.Err != "" {
		t.Fatalf("found %+v %v; want %s", l, err, id)
	}
	if l, err := c.FindSignedBy(ctx, key.PublicKey(), keySig, id, 100); err != nil || l == nil || l.Signature != id {
		t.Fatalf("with the reported id: %+v %v", l, err)
	}
	// Another payment of the key, never sent: the landed one's id does not count for it.
	_, other := build()
	if l, err := c.FindSignedBy(ctx, key.PublicKey(), other, id, 100); err != nil || l != nil {
		t.Fatalf("a reported id of another transaction was taken: %+v %v", l, err)
	}
}
