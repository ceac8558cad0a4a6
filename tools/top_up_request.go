package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/service"
)

// TopUpRequestArgs are the arguments of top_up_request.
type TopUpRequestArgs struct {
	SessionKeyID string `json:"session_key_id" jsonschema:"description=The session key (sk_…) to top up."`
	Amount       Amount `json:"amount" jsonschema:"description=USDC to add\\, as a decimal string such as \"50\"."`
}

func (h *handlers) topUpRequest() Tool {
	return tool(h, "top_up_request",
		"Ask the human to add USDC to a session key (for example when it is exhausted or low). Returns new_max_amount and an "+
			"approval_url for the human, who signs the transfer in their own wallet; an exhausted key turns active again once it lands.",
		annotations("Request a top-up", false, false, false), h.doTopUp)
}

func (h *handlers) doTopUp(ctx context.Context, req mcp.CallToolRequest, agent string, a *TopUpRequestArgs) (*service.TopUpCreated, string, error) {
	if err := required("session_key_id", a.SessionKeyID); err != nil {
		return nil, "", err
	}
	amount, err := h.svc.ParseKeyAmount(ctx, agent, a.SessionKeyID, a.Amount)
	if err != nil {
		return nil, "", err
	}
	t, err := h.svc.TopUpRequest(ctx, agent, a.SessionKeyID, amount)
	if err != nil {
		return nil, "", err
	}
	tok := h.svc.KeySymbol(ctx, agent, a.SessionKeyID)
	if h.elicit(ctx, &t.ApprovalLink, fmt.Sprintf("Approve adding %s %s to session key %s.", t.Amount, tok, t.SessionKeyID)) {
		t.ApprovalURL = ""
		return t, fmt.Sprintf("Top-up of %s %s requested; your host showed the human the approval link. The limit becomes %s %s once it lands.",
			t.Amount, tok, t.NewMaxAmount, tok), nil
	}
	return t, fmt.Sprintf("Top-up of %s %s requested: ask the human to open %s. The limit becomes %s %s once it lands.",
		t.Amount, tok, t.ApprovalURL, t.NewMaxAmount, tok), nil
}
