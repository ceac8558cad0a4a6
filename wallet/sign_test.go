package wallet

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	solana "github.com/gagliardetto/solana-go"
)

func TestSignTransaction(t *testing.T) {
	c := offlineChain(t, nil)
	user, _ := NewKeypair()
	other, _ := NewKeypair()
	key, _ := NewKeypair()
	bh := solana.Hash(keypairFromSeed(bytes.Repeat([]byte{4}, 32)).PublicKey())
	_, msg := issued(t, c, user.PublicKey(), key.PublicKey(), 2_000_000, bh)
	unsigned := wire([]solana.Signature{{}}, msg)

	cases := []struct {
		name   string
		signer *Keypair
		wire   string
		want   error
	}{
		{"the owner signs its slot", user, unsigned, nil},
		{"a key that is not a signer", other, unsigned, ErrNotSigner},
		{"not base64", user, "%%%", ErrMalformedTx},
		{"not a transaction", user, "AAAA", ErrMalformedTx},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signed, err := tc.signer.SignTransaction(tc.wire)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				return
			}
			// What the wallet signed is what the service issued, and verifies.
			if _, err := VerifySigned(msg, signed, user.PublicKey()); err != nil {
				t.Fatalf("VerifySigned: %v", err)
			}
		})
	}
}

func TestSignMessage(t *testing.T) {
	k, _ := NewKeypair()
	text := []byte("stipend wants you to approve")
	sig := k.SignMessage(text)
	if !ed25519.Verify(ed25519.PublicKey(k.PublicKey().Bytes()), text, sig[:]) {
		t.Fatal("the signature does not verify")
	}
	if ed25519.Verify(ed25519.PublicKey(k.PublicKey().Bytes()), []byte("another text"), sig[:]) {
		t.Fatal("the signature verifies another text")
	}
}
