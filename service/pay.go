package service

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	solana "github.com/gagliardetto/solana-go"

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
	Reason               string        `json:"reason,omitempty"`
	Code                 string        `json:"code,omitempty"`
	Decision             *DecisionView `json:"decision,omitempty"`
	*ApprovalLink
}

// ErrRefused is returned (with a *PayResult) when the ledger refuses a payment.
var ErrRefused = errors.New("payment refused")

// Pay runs a payment: check and reserve atomically, sign, store the
// signature, send, confirm, commit; or release when it is known never to
// land. A payment over the session's threshold, a risky one, or one from the
// owner's own wallet comes back approval_required with a link.
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
	if in.SessionID != "" {
		return s.payFromOwner(ctx, in, recipient)
	}
	k, sealed, err := s.store.KeyForPayment(ctx, in.AgentID, in.SessionKeyID, recipient.String())
	if err != nil {
		return nil, err
	}
	kp, err := s.openSealed(k, sealed)
	if err != nil {
		return nil, err
	}
	if err := wallet.ValidRecipient(recipient, kp.PublicKey()); err != nil {
		return nil, policy.Errorf(policy.CodeInvalidArgument, "recipient", "%v", err)
	}
	risky := false
	if s.cfg.RiskThreshold > 0 {
		r := policy.KeyRisk(k, policy.RiskInput{Amount: in.Amount, NewRecipient: !k.RecipientPaid})
		risky = r.Score > s.cfg.RiskThreshold
	}
	paymentID := policy.NewID("pay_")
	tx, err := s.chain.BuildPayment(ctx, kp, recipient, uint64(in.Amount), paymentID)
	if err != nil {
		return nil, chainErr("build the payment", err)
	}
	req := policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.ID, AgentID: in.AgentID, Amount: in.Amount,
		Recipient: recipient.String(), PaymentID: paymentID, IdempotencyKey: in.IdempotencyKey,
		Signature: tx.Signatures[0].String(), Blockhash: tx.Message.RecentBlockhash.String(),
		Description: in.Description, Risky: risky}
	d, err := s.store.Decide(ctx, req)
	if err != nil {
		return nil, err
	}
	return s.afterDecision(ctx, d, req, tx, progress)
}

// afterDecision carries a reserve decision through: refusal, approval link,
// duplicate, or send-confirm-commit.
func (s *Service) afterDecision(ctx context.Context, d *policy.Decision, req policy.PaymentRequest, tx *solana.Transaction, progress func(string)) (*PayResult, error) {
	res := &PayResult{Amount: s.Format(req.Amount), Recipient: req.Recipient, SessionKeyID: req.SessionKeyID,
		SessionID: req.SessionID, Duplicate: d.Duplicate}
	if d.Payment != nil {
		res.PaymentID = d.Payment.ID
		res.SessionID = d.Payment.SessionID
	}
	switch {
	case d.Outcome == policy.OutcomeRefused:
		s.notify(Change{SessionKeyID: req.SessionKeyID, Status: "payment_refused"})
		dv := s.decisionView(d)
		res.Status, res.Reason, res.Decision = "refused", dv.Reason, dv
		if len(d.Checks) > 0 {
			res.Code = string(d.Checks[0].Code)
		}
		return res, ErrRefused
	case d.Outcome == policy.OutcomeApprovalRequired && !d.Duplicate:
		link, err := s.paymentApproval(ctx, d.Payment, req)
		if err != nil {
			return nil, err
		}
		s.notify(Change{SessionKeyID: req.SessionKeyID, Status: "payment_approval_required"})
		res.Status, res.ApprovalLink = "approval_required", link
		res.Reason = fmt.Sprintf("The owner must approve this payment of %s %s: give them the approval link.", res.Amount, s.cfg.Token)
		return res, nil
	case d.Duplicate:
		return s.duplicate(ctx, d, res)
	}
	// Reserved: the signature is stored; now send, confirm and commit. The
	// rest runs even if the caller goes away, and shutdown waits for it.
	progress("reserved")
	s.inflight.Add(1)
	defer s.inflight.Done()
	ctx = context.WithoutCancel(ctx)
	progress("signed")
	res.TransactionSignature = d.Payment.Signature
	sig, err := s.chain.Send(ctx, tx)
	if err == nil {
		progress("sent")
		err = s.chain.Confirm(ctx, sig)
	} else if !errors.Is(err, wallet.ErrSend) {
		progress("sent")
	}
	return s.settle(ctx, d.Payment, res, err, progress)
}

// settle commits a payment that landed, releases one that never will, and
// leaves one of unknown fate reserved (recovery resolves it from its signature).
func (s *Service) settle(ctx context.Context, p *policy.Payment, res *PayResult, sendErr error, progress func(string)) (*PayResult, error) {
	if sendErr != nil {
		sig, _ := solana.SignatureFromBase58(p.Signature)
		final, reason := s.finalFailure(ctx, sig, p.Blockhash, sendErr)
		if !final {
			s.log.Warn("payment of unknown fate stays reserved", "payment_id", p.ID, "err", sendErr)
			res.Status = "pending"
			res.Reason = "The payment was sent but is not confirmed yet; check status later. It will not be paid twice."
			return res, nil
		}
		if _, err := s.store.Release(ctx, p.UserWallet, p.ID, reason); err != nil {
			return nil, err
		}
		s.notify(Change{SessionKeyID: p.SessionKeyID, Status: "payment_failed"})
		res.Status, res.Code = "failed", string(policy.CodeUnavailable)
		res.Reason = "The payment failed on the Solana network and nothing was paid: " + reason
		return res, nil
	}
	if _, err := s.store.Commit(ctx, p.UserWallet, p.ID); err != nil {
		return nil, err
	}
	progress("confirmed")
	s.notify(Change{SessionKeyID: p.SessionKeyID, Status: "payment_confirmed"})
	res.Status = "confirmed"
	if p.SessionKeyID != "" {
		if k, _, err := s.store.GetKey(ctx, "", p.SessionKeyID); err == nil {
			res.RemainingAmount = s.Format(k.Remaining)
		}
	}
	return res, nil
}

// finalFailure decides whether a failed send is known never to land.
func (s *Service) finalFailure(ctx context.Context, sig solana.Signature, blockhash string, err error) (bool, string) {
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
	res.Amount, res.Recipient = s.Format(p.Amount), p.Recipient
	switch p.Status {
	case policy.PaymentConfirmed:
		res.Status = "confirmed"
	case policy.PaymentFailed:
		res.Status, res.Reason = "failed", "This idempotency_key's payment failed: "+p.Reason+". Use a new idempotency_key to try again."
	case policy.PaymentApprovalRequired:
		res.Status = "approval_required"
		res.Reason = "This payment is waiting for the owner's approval."
	default:
		// Still in flight: resolve it from its signature.
		sig, err := solana.SignatureFromBase58(p.Signature)
		if err != nil {
			res.Status = "pending"
			return res, nil
		}
		st, err := s.chain.LookupSignature(ctx, sig)
		if err == nil && st.Found && !st.Failed() {
			return s.settle(ctx, p, res, nil, func(string) {})
		}
		res.Status = "pending"
		res.Reason = "The first request with this idempotency_key is still being paid; it will not be paid twice."
	}
	return res, nil
}

// Recover resolves payments left reserved by a crash: landed ones are
// committed, ones that will never land are released.
func (s *Service) Recover(ctx context.Context) (committed, released int, err error) {
	ps, err := s.store.InFlight(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, p := range ps {
		if p.Status != policy.PaymentReserved {
			continue
		}
		sig, err := solana.SignatureFromBase58(p.Signature)
		if err != nil {
			continue
		}
		st, err := s.chain.LookupSignature(ctx, sig)
		if err != nil {
			return committed, released, err
		}
		switch {
		case st.Found && !st.Failed():
			if _, err := s.store.Commit(ctx, p.UserWallet, p.ID); err == nil {
				committed++
			}
		case st.Found:
			if _, err := s.store.Release(ctx, p.UserWallet, p.ID, "transaction failed on chain: "+st.Err); err == nil {
				released++
			}
		default:
			if final, reason := s.finalFailure(ctx, sig, p.Blockhash, errors.New("not found")); final {
				if _, err := s.store.Release(ctx, p.UserWallet, p.ID, reason); err == nil {
					released++
				}
			}
		}
	}
	return committed, released, nil
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
	if p.SessionKeyID != "" {
		n.Kind = policy.ApprovalPayment
		token := policy.NewToken()
		msg := s.message(p.UserWallet, fmt.Sprintf("Approve a payment of %s %s to %s from session key %s (payment %s).",
			s.Format(p.Amount), s.cfg.Token, p.Recipient, p.SessionKeyID, p.ID), token, now, n.ExpiresAt)
		return s.newApprovalWithToken(ctx, n, token, "", msg)
	}
	user, _ := parseWallet(p.UserWallet, "user_wallet")
	recipient, _ := parseWallet(p.Recipient, "recipient")
	tx, err := s.chain.BuildOwnPayment(ctx, user, recipient, uint64(p.Amount), p.ID)
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
	d, err := s.store.Decide(ctx, req)
	if err != nil {
		return nil, err
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
