package wallet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	solana "github.com/gagliardetto/solana-go"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/rpc"
)

// The compute budget of an x402 "exact" payment, as @x402/svm's client sets
// it: 20,000 compute units at 1 micro-lamport each (the facilitator pays).
const (
	X402ComputeUnitLimit = 20_000
	X402ComputeUnitPrice = 1
)

// X402Offer is what an x402 "exact" payment transaction is built from.
type X402Offer struct {
	PayTo    solana.PublicKey // the seller: the transfer goes to its token account
	FeePayer solana.PublicKey // the facilitator: pays the fee, signs last
	Amount   uint64           // base units of the chain's mint
	// Memo is the offer's extra.memo; empty: a random 16-byte hex nonce, which
	// makes every payment's message unique.
	Memo string
	// Blockhash is the offer's extra.recentBlockhash; zero: the latest one.
	Blockhash solana.Hash
}

// BuildX402 builds the transaction of an x402 "exact" payment on Solana, laid
// out as the scheme's facilitator verifies it: a version 0 message whose fee
// payer is the facilitator, with SetComputeUnitLimit, SetComputeUnitPrice,
// TransferChecked of Amount from the key's token account to PayTo's, and an
// SPL Memo without accounts. Only the key signs; the fee payer's signature
// stays zero for the facilitator to fill. The transaction's id is the fee
// payer's signature, unknown until the facilitator signs: the key's own
// signature (KeySignature) is what identifies the payment until then.
func (c *Chain) BuildX402(ctx context.Context, key *Keypair, o X402Offer) (*solana.Transaction, error) {
	if key == nil || key.sec == nil {
		return nil, fmt.Errorf("%w: nil keypair", ErrKeypair)
	}
	if err := ValidRecipient(o.PayTo, key.pub); err != nil {
		return nil, err
	}
	if o.FeePayer.IsZero() || o.FeePayer.Equals(key.pub) {
		return nil, fmt.Errorf("%w: the fee payer must be the facilitator, not the paying key", ErrInvalidRecipient)
	}
	if o.Amount == 0 {
		return nil, fmt.Errorf("%w: payment amount is zero", ErrInvalidAmount)
	}
	if len(o.Memo) > 256 {
		return nil, fmt.Errorf("%w: memo longer than 256 bytes", ErrInvalidMemo)
	}
	memo := o.Memo
	if memo == "" {
		var nonce [16]byte
		_, _ = rand.Read(nonce[:])
		memo = hex.EncodeToString(nonce[:])
	}
	bh := o.Blockhash
	if bh.IsZero() {
		latest, err := c.latestBlockhash(ctx)
		if err != nil {
			return nil, err
		}
		bh = latest.Blockhash
	}
	limit, err := computebudget.NewSetComputeUnitLimitInstruction(X402ComputeUnitLimit).ValidateAndBuild()
	if err != nil {
		return nil, fmt.Errorf("wallet: compute unit limit: %w", err)
	}
	price, err := computebudget.NewSetComputeUnitPriceInstruction(X402ComputeUnitPrice).ValidateAndBuild()
	if err != nil {
		return nil, fmt.Errorf("wallet: compute unit price: %w", err)
	}
	xfer, err := c.transferChecked(o.Amount, key.pub, o.PayTo)
	if err != nil {
		return nil, fmt.Errorf("wallet: x402 transfer: %w", err)
	}
	memoIx := solana.NewInstruction(solana.MemoProgramID, solana.AccountMetaSlice{}, []byte(memo))
	tx, err := solana.NewTransaction([]solana.Instruction{limit, price, xfer, memoIx}, bh, solana.TransactionPayer(o.FeePayer))
	if err != nil {
		return nil, fmt.Errorf("wallet: x402 transaction: %w", err)
	}
	tx.Message.SetVersion(solana.MessageVersionV0)
	if _, err := tx.PartialSign(key.getter()); err != nil {
		return nil, fmt.Errorf("wallet: sign: %w", err)
	}
	return tx, nil
}

// KeySignature returns signer's signature on tx (zero if it has none).
func KeySignature(tx *solana.Transaction, signer solana.PublicKey) solana.Signature {
	n := int(tx.Message.Header.NumRequiredSignatures)
	for i, k := range tx.Message.AccountKeys {
		if i < n && i < len(tx.Signatures) && k.Equals(signer) {
			return tx.Signatures[i]
		}
	}
	return solana.Signature{}
}

// Landed is a transaction found on chain.
type Landed struct {
	Signature solana.Signature // its id (the fee payer's signature)
	Err       string           // the on-chain error as JSON; "" when it succeeded
}

// FindSignedBy looks for the landed transaction that signer signed with
// keySig: first hint (the id a facilitator reported, if any), then signer's
// recent transactions (getSignaturesForAddress, newest first, at most limit).
// It returns nil when none is found. A hint that is not signed with keySig is
// ignored: a server cannot make the ledger commit a payment by naming some
// other transaction.
func (c *Chain) FindSignedBy(ctx context.Context, signer solana.PublicKey, keySig solana.Signature, hint solana.Signature, limit int) (*Landed, error) {
	if !hint.IsZero() {
		l, err := c.signedBy(ctx, hint, signer, keySig)
		if err != nil || l != nil {
			return l, err
		}
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	list, err := c.rpc.GetSignaturesForAddressWithOpts(ctx, signer, &rpc.GetSignaturesForAddressOpts{Limit: &limit, Commitment: c.cfg.Commitment})
	if err != nil {
		return nil, fmt.Errorf("wallet: signatures of %s: %w", signer, err)
	}
	for _, s := range list {
		if s.Signature == hint {
			continue
		}
		l, err := c.signedBy(ctx, s.Signature, signer, keySig)
		if err != nil || l != nil {
			return l, err
		}
	}
	return nil, nil
}

// signedBy fetches transaction id and reports it if signer signed it with keySig.
func (c *Chain) signedBy(ctx context.Context, id solana.Signature, signer solana.PublicKey, keySig solana.Signature) (*Landed, error) {
	v := uint64(0)
	res, err := c.rpc.GetTransaction(ctx, id, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64,
		Commitment: c.cfg.Commitment, MaxSupportedTransactionVersion: &v})
	if err != nil {
		if errors.Is(err, rpc.ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("wallet: transaction %s: %w", id, err)
	}
	if res == nil || res.Transaction == nil {
		return nil, nil
	}
	tx, err := res.Transaction.GetTransaction()
	if err != nil {
		return nil, fmt.Errorf("wallet: decode transaction %s: %w", id, err)
	}
	if KeySignature(tx, signer) != keySig || len(tx.Signatures) == 0 || tx.Signatures[0] != id {
		return nil, nil
	}
	l := &Landed{Signature: id}
	if res.Meta != nil && res.Meta.Err != nil {
		b, _ := json.Marshal(res.Meta.Err)
		l.Err = string(b)
	}
	return l, nil
}
