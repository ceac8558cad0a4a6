package tools

import (
	"context"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/service"
)

// FetchPaidArgs are the arguments of fetch_paid.
type FetchPaidArgs struct {
	URL            string `json:"url" jsonschema:"description=The http(s) URL of the resource. Private and local addresses are refused."`
	Method         string `json:"method,omitempty" jsonschema:"enum=GET,enum=POST,description=GET (default) or POST."`
	Body           string `json:"body,omitempty" jsonschema:"description=POST body (at most 16 KiB)."`
	ContentType    string `json:"content_type,omitempty" jsonschema:"description=Media type of body; application/json by default."`
	SessionKeyID   string `json:"session_key_id" jsonschema:"description=The session key (sk_…) that pays."`
	MaxAmount      Amount `json:"max_amount" jsonschema:"description=The most you will pay for it in USDC\\, e.g. \"0.05\". A higher price is refused unsigned."`
	IdempotencyKey string `json:"idempotency_key" jsonschema:"description=A key of your choice for this purchase. Retrying with it returns the first answer and never pays twice."`
}

func (h *handlers) fetchPaid() Tool {
	return tool(h, "fetch_paid",
		"Fetch a URL that may charge with x402 (HTTP 402 Payment Required). If it asks for a price within max_amount, pays it "+
			"from the session key under the same limits as pay, then returns the answer: http_status, content_type, body, "+
			"payment_id and transaction_signature. Above the owner's threshold it returns an approval_url for the human. Refusals sign nothing and name why.",
		annotations("Fetch a paid resource", false, true, false), h.doFetchPaid)
}

func (h *handlers) doFetchPaid(ctx context.Context, req mcp.CallToolRequest, agent string, a *FetchPaidArgs) (*service.FetchResult, string, error) {
	for _, f := range []struct{ name, v string }{{"url", a.URL}, {"session_key_id", a.SessionKeyID}, {"idempotency_key", a.IdempotencyKey}} {
		if err := required(f.name, f.v); err != nil {
			return nil, "", err
		}
	}
	maxAmount, err := h.svc.ParseKeyAmount(ctx, agent, a.SessionKeyID, a.MaxAmount)
	if err != nil {
		var pe *service.Error
		if errors.As(err, &pe) {
			pe.Param = "max_amount"
		}
		return nil, "", err
	}
	r, err := h.svc.FetchPaid(ctx, service.FetchInput{AgentID: agent, SessionKeyID: a.SessionKeyID, URL: a.URL, Method: a.Method,
		Body: a.Body, ContentType: a.ContentType, MaxAmount: maxAmount, IdempotencyKey: a.IdempotencyKey, Progress: h.progress(ctx, req, 5)})
	if errors.Is(err, service.ErrRefused) {
		// The code and the sentence travel in the error; the details keep the checks.
		if r.Decision != nil {
			r.Decision.Reason = ""
		}
		r.Code, r.Reason = "", ""
		return r, "", err
	}
	if err != nil {
		return nil, "", err
	}
	token := h.svc.KeySymbol(ctx, agent, a.SessionKeyID)
	switch r.Status {
	case "paid":
		return r, fmt.Sprintf("Paid %s %s to %s (payment %s, transaction %s); the server answered %d %s. %s", r.Amount, token,
			r.PayTo, r.PaymentID, r.TransactionSignature, r.HTTPStatus, r.ContentType, r.Reason), nil
	case "approval_required":
		if r.ApprovalLink != nil && h.elicit(ctx, r.ApprovalLink, fmt.Sprintf("Approve buying %s for %s %s.", r.URL, r.Amount, token)) {
			r.ApprovalURL = ""
			return r, fmt.Sprintf("Buying %s for %s %s needs the human's approval; your host showed them the link. Call fetch_paid again with the same idempotency_key once they approved.", r.URL, r.Amount, token), nil
		}
		if r.ApprovalLink != nil {
			return r, fmt.Sprintf("Buying %s for %s %s needs the human's approval: ask them to open %s, then call fetch_paid again with the same idempotency_key.", r.URL, r.Amount, token, r.ApprovalURL), nil
		}
		return r, r.Reason, nil
	case "free":
		return r, fmt.Sprintf("The server asked for no payment and answered %d %s.", r.HTTPStatus, r.ContentType), nil
	case "failed":
		return r, "", &service.Error{Code: service.CodeUnavailable, Message: r.Reason}
	}
	return r, r.Reason, nil
}
