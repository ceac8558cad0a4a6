package service

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/wallet"
)

// Codes of a refused approval submission, beside the policy codes.
const (
	CodeWrongSigner      policy.Code = "wrong_signer"
	CodeTampered         policy.Code = "tampered"
	CodeInvalidSignature policy.Code = "invalid_signature"
)

func (s *Service) newApprovalWithToken(ctx context.Context, n policy.NewApproval, token, wire, message string) (*ApprovalLink, error) {
	n.Token = token
	return s.newApproval(ctx, n, wire, message)
}

// refresh re-issues a pending transaction whose blockhash expired.
func (s *Service) refresh(ctx context.Context, a *policy.Approval) error {
	msg, err := base64.StdEncoding.DecodeString(a.Payload)
	if err != nil {
		return fmt.Errorf("service: approval payload: %w", err)
	}
	var m solana.Message
	if err := m.UnmarshalWithDecoder(newDecoder(msg)); err != nil {
		return fmt.Errorf("service: approval message: %w", err)
	}
	if ok, err := s.chain.BlockhashValid(ctx, m.RecentBlockhash); err != nil || ok {
		return nil // valid, or the chain is unreachable: keep the one issued
	}
	tx, err := s.buildFor(ctx, a)
	if err != nil {
		return err
	}
	payload := base64.StdEncoding.EncodeToString(tx.Message)
	if _, err := s.store.ApprovalAction(ctx, a.Token, "rebind", payload); err != nil {
		return err
	}
	a.Payload = payload
	return nil
}

// buildFor builds the transaction an approval binds to.
func (s *Service) buildFor(ctx context.Context, a *policy.Approval) (*wallet.Unsigned, error) {
	user, err := parseWallet(a.UserWallet, "user_wallet")
	if err != nil {
		return nil, err
	}
	switch a.Kind {
	case policy.ApprovalFund, policy.ApprovalTopUp:
		k, _, err := s.store.GetKey(ctx, "", a.SessionKeyID)
		if err != nil {
			return nil, err
		}
		key, err := parseWallet(k.Address, "session_key_address")
		if err != nil {
			return nil, err
		}
		return s.chainOf(k).BuildFundingMemo(ctx, user, key, uint64(a.Amount), approvalMemo(a.Kind))
	case policy.ApprovalOwnPayment:
		r, err := parseWallet(a.Recipient, "recipient")
		if err != nil {
			return nil, err
		}
		mint, err := s.mintOf(ctx, a)
		if err != nil {
			return nil, err
		}
		return s.tokenOfMint(mint).Chain.BuildOwnPayment(ctx, user, r, uint64(a.Amount), a.PaymentID)
	}
	return nil, fmt.Errorf("service: approval kind %s signs no transaction", a.Kind)
}

// mintOf returns the mint of what approval a moves: its key's token, else
// its session's ("" when neither names one or both are gone: the first
// token). A store that cannot answer is an error: a transaction or a page
// never falls back to another token for it.
func (s *Service) mintOf(ctx context.Context, a *policy.Approval) (string, error) {
	if a.SessionKeyID != "" {
		k, _, err := s.store.GetKey(ctx, "", a.SessionKeyID)
		if err == nil {
			return k.Mint, nil
		}
		if !errors.Is(err, policy.ErrNotFound) {
			return "", unavailable(err)
		}
	}
	if a.SessionID != "" {
		sess, err := s.store.GetSession(ctx, "", a.SessionID)
		if err == nil {
			return sess.Mint, nil
		}
		if !errors.Is(err, policy.ErrNotFound) {
			return "", unavailable(err)
		}
	}
	return "", nil
}

// approvalMint is mintOf for text only (an amount written in a message or
// a result): a store that cannot answer is logged, and the text is in the
// first token.
func (s *Service) approvalMint(ctx context.Context, a *policy.Approval) string {
	mint, err := s.mintOf(ctx, a)
	if err != nil {
		s.log.Warn("reading the token of a record; writing its amount in the first token", "session_key_id", a.SessionKeyID,
			"session_id", a.SessionID, "err", err)
	}
	return mint
}

// limitsMapIn writes limits in mint's token.
func (s *Service) limitsMapIn(mint string, l policy.Limits, above policy.Amount) map[string]string {
	f := func(a policy.Amount) string {
		if a == 0 {
			return ""
		}
		return s.formatIn(mint, a)
	}
	return map[string]string{"max_per_transaction": f(l.PerTransaction),
		"max_per_day": f(l.PerDay), "max_per_week": f(l.PerWeek),
		"max_per_month": f(l.PerMonth), "require_approval_above": f(above)}
}

// Submission is what the owner's wallet produced: a signed transaction, or a
// signature of the message.
type Submission struct {
	SignedTransaction string `json:"signed_transaction,omitempty"`
	Signature         string `json:"signature,omitempty"`
}

// ApprovalResult is the outcome of a submitted approval.
type ApprovalResult struct {
	Status string         `json:"status"`
	Kind   string         `json:"kind"`
	Result map[string]any `json:"result"`
}

// SubmitApproval checks what the owner signed, then carries the approval out.
// A wrong signer, a changed transaction or message, an expired or used link
// change nothing; a chain failure leaves the link usable.
func (s *Service) SubmitApproval(ctx context.Context, token string, sub Submission) (*ApprovalResult, error) {
	a, err := s.store.GetApproval(ctx, token)
	if err != nil {
		return nil, err
	}
	user, err := parseWallet(a.UserWallet, "user_wallet")
	if err != nil {
		return nil, err
	}
	var tx *solana.Transaction
	if a.Kind.SignsTransaction() {
		if sub.SignedTransaction == "" {
			return nil, policy.Errorf(policy.CodeInvalidArgument, "signed_transaction", "signed_transaction is required")
		}
		msg, err := base64.StdEncoding.DecodeString(a.Payload)
		if err != nil {
			return nil, fmt.Errorf("service: approval payload: %w", err)
		}
		tx, err = wallet.VerifySigned(msg, sub.SignedTransaction, user)
		if err != nil {
			return nil, verifyErr(err, a.UserWallet)
		}
	} else {
		if err := verifyMessage(user, a.Payload, sub.Signature); err != nil {
			return nil, err
		}
	}
	// Claim the link: one submission at a time, once. The signed
	// transaction's signature is kept with the claim, before it is sent, so a
	// submission cut short by a crash is finished by the reconciler.
	sig, bh := "", ""
	if tx != nil {
		sig, bh = tx.Signatures[0].String(), tx.Message.RecentBlockhash.String()
	}
	if _, err := s.store.ClaimApproval(ctx, token, sig, bh); err != nil {
		return nil, err
	}
	s.inflight.Add(1)
	defer s.inflight.Done()
	ctx = context.WithoutCancel(ctx)
	res, err := s.carryOut(ctx, a, tx)
	if errors.Is(err, errInFlight) {
		// The transfer may still land: the claim stays, and the reconciler finishes it.
		return nil, &policy.Error{Code: policy.CodeUnavailable, Message: "your transfer was sent but is not confirmed yet; " +
			"it is finished as soon as the Solana network confirms it (or the link works again if it never lands): " +
			"reload this page in a minute, do not sign a new transfer"}
	}
	if err != nil {
		// Nothing happened: the owner may try again with the same link.
		if _, rerr := s.store.ApprovalAction(ctx, token, "release", ""); rerr != nil {
			s.log.Error("release approval", "err", rerr)
		}
		return nil, err
	}
	if err := s.finishWith(ctx, a, res); err != nil {
		s.log.Error("finish approval", "err", err)
	}
	return res, nil
}

// errInFlight: a transfer was sent and its fate is not known yet.
var errInFlight = errors.New("service: transfer in flight")

func verifyErr(err error, userWallet string) error {
	switch {
	case errors.Is(err, wallet.ErrMessageMismatch), errors.Is(err, wallet.ErrSignerMismatch):
		return &policy.Error{Code: CodeTampered, Param: "signed_transaction", Message: "the signed transaction is not the one issued for this link; nothing was sent"}
	case errors.Is(err, wallet.ErrMissingSignature), errors.Is(err, wallet.ErrBadSignature),
		errors.Is(err, wallet.ErrExtraSignature), errors.Is(err, wallet.ErrSignatureCount):
		return &policy.Error{Code: CodeWrongSigner, Param: "signed_transaction", Message: "the transaction is not signed by the wallet " + userWallet + "; connect that wallet and sign again"}
	default:
		return &policy.Error{Code: policy.CodeInvalidArgument, Param: "signed_transaction", Message: "signed_transaction is not a valid base64 Solana transaction"}
	}
}

func verifyMessage(user solana.PublicKey, message, sigText string) error {
	if sigText == "" {
		return policy.Errorf(policy.CodeInvalidArgument, "signature", "signature is required")
	}
	sig, err := solana.SignatureFromBase58(sigText)
	if err != nil {
		raw, berr := base64.StdEncoding.DecodeString(sigText)
		if berr != nil || len(raw) != ed25519.SignatureSize {
			return &policy.Error{Code: CodeInvalidSignature, Param: "signature", Message: "signature is not a base58 or base64 ed25519 signature"}
		}
		copy(sig[:], raw)
	}
	if !ed25519.Verify(ed25519.PublicKey(user[:]), []byte(message), sig[:]) {
		return &policy.Error{Code: CodeWrongSigner, Param: "signature", Message: "the message is not signed by the wallet " + user.String() + " (or it was changed); connect that wallet and sign again"}
	}
	return nil
}

// carryOut does what an approval approves, after its signature checked out.
func (s *Service) carryOut(ctx context.Context, a *policy.Approval, tx *solana.Transaction) (*ApprovalResult, error) {
	res := &ApprovalResult{Kind: string(a.Kind), Result: map[string]any{}}
	switch a.Kind {
	case policy.ApprovalFund, policy.ApprovalTopUp:
		// Refuse before sending when the key can no longer take the money.
		var err error
		if a.Kind == policy.ApprovalFund {
			_, err = s.store.CheckActivate(ctx, a.SessionKeyID, a.Amount)
		} else {
			_, err = s.store.CheckTopUp(ctx, a.SessionKeyID, a.Amount)
		}
		if err != nil {
			if !isCoded(err) {
				return nil, unavailable(err)
			}
			// The owner's wallet may have sent the transfer itself: if it
			// landed, the money goes back.
			if f, _ := s.resolve(ctx, tx.Signatures[0].String(), tx.Message.RecentBlockhash.String()); f == landed {
				return s.returnFunds(ctx, a, tx.Signatures[0].String(), err)
			}
			return nil, &policy.Error{Code: policy.CodeOf(err), Param: "token",
				Message: "this approval can no longer take effect: " + policyMessage(err) + "; nothing was sent"}
		}
		switch f, reason := s.sendAwait(ctx, tx); f {
		case unknownFate:
			return nil, errInFlight
		case neverLands:
			return nil, &policy.Error{Code: policy.CodeUnavailable, Message: "the funding transfer did not land (" + reason + "); nothing was moved, try again"}
		}
		return s.applyFunding(ctx, a, tx.Signatures[0].String())
	case policy.ApprovalPayment, policy.ApprovalOwnPayment:
		return s.approvePayment(ctx, a, tx, res)
	case policy.ApprovalUnlink:
		k, err := s.store.Unlink(ctx, "", a.SessionKeyID)
		if err != nil {
			return nil, err
		}
		s.reattest(ctx, k.ID)
		res.Status, res.Result["session_key_id"] = "unlinked", k.ID
		return res, nil
	case policy.ApprovalLink:
		k, err := s.store.Link(ctx, "", a.SessionKeyID, a.SessionID)
		if err != nil {
			return nil, err
		}
		s.reattest(ctx, k.ID)
		res.Status, res.Result["session_key_id"], res.Result["session_id"] = "linked", k.ID, a.SessionID
		return res, nil
	case policy.ApprovalLimits:
		var d struct {
			Units map[string]int64 `json:"units"`
		}
		if err := json.Unmarshal(a.Details, &d); err != nil {
			return nil, fmt.Errorf("service: limits approval details: %w", err)
		}
		l := policy.Limits{PerTransaction: policy.Amount(d.Units["max_per_transaction"]), PerDay: policy.Amount(d.Units["max_per_day"]),
			PerWeek: policy.Amount(d.Units["max_per_week"]), PerMonth: policy.Amount(d.Units["max_per_month"])}
		sess, err := s.store.SetLimits(ctx, "", a.SessionID, l, policy.Amount(d.Units["require_approval_above"]))
		if err != nil {
			return nil, err
		}
		res.Status, res.Result["session_id"] = "limits_changed", sess.ID
		res.Result["limits"] = s.limitsMapIn(sess.Mint, sess.Limits, sess.RequireApprovalAbove)
		return res, nil
	}
	return nil, policy.Errorf(policy.CodeInvalidArgument, "token", "unknown approval kind %s", a.Kind)
}

// approvePayment reserves an approved payment under every limit and pays it.
func (s *Service) approvePayment(ctx context.Context, a *policy.Approval, ownTx *solana.Transaction, res *ApprovalResult) (*ApprovalResult, error) {
	if a.Kind == policy.ApprovalPayment {
		// An x402 purchase is bought from its seller, not paid by a plain transfer.
		if rec, err := s.store.X402(ctx, a.UserWallet, a.PaymentID); err != nil {
			return nil, err
		} else if rec != nil {
			return s.approveX402(ctx, a, rec, res)
		}
	}
	req := policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: a.SessionKeyID, AgentID: "",
		Amount: a.Amount, Recipient: a.Recipient, PaymentID: a.PaymentID, Approved: true}
	tx := ownTx
	if a.Kind == policy.ApprovalPayment {
		k, _, err := s.store.GetKey(ctx, "", a.SessionKeyID)
		if err != nil {
			return nil, err
		}
		kp, err := s.openKey(ctx, k)
		if err != nil {
			return nil, err
		}
		r, err := parseWallet(a.Recipient, "recipient") // a stored address: checked when it was written, checked again before money moves
		if err != nil {
			return nil, err
		}
		if tx, err = s.chainOf(k).BuildPayment(ctx, kp, r, uint64(a.Amount), a.PaymentID); err != nil {
			return nil, chainErr("build the payment", err)
		}
	} else {
		req.SessionKeyID, req.SessionID = "", a.SessionID
	}
	req.Signature, req.Blockhash = tx.Signatures[0].String(), tx.Message.RecentBlockhash.String()
	d, err := s.store.Decide(ctx, req)
	if err != nil {
		return nil, err
	}
	if d.Outcome == policy.OutcomeRefused {
		dv := s.decisionView(d)
		if len(d.Checks) == 0 {
			return nil, errors.New("service: the ledger refused the payment without a failing check")
		}
		return nil, &policy.Error{Code: d.Checks[0].Code, Message: "the payment no longer fits the limits: " + dv.Reason}
	}
	pr, err := s.afterDecision(ctx, d, req, tx, func(string) {})
	if err != nil {
		return nil, err
	}
	res.Status = pr.Status
	res.Result["payment_id"], res.Result["signature"] = pr.PaymentID, pr.TransactionSignature
	if pr.Status == "failed" {
		return nil, &policy.Error{Code: policy.CodeUnavailable, Message: pr.Reason}
	}
	return res, nil
}

// RejectApproval cancels a pending approval; a payment it held fails.
func (s *Service) RejectApproval(ctx context.Context, token, reason string) error {
	body, _ := json.Marshal(map[string]string{"status": "cancelled", "reason": reason}) // a map of strings always marshals
	a, err := s.store.ApprovalAction(ctx, token, "cancel", string(body))
	if err != nil {
		return err
	}
	if a.PaymentID != "" {
		if _, err := s.store.Release(ctx, a.UserWallet, a.PaymentID, "the owner rejected it"); err != nil && !errors.Is(err, policy.ErrConflict) {
			return err
		}
	}
	return nil
}
