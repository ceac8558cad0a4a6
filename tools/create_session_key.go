package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/service"
)

// CreateSessionKeyArgs are the arguments of create_session_key.
type CreateSessionKeyArgs struct {
	UserWallet        string  `json:"user_wallet" jsonschema:"description=Solana address (base58) of the human who funds the key and owns the money."`
	MaxAmount         Amount  `json:"max_amount" jsonschema:"description=How much USDC the human is asked to put on the key; the agent can never spend more. A decimal string such as \"100\" or \"12.50\"."`
	ExpiryHours       float64 `json:"expiry_hours,omitempty" jsonschema:"description=Hours until the key expires (default 24). Prefer short lives."`
	SessionID         string  `json:"session_id,omitempty" jsonschema:"description=Optional agent session (sess_…) whose per-transaction/day/week/month limits also apply to every payment."`
	AgentID           string  `json:"agent_id,omitempty" jsonschema:"description=Optional; must be your own agent id if given."`
	Token             string  `json:"token,omitempty" jsonschema:"description=Token to fund the key with (default: the service's)."`
	DeviceFingerprint string  `json:"device_fingerprint,omitempty" jsonschema:"description=Optional: bind the key to your device; every pay must then give the same fingerprint."`
}

// CreatedKey is the result of create_session_key: the key pending approval,
// the transaction the human signs, and either the approval link or a note
// that the host showed it to the human.
type CreatedKey struct {
	SessionKeyID        string `json:"session_key_id"`
	Status              string `json:"status"`
	SessionKeyAddress   string `json:"session_key_address"`
	PKPPublicKey        string `json:"pkp_public_key"`
	MaxAmount           string `json:"max_amount"`
	ExpiresAt           string `json:"expires_at"`
	Token               string `json:"token"`
	LinkedSessionID     string `json:"linked_session_id,omitempty"`
	ApprovalTransaction string `json:"approval_transaction"`
	ApprovalURL         string `json:"approval_url,omitempty"`
	ApprovalExpiresAt   string `json:"approval_expires_at,omitempty"`
	Approval            string `json:"approval,omitempty"`
}

func (h *handlers) createSessionKey() Tool {
	return tool(h, "create_session_key",
		"Ask a human to fund a new capped USDC wallet (a session key) that you can then pay from without asking again. "+
			"Returns status pending_approval and an approval_url: give the link to the human, who signs the funding in their own wallet. "+
			"The key becomes active once the transfer is confirmed on chain; check with status.",
		annotations("Create a session key", false, false, false), h.doCreateSessionKey)
}

func (h *handlers) doCreateSessionKey(ctx context.Context, req mcp.CallToolRequest, agent string, a *CreateSessionKeyArgs) (*CreatedKey, string, error) {
	if a.AgentID != "" && a.AgentID != agent {
		return nil, "", service.Errorf(service.CodeInvalidArgument, "agent_id", "agent_id %q is not your agent id", a.AgentID)
	}
	if err := required("user_wallet", a.UserWallet); err != nil {
		return nil, "", err
	}
	amount, err := h.svc.ParseAmountIn(a.Token, a.MaxAmount)
	if err != nil {
		if service.CodeOf(err) == service.CodeInvalidArgument && strings.Contains(err.Error(), "not offered") {
			return nil, "", err // the token itself
		}
		return nil, "", fieldErr(err, "max_amount")
	}
	c, err := h.svc.CreateSessionKey(ctx, service.CreateKeyInput{AgentID: agent, UserWallet: a.UserWallet,
		MaxAmount: amount, ExpiryHours: a.ExpiryHours, SessionID: a.SessionID, DeviceFingerprint: a.DeviceFingerprint, Token: a.Token})
	if err != nil {
		return nil, "", err
	}
	msg := fmt.Sprintf("Approve funding %s %s for agent %s: session key %s, valid until %s.",
		c.MaxAmount, c.Token, agent, c.SessionKeyID, c.ExpiresAt)
	out := &CreatedKey{SessionKeyID: c.SessionKeyID, Status: c.Status, SessionKeyAddress: c.SessionKeyAddress,
		PKPPublicKey: c.PKPPublicKey, MaxAmount: c.MaxAmount, ExpiresAt: c.ExpiresAt, Token: c.Token,
		LinkedSessionID: c.LinkedSessionID, ApprovalTransaction: c.ApprovalTransaction}
	if h.elicit(ctx, &c.ApprovalLink, msg) {
		out.Approval = "sent to the human through your host"
		return out, fmt.Sprintf("Session key %s created (pending_approval). The approval link was shown to the human by your host; once they sign, the key turns active.", c.SessionKeyID), nil
	}
	out.ApprovalURL = c.ApprovalURL
	out.ApprovalExpiresAt = c.ApprovalExpiresAt
	return out, fmt.Sprintf("Session key %s created (pending_approval). Ask the human to open %s and approve funding %s %s in their wallet.",
		c.SessionKeyID, c.ApprovalURL, c.MaxAmount, c.Token), nil
}

// fieldErr renames the param of an amount error.
func fieldErr(err error, param string) error {
	if pe := (*service.Error)(nil); errors.As(err, &pe) {
		return &service.Error{Code: pe.Code, Message: param + ": " + pe.Message, Param: param}
	}
	return err
}

func annotations(title string, readOnly, destructive, idempotent bool) mcp.ToolAnnotation {
	open := true
	return mcp.ToolAnnotation{Title: title, ReadOnlyHint: &readOnly, DestructiveHint: &destructive,
		IdempotentHint: &idempotent, OpenWorldHint: &open}
}
