// Package prompts holds the MCP prompts that teach an agent how to pay with
// stipend: check before paying, hand approval links to the human, and handle
// an exhausted key by asking for a top-up.
package prompts

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Prompt is one MCP prompt: its definition and its handler.
type Prompt struct {
	Def     mcp.Prompt
	Handler server.PromptHandlerFunc
}

// All returns stipend's prompts.
func All() []Prompt {
	return []Prompt{payFlow(), fundAgent(), handleRefusal()}
}

// Register adds every prompt to an MCP server.
func Register(s *server.MCPServer) {
	for _, p := range All() {
		s.AddPrompt(p.Def, p.Handler)
	}
}

func text(description, body string) *mcp.GetPromptResult {
	return mcp.NewGetPromptResult(description, []mcp.PromptMessage{
		mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(body)),
	})
}

func payFlow() Prompt {
	def := mcp.NewPrompt("pay_with_session_key",
		mcp.WithPromptDescription("How to pay for something with a stipend session key, safely and without paying twice."),
		mcp.WithArgument("session_key_id", mcp.ArgumentDescription("The session key (sk_…) to pay from."), mcp.RequiredArgument()),
		mcp.WithArgument("purchase", mcp.ArgumentDescription("What you are buying, and from whom.")),
	)
	return Prompt{Def: def, Handler: func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		id, purchase := req.Params.Arguments["session_key_id"], req.Params.Arguments["purchase"]
		if id == "" {
			return nil, fmt.Errorf("session_key_id is required")
		}
		return text("Paying with a session key", fmt.Sprintf(`You pay from session key %s. Purchase: %s.

1. Call status to see the key's status and remaining_amount. Pay only from an active key.
2. Call can_afford with the exact amount (and the recipient). If allowed is false, do not call pay:
   read reason, checks and max_affordable_now, and follow step 5.
3. Call pay with the recipient's Solana address, the amount as a decimal string (e.g. "29.99"),
   a short description, and an idempotency_key unique to this purchase (e.g. the order id).
   If the call fails or times out, call pay again with the SAME idempotency_key: it never pays twice.
4. If pay returns approval_required, give the approval_url to the human exactly as it is (unless your
   host already showed it), explain what it approves, and wait; check status later.
5. If a limit refuses the payment: tell the human what failed and when it resets (resets_at); pay at most
   max_affordable_now if that still serves the purpose, or wait until next_available_at. If the key's balance
   is the problem, ask for more with top_up_request and hand its approval_url to the human.
6. Never try to work around a limit by splitting a payment, using another key, or changing the recipient.`, id, purchase)), nil
	}}
}

func fundAgent() Prompt {
	def := mcp.NewPrompt("request_funding",
		mcp.WithPromptDescription("How to ask a human to fund a new session key for a task."),
		mcp.WithArgument("user_wallet", mcp.ArgumentDescription("The human's Solana wallet address."), mcp.RequiredArgument()),
		mcp.WithArgument("budget", mcp.ArgumentDescription("How much USDC the task needs, as a decimal string.")),
	)
	return Prompt{Def: def, Handler: func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		w, budget := req.Params.Arguments["user_wallet"], req.Params.Arguments["budget"]
		if w == "" {
			return nil, fmt.Errorf("user_wallet is required")
		}
		if budget == "" {
			budget = "the smallest amount the task needs"
		}
		return text("Requesting a funded session key", fmt.Sprintf(`Ask the owner of wallet %s to fund a session key.

1. Call create_session_key with user_wallet %s, max_amount %s and a short expiry_hours (24 or less).
   Start with a low amount: a top-up is always possible later.
2. The key is pending_approval. Give the approval_url to the human (unless your host already showed it) and say
   plainly what it does: they sign one transfer of max_amount USDC to a wallet you can spend from, up to that amount,
   until expires_at.
3. Wait for the human, then call status: pay only once status is active.
4. When the task is done, call revoke_session_key: what is left goes back to the human.`, w, w, budget)), nil
	}}
}

func handleRefusal() Prompt {
	def := mcp.NewPrompt("handle_refusal",
		mcp.WithPromptDescription("What to do when pay or can_afford refuses: exhausted keys, limits, expiry."),
		mcp.WithArgument("code", mcp.ArgumentDescription("The refusal code (insufficient_funds, daily_limit, expired, …).")),
	)
	return Prompt{Def: def, Handler: func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return text("Handling a refused payment", fmt.Sprintf(`A payment was refused (code: %s). Every refusal lists all failing checks.

- insufficient_funds / exhausted key: call top_up_request with what the task still needs and give the human its
  approval_url; pay after status shows active again.
- per_transaction_limit: the amount itself is too large for this session; ask the human, never split the payment.
- daily_limit / weekly_limit / monthly_limit: tell the human when the window resets (resets_at); pay at most
  max_affordable_now now, or retry after next_available_at.
- expired / revoked: the key cannot pay any more; ask the human for a new key with create_session_key.
- not_active: the human has not approved the funding yet; remind them of the approval link.
- approval_required: give the human the approval_url and wait.
- conflict on idempotency_key: you reused a key for a different payment; use a new idempotency_key.`, req.Params.Arguments["code"])), nil
	}}
}
