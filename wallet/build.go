package wallet

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"unicode/utf8"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"
	"github.com/gagliardetto/solana-go/rpc"
)

// MaxPaymentIDLen bounds the payment id carried in a payment's memo.
const MaxPaymentIDLen = 128

// tokenAccountSize is the size of an SPL token account, for its rent.
const tokenAccountSize = 165

// Unsigned is a transaction built for a human's wallet to sign.
type Unsigned struct {
	// Tx is the transaction, with one zero signature per required signer.
	Tx *solana.Transaction
	// Message is the exact message bytes issued: keep them and hand them to
	// VerifySigned with the signed copy.
	Message []byte
	// Wire is the base64 wire transaction (signatures zeroed) that a wallet
	// signs: the product's approval_transaction.
	Wire string
	// Blockhash is the recent blockhash the transaction uses; the signed copy
	// can land only while BlockhashValid says it is valid.
	Blockhash solana.Hash
	// LastValidBlockHeight is the last block height at which it can land.
	LastValidBlockHeight uint64
	// Budget is the transaction's compute budget; Budget.Fee is what the
	// signing wallet is charged in network fees.
	Budget Budget
}

// Sweep is a signed transaction returning what a session key holds.
type Sweep struct {
	Tx       *solana.Transaction // fully signed
	Tokens   uint64              // token base units returned to the user
	Lamports uint64              // SOL returned to the user besides the token account's rent (0 when gasless)
	Budget   Budget              // its compute budget; Budget.Fee is what its fee payer is charged
}

// createATAIdempotent returns the associated-token-account program's
// CreateIdempotent instruction (index 1): it creates owner's token account for
// mint, paid by payer, and succeeds without change if it already exists.
// solana-go only ships Create (index 0), which fails on an existing account.
func createATAIdempotent(payer, owner, mint, program solana.PublicKey) (solana.Instruction, error) {
	ata, err := associatedTokenAccount(owner, mint, program)
	if err != nil {
		return nil, fmt.Errorf("wallet: token account of %s: %w", owner, err)
	}
	return solana.NewInstruction(solana.SPLAssociatedTokenAccountProgramID, solana.AccountMetaSlice{
		solana.NewAccountMeta(payer, true, true),
		solana.NewAccountMeta(ata, true, false),
		solana.NewAccountMeta(owner, false, false),
		solana.NewAccountMeta(mint, false, false),
		solana.NewAccountMeta(solana.SystemProgramID, false, false),
		solana.NewAccountMeta(program, false, false),
	}, []byte{1}), nil
}

// associatedTokenAccount derives owner's associated token account for mint
// under the mint's token program (seeds: owner, token program, mint).
func associatedTokenAccount(owner, mint, program solana.PublicKey) (solana.PublicKey, error) {
	ata, _, err := solana.FindProgramAddress([][]byte{owner[:], program[:], mint[:]}, solana.SPLAssociatedTokenAccountProgramID)
	return ata, err
}

// onProgram re-addresses a built SPL Token instruction to program: Token-2022
// keeps SPL Token's instruction layout for TransferChecked and CloseAccount.
func onProgram(ix solana.Instruction, program solana.PublicKey) (solana.Instruction, error) {
	data, err := ix.Data()
	if err != nil {
		return nil, err
	}
	return solana.NewInstruction(program, ix.Accounts(), data), nil
}

// memoInstruction returns an SPL Memo instruction whose data is exactly text,
// signed by signer. solana-go's memo builder prefixes a length byte, which
// would end up in the memo, so it is built by hand.
func memoInstruction(text string, signer solana.PublicKey) solana.Instruction {
	return solana.NewInstruction(solana.MemoProgramID, solana.AccountMetaSlice{
		solana.NewAccountMeta(signer, false, true),
	}, []byte(text))
}

// transferChecked moves amount of the mint from owner's token account to
// dest's, checked against the mint's decimals.
func (c *Chain) transferChecked(amount uint64, owner, dest solana.PublicKey) (solana.Instruction, error) {
	from, err := c.TokenAccount(owner)
	if err != nil {
		return nil, err
	}
	to, err := c.TokenAccount(dest)
	if err != nil {
		return nil, err
	}
	ix, err := token.NewTransferCheckedInstruction(amount, c.cfg.Decimals, from, c.cfg.Mint, to, owner, nil).ValidateAndBuild()
	if err != nil {
		return nil, err
	}
	return onProgram(ix, c.cfg.TokenProgram)
}

// BuildFunding builds the unsigned transaction by which user funds (or tops
// up) the session key with amount base units: create the key's token account
// (idempotent, so a top-up uses the same builder), TransferChecked from the
// user's token account, and, when no fee payer is configured, a transfer of
// KeyFeeLamports SOL to the key for its own fees, after the compute budget.
// The user is the fee payer and the only signer; Unsigned.Budget says what
// they are charged.
func (c *Chain) BuildFunding(ctx context.Context, user, key solana.PublicKey, amount uint64) (*Unsigned, error) {
	bh, err := c.latestBlockhash(ctx)
	if err != nil {
		return nil, err
	}
	build := func(b Budget) (*solana.Transaction, error) { return c.fundingTx(user, key, amount, bh.Blockhash, b) }
	b, err := c.budgetFor(ctx, build, 0)
	if err != nil {
		return nil, err
	}
	tx, err := build(b)
	if err != nil {
		return nil, err
	}
	return unsigned(tx, bh, b, "funding")
}

// unsigned wraps a transaction for a human's wallet to sign.
func unsigned(tx *solana.Transaction, bh *rpc.LatestBlockhashResult, b Budget, what string) (*Unsigned, error) {
	msg, err := tx.Message.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("wallet: encode %s message: %w", what, err)
	}
	wire, err := tx.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("wallet: encode %s transaction: %w", what, err)
	}
	return &Unsigned{
		Tx:                   tx,
		Message:              msg,
		Wire:                 base64.StdEncoding.EncodeToString(wire),
		Blockhash:            bh.Blockhash,
		LastValidBlockHeight: bh.LastValidBlockHeight,
		Budget:               b,
	}, nil
}

func (c *Chain) fundingTx(user, key solana.PublicKey, amount uint64, blockhash solana.Hash, b Budget) (*solana.Transaction, error) {
	if amount == 0 {
		return nil, fmt.Errorf("%w: funding amount is zero", ErrInvalidAmount)
	}
	if !user.IsOnCurve() || user.IsZero() {
		return nil, fmt.Errorf("%w: user wallet %s cannot sign (off curve)", ErrInvalidRecipient, user)
	}
	if user.Equals(key) {
		return nil, fmt.Errorf("%w: user wallet is the session key", ErrInvalidRecipient)
	}
	create, err := createATAIdempotent(user, key, c.cfg.Mint, c.cfg.TokenProgram)
	if err != nil {
		return nil, err
	}
	xfer, err := c.transferChecked(amount, user, key)
	if err != nil {
		return nil, fmt.Errorf("wallet: funding transfer: %w", err)
	}
	ixs := append(budgetInstructions(b), create, xfer)
	if c.cfg.FeePayer == nil {
		ixs = append(ixs, system.NewTransferInstruction(c.cfg.KeyFeeLamports, user, key).Build())
	}
	tx, err := solana.NewTransaction(ixs, blockhash, solana.TransactionPayer(user))
	if err != nil {
		return nil, fmt.Errorf("wallet: funding transaction: %w", err)
	}
	tx.Signatures = make([]solana.Signature, tx.Message.Header.NumRequiredSignatures)
	return tx, nil
}

// payer returns who pays fees (and rent) for a transaction the key signs.
func (c *Chain) payer(key *Keypair) *Keypair {
	if c.cfg.FeePayer != nil {
		return c.cfg.FeePayer
	}
	return key
}

// sign signs tx with key and, when configured, the fee payer.
func (c *Chain) sign(tx *solana.Transaction, key *Keypair) error {
	kg, fg := key.getter(), c.payer(key).getter()
	_, err := tx.Sign(func(p solana.PublicKey) *solana.PrivateKey {
		if pk := kg(p); pk != nil {
			return pk
		}
		return fg(p)
	})
	if err != nil {
		return fmt.Errorf("wallet: sign: %w", err)
	}
	return nil
}

// ValidRecipient checks that recipient is an ordinary wallet address a
// payment may go to: non-zero, on the ed25519 curve (not a PDA or a token
// account's address) and not the paying key itself.
func ValidRecipient(recipient, key solana.PublicKey) error {
	switch {
	case recipient.IsZero():
		return fmt.Errorf("%w: empty address", ErrInvalidRecipient)
	case !recipient.IsOnCurve():
		return fmt.Errorf("%w: %s is off the ed25519 curve (a program-derived or token account address, not a wallet)", ErrInvalidRecipient, recipient)
	case recipient.Equals(key):
		return fmt.Errorf("%w: %s is the paying session key itself", ErrInvalidRecipient, recipient)
	}
	return nil
}

// BuildPayment builds and signs the payment of amount base units from the
// session key to recipient's token account (created idempotently first, paid
// by the fee payer), with an SPL Memo whose data is paymentID. The fee payer
// is the configured FeePayer, else the key; it is charged the fee of the
// compute budget the transaction starts with (ReadBudget). The transaction is
// fully signed, so tx.Signatures[0] identifies it before it is sent.
func (c *Chain) BuildPayment(ctx context.Context, key *Keypair, recipient solana.PublicKey, amount uint64, paymentID string) (*solana.Transaction, error) {
	if err := c.checkPayment(key, recipient, amount, paymentID); err != nil {
		return nil, err
	}
	return c.buildPayment(ctx, key, recipient, amount, paymentID, 0)
}

// RebuildPayment builds the payment again after an earlier transaction of it
// (prev) expired without landing: a fresh blockhash, and a unit price at
// least half again prev's (at least MinPriceBump micro-lamports more), or the
// recent fees' percentile if higher, within MaxUnitPrice. Only call it once
// prev can never land (its blockhash is no longer valid and it is not on
// chain): otherwise both could land.
func (c *Chain) RebuildPayment(ctx context.Context, key *Keypair, recipient solana.PublicKey, amount uint64, paymentID string, prev *solana.Transaction) (*solana.Transaction, error) {
	if prev == nil {
		return nil, fmt.Errorf("%w: no earlier transaction", ErrMalformedTx)
	}
	pb, err := ReadBudget(&prev.Message)
	if err != nil && !errors.Is(err, ErrNoBudget) {
		return nil, err
	}
	if err := c.checkPayment(key, recipient, amount, paymentID); err != nil {
		return nil, err
	}
	return c.buildPayment(ctx, key, recipient, amount, paymentID, BumpPrice(pb.UnitPrice))
}

// MinPriceBump is the least a rebuilt payment raises its unit price by, in
// micro-lamports.
const MinPriceBump = 1000

// BumpPrice is the unit price a rebuilt transaction bids after one at price
// expired unlanded: half again as much, and at least MinPriceBump more.
func BumpPrice(price uint64) uint64 {
	return max(price+price/2, price+MinPriceBump)
}

func (c *Chain) checkPayment(key *Keypair, recipient solana.PublicKey, amount uint64, paymentID string) error {
	if key == nil || key.sec == nil {
		return fmt.Errorf("%w: nil keypair", ErrKeypair)
	}
	if err := ValidRecipient(recipient, key.pub); err != nil {
		return err
	}
	if amount == 0 {
		return fmt.Errorf("%w: payment amount is zero", ErrInvalidAmount)
	}
	if paymentID == "" || len(paymentID) > MaxPaymentIDLen || !utf8.ValidString(paymentID) {
		return fmt.Errorf("%w: must be 1 to %d bytes of UTF-8", ErrInvalidMemo, MaxPaymentIDLen)
	}
	return nil
}

func (c *Chain) buildPayment(ctx context.Context, key *Keypair, recipient solana.PublicKey, amount uint64, paymentID string, floor uint64) (*solana.Transaction, error) {
	bh, err := c.latestBlockhash(ctx)
	if err != nil {
		return nil, err
	}
	build := func(b Budget) (*solana.Transaction, error) {
		return c.paymentTx(key, recipient, amount, paymentID, bh.Blockhash, b)
	}
	b, err := c.budgetFor(ctx, build, floor)
	if err != nil {
		return nil, err
	}
	return build(b)
}

func (c *Chain) paymentTx(key *Keypair, recipient solana.PublicKey, amount uint64, paymentID string, blockhash solana.Hash, b Budget) (*solana.Transaction, error) {
	payer := c.payer(key).pub
	create, err := createATAIdempotent(payer, recipient, c.cfg.Mint, c.cfg.TokenProgram)
	if err != nil {
		return nil, err
	}
	xfer, err := c.transferChecked(amount, key.pub, recipient)
	if err != nil {
		return nil, fmt.Errorf("wallet: payment transfer: %w", err)
	}
	ixs := append(budgetInstructions(b), create, xfer, memoInstruction(paymentID, key.pub))
	tx, err := solana.NewTransaction(ixs, blockhash, solana.TransactionPayer(payer))
	if err != nil {
		return nil, fmt.Errorf("wallet: payment transaction: %w", err)
	}
	if err := c.sign(tx, key); err != nil {
		return nil, err
	}
	return tx, nil
}

// BuildSweep builds and signs the transaction that returns everything the
// session key holds to user: all its tokens to the user's token account
// (created idempotently), then CloseAccount on the key's token account with
// its rent to the user (who paid it when funding). Without a fee payer the key
// pays the fee and its remaining SOL goes to the user too (all of it but the
// fee of the compute budget, Sweep.Budget). It returns ErrNothingToSweep when
// the key has no token account.
//
// Without a fee payer, if the user has closed their own token account in the
// meantime, recreating it costs rent the key may not have; the transaction
// then fails in simulation and Send reports it.
func (c *Chain) BuildSweep(ctx context.Context, key *Keypair, user solana.PublicKey) (*Sweep, error) {
	if key == nil || key.sec == nil {
		return nil, fmt.Errorf("%w: nil keypair", ErrKeypair)
	}
	if user.IsZero() || user.Equals(key.pub) {
		return nil, fmt.Errorf("%w: cannot sweep to %s", ErrInvalidRecipient, user)
	}
	tokens, exists, err := c.tokenBalance(ctx, key.pub)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("%w: %s has no token account", ErrNothingToSweep, key.pub)
	}
	payer := c.payer(key).pub
	keyATA, err := c.TokenAccount(key.pub)
	if err != nil {
		return nil, err
	}
	// Without a fee payer the key gives back its SOL less this transaction's
	// fee (and the user's token account's rent if it must be recreated).
	var solBalance, reserve uint64
	if c.cfg.FeePayer == nil {
		if solBalance, reserve, err = c.sweepReserve(ctx, key.pub, user); err != nil {
			return nil, err
		}
	}
	bh, err := c.latestBlockhash(ctx)
	if err != nil {
		return nil, err
	}
	var lamports uint64
	build := func(b Budget) (*solana.Transaction, error) {
		create, err := createATAIdempotent(payer, user, c.cfg.Mint, c.cfg.TokenProgram)
		if err != nil {
			return nil, err
		}
		ixs := append(budgetInstructions(b), create)
		if tokens > 0 {
			xfer, err := c.transferChecked(tokens, key.pub, user)
			if err != nil {
				return nil, fmt.Errorf("wallet: sweep transfer: %w", err)
			}
			ixs = append(ixs, xfer)
		}
		built, err := token.NewCloseAccountInstruction(keyATA, user, key.pub, nil).ValidateAndBuild()
		var closeIx solana.Instruction
		if err == nil {
			closeIx, err = onProgram(built, c.cfg.TokenProgram)
		}
		if err != nil {
			return nil, fmt.Errorf("wallet: close token account: %w", err)
		}
		ixs = append(ixs, closeIx)
		lamports = 0
		if c.cfg.FeePayer == nil {
			// The fee of a probe (no price) is only its signatures'.
			b.Signatures = 1
			if cost := reserve + b.Fee(); solBalance > cost {
				lamports = solBalance - cost
				ixs = append(ixs, system.NewTransferInstruction(lamports, key.pub, user).Build())
			}
		}
		tx, err := solana.NewTransaction(ixs, bh.Blockhash, solana.TransactionPayer(payer))
		if err != nil {
			return nil, fmt.Errorf("wallet: sweep transaction: %w", err)
		}
		if err := c.sign(tx, key); err != nil {
			return nil, err
		}
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
	return &Sweep{Tx: tx, Tokens: tokens, Lamports: lamports, Budget: b}, nil
}

// SweepReserveFees is how many later sweeps a key keeps SOL for when it
// pays its own fees: tokens sent to a revoked key's address afterwards can
// still be returned.
const SweepReserveFees = 10

// sweepReserve returns the key's SOL balance and what a sweep it pays for
// must leave aside besides its own fee: a reserve for later sweeps (a
// rent-exempt balance plus SweepReserveFees signature fees) and, if the sweep
// must recreate the user's token account, that account's rent.
func (c *Chain) sweepReserve(ctx context.Context, key, user solana.PublicKey) (balance, reserve uint64, err error) {
	if balance, err = c.SOLBalance(ctx, key); err != nil {
		return 0, 0, err
	}
	minBal, err := c.rpc.GetMinimumBalanceForRentExemption(ctx, 0, c.cfg.Commitment)
	if err != nil {
		return 0, 0, fmt.Errorf("wallet: account rent: %w", err)
	}
	reserve = minBal + SweepReserveFees*LamportsPerSignature
	if _, userATA, err := c.tokenBalance(ctx, user); err != nil {
		return 0, 0, err
	} else if !userATA {
		rent, err := c.rpc.GetMinimumBalanceForRentExemption(ctx, tokenAccountSize, c.cfg.Commitment)
		if err != nil {
			return 0, 0, fmt.Errorf("wallet: token account rent: %w", err)
		}
		reserve += rent
	}
	return balance, reserve, nil
}
