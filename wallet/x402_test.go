package wallet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"testing"

	solana "github.com/gagliardetto/solana-go"
)

// TestBuildX402Layout: the transaction is laid out as @x402/svm's facilitator
// verifies it, and only the key signs.
func TestBuildX402Layout(t *testing.T) {
	key, _ := NewKeypair()
	seller, _ := NewKeypair()
	facilitator, _ := NewKeypair()
	c := offlineChain(t, nil)
	tx, err := c.BuildX402(context.Background(), key, X402Offer{PayTo: seller.PublicKey(), FeePayer: facilitator.PublicKey(),
		Amount: 10_000, Blockhash: solana.Hash{7}})
	if err != nil {
		t.Fatal(err)
	}
	if tx.Message.GetVersion() != solana.MessageVersionV0 {
		t.Fatalf("version %v; want v0", tx.Message.GetVersion())
	}
	want := []solana.PublicKey{solana.ComputeBudget, solana.ComputeBudget, solana.TokenProgramID, solana.MemoProgramID}
	if got := programs(t, tx); !samePrograms(got, want) {
		t.Fatalf("programs = %v, want %v", got, want)
	}
	ix := tx.Message.Instructions
	if d := ix[0].Data; d[0] != 2 || binary.LittleEndian.Uint32(d[1:]) != X402ComputeUnitLimit {
		t.Fatalf("compute unit limit %x", d)
	}
	if d := ix[1].Data; d[0] != 3 || binary.LittleEndian.Uint64(d[1:]) != X402ComputeUnitPrice {
		t.Fatalf("compute unit price %x", d)
	}
	if d := ix[2].Data; d[0] != 12 || binary.LittleEndian.Uint64(d[1:9]) != 10_000 || d[9] != c.cfg.Decimals {
		t.Fatalf("TransferChecked data %x", d)
	}
	dest, _ := c.TokenAccount(seller.PublicKey())
	if acc := tx.Message.AccountKeys[ix[2].Accounts[2]]; !acc.Equals(dest) {
		t.Fatalf("destination %s; want the seller's token account %s", acc, dest)
	}
	if len(ix[3].Accounts) != 0 || len(ix[3].Data) != 32 {
		t.Fatalf("memo: %d accounts, %q; want none and a 16-byte hex nonce", len(ix[3].Accounts), ix[3].Data)
	}
	if !tx.Message.AccountKeys[0].Equals(facilitator.PublicKey()) || tx.Message.Header.NumRequiredSignatures != 2 {
		t.Fatalf("fee payer %s, %d signers; want the facilitator first, 2 signers", tx.Message.AccountKeys[0], tx.Message.Header.NumRequiredSignatures)
	}
	if !tx.Signatures[0].IsZero() {
		t.Fatal("the facilitator's signature must stay empty")
	}
	msg, _ := tx.Message.MarshalBinary()
	sig := KeySignature(tx, key.PublicKey())
	if sig.IsZero() || !ed25519.Verify(ed25519.PublicKey(key.PublicKey().Bytes()), msg, sig[:]) {
		t.Fatal("the key's signature is missing or wrong")
	}
	// A seller memo is carried exactly; two payments without one differ.
	withMemo, _ := c.BuildX402(context.Background(), key, X402Offer{PayTo: seller.PublicKey(), FeePayer: facilitator.PublicKey(),
		Amount: 1, Blockhash: solana.Hash{7}, Memo: "order-42"})
	if !bytes.Equal(withMemo.Message.Instructions[3].Data, []byte("order-42")) {
		t.Fatalf("memo %q", withMemo.Message.Instructions[3].Data)
	}
	again, _ := c.BuildX402(context.Background(), key, X402Offer{PayTo: seller.PublicKey(), FeePayer: facilitator.PublicKey(),
		Amount: 10_000, Blockhash: solana.Hash{7}})
	if KeySignature(again, key.PublicKey()) == sig {
		t.Fatal("two payments of the same offer must not be the same transaction")
	}
}

func TestBuildX402Refuses(t *testing.T) {
	key, _ := NewKeypair()
	seller, _ := NewKeypair()
	fac, _ := NewKeypair()
	c := offlineChain(t, nil)
	for _, tt := range []struct {
		name string
		o    X402Offer
		want error
	}{
		{"pay to the key itself", X402Offer{PayTo: key.PublicKey(), FeePayer: fac.PublicKey(), Amount: 1}, ErrInvalidRecipient},
		{"the key as fee payer", X402Offer{PayTo: seller.PublicKey(), FeePayer: key.PublicKey(), Amount: 1}, ErrInvalidRecipient},
		{"no fee payer", X402Offer{PayTo: seller.PublicKey(), Amount: 1}, ErrInvalidRecipient},
		{"zero amount", X402Offer{PayTo: seller.PublicKey(), FeePayer: fac.PublicKey()}, ErrInvalidAmount},
		{"long memo", X402Offer{PayTo: seller.PublicKey(), FeePayer: fac.PublicKey(), Amount: 1, Memo: string(make([]byte, 257))}, ErrInvalidMemo},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Blockhash = solana.Hash{1}
			if _, err := c.BuildX402(context.Background(), key, tt.o); !errors.Is(err, tt.want) {
				t.Fatalf("%v; want %v", err, tt.want)
			}
		})
	}
}
