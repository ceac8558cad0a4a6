package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
)

// Status is what the cluster knows of a transaction signature.
type Status struct {
	Found        bool                       // the transaction landed (successfully or not)
	Err          string                     // the on-chain error as JSON; "" when it succeeded or was not found
	Confirmation rpc.ConfirmationStatusType // processed, confirmed or finalized; "" when not found
	Slot         uint64                     // the slot it landed in
}

// TxError is the error of a transaction that landed with an on-chain error.
// It matches ErrTxFailed with errors.Is.
type TxError struct {
	Signature solana.Signature // the failed transaction
	Err       string           // the on-chain error as JSON, e.g. {"InstructionError":[1,{"Custom":1}]}
}

// Error implements error.
func (e *TxError) Error() string {
	return fmt.Sprintf("%s: %s: %s", ErrTxFailed, e.Signature, e.Err)
}

// Unwrap makes errors.Is(err, ErrTxFailed) hold.
func (e *TxError) Unwrap() error { return ErrTxFailed }

// Failed reports whether the transaction landed with an error.
func (s Status) Failed() bool { return s.Found && s.Err != "" }

// Reached reports whether the transaction landed and reached commitment.
func (s Status) Reached(commitment rpc.CommitmentType) bool {
	return s.Found && rank(string(s.Confirmation)) >= rank(string(commitment))
}

func rank(level string) int {
	switch level {
	case string(rpc.CommitmentProcessed):
		return 1
	case string(rpc.CommitmentConfirmed):
		return 2
	case string(rpc.CommitmentFinalized):
		return 3
	}
	return 0
}

// Send submits a signed transaction and returns its signature (the first
// signature, known before sending). The node simulates it first; a simulation
// failure is returned as an error and the transaction is not submitted.
// A successful Send does not mean the transaction landed: use Confirm.
func (c *Chain) Send(ctx context.Context, tx *solana.Transaction) (solana.Signature, error) {
	if tx == nil || len(tx.Signatures) == 0 || tx.Signatures[0].IsZero() {
		return solana.Signature{}, fmt.Errorf("%w: transaction is not signed", ErrSend)
	}
	maxRetries := uint(0)
	opts := rpc.TransactionOpts{
		PreflightCommitment: c.cfg.Commitment,
		MaxRetries:          &maxRetries, // SendAndConfirm rebroadcasts itself
	}
	sig := tx.Signatures[0]
	var err error
	for attempt := 0; ; attempt++ {
		_, err = c.rpc.SendTransactionWithOpts(withStart(ctx, attempt), tx, opts)
		if err == nil || isAlreadyProcessed(err) {
			// Already processed: the same signed transaction is on chain or on
			// its way; only confirmation is left.
			return sig, nil
		}
		// A node that does not know the blockhash another gave out a moment
		// ago lags behind: ask again (the next endpoint first) before calling
		// it a failure. An expired blockhash ends up here too, and then
		// fails after the last try.
		if !isBlockhashNotFound(err) || attempt+1 >= lagRetries {
			break
		}
		c.log.DebugContext(ctx, "node does not know the blockhash yet; retrying", "signature", sig, "attempt", attempt+1)
		t := time.NewTimer(lagBackoff << attempt)
		select {
		case <-ctx.Done():
			t.Stop()
			return sig, fmt.Errorf("wallet: send %s: %w", sig, ctx.Err())
		case <-t.C:
		}
	}
	return sig, fmt.Errorf("wallet: send %s: %w", sig, compactRPCError(err))
}

// A node answering BlockhashNotFound is asked again lagRetries times in all,
// after lagBackoff, doubling: about 1.5 s, several slots for it to catch up.
const (
	lagRetries = 4
	lagBackoff = 200 * time.Millisecond
)

// rpcError shortens a JSON-RPC error (whose own Error dumps every field,
// simulation logs included) to its code, message and, for a failed
// simulation, the transaction error. errors.As still finds the original.
type rpcError struct{ err *jsonrpc.RPCError }

func (e rpcError) Error() string {
	msg := fmt.Sprintf("rpc error %d: %s", e.err.Code, e.err.Message)
	if m, ok := e.err.Data.(map[string]any); ok && m["err"] != nil {
		if b, err := json.Marshal(m["err"]); err == nil {
			msg += " " + string(b)
		}
	}
	return msg
}

func (e rpcError) Unwrap() error { return e.err }

func compactRPCError(err error) error {
	var re *jsonrpc.RPCError
	if errors.As(err, &re) {
		return rpcError{re}
	}
	return err
}

// LookupSignature returns what the cluster knows of sig, searching the
// transaction history too. Found is false when the transaction has not landed
// (yet); pair it with BlockhashValid to know whether it still may. Lookups of
// concurrent callers share getSignatureStatuses calls (see LookupSignatures).
func (c *Chain) LookupSignature(ctx context.Context, sig solana.Signature) (Status, error) {
	return c.statuses.lookup(ctx, sig)
}

// Confirm waits until sig reaches the configured commitment. It returns
// ErrTxFailed (wrapping the on-chain error) if the transaction landed with an
// error, and ErrConfirmTimeout if it is not confirmed within ConfirmTimeout
// (its fate is then unknown). It cannot tell a transaction that will never
// land: SendAndConfirm can, from the blockhash.
func (c *Chain) Confirm(ctx context.Context, sig solana.Signature) error {
	_, err := c.await(ctx, sig, nil)
	return err
}

// SendAndConfirm sends a signed transaction, rebroadcasts it while it has not
// landed, and waits for the configured commitment. It returns the signature
// and:
//   - nil when the transaction is confirmed;
//   - ErrTxFailed when it landed with an error;
//   - ErrBlockhashExpired when it did not land and its blockhash is no longer
//     valid, so it never will: only then may the caller rebuild and re-sign;
//   - ErrSend when the node refused it and it is not on chain, but its
//     blockhash is still valid (resending the same transaction is safe);
//   - ErrConfirmTimeout when ConfirmTimeout passed without an answer.
//
// Sending the same signed transaction again never executes it twice: a
// replay is recognised by its signature and only confirmed.
func (c *Chain) SendAndConfirm(ctx context.Context, tx *solana.Transaction) (solana.Signature, error) {
	if tx == nil || len(tx.Signatures) == 0 || tx.Signatures[0].IsZero() {
		return solana.Signature{}, fmt.Errorf("%w: transaction is not signed", ErrSend)
	}
	sig := tx.Signatures[0]
	if st, err := c.LookupSignature(ctx, sig); err == nil && st.Found {
		c.log.DebugContext(ctx, "transaction already landed, confirming only", "signature", sig)
		_, err := c.await(ctx, sig, nil)
		return sig, err
	}
	if _, sendErr := c.Send(ctx, tx); sendErr != nil {
		st, err := c.LookupSignature(ctx, sig)
		if err != nil {
			return sig, fmt.Errorf("%w: %w (and lookup failed: %w)", ErrSend, sendErr, err)
		}
		if !st.Found {
			valid, verr := c.BlockhashValid(ctx, tx.Message.RecentBlockhash)
			if verr == nil && !valid {
				return sig, c.expired(ctx, sig, sendErr)
			}
			return sig, fmt.Errorf("%w: %w", ErrSend, sendErr)
		}
	}
	_, err := c.await(ctx, sig, tx)
	return sig, err
}

// expired double-checks a transaction whose blockhash is invalid: if it is
// found after all it is confirmed as usual, else ErrBlockhashExpired.
func (c *Chain) expired(ctx context.Context, sig solana.Signature, cause error) error {
	st, err := c.LookupSignature(ctx, sig)
	if err != nil {
		return err
	}
	if st.Found {
		_, err := c.await(ctx, sig, nil)
		return err
	}
	if cause != nil {
		return fmt.Errorf("%w: %s (send: %w)", ErrBlockhashExpired, sig, cause)
	}
	return fmt.Errorf("%w: %s", ErrBlockhashExpired, sig)
}

// await polls sig until it reaches the configured commitment. With tx set it
// also rebroadcasts tx while it has not landed and gives up with
// ErrBlockhashExpired once tx's blockhash is no longer valid.
func (c *Chain) await(parent context.Context, sig solana.Signature, tx *solana.Transaction) (Status, error) {
	ctx, cancel := context.WithTimeout(parent, c.cfg.ConfirmTimeout)
	defer cancel()
	lastSend := time.Now()
	interval := pollInterval
	var landed <-chan struct{} // closed when the websocket says sig landed (or broke)
	if c.pubsub != nil {
		if ch, ok := c.pubsub.watch(ctx, sig, c.cfg.Commitment); ok {
			landed, interval = ch, wsPollInterval
		}
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		st, err := c.LookupSignature(ctx, sig)
		switch {
		case err != nil && ctx.Err() == nil:
			c.log.WarnContext(ctx, "signature status failed, retrying", "signature", sig, "err", err)
		case err != nil:
		case st.Failed():
			return st, &TxError{Signature: sig, Err: st.Err}
		case st.Reached(c.cfg.Commitment):
			return st, nil
		case !st.Found && tx != nil && time.Since(lastSend) >= resendInterval:
			valid, verr := c.BlockhashValid(ctx, tx.Message.RecentBlockhash)
			if verr == nil && !valid {
				return st, c.expired(ctx, sig, nil)
			}
			if _, serr := c.Send(ctx, tx); serr != nil {
				c.log.DebugContext(ctx, "rebroadcast refused", "signature", sig, "err", serr)
			}
			lastSend = time.Now()
		}
		select {
		case <-ctx.Done():
			if perr := parent.Err(); perr != nil {
				return st, fmt.Errorf("wallet: confirm %s: %w", sig, perr)
			}
			return st, fmt.Errorf("%w: %s after %s", ErrConfirmTimeout, sig, c.cfg.ConfirmTimeout)
		case <-ticker.C:
		case <-landed:
			// Landed (look now), or the subscription broke: poll as usual.
			landed = nil
			ticker.Reset(pollInterval)
		}
	}
}
