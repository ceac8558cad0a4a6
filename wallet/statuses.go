package wallet

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// MaxStatusBatch is how many signatures one getSignatureStatuses call takes.
const MaxStatusBatch = 256

// LookupSignatures returns what the cluster knows of each signature, in
// order, searching the transaction history too: one getSignatureStatuses call
// per MaxStatusBatch signatures. Recovery looks up every reserved payment
// with it.
func (c *Chain) LookupSignatures(ctx context.Context, sigs []solana.Signature) ([]Status, error) {
	out := make([]Status, 0, len(sigs))
	for start := 0; start < len(sigs); start += MaxStatusBatch {
		part, err := c.lookupBatch(ctx, sigs[start:min(start+MaxStatusBatch, len(sigs))])
		if err != nil {
			return nil, err
		}
		out = append(out, part...)
	}
	return out, nil
}

// lookupBatch is one getSignatureStatuses call (at most MaxStatusBatch signatures).
func (c *Chain) lookupBatch(ctx context.Context, sigs []solana.Signature) ([]Status, error) {
	res, err := c.rpc.GetSignatureStatuses(ctx, true, sigs...)
	if err != nil {
		return nil, fmt.Errorf("wallet: signature statuses of %d: %w", len(sigs), err)
	}
	if res == nil || len(res.Value) != len(sigs) {
		return nil, fmt.Errorf("wallet: signature statuses: node answered for %d of %d", lenValue(res), len(sigs))
	}
	out := make([]Status, len(sigs))
	for i, v := range res.Value {
		out[i] = statusOf(v)
	}
	return out, nil
}

func lenValue(res *rpc.GetSignatureStatusesResult) int {
	if res == nil {
		return 0
	}
	return len(res.Value)
}

func statusOf(v *rpc.SignatureStatusesResult) Status {
	if v == nil {
		return Status{}
	}
	st := Status{Found: true, Confirmation: v.ConfirmationStatus, Slot: v.Slot}
	if st.Confirmation == "" {
		// Old nodes omit confirmationStatus; no confirmations left means rooted.
		st.Confirmation = rpc.ConfirmationStatusConfirmed
		if v.Confirmations == nil {
			st.Confirmation = rpc.ConfirmationStatusFinalized
		}
	}
	if v.Err != nil {
		b, jerr := json.Marshal(v.Err)
		if jerr != nil {
			b = []byte(fmt.Sprint(v.Err))
		}
		st.Err = string(b)
	}
	return st
}

// statusBatcher joins the single-signature lookups of concurrent callers
// (every payment's confirmation loop polls its signature) into shared
// getSignatureStatuses calls: while one call is in flight, new lookups
// queue, and the next call carries up to MaxStatusBatch of them. A lone
// lookup goes out at once, so batching adds no wait.
type statusBatcher struct {
	c       *Chain
	mu      sync.Mutex
	queue   []statusReq
	running bool
}

type statusReq struct {
	sig   solana.Signature
	reply chan statusReply
}

type statusReply struct {
	st  Status
	err error
}

func (b *statusBatcher) lookup(ctx context.Context, sig solana.Signature) (Status, error) {
	req := statusReq{sig: sig, reply: make(chan statusReply, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, req)
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		go b.run()
	}
	select {
	case r := <-req.reply:
		return r.st, r.err
	case <-ctx.Done():
		return Status{}, fmt.Errorf("wallet: signature status %s: %w", sig, ctx.Err())
	}
}

// run sends queued lookups until none is left.
func (b *statusBatcher) run() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), MaxStatusBatch)
		if n == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		batch := make([]statusReq, n)
		copy(batch, b.queue)
		b.queue = append(b.queue[:0:0], b.queue[n:]...)
		b.mu.Unlock()

		sigs := make([]solana.Signature, n)
		for i, r := range batch {
			sigs[i] = r.sig
		}
		// The call serves several callers: it is bounded by the RPC timeouts,
		// not by any one caller's context (a caller that leaves stops waiting).
		ctx, cancel := context.WithTimeout(context.Background(), 2*b.c.cfg.RPCTimeout)
		sts, err := b.c.lookupBatch(ctx, sigs)
		cancel()
		for i, r := range batch {
			if err != nil {
				r.reply <- statusReply{err: err}
			} else {
				r.reply <- statusReply{st: sts[i]}
			}
		}
	}
}
