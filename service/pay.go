package service

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/wallet"
)

// CanAfford answers whether a payment would pass now, with the same checks as
// Pay, changing nothing.
func (s *Service) CanAfford(ctx context.Context, agent, keyID string, amount policy.Amount, recipient string) (*DecisionView, error) {
	d, err := s.store.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeCheck, SessionKeyID: keyID, AgentID: agent,
		Amount: amount, Recipient: recipient})
	if err != nil {
		return nil, err
	}
	return s.decisionView(d), nil
}

// PayInput is a payment request of an agent.
type PayInput struct {
	AgentID        string
	SessionKeyID   string // pay from this key ...
	SessionID      string // ... or under this session from the owner's own wallet
	Recipient      string
	Amount         policy.Amount
	Description    string
	IdempotencyKey string
	// DeviceFingerprint is the paying device's fingerprint, required by a key bound to a device.
	DeviceFingerprint string
	// Progress, when set, hears the stages: reserved, signed, sent, confirmed.
	Progress func(stage string)
}

// PayResult is the outcome of a payment request. Status is confirmed,
// pending (sent, not yet confirmed: ask status later), approval_required
// (the owner must approve: ApprovalURL), refused or failed.
type PayResult struct {
	Status               string        `json:"status"`
	PaymentID            string        `json:"payment_id,omitempty"`
	TransactionSignature string        `json:"transaction_signature,omitempty"`
	Amount               string        `json:"amount"`
	Recipient            string        `json:"recipient"`
	SessionKeyID         string        `json:"session_key_id,omitempty"`
	SessionID            string        `json:"session_id,omitempty"`
	RemainingAmount      string        `json:"remaining_amount,omitempty"`
	Duplicate            bool          `json:"duplicate,omitempty"`
	IdempotencyKey       string        `json:"idempotency_key,omitempty"`
	Gasless              *bool         `json:"gasless,omitempty"` // asked for with auto_detect_gasless: whether the service's fee payer paid the network fee
	Reason               string        `json:"reason,omitempty"`
	Code                 string        `json:"code,omitempty"`
	Decision             *DecisionView `json:"decision,omitempty"`
	*ApprovalLink

	mint string // the token of the amounts (the key's, or the session's)
}

// ErrRefused is what a refusal's error (a *Error, returned with the
// *PayResult or *FetchResult that tells the checks) answers to errors.Is.
var ErrRefused = errors.New("payment refused")

// refusal is the one error of a refused payment that every face renders: the
// refusal's code, its sentence, the parameter refused, and ErrRefused within.
func refusal(code, reason, param string) error {
	return refused{&policy.Error{Code: policy.Code(code), Message: reason, Param: param}}
}

// refused is a refusal's *Error that is also ErrRefused (no Cause: nothing failed).
type refused struct{ err *policy.Error }

func (r refused) Error() string { return r.err.Error() }

// Unwrap returns the *Error every face renders.
func (r refused) Unwrap() error { return r.err }

// Is reports ErrRefused.
func (r refused) Is(target error) bool { return target == ErrRefused }

// ErrCancelled is returned by Pay when the caller cancelled before the
// payment was reserved: nothing was changed.
var ErrCancelled = errors.New("payment cancelled before it was reserved; nothing was changed")

// Pay runs a payment, deciding first: the ledger checks and reserves it in
// one round trip (a refusal or a replay costs nothing more: no RPC call, no
// signature); then the transaction is signed on a shared recent blockhash,
// its signature attached to the reservation before it is sent (round trip
// two), sent once, confirmed within a bound, and committed (round trip three,
// which answers what remains). A payment over the session's threshold, a
// risky one, or one from the owner's own wallet comes back approval_required
// with a link. Without an idempotency key the server makes one, returned in
// every result, so a retry is always possible. A caller that cancels before
// the reservation changes nothing (ErrCancelled); from the reservation on,
// the payment runs to a known outcome, which the agent learns with status or
// the same idempotency key.
func (s *Service) Pay(ctx context.Context, in PayInput) (*PayResult, error) {
	progress := in.Progress
	if progress == nil {
		progress = func(string) {}
	}
	if in.Amount <= 0 {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "amount", "amount must be greater than zero")
	}
	recipient, err := parseWallet(in.Recipient, "recipient")
	if err != nil {
		return nil, err
	}
	if (in.SessionKeyID == "") == (in.SessionID == "") {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "session_key_id", "give exactly one of session_key_id or session_id")
	}
	if len(in.Description) > 500 {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "description", "description is longer than 500 characters")
	}
	if err := plainText("description", in.Description); err != nil {
		return nil, err
	}
	if err := plainText("agent_id", in.AgentID); err != nil {
		return nil, err
	}
	if len(in.IdempotencyKey) > 200 {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "idempotency_key", "idempotency_key is longer than 200 characters")
	}
	if in.IdempotencyKey == "" {
		in.IdempotencyKey = policy.NewID("idem_")
	}
	// pay_wait bounds the whole answer, every RPC call included.
	ctx = context.WithValue(ctx, deadlineKey{}, time.Now().Add(s.cfg.PayWait))
	if in.SessionID != "" {
		return s.payFromOwner(ctx, in, recipient)
	}
	risky := false
	if s.cfg.RiskThreshold > 0 {
		// The risk score reads the key's history: one more round trip, only when risk is on.
		k, _, err := s.store.KeyForPayment(ctx, in.AgentID, in.SessionKeyID, recipient.String())
		if err != nil {
			return nil, s.nothingPaid(err, in.IdempotencyKey)
		}
		r := policy.KeyRisk(k, policy.RiskInput{Amount: in.Amount, NewRecipient: !k.RecipientPaid})
		risky = r.Score > s.cfg.RiskThreshold
	}
	if cerr := ctx.Err(); cerr != nil {
		// Cancelled before the reservation: nothing changed, and the
		// network is not to blame.
		return nil, fmt.Errorf("%w: %w", ErrCancelled, cerr)
	}
	// From the reservation on, the payment runs to a known outcome even if
	// the caller goes away.
	ctx = context.WithoutCancel(ctx)
	req := policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: in.SessionKeyID, AgentID: in.AgentID, Amount: in.Amount,
		Recipient: recipient.String(), PaymentID: policy.NewPaymentID(in.SessionKeyID, "", in.IdempotencyKey), IdempotencyKey: in.IdempotencyKey,
		Description: in.Description, Risky: risky, DeviceHash: policy.HashDevice(in.DeviceFingerprint)}
	d, err := s.store.Decide(ctx, req)
	if err != nil {
		if isCoded(err) {
			return nil, err
		}
		// The reservation may have been written before the answer was lost.
		return s.mayHavePaid(nil, req, err)
	}
	if d.Outcome != policy.OutcomeReserved || d.Duplicate {
		return s.afterDecision(ctx, d, req, nil, progress)
	}
	return s.signAndSend(ctx, d, req, recipient, progress)
}

// signAndSend signs a fresh reservation, attaches its signature, then sends,
// confirms and commits it. Whatever goes wrong before the transaction is
// sent releases the reservation: nothing was paid.
func (s *Service) signAndSend(ctx context.Context, d *policy.Decision, req policy.PaymentRequest, recipient solana.PublicKey, progress func(string)) (*PayResult, error) {
	p := d.Payment
	res := s.payResult(d, req)
	progress("reserved")
	s.inflight.Add(1)
	defer s.inflight.Done()
	ctx = context.WithoutCancel(ctx)
	unsent := func(reason string, cause error) (*PayResult, error) {
		if _, err := s.store.Release(ctx, p.UserWallet, p.ID, reason); err != nil {
			s.log.Warn("release of an unsent payment failed; recovery releases it", "payment_id", p.ID, "err", err)
		}
		s.notify(Change{SessionKeyID: p.SessionKeyID, Status: "payment_failed"})
		if isCoded(cause) {
			return nil, cause
		}
		return res, s.nothingPaid(cause, req.IdempotencyKey)
	}
	kp, err := s.openSealed(&policy.SessionKey{ID: p.SessionKeyID, Address: d.KeyAddress}, d.SealedKey)
	if err != nil {
		return unsent("the session key could not be opened", err)
	}
	if err := wallet.ValidRecipient(recipient, kp.PublicKey()); err != nil {
		return unsent("invalid recipient", policy.Errorf(policy.CodeInvalidArgument, "recipient", "%v", err))
	}
	var tx *solana.Transaction
	var sendErr error
	for attempt := 0; ; attempt++ {
		bctx, cancel := s.rpcCtx(ctx)
		bh, err := s.blockhash.Get(bctx)
		cancel()
		if err != nil {
			return unsent("the Solana network did not answer", err)
		}
		gctx, cancel := s.rpcCtx(ctx)
		tx, err = s.tokenOfMint(d.Mint).Chain.SignPayment(gctx, kp, recipient, uint64(p.Amount), p.ID, bh)
		cancel()
		if err != nil {
			return unsent("the payment could not be signed", policy.Errorf(policy.CodeInvalidArgument, "recipient", "%v", err))
		}
		prev := ""
		if attempt > 0 {
			prev = p.Signature
		}
		if err := s.store.Attach(ctx, p.UserWallet, p.ID, tx.Signatures[0].String(), bh.String(), prev); err != nil {
			if isCoded(err) {
				return unsent("it was stopped before it was sent: "+err.Error(), err)
			}
			// Not sent: recovery releases the reservation (abandoned, or from its expired blockhash).
			return res, s.nothingPaid(err, req.IdempotencyKey)
		}
		p.Signature, p.Blockhash = tx.Signatures[0].String(), bh.String()
		progress("signed")
		res.TransactionSignature = p.Signature
		sctx, cancel := s.rpcCtx(ctx)
		_, sendErr = s.chain.Send(sctx, tx)
		cancel()
		if sendErr != nil && attempt == 0 && blockhashUnknown(sendErr) {
			// The shared blockhash expired under us: the node refused the
			// transaction, which can never land; sign again on a fresh one.
			s.blockhash.Invalidate()
			continue
		}
		if !nodeRefused(sendErr) {
			progress("sent")
		}
		break
	}
	outcome, reason := s.afterSend(ctx, tx, sendErr)
	switch outcome {
	case landed:
		return s.settle(ctx, p, res, nil, progress)
	case neverLands:
		return s.settle(ctx, p, res, finalErr(reason), progress)
	}
	s.log.Warn("payment of unknown fate stays reserved", "payment_id", p.ID, "reason", reason)
	res.Status, res.Code = "pending", string(policy.CodeUnavailable)
	res.Reason = "The payment was sent but is not confirmed yet: " + RetrySentence(req.IdempotencyKey)
	return res, nil
}

// blockhashUnknown reports a send the node refused because it does not know
// the transaction's blockhash.
func blockhashUnknown(err error) bool {
	return nodeRefused(err) && strings.Contains(err.Error(), "lockhash not found")
}

// nodeRefused reports a send the node answered with an error (its preflight
// refused the transaction, which was then not submitted), as opposed to a
// send whose answer was lost.
func nodeRefused(err error) bool {
	var re *jsonrpc.RPCError
	return err != nil && (errors.As(err, &re) || errors.Is(err, wallet.ErrSend))
}

// payResult is the common part of a payment's answer.
func (s *Service) payResult(d *policy.Decision, req policy.PaymentRequest) *PayResult {
	res := &PayResult{Amount: s.formatIn(d.Mint, req.Amount), Recipient: req.Recipient, SessionKeyID: req.SessionKeyID,
		SessionID: req.SessionID, Duplicate: d.Duplicate, IdempotencyKey: req.IdempotencyKey, mint: d.Mint}
	if d.Payment != nil {
		res.PaymentID = d.Payment.ID
		res.SessionID = d.Payment.SessionID
	}
	return res
}

// afterDecision carries a reserve decision through: refusal, approval link,
// duplicate, or send-confirm-commit of a transaction signed before the
// decision (approved payments).
func (s *Service) afterDecision(ctx context.Context, d *policy.Decision, req policy.PaymentRequest, tx *solana.Transaction, progress func(string)) (*PayResult, error) {
	res := s.payResult(d, req)
	switch {
	case d.Outcome == policy.OutcomeRefused:
		s.notify(Change{SessionKeyID: req.SessionKeyID, Status: "payment_refused"})
		dv := s.decisionView(d)
		res.Status, res.Reason, res.Decision = "refused", dv.Reason, dv
		if len(d.Checks) > 0 {
			res.Code = string(d.Checks[0].Code)
		}
		return res, refusal(res.Code, res.Reason, "amount")
	case d.Outcome == policy.OutcomeApprovalRequired && !d.Duplicate:
		link, err := s.paymentApproval(ctx, d.Payment, req)
		if err != nil {
			return nil, err
		}
		s.notify(Change{SessionKeyID: req.SessionKeyID, Status: "payment_approval_required"})
		res.Status, res.ApprovalLink = "approval_required", link
		res.Reason = fmt.Sprintf("The owner must approve this payment of %s %s: give them the approval link.", res.Amount, s.symbolOf(d.Mint))
		return res, nil
	case d.Duplicate:
		return s.duplicate(ctx, d, res)
	}
	// Reserved with its signature stored: now send, confirm and commit. The
	// rest runs even if the caller goes away, and shutdown waits for it.
	progress("reserved")
	s.inflight.Add(1)
	defer s.inflight.Done()
	ctx = context.WithoutCancel(ctx)
	progress("signed")
	res.TransactionSignature = d.Payment.Signature
	sctx, cancel := s.rpcCtx(ctx)
	_, err := s.chain.Send(sctx, tx)
	cancel()
	if !nodeRefused(err) {
		progress("sent")
	}
	outcome, reason := s.afterSend(ctx, tx, err)
	switch outcome {
	case landed:
		return s.settle(ctx, d.Payment, res, nil, progress)
	case neverLands:
		return s.settle(ctx, d.Payment, res, finalErr(reason), progress)
	}
	res.Status, res.Code = "pending", string(policy.CodeUnavailable)
	res.Reason = "The payment was sent but is not confirmed yet: " + RetrySentence(req.IdempotencyKey)
	return res, nil
}

// finalError is the reason a transaction is known never to land.
type finalError string

func (e finalError) Error() string { return string(e) }

func finalErr(reason string) error { return finalError(reason) }

// settle commits a payment that landed and releases one that never will.
func (s *Service) settle(ctx context.Context, p *policy.Payment, res *PayResult, sendErr error, progress func(string)) (*PayResult, error) {
	if sendErr != nil {
		var fe finalError
		if !errors.As(sendErr, &fe) {
			return nil, sendErr
		}
		if _, err := s.store.Release(ctx, p.UserWallet, p.ID, string(fe)); err != nil {
			if isCoded(err) {
				return nil, err
			}
			// It never landed and never will: nothing was paid, whatever the ledger says now.
			return res, s.nothingPaid(err, res.IdempotencyKey)
		}
		s.notify(Change{SessionKeyID: p.SessionKeyID, Status: "payment_failed"})
		res.Status, res.Code = "failed", string(policy.CodeUnavailable)
		res.Reason = "The payment failed on the Solana network and nothing was paid: " + string(fe)
		return res, nil
	}
	c, err := s.store.Commit(ctx, p.UserWallet, p.ID)
	if err != nil {
		if isCoded(err) {
			return nil, err
		}
		// It landed on chain; the ledger records it once reachable (recovery commits it).
		res.Status, res.Code = "pending", string(policy.CodeUnavailable)
		res.Reason = "The payment landed on the Solana network (transaction " + p.Signature +
			") but stipend could not record it yet: " + RetrySentence(res.IdempotencyKey)
		return res, &policy.Error{Code: policy.CodeUnavailable, Message: res.Reason}
	}
	progress("confirmed")
	s.notify(Change{SessionKeyID: p.SessionKeyID, Status: "payment_confirmed"})
	res.Status = "confirmed"
	if p.SessionKeyID != "" {
		res.RemainingAmount = s.formatIn(res.mint, c.KeyRemaining)
	}
	return res, nil
}

// finalFailure decides whether a failed send is known never to land.
func (s *Service) finalFailure(ctx context.Context, sig solana.Signature, blockhash string, err error) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, 3*s.cfg.RPCTimeout)
	defer cancel()
	var txErr *wallet.TxError
	if errors.As(err, &txErr) {
		return true, "transaction failed on chain: " + txErr.Err
	}
	st, lerr := s.chain.LookupSignature(ctx, sig)
	if lerr != nil {
		return false, ""
	}
	if st.Found {
		if st.Failed() {
			return true, "transaction failed on chain: " + st.Err
		}
		return false, "" // it landed after all: recovery commits it
	}
	if bh, herr := solana.HashFromBase58(blockhash); herr == nil {
		if valid, verr := s.chain.BlockhashValid(ctx, bh); verr == nil && !valid {
			// Look once more: it could have landed just before the blockhash expired.
			if st, lerr := s.chain.LookupSignature(ctx, sig); lerr == nil && !st.Found {
				return true, "blockhash expired before the transaction landed"
			}
		}
	}
	if errors.Is(err, wallet.ErrSend) {
		// The node refused it (simulation failed): it is not on chain.
		return true, err.Error()
	}
	return false, ""
}

// duplicate answers a repeated idempotency key with the first payment's fate.
func (s *Service) duplicate(ctx context.Context, d *policy.Decision, res *PayResult) (*PayResult, error) {
	p := d.Payment
	res.TransactionSignature = p.Signature
	if p.Signature == policy.Unsent {
		res.TransactionSignature = ""
	}
	res.Amount, res.Recipient = s.formatIn(d.Mint, p.Amount), p.Recipient
	switch p.Status {
	case policy.PaymentConfirmed:
		res.Status = "confirmed"
		if d.SessionKeyRemaining != nil {
			res.RemainingAmount = s.formatIn(d.Mint, *d.SessionKeyRemaining)
		}
	case policy.PaymentFailed:
		res.Status, res.Reason = "failed", "This idempotency_key's payment failed and nothing was paid: "+p.Reason+". Use a new idempotency_key to try again."
	case policy.PaymentApprovalRequired:
		res.Status = "approval_required"
		res.Reason = "This payment is waiting for the owner's approval."
	default:
		// Still in flight: resolve it from its signature, when it has one.
		res.Status = "pending"
		res.Reason = "The first request with this idempotency_key is still being paid; it will not be paid twice. " +
			RetrySentence(res.IdempotencyKey)
		sig, err := solana.SignatureFromBase58(p.Signature)
		if err != nil {
			return res, nil
		}
		lctx, cancel := s.rpcCtx(ctx)
		st, err := s.chain.LookupSignature(lctx, sig)
		cancel()
		if err == nil && st.Found && !st.Failed() {
			return s.settle(ctx, p, res, nil, func(string) {})
		}
	}
	return res, nil
}

// RetrySentence is what an agent is told when a payment's fate is not known
// to it: how to learn it without paying twice.
func RetrySentence(idempotencyKey string) string {
	return "the payment may have gone through: retry with the same idempotency_key (" + idempotencyKey +
		") to learn its outcome, never with a new one."
}

// nothingPaid turns an infrastructure failure before anything was sent into
// an unavailable error that says so.
func (s *Service) nothingPaid(err error, idem string) error {
	if isCoded(err) {
		return err
	}
	s.log.Warn("payment stopped before it was sent", "err", err)
	return &policy.Error{Code: policy.CodeUnavailable, Message: dependency(err) +
		" did not answer; nothing was paid. Try again (the same idempotency_key " + idem + " is safe)."}
}

// mayHavePaid answers an infrastructure failure after which the payment's
// fate is not known.
func (s *Service) mayHavePaid(res *PayResult, req policy.PaymentRequest, err error) (*PayResult, error) {
	s.log.Warn("payment of unknown fate", "err", err)
	if res == nil {
		res = &PayResult{Status: "pending", Amount: s.Format(req.Amount), Recipient: req.Recipient,
			SessionKeyID: req.SessionKeyID, SessionID: req.SessionID, IdempotencyKey: req.IdempotencyKey}
	}
	msg := dependency(err) + " did not answer: " + RetrySentence(req.IdempotencyKey)
	res.Status, res.Code, res.Reason = "pending", string(policy.CodeUnavailable), msg
	return res, &policy.Error{Code: policy.CodeUnavailable, Message: msg}
}

// dependency names the dependency behind an error, never its address.
func dependency(err error) string {
	if strings.Contains(err.Error(), "policy:") || strings.Contains(err.Error(), "redis") {
		return "stipend's ledger (Redis)"
	}
	return "the Solana network"
}

// afterSend follows a sent transaction: one the node refused (preflight)
// was not submitted and never lands unless an earlier copy did; any other
// is awaited within the bound.
func (s *Service) afterSend(ctx context.Context, tx *solana.Transaction, sendErr error) (fate, string) {
	if nodeRefused(sendErr) {
		lctx, cancel := s.rpcCtx(ctx)
		st, err := s.chain.LookupSignature(lctx, tx.Signatures[0])
		cancel()
		switch {
		case err != nil:
		case !st.Found:
			return neverLands, "the Solana network refused it: " + compact(sendErr)
		case st.Failed():
			return neverLands, "transaction failed on chain: " + st.Err
		}
	}
	return s.await(ctx, tx)
}

// deadlineKey carries the moment by which a flow must answer (pay_wait
// after it started).
type deadlineKey struct{}

// deadline is when the flow of ctx must answer: pay_wait after it started.
func (s *Service) deadline(ctx context.Context) time.Time {
	if t, ok := ctx.Value(deadlineKey{}).(time.Time); ok {
		return t
	}
	return time.Now().Add(s.cfg.PayWait)
}

// rpcCtx bounds one RPC call: RPCTimeout, and never past the flow's
// deadline (but half a second at least, so a send is always attempted).
func (s *Service) rpcCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	end := minTime(time.Now().Add(s.cfg.RPCTimeout), s.deadline(ctx))
	return context.WithDeadline(ctx, maxTime(end, time.Now().Add(500*time.Millisecond)))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Outcomes of await.
type fate int

const (
	unknownFate fate = iota
	landed
	neverLands
)

// await waits for a sent transaction within the configured bound: it landed
// (confirmed), it never will (failed on chain, or not found once its
// blockhash expired), or its fate is unknown when the bound passes. Every RPC
// call has its own short timeout; a hung RPC costs at most the bound.
func (s *Service) await(ctx context.Context, tx *solana.Transaction) (fate, string) {
	sig := tx.Signatures[0]
	deadline := s.deadline(ctx)
	lastCheck, lastSend := time.Now(), time.Now()
	for {
		lctx, cancel := context.WithDeadline(ctx, minTime(time.Now().Add(s.cfg.RPCTimeout), deadline))
		st, err := s.chain.LookupSignature(lctx, sig)
		cancel()
		if err == nil && st.Found {
			if st.Failed() {
				return neverLands, "transaction failed on chain: " + st.Err
			}
			if st.Confirmation == rpc.ConfirmationStatusConfirmed || st.Confirmation == rpc.ConfirmationStatusFinalized {
				return landed, ""
			}
		}
		if err == nil && !st.Found && time.Since(lastCheck) >= 2*time.Second {
			lastCheck = time.Now()
			bctx, cancel := context.WithDeadline(ctx, minTime(time.Now().Add(s.cfg.RPCTimeout), deadline))
			valid, verr := s.chain.BlockhashValid(bctx, tx.Message.RecentBlockhash)
			if verr == nil && !valid {
				// Look once more: it could have landed just before the blockhash expired.
				st, lerr := s.chain.LookupSignature(bctx, sig)
				cancel()
				if lerr == nil && !st.Found {
					return neverLands, "blockhash expired before the transaction landed"
				}
			} else {
				cancel()
			}
			if verr == nil && valid && time.Since(lastSend) >= 2*time.Second {
				sctx, cancel := context.WithDeadline(ctx, minTime(time.Now().Add(s.cfg.RPCTimeout), deadline))
				_, _ = s.chain.Send(sctx, tx) // rebroadcast: the same signature never executes twice
				cancel()
				lastSend = time.Now()
			}
		}
		if !time.Now().Before(deadline) {
			return unknownFate, "not confirmed within " + s.cfg.PayWait.String()
		}
		select {
		case <-ctx.Done():
			return unknownFate, ctx.Err().Error()
		case <-time.After(min(250*time.Millisecond, time.Until(deadline))):
		}
	}
}

// Recover resolves payments left reserved by a crash: landed ones are
// committed, ones that will never land are released, and reservations whose
// transaction was never attached (the process died between reserve and
// attach; nothing was sent) are released. It counts only what this call
// committed or released itself, and reports every failure.
func (s *Service) Recover(ctx context.Context) (committed, released int, err error) {
	ps, err := s.store.InFlight(ctx)
	if err != nil {
		return 0, 0, err
	}
	return s.recoverPayments(ctx, ps)
}

func (s *Service) recoverPayments(ctx context.Context, ps []*policy.Payment) (committed, released int, err error) {
	var errs []error
	release := func(p *policy.Payment, reason string) {
		r, rerr := s.store.Release(ctx, p.UserWallet, p.ID, reason)
		switch {
		case errors.Is(rerr, policy.ErrConflict):
			// Committed meanwhile by its own request: not ours to count.
		case rerr != nil:
			errs = append(errs, fmt.Errorf("release %s: %w", p.ID, rerr))
		case !r.Duplicate:
			released++
			s.notify(Change{SessionKeyID: p.SessionKeyID, Status: "payment_failed"})
		}
	}
	commit := func(p *policy.Payment) {
		c, cerr := s.store.Commit(ctx, p.UserWallet, p.ID)
		switch {
		case errors.Is(cerr, policy.ErrConflict):
		case cerr != nil:
			errs = append(errs, fmt.Errorf("commit %s: %w", p.ID, cerr))
		case !c.Duplicate:
			committed++
			s.notify(Change{SessionKeyID: p.SessionKeyID, Status: "payment_confirmed"})
		}
	}
	now, nerr := s.store.Now(ctx)
	if nerr != nil {
		return 0, 0, nerr
	}
	known := s.lookupAll(ctx, ps)
	for _, p := range ps {
		if p.Status != policy.PaymentReserved {
			continue
		}
		// An x402 payment's stored signature is the key's, not the transaction id.
		if handled, outcome, xerr := s.RecoverX402(ctx, p); handled {
			switch {
			case xerr != nil:
				errs = append(errs, fmt.Errorf("x402 payment %s: %w", p.ID, xerr))
			case outcome == "confirmed":
				committed++
			case outcome == "failed":
				released++
			}
			continue
		}
		switch p.Signature {
		case "":
			// Reserved, never attached: abandon it once it is clearly not in progress.
			ok, aerr := s.store.Abandon(ctx, p.UserWallet, p.ID, now.Add(-s.cfg.AttachGrace))
			if aerr != nil {
				errs = append(errs, fmt.Errorf("abandon %s: %w", p.ID, aerr))
			} else if ok {
				release(p, "it was never sent (interrupted before signing)")
			}
			continue
		case policy.Unsent:
			release(p, "it was never sent (interrupted before signing)")
			continue
		}
		sig, perr := solana.SignatureFromBase58(p.Signature)
		if perr != nil {
			errs = append(errs, fmt.Errorf("payment %s: bad signature %q", p.ID, p.Signature))
			continue
		}
		st, ok := known[sig]
		if !ok {
			lctx, cancel := context.WithTimeout(ctx, s.cfg.RPCTimeout)
			var lerr error
			st, lerr = s.chain.LookupSignature(lctx, sig)
			cancel()
			if lerr != nil {
				return committed, released, errors.Join(append(errs, lerr)...)
			}
		}
		switch {
		case st.Found && !st.Failed():
			commit(p)
		case st.Found:
			release(p, "transaction failed on chain: "+st.Err)
		default:
			if final, reason := s.finalFailure(ctx, sig, p.Blockhash, errors.New("not found")); final {
				release(p, reason)
			}
		}
	}
	return committed, released, errors.Join(errs...)
}

// paymentApproval makes the approval link of a payment: a message for the
// owner to sign (key payments), or the owner's own transaction (session alone).
func (s *Service) paymentApproval(ctx context.Context, p *policy.Payment, req policy.PaymentRequest) (*ApprovalLink, error) {
	now, err := s.store.Now(ctx)
	if err != nil {
		return nil, err
	}
	n := policy.NewApproval{UserWallet: p.UserWallet, AgentID: p.AgentID, SessionKeyID: p.SessionKeyID,
		SessionID: p.SessionID, PaymentID: p.ID, Amount: p.Amount, Recipient: p.Recipient,
		Details: map[string]string{"description": p.Description}, ExpiresAt: now.Add(s.cfg.ApprovalTTL)}
	mint := s.approvalMint(ctx, &policy.Approval{SessionKeyID: p.SessionKeyID, SessionID: p.SessionID})
	if p.SessionKeyID != "" {
		n.Kind = policy.ApprovalPayment
		token := policy.NewToken()
		msg := s.message(p.UserWallet, fmt.Sprintf("Approve a payment of %s %s to %s from session key %s (payment %s).",
			s.formatIn(mint, p.Amount), s.symbolOf(mint), p.Recipient, p.SessionKeyID, p.ID), token, now, n.ExpiresAt)
		return s.newApprovalWithToken(ctx, n, token, "", msg)
	}
	user, err := parseWallet(p.UserWallet, "user_wallet") // a stored address: checked when it was written, checked again before money moves
	if err != nil {
		return nil, err
	}
	recipient, err := parseWallet(p.Recipient, "recipient") // a stored address: checked when it was written, checked again before money moves
	if err != nil {
		return nil, err
	}
	tx, err := s.tokenOfMint(mint).Chain.BuildOwnPayment(ctx, user, recipient, uint64(p.Amount), p.ID)
	if err != nil {
		return nil, chainErr("build the payment", err)
	}
	n.Kind = policy.ApprovalOwnPayment
	n.Payload = base64.StdEncoding.EncodeToString(tx.Message)
	return s.newApproval(ctx, n, tx.Wire, "")
}

// payFromOwner: a session without a key pays from the owner's wallet, so the
// owner signs every payment. The ledger checks the session's limits first.
func (s *Service) payFromOwner(ctx context.Context, in PayInput, recipient solana.PublicKey) (*PayResult, error) {
	req := policy.PaymentRequest{Mode: policy.ModeReserve, SessionID: in.SessionID, AgentID: in.AgentID,
		Amount: in.Amount, Recipient: recipient.String(), IdempotencyKey: in.IdempotencyKey, Description: in.Description}
	if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("%w: %w", ErrCancelled, cerr)
	}
	ctx = context.WithoutCancel(ctx)
	d, err := s.store.Decide(ctx, req)
	if err != nil {
		if isCoded(err) {
			return nil, err
		}
		return s.mayHavePaid(nil, req, err)
	}
	return s.afterDecision(ctx, d, req, nil, func(string) {})
}

// message is the text the owner signs for a change that needs no transaction,
// in the shape of Sign-In With Solana: domain, account, statement, nonce, expiry.
// The message is stored, so it holds no approval token: its nonce is drawn
// from the token's hash (policy.TokenID), which binds it to the one link.
func (s *Service) message(userWallet, statement, token string, issued, expires time.Time) string {
	nonce := strings.NewReplacer("-", "", "_", "").Replace(strings.TrimPrefix(policy.TokenID(token), "aph_"))
	return fmt.Sprintf("%s wants you to approve with your Solana account:\n%s\n\n%s\n\nURI: %s\nNonce: %s\nIssued At: %s\nExpiration Time: %s",
		s.cfg.Domain, userWallet, statement, s.cfg.PublicURL+"/approve", nonce, issued.UTC().Format(time.RFC3339), expires.UTC().Format(time.RFC3339))
}

// Gasless reports whether the service's fee payer pays the network fees of
// payments (else each key pays its own).
func (s *Service) Gasless() bool { return s.chain != nil && s.chain.Gasless() }

// lookupAll asks the chain for the status of every reserved payment's
// signature at once (getSignatureStatuses, up to wallet.MaxStatusBatch a
// call). A failed lookup returns nothing: each payment is then looked up on
// its own.
func (s *Service) lookupAll(ctx context.Context, ps []*policy.Payment) map[solana.Signature]wallet.Status {
	var sigs []solana.Signature
	for _, p := range ps {
		if p.Status != policy.PaymentReserved {
			continue
		}
		if sig, err := solana.SignatureFromBase58(p.Signature); err == nil {
			sigs = append(sigs, sig)
		}
	}
	known := make(map[solana.Signature]wallet.Status, len(sigs))
	if len(sigs) == 0 {
		return known
	}
	calls := (len(sigs) + wallet.MaxStatusBatch - 1) / wallet.MaxStatusBatch
	lctx, cancel := context.WithTimeout(ctx, time.Duration(calls)*s.cfg.RPCTimeout)
	defer cancel()
	sts, err := s.chain.LookupSignatures(lctx, sigs)
	if err != nil || len(sts) != len(sigs) {
		s.logFailure(err, "recovery: batched signature lookup; looking each up on its own")
		return map[solana.Signature]wallet.Status{}
	}
	for i, sig := range sigs {
		known[sig] = sts[i]
	}
	return known
}
