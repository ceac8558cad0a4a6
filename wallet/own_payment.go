package wallet

import (
	"context"
	"fmt"

	solana "github.com/gagliardetto/solana-go"
)

// BuildOwnPayment builds the unsigned transaction by which the user pays a
// recipient from their own wallet (a session without a session key): create
// the recipient's token account (idempotent), TransferChecked from the
// user's token account, and an SPL Memo naming the payment id, after the
// compute budget. The user is the fee payer and the only signer.
func (c *Chain) BuildOwnPayment(ctx context.Context, user, recipient solana.PublicKey, amount uint64, paymentID string) (*Unsigned, error) {
	if amount == 0 {
		return nil, fmt.Errorf("%w: payment amount is zero", ErrInvalidAmount)
	}
	if paymentID == "" || len(paymentID) > MaxPaymentIDLen {
		return nil, fmt.Errorf("%w: %q", ErrInvalidMemo, paymentID)
	}
	if err := ValidRecipient(recipient, user); err != nil {
		return nil, err
	}
	bh, err := c.latestBlockhash(ctx)
	if err != nil {
		return nil, err
	}
	build := func(b Budget) (*solana.Transaction, error) {
		create, err := createATAIdempotent(user, recipient, c.cfg.Mint, c.cfg.TokenProgram)
		if err != nil {
			return nil, err
		}
		xfer, err := c.transferChecked(amount, user, recipient)
		if err != nil {
			return nil, fmt.Errorf("wallet: own payment transfer: %w", err)
		}
		ixs := append(budgetInstructions(b), create, xfer, memoInstruction(paymentID, user))
		tx, err := solana.NewTransaction(ixs, bh.Blockhash, solana.TransactionPayer(user))
		if err != nil {
			return nil, fmt.Errorf("wallet: own payment transaction: %w", err)
		}
		tx.Signatures = make([]solana.Signature, tx.Message.Header.NumRequiredSignatures)
		return tx, nil
	}
	b, err := c.budgetFor(ctx, build, 0)
	if err != nil {
		return nil, err
	}
	tx, err := build(b)
	if err != nil {
		return nil, err
	}
	return unsigned(tx, bh, b, "own payment")
}
