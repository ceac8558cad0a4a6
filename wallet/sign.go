package wallet

import (
	"encoding/base64"
	"errors"
	"fmt"

	solana "github.com/gagliardetto/solana-go"
)

// ErrNotSigner reports a transaction that the keypair is not asked to sign.
var ErrNotSigner = errors.New("wallet: the keypair is not a signer of the transaction")

// SignTransaction signs a base64 wire transaction that someone else built,
// as a wallet's solana:signTransaction does: the keypair's signature goes in
// its signer slot, every other slot and the message stay as they are. It is
// how an owner's wallet signs an approval (the demo and the tests sign
// with it).
func (k *Keypair) SignTransaction(wireB64 string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(wireB64)
	if err != nil {
		return "", fmt.Errorf("%w: not base64: %w", ErrMalformedTx, err)
	}
	tx, err := solana.TransactionFromBytes(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformedTx, err)
	}
	msg, err := tx.Message.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("wallet: encode the message: %w", err)
	}
	n := int(tx.Message.Header.NumRequiredSignatures)
	signed := false
	for i, key := range tx.Message.AccountKeys {
		if i < n && i < len(tx.Signatures) && key.Equals(k.pub) {
			tx.Signatures[i] = k.sign(msg)
			signed = true
		}
	}
	if !signed {
		return "", ErrNotSigner
	}
	out, err := tx.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("wallet: encode the transaction: %w", err)
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// SignMessage signs text as a wallet's solana:signMessage does.
func (k *Keypair) SignMessage(text []byte) solana.Signature { return k.sign(text) }
