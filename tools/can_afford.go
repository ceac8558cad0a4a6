package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/service"
)

// CanAffordArgs are the arguments of can_afford.
type CanAffordArgs struct {
	SessionKeyID string `json:"session_key_id" jsonschema:"description=The session key (sk_…) you would pay from."`
	Amount       Amount `json:"amount" jsonschema:"description=USDC amount you intend to pay\\, as a decimal string such as \"12.50\"."`
	Recipient    string `json:"recipient,omitempty" jsonschema:"description=Optional recipient address (base58)\\, checked against the session's allow-list."`
}

func (h *handlers) canAfford() Tool {
	return tool(h, "can_afford",
		"Check, without paying, whether a payment would pass every check of pay right now: the key's balance and status and "+
			"the linked session's per-transaction, daily, weekly and monthly limits. Returns allowed, a reason, every failing check "+
			"with what remains and when it resets, max_affordable_now and next_available_at.",
		annotations("Can I afford it?", true, false, true), h.doCanAfford)
}

func (h *handlers) doCanAfford(ctx context.Context, req mcp.CallToolRequest, agent string, a *CanAffordArgs) (*service.DecisionView, string, error) {
	if err := required("session_key_id", a.SessionKeyID); err != nil {
		return nil, "", err
	}
	amount, err := h.svc.ParseKeyAmount(ctx, agent, a.SessionKeyID, a.Amount)
	if err != nil {
		return nil, "", err
	}
	d, err := h.svc.CanAfford(ctx, agent, a.SessionKeyID, amount, a.Recipient)
	if err != nil {
		return nil, "", err
	}
	return d, d.Reason, nil
}
