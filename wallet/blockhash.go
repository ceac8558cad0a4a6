package wallet

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	solana "github.com/gagliardetto/solana-go"
)

// BlockhashCache shares one recent blockhash among every payment: refreshed
// in the background (Run) and, when it is older than its maximum age, on
// demand, so a payment costs no blockhash RPC call of its own.
type BlockhashCache struct {
	chain  *Chain
	maxAge time.Duration

	mu    sync.Mutex
	hash  solana.Hash
	at    time.Time
	fetch chan struct{} // closed when the fetch in progress ends; nil when none
	err   error
}

// NewBlockhashCache returns a cache over c whose blockhash is used for at
// most maxAge (a blockhash stays valid for about a minute; 10 s by default).
func NewBlockhashCache(c *Chain, maxAge time.Duration) *BlockhashCache {
	if maxAge <= 0 {
		maxAge = 10 * time.Second
	}
	return &BlockhashCache{chain: c, maxAge: maxAge}
}

// Get returns the shared blockhash, fetching a new one when it is stale.
// Concurrent callers share one fetch.
func (b *BlockhashCache) Get(ctx context.Context) (solana.Hash, error) {
	b.mu.Lock()
	if !b.at.IsZero() && time.Since(b.at) < b.maxAge {
		h := b.hash
		b.mu.Unlock()
		return h, nil
	}
	wait := b.fetch
	if wait == nil {
		wait = make(chan struct{})
		b.fetch = wait
		b.mu.Unlock()
		b.refresh(ctx, wait)
	} else {
		b.mu.Unlock()
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return solana.Hash{}, ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.at.IsZero() || time.Since(b.at) >= b.maxAge {
		if b.err != nil {
			return solana.Hash{}, b.err
		}
		return solana.Hash{}, fmt.Errorf("wallet: no recent blockhash")
	}
	return b.hash, nil
}

// Invalidate drops the cached blockhash (the node said it is unknown).
func (b *BlockhashCache) Invalidate() {
	b.mu.Lock()
	b.at = time.Time{}
	b.mu.Unlock()
}

func (b *BlockhashCache) refresh(ctx context.Context, done chan struct{}) {
	res, err := b.chain.latestBlockhash(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
	if err == nil {
		b.hash, b.at = res.Blockhash, time.Now()
	}
	b.fetch = nil
	close(done)
}

// Run refreshes the blockhash every interval until ctx ends.
func (b *BlockhashCache) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		b.mu.Lock()
		busy := b.fetch != nil
		var done chan struct{}
		if !busy {
			done = make(chan struct{})
			b.fetch = done
		}
		b.mu.Unlock()
		if !busy {
			rctx, cancel := context.WithTimeout(ctx, interval)
			b.refresh(rctx, done)
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SignPayment builds and signs the same payment as BuildPayment on a
// blockhash the caller already has (from a BlockhashCache): no blockhash RPC
// call; the compute budget is measured as for every transaction (one
// simulation and one read of recent fees, asked at once).
func (c *Chain) SignPayment(ctx context.Context, key *Keypair, recipient solana.PublicKey, amount uint64, paymentID string, blockhash solana.Hash) (*solana.Transaction, error) {
	if err := c.checkPayment(key, recipient, amount, paymentID); err != nil {
		return nil, err
	}
	build := func(b Budget) (*solana.Transaction, error) {
		return c.paymentTx(key, recipient, amount, paymentID, blockhash, b)
	}
	b, err := c.budgetFor(ctx, build, 0)
	if err != nil {
		return nil, err
	}
	return build(b)
}

// BuildFundingMemo is BuildFunding with an SPL Memo (signed by the user)
// naming what the transfer is for, e.g. the approval it carries out: two
// approvals of the same amount to the same key are then never one
// transaction.
func (c *Chain) BuildFundingMemo(ctx context.Context, user, key solana.PublicKey, amount uint64, memo string) (*Unsigned, error) {
	if memo == "" || len(memo) > MaxPaymentIDLen || !utf8.ValidString(memo) {
		return nil, fmt.Errorf("%w: must be 1 to %d bytes of UTF-8", ErrInvalidMemo, MaxPaymentIDLen)
	}
	bh, err := c.latestBlockhash(ctx)
	if err != nil {
		return nil, err
	}
	build := func(b Budget) (*solana.Transaction, error) {
		tx, err := c.fundingTx(user, key, amount, bh.Blockhash, b)
		if err != nil {
			return nil, err
		}
		// Rebuild with the memo as the last instruction, the user its signer.
		ixs := make([]solana.Instruction, 0, len(tx.Message.Instructions)+1)
		for _, ci := range tx.Message.Instructions {
			accts, err := ci.ResolveInstructionAccounts(&tx.Message)
			if err != nil {
				return nil, fmt.Errorf("wallet: funding transaction: %w", err)
			}
			pid, err := tx.Message.Program(ci.ProgramIDIndex)
			if err != nil {
				return nil, fmt.Errorf("wallet: funding transaction: %w", err)
			}
			ixs = append(ixs, solana.NewInstruction(pid, accts, ci.Data))
		}
		ixs = append(ixs, memoInstruction(memo, user))
		tx, err = solana.NewTransaction(ixs, bh.Blockhash, solana.TransactionPayer(user))
		if err != nil {
			return nil, fmt.Errorf("wallet: funding transaction: %w", err)
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
	return unsigned(tx, bh, b, "funding")
}
