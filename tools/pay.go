package tools

import (
	"context"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/service"
)

// PayArgs are the arguments of pay.
type PayArgs struct {
	SessionKeyID      string `json:"session_key_id,omitempty" jsonschema:"description=The session key (sk_…) to pay from. Give this or session_id."`
	SessionID         string `json:"session_id,omitempty" jsonschema:"description=An agent session (sess_…) without a key: the human pays from their own wallet and must approve each payment."`
	Recipient         string `json:"recipient" jsonschema:"description=Recipient's Solana wallet address (base58); its USDC account is created if missing."`
	Amount            Amount `json:"amount" jsonschema:"description=USDC amount as a decimal string such as \"29.99\" (at most 6 decimals)."`
	Description       string `json:"description,omitempty" jsonschema:"description=What the payment is for; kept with the payment and shown to the human on approvals."`
	IdempotencyKey    string `json:"idempotency_key,omitempty" jsonschema:"description=A key of your choice (e.g. an order id). Retrying with the same key never pays twice; reusing it with other arguments is a conflict."`
	AutoDetectGasless bool   `json:"auto_detect_gasless,omitempty" jsonschema:"description=true: the result says (gasless) whether the service's fee payer paid the network fee or the key did."`
	DeviceFingerprint string `json:"device_fingerprint,omitempty" jsonschema:"description=Your device's fingerprint; required by a key created with one."`
}

func (h *handlers) pay() Tool {
	return tool(h, "pay",
		"Pay a recipient in USDC from a session key, on your own, within the key's balance and its session's limits (checked and "+
			"held atomically). Returns confirmed with payment_id and transaction_signature; or approval_required with an approval_url "+
			"to give the human (large payments, or a session without a key); or an error with the failing checks, what remains, "+
			"when each limit resets and the largest amount that would pass now. Always pass an idempotency_key.",
		annotations("Pay", false, true, false), h.doPay)
}

func (h *handlers) doPay(ctx context.Context, req mcp.CallToolRequest, agent string, a *PayArgs) (*service.PayResult, string, error) {
	if a.SessionKeyID == "" && a.SessionID == "" {
		return nil, "", service.Errorf(service.CodeInvalidArgument, "session_key_id", "session_key_id (or session_id) is required")
	}
	if err := required("recipient", a.Recipient); err != nil {
		return nil, "", err
	}
	parse := func(raw []byte) (service.Amount, error) { return h.svc.ParseKeyAmount(ctx, agent, a.SessionKeyID, raw) }
	tok := h.svc.KeySymbol(ctx, agent, a.SessionKeyID)
	if a.SessionKeyID == "" {
		parse = func(raw []byte) (service.Amount, error) {
			return h.svc.ParseSessionAmount(ctx, agent, a.SessionID, raw)
		}
		tok = h.svc.SessionSymbol(ctx, agent, a.SessionID)
	}
	amount, err := parse(a.Amount)
	if err != nil {
		return nil, "", err
	}
	r, err := h.svc.Pay(ctx, service.PayInput{AgentID: agent, SessionKeyID: a.SessionKeyID, SessionID: a.SessionID,
		Recipient: a.Recipient, Amount: amount, Description: a.Description, IdempotencyKey: a.IdempotencyKey,
		DeviceFingerprint: a.DeviceFingerprint, Progress: h.steps(ctx, req, a.SessionKeyID)})
	if r != nil && a.AutoDetectGasless {
		g := h.svc.Gasless()
		r.Gasless = &g
	}
	if errors.Is(err, service.ErrRefused) {
		// The code and the sentence travel in the error; the details keep the checks.
		r.Code, r.Reason = "", ""
		if r.Decision != nil {
			r.Decision.Reason = ""
		}
		return r, "", err
	}
	if err != nil {
		if r != nil {
			return r, "", err // the result carries the idempotency_key to retry with
		}
		return nil, "", err
	}
	switch r.Status {
	case "confirmed":
		// The key is read again only for a client that wants warnings.
		if h.wantsLog(ctx, mcp.LoggingLevelWarning) {
			if k, err := h.svc.Status(ctx, agent, r.SessionKeyID); err == nil {
				h.warnKey(ctx, k)
			}
		}
		text := fmt.Sprintf("Paid %s %s to %s (payment %s, transaction %s).", r.Amount, tok, r.Recipient, r.PaymentID, r.TransactionSignature)
		if r.Duplicate {
			text = fmt.Sprintf("Already paid with this idempotency_key, not paid again: %s %s to %s (payment %s, transaction %s).",
				r.Amount, tok, r.Recipient, r.PaymentID, r.TransactionSignature)
		}
		if r.RemainingAmount != "" {
			text += fmt.Sprintf(" %s %s left on the key.", r.RemainingAmount, tok)
		}
		return r, text, nil
	case "approval_required":
		if r.ApprovalLink != nil && h.elicit(ctx, r.ApprovalLink, fmt.Sprintf("Approve a payment of %s %s to %s.", r.Amount, tok, r.Recipient)) {
			r.ApprovalURL = ""
			return r, fmt.Sprintf("Payment %s needs the human's approval; your host showed them the link. Check status later.", r.PaymentID), nil
		}
		url := ""
		if r.ApprovalLink != nil {
			url = r.ApprovalURL
		}
		return r, fmt.Sprintf("Payment %s needs the human's approval: ask them to open %s.", r.PaymentID, url), nil
	case "failed":
		return r, "", &service.Error{Code: service.CodeUnavailable, Message: r.Reason}
	}
	return r, r.Reason, nil
}

// steps reports a payment's stages as progress (when the caller gave a
// progress token) and as log messages (at the client's level).
func (h *handlers) steps(ctx context.Context, req mcp.CallToolRequest, keyID string) func(string) {
	progress, log := h.progress(ctx, req, 4), h.payLog(ctx, keyID)
	return func(stage string) {
		if progress != nil {
			progress(stage)
		}
		log(stage)
	}
}
