package service

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/wallet"
	"github.com/stipend/stipend/x402"
)

// The CAIP-2 ids x402 gives Solana's public clusters (the genesis hash's
// first 32 characters), by the Wallet Standard chain id of Config.Cluster.
var x402Networks = map[string]string{
	"solana:mainnet": "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
	"solana:devnet":  "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
	"solana:testnet": "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z",
}

// MaxFetchBody bounds the body an agent may POST to a paid resource.
const MaxFetchBody = 16 << 10

// x402ScanLimit bounds how many of a key's recent transactions a recovery
// searches for its payment.
const x402ScanLimit = 1000

// X402Network is the CAIP-2 network whose x402 offers this service pays:
// Config.X402Network, else the id of Config.Cluster's public cluster.
func (s *Service) X402Network() string {
	if s.cfg.X402Network != "" {
		return s.cfg.X402Network
	}
	return x402Networks[s.cfg.Cluster]
}

func (s *Service) fetcher() *x402.Fetcher {
	s.x402Once.Do(func() {
		s.x402Fetch = x402.NewFetcher(x402.FetchOptions{AllowPrivate: s.cfg.X402AllowPrivate, Timeout: s.cfg.X402Timeout,
			MaxBody: s.cfg.X402MaxBody})
	})
	return s.x402Fetch
}

// FetchInput is an agent's request for a web resource that may ask to be paid with x402.
type FetchInput struct {
	AgentID        string
	SessionKeyID   string
	URL            string
	Method         string // GET (default) or POST
	Body           string // POST only, at most MaxFetchBody bytes
	ContentType    string // of Body; application/json by default
	MaxAmount      policy.Amount
	IdempotencyKey string
	// Progress, when set, hears the stages: offered, reserved, sent, answered, settled.
	Progress func(stage string)
}

// FetchResult is the answer of a fetch. Status is paid (the resource was
// bought: payment_id, transaction_signature), free (the server asked for no
// payment), approval_required (the owner must approve: approval_url; nothing
// is signed until then), pending (the payment's fate is not known yet: it is
// held, and never paid twice), refused (nothing was signed: code, reason), or
// failed (nothing was paid).
type FetchResult struct {
	Status               string          `json:"status"`
	URL                  string          `json:"url"`
	HTTPStatus           int             `json:"http_status,omitempty"`
	ContentType          string          `json:"content_type,omitempty"`
	Body                 string          `json:"body,omitempty"`
	BodyEncoding         string          `json:"body_encoding,omitempty"` // base64 when the body is not UTF-8 text
	Truncated            bool            `json:"truncated,omitempty"`
	PaymentID            string          `json:"payment_id,omitempty"`
	TransactionSignature string          `json:"transaction_signature,omitempty"`
	Amount               string          `json:"amount,omitempty"`
	PayTo                string          `json:"pay_to,omitempty"`
	Network              string          `json:"network,omitempty"`
	RemainingAmount      string          `json:"remaining_amount,omitempty"`
	Duplicate            bool            `json:"duplicate,omitempty"`
	Reason               string          `json:"reason,omitempty"`
	Code                 string          `json:"code,omitempty"`
	Offers               []x402.Mismatch `json:"offers,omitempty"`
	Decision             *DecisionView   `json:"decision,omitempty"`
	*ApprovalLink

	mint string // the token of the amounts: the key's
}

// fetchRequestFingerprint binds an idempotency key to one request.
func fetchRequestFingerprint(in FetchInput) string {
	h := sha256.Sum256([]byte(strings.Join([]string{in.Method, in.URL, in.ContentType, in.Body}, "\x00")))
	return hex.EncodeToString(h[:16])
}

func (in *FetchInput) validate() error {
	in.Method = strings.ToUpper(strings.TrimSpace(in.Method))
	if in.Method == "" {
		in.Method = http.MethodGet
	}
	switch {
	case in.Method != http.MethodGet && in.Method != http.MethodPost:
		return policy.Errorf(policy.CodeInvalidArgument, "method", "method must be GET or POST")
	case in.Method == http.MethodGet && in.Body != "":
		return policy.Errorf(policy.CodeInvalidArgument, "body", "a GET request has no body; use POST")
	case len(in.Body) > MaxFetchBody:
		return policy.Errorf(policy.CodeInvalidArgument, "body", "body is longer than %d bytes", MaxFetchBody)
	case len(in.ContentType) > 200 || strings.ContainsAny(in.ContentType, "\r\n"):
		return policy.Errorf(policy.CodeInvalidArgument, "content_type", "content_type is not a valid media type")
	case in.MaxAmount <= 0:
		return policy.Errorf(policy.CodeInvalidArgument, "max_amount", "max_amount must be greater than zero")
	case in.IdempotencyKey == "" || len(in.IdempotencyKey) > 200:
		return policy.Errorf(policy.CodeInvalidArgument, "idempotency_key", "idempotency_key is required (at most 200 characters): retrying with it never pays twice")
	case in.SessionKeyID == "":
		return policy.Errorf(policy.CodeInvalidArgument, "session_key_id", "session_key_id is required")
	case len(in.URL) > 2048:
		return policy.Errorf(policy.CodeInvalidArgument, "url", "url is longer than 2048 characters")
	}
	u, err := url.Parse(in.URL)
	if err != nil {
		return policy.Errorf(policy.CodeInvalidArgument, "url", "url is not a valid URL")
	}
	if err := x402.CheckURL(u); err != nil {
		return policy.Errorf(policy.CodeInvalidArgument, "url", "%v", err)
	}
	return nil
}

// FetchPaid requests a URL and, when it answers 402 with an x402 offer this
// service can pay (the exact scheme on its network, in the key's token, at
// most MaxAmount), pays it from the session key through the same decision as
// Pay (every limit, checked first, so a refusal signs nothing; then reserved
// with the key's signature), retries with the payment, and returns the answer.
// The reservation is committed once the transfer is found on chain, released
// once its blockhash expired without it. The same idempotency key gives the
// first result again and never pays twice.
func (s *Service) FetchPaid(ctx context.Context, in FetchInput) (*FetchResult, error) {
	progress := in.Progress
	if progress == nil {
		progress = func(string) {}
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	fp := fetchRequestFingerprint(in)
	// The key must be the agent's before anything else, its purchases included.
	if _, _, err := s.store.GetKey(ctx, in.AgentID, in.SessionKeyID); err != nil {
		return nil, err
	}
	// A used idempotency key answers with its first result, without asking the server again.
	prev, err := s.store.PaymentByIdempotencyKey(ctx, in.SessionKeyID, in.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		return s.fetchReplay(ctx, in, prev, fp)
	}
	res := &FetchResult{URL: in.URL, Network: s.X402Network()}
	first, err := s.fetcher().Do(ctx, x402.Request{Method: in.Method, URL: in.URL, Body: in.Body, ContentType: in.ContentType})
	if err != nil {
		return nil, fetchErr(err)
	}
	if first.Status != http.StatusPaymentRequired {
		res.Status = "free"
		res.setAnswer(first.Status, first.ContentType, first.Body, first.Truncated)
		return res, nil
	}
	pr, err := x402.ParsePaymentRequired(first.Header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		res.setAnswer(first.Status, first.ContentType, first.Body, first.Truncated)
		return s.refuse(res, policy.CodeOfferNotAccepted, fmt.Sprintf("The server answered 402 without an x402 version 2 offer (%v); nothing was signed.", err))
	}
	if s.X402Network() == "" {
		return s.refuse(res, policy.CodeOfferNotAccepted, "This server pays no x402 network on cluster "+s.cfg.Cluster+
			" (its operator can set x402_network); nothing was signed.")
	}
	// Offers are matched against the key's own token (mint and decimals).
	tok, err := s.keyToken(ctx, in.AgentID, in.SessionKeyID)
	if err != nil {
		return nil, err
	}
	res.mint = tok.Mint()
	offer, why := x402.Choose(pr.Accepts, x402.Want{Network: s.X402Network(), Asset: tok.Mint(), Max: int64(in.MaxAmount),
		Format: func(n int64) string { return policy.Amount(n).Format(tok.Decimals) }}, func(a string) bool {
		_, err := solana.PublicKeyFromBase58(a)
		return err == nil
	})
	if offer == nil {
		res.Offers = why
		code, reasons := policy.CodeOfferNotAccepted, make([]string, len(why))
		above := true
		for i, m := range why {
			reasons[i] = fmt.Sprintf("offer %d: %s", m.Index+1, m.Reason)
			above = above && m.Field == "price"
		}
		if above {
			code = policy.CodePriceAboveMaximum
		}
		return s.refuse(res, code, "No offer of the server can be paid, nothing was signed: "+strings.Join(reasons, "; ")+".")
	}
	progress("offered")
	units, _ := offer.Units() // Choose keeps only offers whose amount parses
	amount := policy.Amount(units)
	payTo := solana.MustPublicKeyFromBase58(offer.PayTo)
	res.Amount, res.PayTo = s.formatIn(res.mint, amount), offer.PayTo

	// The decision first: every limit, nothing signed yet.
	k, sealed, err := s.store.KeyForPayment(ctx, in.AgentID, in.SessionKeyID, payTo.String())
	if err != nil {
		return nil, err
	}
	risky := false
	if s.cfg.RiskThreshold > 0 {
		risky = policy.KeyRisk(k, policy.RiskInput{Amount: amount, NewRecipient: !k.RecipientPaid}).Score > s.cfg.RiskThreshold
	}
	desc := "x402 " + in.Method + " " + in.URL
	if len(desc) > 500 {
		desc = strings.ToValidUTF8(desc[:500], "")
	}
	req := policy.PaymentRequest{Mode: policy.ModeCheck, SessionKeyID: k.ID, AgentID: in.AgentID, Amount: amount,
		Recipient: payTo.String(), Description: desc, Risky: risky}
	d, err := s.store.Decide(ctx, req)
	if err != nil {
		return nil, err
	}
	if r, err, done := s.fetchRefusal(res, d); done {
		return r, err
	}

	rec := &policy.X402Record{PaymentID: policy.NewPaymentID(k.ID, "", in.IdempotencyKey), URL: in.URL, Method: in.Method, Request: fp,
		Network: offer.Network, PayTo: offer.PayTo, Amount: amount, PayURL: first.URL.String(), RequestBody: in.Body,
		RequestType: in.ContentType, FeePayer: offer.Extra.FeePayer, Memo: offer.Extra.Memo, Accepted: string(offer.Raw),
		Resource: string(pr.Resource), Extensions: string(pr.Extensions)}
	if d.Outcome == policy.OutcomeApprovalRequired {
		return s.fetchApproval(ctx, in, res, rec, req, k.UserWallet)
	}

	// Sign, keep the transaction beside the payment, reserve.
	kp, err := s.openSealed(k, sealed)
	if err != nil {
		return nil, err
	}
	var bh solana.Hash
	if offer.Extra.RecentBlockhash != "" {
		if bh, err = solana.HashFromBase58(offer.Extra.RecentBlockhash); err != nil {
			return s.refuse(res, policy.CodeOfferNotAccepted, "The offer's extra.recentBlockhash is not a blockhash; nothing was signed.")
		}
	}
	tx, err := s.signX402(ctx, tok.Chain, kp, rec, bh)
	if err != nil {
		if errors.Is(err, wallet.ErrInvalidRecipient) || errors.Is(err, wallet.ErrInvalidMemo) {
			return s.refuse(res, policy.CodeOfferNotAccepted, fmt.Sprintf("The offer cannot be paid (%v); nothing was signed.", err))
		}
		return nil, err
	}
	// The record is written before the reservation, so that recovery always
	// knows a reserved x402 payment by it.
	if err := s.store.PutX402(ctx, k.UserWallet, rec); err != nil {
		return nil, err
	}
	req.Mode, req.PaymentID, req.IdempotencyKey = policy.ModeReserve, rec.PaymentID, in.IdempotencyKey
	req.Signature, req.Blockhash = rec.KeySignature, tx.Message.RecentBlockhash.String()
	d, err = s.store.Decide(ctx, req)
	if err != nil || d.Outcome != policy.OutcomeReserved || d.Duplicate {
		s.logFailure(s.store.DeleteX402(context.WithoutCancel(ctx), k.UserWallet, rec.PaymentID), "x402: drop the unsent record", "payment_id", rec.PaymentID)
	}
	if err != nil {
		return nil, err
	}
	if d.Duplicate {
		return s.fetchReplay(ctx, in, d.Payment, fp)
	}
	if d.Outcome == policy.OutcomeApprovalRequired && d.Payment != nil {
		// Cannot happen after a check that needed no approval, unless the
		// limits changed in between: give the hold back.
		_, rerr := s.store.Release(context.WithoutCancel(ctx), k.UserWallet, d.Payment.ID, "the limits changed while it was being paid")
		s.logFailure(rerr, "x402: give back the hold of an unsigned payment", "payment_id", d.Payment.ID)
		return s.refuse(res, policy.CodeConflict, "The session's limits changed during the purchase; nothing was paid. Retry with a new idempotency_key.")
	}
	if r, err, done := s.fetchRefusal(res, d); done {
		return r, err
	}
	progress("reserved")
	p := d.Payment
	res.PaymentID = p.ID

	// Pay: the retry carries the payment. What follows runs even if the caller
	// goes away, and shutdown waits for it.
	s.inflight.Add(1)
	defer s.inflight.Done()
	ctx = context.WithoutCancel(ctx)
	outcome, landed, serverSays, err := s.payX402(ctx, p, rec, progress)
	if err != nil {
		return nil, err
	}
	return s.fetchOutcome(ctx, res, p, rec, outcome, landed, serverSays, progress), nil
}

// signX402 builds and signs the payment transaction of rec's offer with the
// key, and keeps it in rec (not yet stored).
func (s *Service) signX402(ctx context.Context, c *wallet.Chain, kp *wallet.Keypair, rec *policy.X402Record, bh solana.Hash) (*solana.Transaction, error) {
	payTo, err := solana.PublicKeyFromBase58(rec.PayTo)
	if err != nil {
		return nil, fmt.Errorf("%w: payTo: %w", wallet.ErrInvalidRecipient, err)
	}
	feePayer, err := solana.PublicKeyFromBase58(rec.FeePayer)
	if err != nil {
		return nil, fmt.Errorf("%w: fee payer: %w", wallet.ErrInvalidRecipient, err)
	}
	tx, err := c.BuildX402(ctx, kp, wallet.X402Offer{PayTo: payTo, FeePayer: feePayer, Amount: uint64(rec.Amount),
		Memo: rec.Memo, Blockhash: bh})
	if err != nil {
		if errors.Is(err, wallet.ErrInvalidRecipient) || errors.Is(err, wallet.ErrInvalidMemo) {
			return nil, err
		}
		return nil, chainErr("build the payment", err)
	}
	wire, err := tx.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("service: encode x402 transaction: %w", err)
	}
	rec.Transaction = base64.StdEncoding.EncodeToString(wire)
	rec.KeyAddress = kp.PublicKey().String()
	rec.KeySignature = wallet.KeySignature(tx, kp.PublicKey()).String()
	return tx, nil
}

// payX402 sends the paid retry of a reserved payment, keeps the answer in its
// record, and resolves the payment with the chain ("confirmed", "failed" or
// "pending", then resolved in the background). serverSays tells why it did
// not settle.
func (s *Service) payX402(ctx context.Context, p *policy.Payment, rec *policy.X402Record, progress func(string)) (outcome string, landed *wallet.Landed, serverSays string, err error) {
	payload := &x402.PaymentPayload{X402Version: x402.Version, Accepted: json.RawMessage(rec.Accepted),
		Payload: x402.SVMPayload{Transaction: rec.Transaction}}
	if rec.Resource != "" {
		payload.Resource = json.RawMessage(rec.Resource)
	}
	if rec.Extensions != "" {
		payload.Extensions = json.RawMessage(rec.Extensions)
	}
	header, err := payload.Encode()
	if err != nil {
		return "", nil, "", err
	}
	progress("sent")
	// The payment goes only to the URL that asked for it (after the unpaid request's redirects).
	paid, ferr := s.fetcher().Do(ctx, x402.Request{Method: rec.Method, URL: rec.PayURL, Body: rec.RequestBody,
		ContentType: rec.RequestType, Payment: header})
	progress("answered")
	var hint solana.Signature
	if ferr != nil {
		serverSays = "the paid request failed: " + fetchErr(ferr).Error()
	} else {
		rec.HTTPStatus, rec.ContentType, rec.Body, rec.Truncated = paid.Status, paid.ContentType, string(paid.Body), paid.Truncated
		if sr, err := x402.ParseSettleResponse(paid.Header.Get(x402.HeaderPaymentResponse)); err == nil {
			if sr.Success {
				if h, err := solana.SignatureFromBase58(sr.Transaction); err == nil {
					hint, rec.Settlement = h, h.String()
				} else {
					// No hint: recovery finds the transfer by the key's own signature.
					s.log.Warn("x402: the settlement names no valid transaction", "payment_id", p.ID, "err", err)
				}
			} else {
				serverSays = "the server reports the settlement failed: " + sr.ErrorReason
			}
		} else if paid.Status == http.StatusPaymentRequired {
			serverSays = "the server asked for payment again"
			if again, err := x402.ParsePaymentRequired(paid.Header.Get(x402.HeaderPaymentRequired)); err == nil && again.Error != "" {
				serverSays += ": " + again.Error
			}
		} else {
			serverSays = fmt.Sprintf("the server answered %d without a settlement", paid.Status)
		}
		// The answer is kept before the ledger moves, so a replay after a crash still has it.
		if err := s.store.PutX402(ctx, p.UserWallet, rec); err != nil {
			return "", nil, "", err
		}
	}
	outcome, landed, err = s.resolveX402(ctx, p, rec, hint)
	if err != nil {
		s.log.Warn("x402 payment of unknown fate stays reserved", "payment_id", p.ID, "err", err)
		outcome = "pending"
	}
	if outcome == "pending" {
		s.settleLater(p, rec)
	}
	return outcome, landed, serverSays, nil
}

// fetchApproval holds a purchase above the owner's threshold (or a risky one)
// for the owner's approval: nothing is signed; the payment waits as
// approval_required and the agent gets the link. Once the owner approves, the
// service buys it (approveX402) and the same idempotency_key returns the answer.
func (s *Service) fetchApproval(ctx context.Context, in FetchInput, res *FetchResult, rec *policy.X402Record, req policy.PaymentRequest, userWallet string) (*FetchResult, error) {
	if err := s.store.PutX402(ctx, userWallet, rec); err != nil {
		return nil, err
	}
	req.Mode, req.PaymentID, req.IdempotencyKey = policy.ModeReserve, rec.PaymentID, in.IdempotencyKey
	d, err := s.store.Decide(ctx, req)
	if err != nil || d.Outcome != policy.OutcomeApprovalRequired || d.Duplicate {
		s.logFailure(s.store.DeleteX402(context.WithoutCancel(ctx), userWallet, rec.PaymentID), "x402: drop the unsent record", "payment_id", rec.PaymentID)
	}
	switch {
	case err != nil:
		return nil, err
	case d.Duplicate:
		return s.fetchReplay(ctx, in, d.Payment, rec.Request)
	case d.Outcome == policy.OutcomeReserved:
		// The limits changed between the check and now: nothing was signed; give the hold back.
		_, rerr := s.store.Release(context.WithoutCancel(ctx), userWallet, d.Payment.ID, "the limits changed while it was being paid")
		s.logFailure(rerr, "x402: give back the hold of an unsigned payment", "payment_id", d.Payment.ID)
		return s.refuse(res, policy.CodeConflict, "The session's limits changed during the purchase; nothing was paid. Retry with a new idempotency_key.")
	case d.Outcome != policy.OutcomeApprovalRequired:
		r, err, _ := s.fetchRefusal(res, d)
		return r, err
	}
	link, err := s.paymentApproval(ctx, d.Payment, req)
	if err != nil {
		return nil, err
	}
	s.notify(Change{SessionKeyID: req.SessionKeyID, Status: "payment_approval_required"})
	res.Status, res.PaymentID, res.ApprovalLink = "approval_required", d.Payment.ID, link
	res.Decision = s.decisionView(d)
	res.Reason = fmt.Sprintf("This purchase of %s %s needs the owner's approval; nothing was signed. Give them the approval link; "+
		"once they approve, stipend buys it, and calling fetch_paid again with the same idempotency_key returns the answer.", res.Amount, s.symbolOf(res.mint))
	return res, nil
}

// approveX402 carries out the owner's approval of an x402 purchase: sign the
// payment, reserve it under every limit (approved), send the paid request and
// keep the answer for the agent's replay. Approval pages call it through
// approvePayment for a payment that has an x402 record.
func (s *Service) approveX402(ctx context.Context, a *policy.Approval, rec *policy.X402Record, res *ApprovalResult) (*ApprovalResult, error) {
	k, _, err := s.store.GetKey(ctx, "", a.SessionKeyID)
	if err != nil {
		return nil, err
	}
	kp, err := s.openKey(ctx, k)
	if err != nil {
		return nil, err
	}
	tx, err := s.signX402(ctx, s.chainOf(k), kp, rec, solana.Hash{})
	if err != nil {
		return nil, err
	}
	if err := s.store.PutX402(ctx, a.UserWallet, rec); err != nil {
		return nil, err
	}
	d, err := s.store.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: a.SessionKeyID,
		Amount: a.Amount, Recipient: a.Recipient, PaymentID: a.PaymentID, Approved: true,
		Signature: rec.KeySignature, Blockhash: tx.Message.RecentBlockhash.String()})
	if err != nil {
		return nil, err
	}
	if d.Outcome == policy.OutcomeRefused {
		dv := s.decisionView(d)
		return nil, &policy.Error{Code: d.Checks[0].Code, Message: "the purchase no longer fits the limits: " + dv.Reason}
	}
	s.inflight.Add(1)
	defer s.inflight.Done()
	ctx = context.WithoutCancel(ctx)
	outcome, landed, serverSays, err := s.payX402(ctx, d.Payment, rec, func(string) {})
	if err != nil {
		return nil, err
	}
	res.Result["payment_id"] = a.PaymentID
	switch outcome {
	case "confirmed":
		res.Status = "confirmed"
		if landed != nil {
			res.Result["signature"] = landed.Signature.String()
		}
	case "failed":
		return nil, &policy.Error{Code: policy.CodeUnavailable, Message: "the seller did not take the payment and nothing was paid: " + serverSays}
	default:
		res.Status = "pending"
	}
	return res, nil
}

// fetchOutcome shapes the result of a paid request once its payment is resolved (or not yet).
func (s *Service) fetchOutcome(ctx context.Context, res *FetchResult, p *policy.Payment, rec *policy.X402Record, outcome string, landed *wallet.Landed, serverSays string, progress func(string)) *FetchResult {
	res.PaymentID, res.Amount, res.PayTo = p.ID, s.paymentAmount(ctx, p), p.Recipient
	if rec.HTTPStatus != 0 {
		res.setAnswer(rec.HTTPStatus, rec.ContentType, []byte(rec.Body), rec.Truncated)
	}
	switch outcome {
	case "confirmed":
		progress("settled")
		res.Status = "paid"
		if landed != nil && !landed.Signature.IsZero() {
			res.TransactionSignature = landed.Signature.String()
		} else {
			res.TransactionSignature = rec.Settlement
		}
		if k, _, err := s.store.GetKey(ctx, "", p.SessionKeyID); err == nil {
			res.RemainingAmount = s.formatIn(k.Mint, k.Remaining)
		}
		if rec.HTTPStatus == 0 {
			res.Reason = "The payment landed, but the server's answer was lost (the service stopped before it arrived); the seller has the payment."
		}
	case "failed":
		res.Status, res.Code = "failed", string(policy.CodeUnavailable)
		res.Reason = "Nothing was paid: " + strings.TrimPrefix(serverSays+"; ", "; ") + "the payment did not land and its hold was released."
	default:
		res.Status = "pending"
		res.Reason = "The payment is held but not settled yet (" + strings.TrimSpace(serverSays) + "); it is released if it does not land before its blockhash expires, and never paid twice: retry with the same idempotency_key later."
	}
	return res
}

// fetchReplay answers a used idempotency key with the first request's result.
func (s *Service) fetchReplay(ctx context.Context, in FetchInput, p *policy.Payment, fp string) (*FetchResult, error) {
	rec, err := s.store.X402(ctx, p.UserWallet, p.ID)
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.Request != fp || p.SessionKeyID != in.SessionKeyID || p.AgentID != in.AgentID {
		return nil, policy.Errorf(policy.CodeConflict, "idempotency_key", "idempotency_key %s was already used for another request", in.IdempotencyKey)
	}
	res := &FetchResult{URL: rec.URL, Network: rec.Network, Duplicate: true}
	outcome := string(p.Status)
	var landed *wallet.Landed
	switch p.Status {
	case policy.PaymentReserved:
		if outcome, landed, err = s.resolveX402(ctx, p, rec, solana.Signature{}); err != nil {
			outcome = "pending"
		}
	case policy.PaymentConfirmed:
		if rec.Settlement == "" {
			// The answer was lost with the crash: find the transaction id on chain.
			if key, err := solana.PublicKeyFromBase58(rec.KeyAddress); err == nil {
				if sig, err := solana.SignatureFromBase58(rec.KeySignature); err == nil {
					if l, err := s.chain.FindSignedBy(ctx, key, sig, solana.Signature{}, x402ScanLimit); err == nil && l != nil {
						landed = l
					}
				}
			}
		}
	case policy.PaymentApprovalRequired:
		res.PaymentID, res.Amount, res.PayTo = p.ID, s.paymentAmount(ctx, p), p.Recipient
		res.Status = "approval_required"
		res.Reason = "This purchase is waiting for the owner's approval (the link came with the first answer); nothing was signed yet. Call again once they approved."
		return res, nil
	case policy.PaymentFailed:
		res.PaymentID, res.Amount, res.PayTo = p.ID, s.paymentAmount(ctx, p), p.Recipient
		res.Status, res.Code = "failed", string(policy.CodeUnavailable)
		res.Reason = "This idempotency_key's payment failed and nothing was paid: " + p.Reason + ". Use a new idempotency_key to try again."
		return res, nil
	}
	return s.fetchOutcome(ctx, res, p, rec, outcome, landed, "first request", func(string) {}), nil
}

// fetchRefusal turns a refusal into the tool's answer; done is false when
// the decision did not refuse.
func (s *Service) fetchRefusal(res *FetchResult, d *policy.Decision) (*FetchResult, error, bool) {
	if d.Outcome != policy.OutcomeRefused {
		return nil, nil, false
	}
	dv := s.decisionView(d)
	res.Decision = dv
	code := policy.CodeInvalidArgument
	if len(d.Checks) > 0 {
		code = d.Checks[0].Code
	}
	r, err := s.refuse(res, code, "The price of "+res.Amount+" "+s.symbolOf(res.mint)+" is refused, nothing was signed: "+dv.Reason)
	return r, err, true
}

// refuse returns a refusal: nothing was signed.
func (s *Service) refuse(res *FetchResult, code policy.Code, reason string) (*FetchResult, error) {
	res.Status, res.Code, res.Reason = "refused", string(code), reason
	param := "url"
	if res.Decision != nil {
		param = "max_amount" // the ledger refused the price
	}
	return res, refusal(res.Code, reason, param)
}

// setAnswer keeps an answer: text as is, anything else in base64.
func (r *FetchResult) setAnswer(status int, contentType string, body []byte, truncated bool) {
	r.HTTPStatus, r.ContentType, r.Truncated = status, contentType, truncated
	if utf8.Valid(body) {
		r.Body, r.BodyEncoding = string(body), ""
	} else {
		r.Body, r.BodyEncoding = base64.StdEncoding.EncodeToString(body), "base64"
	}
}

// fetchErr turns a failed request into a coded error that says nothing was paid.
func fetchErr(err error) error {
	switch {
	case errors.Is(err, x402.ErrBlockedAddress):
		return policy.Errorf(policy.CodeInvalidArgument, "url", "the URL leads to a private or local address, which is not allowed: %v", err)
	case errors.Is(err, x402.ErrBadURL):
		return policy.Errorf(policy.CodeInvalidArgument, "url", "%v", err)
	}
	return &policy.Error{Code: policy.CodeUnavailable, Message: fmt.Sprintf("the server did not answer (%v)", err), Param: "url"}
}
