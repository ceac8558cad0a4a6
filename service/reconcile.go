package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/wallet"
)

// The reconciler owns the money invariant: for every session key, the
// tokens on its token account equal what the ledger says belongs there
// (remaining + reserved for an active or exhausted key; zero for a key that
// is expired, revoked, or pending past its approval's life). It drives every
// key toward it, in every replica (work is leased per key, so replicas
// racing take turns): any balance on a key that may no longer spend goes back
// to its owner, retried with backoff until a confirmed zero; funding and
// top-up approvals cut short by a crash are finished from their signature.

// Sweep outcomes, as counted by the metrics.
const (
	SweepConfirmed = "confirmed" // a sweep landed
	SweepZero      = "zero"      // the chain confirmed a zero balance
	SweepFailed    = "failed"    // a sweep failed or will never land: retried
	SweepPending   = "pending"   // a sweep's fate is not known yet
	SweepWaiting   = "waiting"   // in-flight payments must settle first
)

type reconStats struct {
	mismatches atomic.Int64
	mu         sync.Mutex
	sweeps     map[string]int64
	attempts   map[string]int // key → failed sweep attempts, for backoff
}

func (r *reconStats) count(outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sweeps == nil {
		r.sweeps = map[string]int64{}
	}
	r.sweeps[outcome]++
}

// backoff returns the delay before a key's next sweep attempt and counts the attempt.
func (r *reconStats) backoff(id string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attempts == nil {
		r.attempts = map[string]int{}
	}
	n := r.attempts[id]
	r.attempts[id] = n + 1
	d := 2 * time.Second << min(n, 8)
	return min(d, 5*time.Minute)
}

func (r *reconStats) reset(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.attempts, id)
}

// ReconMetrics are the reconciler's counters, for /metrics.
type ReconMetrics struct {
	Mismatches int64            // keys whose chain and ledger disagreed at the last full check
	Sweeps     map[string]int64 // sweeps by outcome since start
}

// ReconMetrics returns the reconciler's counters.
func (s *Service) ReconMetrics() ReconMetrics {
	s.recon.mu.Lock()
	defer s.recon.mu.Unlock()
	m := ReconMetrics{Mismatches: s.recon.mismatches.Load(), Sweeps: map[string]int64{}}
	for k, v := range s.recon.sweeps {
		m.Sweeps[k] = v
	}
	return m
}

// KeyReconciliation is one key whose chain and ledger disagree.
type KeyReconciliation struct {
	SessionKeyID   string `json:"session_key_id"`
	Status         string `json:"status"`
	Address        string `json:"session_key_address"`
	ChainAmount    string `json:"chain_amount"`
	LedgerAmount   string `json:"ledger_amount"`
	Action         string `json:"action"`
	SweepSignature string `json:"sweep_signature,omitempty"`
}

// TokenTotals are one token's totals in a reconciliation.
type TokenTotals struct {
	Token       string `json:"token"`
	Mint        string `json:"mint"`
	ChainTotal  string `json:"chain_total"`
	LedgerTotal string `json:"ledger_total"`
}

// ReconcileReport is the outcome of one full check of every key.
type ReconcileReport struct {
	Checked     int    `json:"checked"`
	Agree       bool   `json:"agree"`
	ChainTotal  string `json:"chain_total"`
	LedgerTotal string `json:"ledger_total"`
	// Tokens are the totals of each token, when the server offers several
	// (chain_total and ledger_total are then the first token's).
	Tokens    []TokenTotals       `json:"tokens,omitempty"`
	Keys      []KeyReconciliation `json:"keys"`
	CheckedAt string              `json:"checked_at"`
}

// expected is what the ledger says belongs on a key's token account.
func expected(k *policy.SessionKey) policy.Amount {
	switch k.Status {
	case policy.StatusActive, policy.StatusExhausted:
		return max(k.MaxAmount-k.Spent, 0)
	}
	return 0
}

// Reconcile finishes interrupted approvals, then compares every key's token
// balance with the ledger, queues a sweep for every key holding what it may
// no longer spend, and reports every disagreement with what is being done.
func (s *Service) Reconcile(ctx context.Context) (*ReconcileReport, error) {
	if err := s.FinishApprovals(ctx); err != nil {
		s.log.Warn("finishing interrupted approvals", "err", err)
	}
	ids, err := s.store.KeyIDs(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	as, err := s.store.ProcessingApprovals(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	processing := map[string]bool{}
	for _, a := range as {
		processing[a.SessionKeyID] = true
	}
	queued, err := s.store.SweepQueued(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	now, err := s.store.Now(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	rep := &ReconcileReport{Agree: true, Keys: []KeyReconciliation{}, CheckedAt: rfc(now)}
	chainTotal, ledgerTotal := map[string]uint64{}, map[string]uint64{}
	for _, id := range ids {
		k, _, err := s.store.GetKey(ctx, "", id)
		if errors.Is(err, policy.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, unavailable(err)
		}
		addr, err := solana.PublicKeyFromBase58(k.Address)
		if err != nil {
			// Checked when it was written: a record that no longer parses
			// holds no chain balance this pass can read.
			s.log.Error("reconcile: a key's stored address does not parse", "session_key_id", id, "err", err)
			continue
		}
		bctx, cancel := context.WithTimeout(ctx, s.cfg.RPCTimeout)
		tok := s.tokenOfMint(k.Mint)
		bal, err := tok.Chain.TokenBalance(bctx, addr)
		cancel()
		if err != nil {
			return nil, unavailable(err)
		}
		rep.Checked++
		want := expected(k)
		chainTotal[tok.Mint()] += bal
		ledgerTotal[tok.Mint()] += uint64(want)
		fm := func(a policy.Amount) string { return a.Format(tok.Decimals) }
		dead := k.Status == policy.StatusRevoked || k.Status == policy.StatusExpired ||
			(k.Status == policy.StatusPendingApproval && !processing[id] &&
				now.After(k.CreatedAt.Add(s.cfg.ApprovalTTL+s.cfg.AttachGrace)))
		if bal == uint64(want) {
			if dead && bal == 0 {
				s.zeroConfirmed(ctx, id)
			}
			continue
		}
		rep.Agree = false
		kr := KeyReconciliation{SessionKeyID: id, Status: string(k.Status), Address: k.Address,
			ChainAmount: fm(policy.Amount(bal)), LedgerAmount: fm(want)}
		st, err := s.store.Sweep(ctx, id, policy.SweepGet)
		s.logFailure(err, "reconcile: read the sweep state", "session_key_id", id) // the report then names no sweep signature
		if st != nil {
			kr.SweepSignature = st.Signature
		}
		switch {
		case dead:
			if _, ok := queued[id]; !ok {
				_, derr := s.store.Sweep(ctx, id, policy.SweepDirty)
				s.logFailure(derr, "reconcile: mark the sweep dirty", "session_key_id", id)
				if err := s.store.EnqueueSweep(ctx, id, now); err != nil {
					return nil, unavailable(err)
				}
			}
			kr.Action = "returning " + fm(policy.Amount(bal)) + " " + tok.Symbol + " to the owner (sweep queued, retried until the balance is zero)"
			if k.Reserved > 0 {
				kr.Action = "waiting for " + fm(k.Reserved) + " " + tok.Symbol + " of in-flight payments to settle, then returning the rest to the owner"
			}
		case k.Status == policy.StatusPendingApproval:
			kr.Action = "finishing the funding approval from its transaction (it landed or will be found expired)"
		case k.Reserved > 0 && bal < uint64(want):
			kr.Action = "in-flight payments of " + fm(k.Reserved) + " " + tok.Symbol + " are being resolved from their signatures"
		case bal > uint64(want):
			kr.Action = "none: the chain holds more than the ledger (tokens sent to the key from outside); they go back to the owner when the key ends"
		default:
			kr.Action = "none: the chain holds less than the ledger; an operator must look"
		}
		rep.Keys = append(rep.Keys, kr)
	}
	for i, t := range s.cfg.Tokens {
		m := t.Mint()
		ct, lt := policy.Amount(chainTotal[m]).Format(t.Decimals), policy.Amount(ledgerTotal[m]).Format(t.Decimals)
		if i == 0 {
			rep.ChainTotal, rep.LedgerTotal = ct, lt
		}
		if len(s.cfg.Tokens) > 1 {
			rep.Tokens = append(rep.Tokens, TokenTotals{Token: t.Symbol, Mint: m, ChainTotal: ct, LedgerTotal: lt})
		}
	}
	s.recon.mismatches.Store(int64(len(rep.Keys)))
	return rep, nil
}

// zeroConfirmed records a dead key's confirmed zero balance, takes it off the
// sweep queue, and deletes its sealed secret once the grace period passed.
func (s *Service) zeroConfirmed(ctx context.Context, id string) {
	st, err := s.store.Sweep(ctx, id, policy.SweepZero)
	if err != nil {
		s.logFailure(err, "sweep: record the zero balance", "session_key_id", id) // the next pass confirms it again
		return
	}
	if st.Signature != "" {
		return
	}
	s.logFailure(s.store.SweepDone(ctx, id), "sweep: mark done", "session_key_id", id) // the next pass finds it again
	s.recon.reset(id)
	st, err = s.store.Sweep(ctx, id, policy.SweepForget, s.cfg.SecretGrace.Milliseconds())
	switch {
	case err != nil:
		s.logFailure(err, "sweep: delete the sealed secret", "session_key_id", id) // retried once the key is queued again
	case st.Deleted:
		s.log.Info("sealed secret deleted after a confirmed zero balance", "session_key_id", id)
	}
}

// unavailable turns an infrastructure failure into a coded error naming the
// dependency (never its address).
func unavailable(err error) error {
	if isCoded(err) {
		return err
	}
	return &policy.Error{Code: policy.CodeUnavailable, Message: dependency(err) + " did not answer; nothing was changed, try again"}
}

// SweepResult is one attempt to bring a key's balance to zero.
type SweepResult struct {
	Signature string // the sweep that landed ("" when none was needed or it did not land)
	Tokens    uint64 // tokens it returned
	Done      bool   // the chain confirmed a zero balance
	Outcome   string // one of the Sweep* outcomes
}

// SweepKey makes one attempt to return what a key that may no longer spend
// holds to its owner. Its signature is stored before it is sent; a sweep
// left pending by an earlier attempt (or a crash) is resolved from it first.
// Until the balance is a confirmed zero the key stays queued, retried with
// backoff.
func (s *Service) SweepKey(ctx context.Context, id string) (*SweepResult, error) {
	ok, unlock, err := s.store.Lock(ctx, "sweep:"+id, 2*s.cfg.PayWait+time.Minute)
	if err != nil {
		return nil, unavailable(err)
	}
	if !ok {
		return &SweepResult{Outcome: SweepPending}, nil // another replica is at it
	}
	defer unlock()
	s.inflight.Add(1)
	defer s.inflight.Done()
	ctx = context.WithoutCancel(ctx)
	res, err := s.sweepOnce(ctx, id)
	if err != nil {
		s.recon.count(SweepFailed)
		s.requeue(ctx, id, s.recon.backoff(id))
		return nil, err
	}
	s.recon.count(res.Outcome)
	switch {
	case res.Done:
		s.zeroConfirmed(ctx, id)
	case res.Outcome == SweepWaiting || res.Outcome == SweepPending:
		// Not a failure: look again soon.
		s.requeue(ctx, id, 2*time.Second)
	default:
		s.requeue(ctx, id, s.recon.backoff(id))
	}
	return res, nil
}

func (s *Service) requeue(ctx context.Context, id string, after time.Duration) {
	now, err := s.store.Now(ctx)
	if err != nil {
		return
	}
	s.logFailure(s.store.ScheduleSweep(ctx, id, now.Add(after)), "sweep: schedule the next try", "session_key_id", id) // the reconciler's full check finds it again
}

func (s *Service) sweepOnce(ctx context.Context, id string) (*SweepResult, error) {
	k, _, err := s.store.GetKey(ctx, "", id)
	if err != nil {
		if errors.Is(err, policy.ErrNotFound) {
			s.logFailure(s.store.SweepDone(ctx, id), "sweep: drop a key that is gone", "session_key_id", id)
			return &SweepResult{Outcome: SweepZero, Done: false}, nil
		}
		return nil, unavailable(err)
	}
	if k.Status == policy.StatusActive || k.Status == policy.StatusExhausted {
		s.logFailure(s.store.SweepDone(ctx, id), "sweep: drop a key that may spend again", "session_key_id", id) // not ours to sweep
		return &SweepResult{Outcome: SweepZero}, nil
	}
	if k.Reserved > 0 {
		// Payments reserved before the key stopped may still land: sweeping now
		// would race them. Recovery settles them first.
		return &SweepResult{Outcome: SweepWaiting}, nil
	}
	st, err := s.store.Sweep(ctx, id, policy.SweepGet)
	if err != nil {
		return nil, unavailable(err)
	}
	var landedSig string
	if st.Signature != "" {
		f, reason := s.resolve(ctx, st.Signature, st.Blockhash)
		switch f {
		case unknownFate:
			return &SweepResult{Outcome: SweepPending}, nil
		case landed:
			landedSig = st.Signature
			if _, err := s.store.Sweep(ctx, id, policy.SweepClear, st.Signature, "1"); err != nil {
				return nil, unavailable(err)
			}
		default:
			s.log.Warn("sweep did not land; trying again", "session_key_id", id, "reason", reason)
			if _, err := s.store.Sweep(ctx, id, policy.SweepClear, st.Signature, "0"); err != nil {
				return nil, unavailable(err)
			}
		}
	}
	if !st.HasSecret {
		return nil, fmt.Errorf("service: key %s has no sealed secret left to sweep with", id)
	}
	kp, err := s.openKey(ctx, k)
	if err != nil {
		return nil, err
	}
	user, err := parseWallet(k.UserWallet, "user_wallet") // a stored address: checked when it was written, checked again before money moves
	if err != nil {
		return nil, err
	}
	bctx, cancel := context.WithTimeout(ctx, 2*s.cfg.RPCTimeout)
	sw, err := s.chainOf(k).BuildSweep(bctx, kp, user)
	cancel()
	if errors.Is(err, wallet.ErrNothingToSweep) {
		return &SweepResult{Signature: landedSig, Outcome: SweepZero, Done: true}, nil
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("build sweep: %w", err))
	}
	sig := sw.Tx.Signatures[0].String()
	if _, err := s.store.Sweep(ctx, id, policy.SweepBegin, sig, sw.Tx.Message.RecentBlockhash.String()); err != nil {
		if errors.Is(err, policy.ErrConflict) {
			return &SweepResult{Outcome: SweepPending}, nil
		}
		return nil, unavailable(err)
	}
	f, reason := s.sendAwait(ctx, sw.Tx)
	switch f {
	case landed:
		if _, err := s.store.Sweep(ctx, id, policy.SweepClear, sig, "1"); err != nil {
			return nil, unavailable(err)
		}
		s.log.Info("session key swept", "session_key_id", id, "tokens", sw.Tokens, "signature", sig)
		// The sweep closed the token account: the balance is zero now.
		bctx, cancel := context.WithTimeout(ctx, s.cfg.RPCTimeout)
		bal, err := s.chainOf(k).TokenBalance(bctx, kp.PublicKey())
		cancel()
		return &SweepResult{Signature: sig, Tokens: sw.Tokens, Outcome: SweepConfirmed, Done: err == nil && bal == 0}, nil
	case neverLands:
		if _, err := s.store.Sweep(ctx, id, policy.SweepClear, sig, "0"); err != nil {
			return nil, unavailable(err)
		}
		return nil, &policy.Error{Code: policy.CodeUnavailable, Message: "the sweep did not land (" + reason + "); it is retried"}
	}
	return &SweepResult{Signature: "", Outcome: SweepPending}, nil
}

// resolve settles a stored transaction from its signature: landed, never
// lands (failed, or its blockhash expired unseen), or not known yet.
func (s *Service) resolve(ctx context.Context, sigText, blockhash string) (fate, string) {
	sig, err := solana.SignatureFromBase58(sigText)
	if err != nil {
		return neverLands, "no valid signature"
	}
	lctx, cancel := context.WithTimeout(ctx, s.cfg.RPCTimeout)
	st, err := s.chain.LookupSignature(lctx, sig)
	cancel()
	if err != nil {
		return unknownFate, "lookup failed"
	}
	if st.Found {
		if st.Failed() {
			return neverLands, "transaction failed on chain: " + st.Err
		}
		return landed, ""
	}
	if final, reason := s.finalFailure(ctx, sig, blockhash, errors.New("not found")); final {
		return neverLands, reason
	}
	return unknownFate, "not landed yet"
}

// sendAwait sends a signed transaction once and waits for it within the bound.
func (s *Service) sendAwait(ctx context.Context, tx *solana.Transaction) (fate, string) {
	ctx = context.WithValue(ctx, deadlineKey{}, time.Now().Add(s.cfg.PayWait))
	sctx, cancel := s.rpcCtx(ctx)
	_, err := s.chain.Send(sctx, tx)
	cancel()
	return s.afterSend(ctx, tx, err)
}

// compact is an error's text for people, without addresses of infrastructure.
func compact(err error) string {
	var fault *wallet.RPCFault
	if errors.As(err, &fault) || isStoreFault(err) || hasURL(err) {
		return dependencyFailed(err)
	}
	return err.Error()
}

// RunReconciler drives every key toward the invariant until ctx ends: each
// interval it finishes interrupted approvals and works through the due
// sweeps; every fullEvery it checks every key against the chain (one
// replica at a time).
func (s *Service) RunReconciler(ctx context.Context, interval, fullEvery time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastFull time.Time
	for {
		if err := s.reconcileRound(ctx, &lastFull, fullEvery); err != nil && ctx.Err() == nil {
			s.log.Warn("reconciler round failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) reconcileRound(ctx context.Context, lastFull *time.Time, fullEvery time.Duration) error {
	var errs []error
	if err := s.FinishApprovals(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.SweepDue(ctx, 100); err != nil {
		errs = append(errs, err)
	}
	if fullEvery > 0 && time.Since(*lastFull) >= fullEvery {
		ok, unlock, err := s.store.Lock(ctx, "reconcile", fullEvery/2)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			rep, err := s.Reconcile(ctx)
			unlock()
			if err != nil {
				errs = append(errs, err)
			} else if !rep.Agree {
				s.log.Warn("chain and ledger disagree", "keys", len(rep.Keys), "chain_total", rep.ChainTotal, "ledger_total", rep.LedgerTotal)
			}
		}
		*lastFull = time.Now()
	}
	return errors.Join(errs...)
}

// SweepDue makes one attempt on up to batch keys whose sweep is due.
func (s *Service) SweepDue(ctx context.Context, batch int64) error {
	ids, err := s.store.DueSweeps(ctx, batch)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if _, err := s.SweepKey(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// FinishApprovals finishes funding and top-up approvals whose submission was
// cut short (a crash after the owner's transfer was sent): landed → the key
// is activated or topped up (or the money swept back when it can no longer
// take it); failed, or not landed with its blockhash expired → the link works
// again (or shows it expired). Approvals claimed less than AttachGrace ago
// are left to the submission still running.
func (s *Service) FinishApprovals(ctx context.Context) error {
	as, err := s.store.ProcessingApprovals(ctx)
	if err != nil {
		return err
	}
	now, err := s.store.Now(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range as {
		if now.Sub(a.ClaimedAt) < s.cfg.AttachGrace+s.cfg.PayWait {
			continue
		}
		if err := s.finishApproval(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("approval of %s: %w", a.SessionKeyID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) finishApproval(ctx context.Context, a *policy.Approval) error {
	ok, unlock, err := s.store.Lock(ctx, "approval:"+a.Token, 2*s.cfg.PayWait+time.Minute)
	if err != nil || !ok {
		return err
	}
	defer unlock()
	if a.TxSignature == "" || (a.Kind != policy.ApprovalFund && a.Kind != policy.ApprovalTopUp) {
		// Nothing of this kind is finished from a transaction: the owner may submit again.
		_, err := s.store.ApprovalAction(ctx, a.Token, "release", "")
		return err
	}
	f, reason := s.resolve(ctx, a.TxSignature, a.TxBlockhash)
	switch f {
	case unknownFate:
		return nil
	case neverLands:
		s.log.Info("interrupted approval never landed; its link works again", "session_key_id", a.SessionKeyID, "reason", reason)
		_, err := s.store.ApprovalAction(ctx, a.Token, "release", "")
		return err
	}
	res, err := s.applyFunding(ctx, a, a.TxSignature)
	if err != nil {
		return err
	}
	return s.finishWith(ctx, a, res)
}

// finishWith marks an approval used with its result and tells subscribers.
func (s *Service) finishWith(ctx context.Context, a *policy.Approval, res *ApprovalResult) error {
	body, err := jsonMarshal(res)
	if err != nil {
		return fmt.Errorf("service: approval result: %w", err)
	}
	if _, err := s.store.ApprovalAction(ctx, a.Token, "finish", string(body)); err != nil {
		return err
	}
	s.notify(Change{SessionKeyID: a.SessionKeyID, ApprovalToken: a.Token, Status: res.Status})
	return nil
}

// applyFunding records a funding or top-up transfer that landed (signature
// sig): the key turns active or its maximum grows. When the key can no
// longer take it (expired or revoked meanwhile) the money goes back to the
// owner at once (and the reconciler retries until it has): the result says
// so, with the sweep's signature. A transfer counted before (a submission
// cut short after counting it, finished by the reconciler) counts once: the
// result says duplicate.
func (s *Service) applyFunding(ctx context.Context, a *policy.Approval, sig string) (*ApprovalResult, error) {
	res := &ApprovalResult{Kind: string(a.Kind), Result: map[string]any{"signature": sig}}
	var k *policy.SessionKey
	var err error
	if a.Kind == policy.ApprovalFund {
		k, err = s.store.Activate(ctx, a.SessionKeyID, sig, a.Amount)
	} else {
		k, err = s.store.TopUp(ctx, a.SessionKeyID, a.Amount, sig)
	}
	if err == nil {
		if k.Duplicate {
			res.Result["duplicate"] = true
			s.log.Info("funding transfer already counted; it counts once", "session_key_id", k.ID, "kind", a.Kind, "signature", sig)
		}
		if a.Kind == policy.ApprovalTopUp {
			// The attestation names the key's new maximum. After a duplicate
			// too: the call that counted it may have stopped before this.
			s.reattest(ctx, k.ID)
		}
		res.Status = string(k.Status)
		res.Result["session_key_id"], res.Result["max_amount"] = k.ID, s.formatIn(k.Mint, k.MaxAmount)
		res.Result["remaining_amount"] = s.formatIn(k.Mint, k.Remaining)
		return res, nil
	}
	if !isCoded(err) {
		return nil, unavailable(err)
	}
	return s.returnFunds(ctx, a, sig, err)
}

// returnFunds sends back a transfer that landed on a key that cannot take it.
func (s *Service) returnFunds(ctx context.Context, a *policy.Approval, sig string, why error) (*ApprovalResult, error) {
	s.log.Warn("a transfer landed on a key that cannot take it; returning it", "session_key_id", a.SessionKeyID, "why", why)
	now, err := s.store.Now(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	if err := s.store.EnqueueSweep(ctx, a.SessionKeyID, now); err != nil {
		return nil, unavailable(err)
	}
	mint := s.approvalMint(ctx, a)
	res := &ApprovalResult{Kind: string(a.Kind), Status: "returned", Result: map[string]any{
		"signature": sig, "session_key_id": a.SessionKeyID, "amount": s.formatIn(mint, a.Amount)}}
	msg := "This approval can no longer take effect (" + policyMessage(why) + "). Your transfer of " + s.formatIn(mint, a.Amount) +
		" " + s.symbolOf(mint) + " landed"
	sw, err := s.SweepKey(ctx, a.SessionKeyID)
	if err == nil && sw.Signature != "" {
		res.Result["sweep_signature"] = sw.Signature
		msg += " and was returned to your wallet (transaction " + sw.Signature + ")."
	} else {
		msg += " and is being returned to your wallet; it is retried until it is back."
	}
	res.Result["message"] = msg
	return res, nil
}

func policyMessage(err error) string {
	var pe *policy.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return "the key cannot take it"
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// hasURL reports an error of a transport (whose text names the endpoint).
func hasURL(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue) || strings.Contains(err.Error(), "://")
}
