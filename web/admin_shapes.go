package web

import (
	"context"
	"strings"

	"github.com/stipend/stipend/service"
)

// The documented SDK's spellings on the admin API: each maps to one meaning,
// and two spellings of one thing in one request are invalid_argument.

// usdTokens are the token symbols whose unit is one US dollar, so that an
// amount_usd (or limit_usdc, for USDC) means the same number of tokens.
var usdTokens = map[string]bool{"USDC": true, "PYUSD": true, "USDT": true, "USDG": true}

func both(a, b string) error {
	return service.Errorf(service.CodeInvalidArgument, b, "give %s or %s, not both (they mean the same)", a, b)
}

// createKeyInput resolves a key creation's spellings into one input.
func (h *Handler) createKeyInput(in CreateKeyRequest) (service.CreateKeyInput, error) {
	tok := h.svc.Config().Token
	if in.Token != "" {
		tok = in.Token
	}
	raw, param := in.MaxAmount, "max_amount"
	if in.Token != "" && !strings.EqualFold(in.Token, tok) && !isNull(in.LimitUSDC) {
		return service.CreateKeyInput{}, service.Errorf(service.CodeInvalidArgument, "limit_usdc", "limit_usdc is for USDC keys; give max_amount")
	}
	if !isNull(in.LimitUSDC) {
		if !isNull(in.MaxAmount) {
			return service.CreateKeyInput{}, both("max_amount", "limit_usdc")
		}
		if tok != "USDC" {
			return service.CreateKeyInput{}, service.Errorf(service.CodeInvalidArgument, "limit_usdc", "limit_usdc is for USDC keys; this key holds %s: give max_amount", tok)
		}
		raw, param = in.LimitUSDC, "limit_usdc"
	}
	if isNull(raw) {
		return service.CreateKeyInput{}, service.Errorf(service.CodeInvalidArgument, param, "%s is required", param)
	}
	amt, err := h.svc.ParseAmountIn(in.Token, raw) // in the key's token
	if service.CodeOf(err) == service.CodeInvalidArgument && !strings.Contains(err.Error(), "not offered") {
		err = withParam(err, param)
	}
	if err != nil {
		return service.CreateKeyInput{}, err
	}
	hours := in.ExpiryHours
	if in.DurationDays != 0 {
		if in.ExpiryHours != 0 {
			return service.CreateKeyInput{}, both("expiry_hours", "duration_days")
		}
		if in.DurationDays < 0 {
			return service.CreateKeyInput{}, service.Errorf(service.CodeInvalidArgument, "duration_days", "duration_days must be positive")
		}
		hours = in.DurationDays * 24
	}
	agent := in.AgentID
	if agent == "" {
		agent = h.opts.DefaultAgentID
	}
	return service.CreateKeyInput{AgentID: agent, UserWallet: in.UserWallet, MaxAmount: amt, ExpiryHours: hours,
		SessionID: in.SessionID, DeviceFingerprint: in.DeviceFingerprint, Token: in.Token}, nil
}

// nestedLimits returns a session's limits given at the top level or nested.
func nestedLimits(in CreateSessionRequest) (LimitsRequest, error) {
	if in.Limits == nil {
		return in.LimitsRequest, nil
	}
	top := in.LimitsRequest
	for _, f := range []struct {
		raw  []byte
		name string
	}{{top.MaxPerTransaction, "max_per_transaction"}, {top.MaxPerDay, "max_per_day"}, {top.MaxPerWeek, "max_per_week"},
		{top.MaxPerMonth, "max_per_month"}, {top.RequireApprovalAbove, "require_approval_above"}} {
		if !isNull(f.raw) {
			return LimitsRequest{}, service.Errorf(service.CodeInvalidArgument, "limits", "give %s inside limits or at the top level, not both", f.name)
		}
	}
	return *in.Limits, nil
}

// payInput resolves a payment's spellings into one input.
func (h *Handler) payInput(ctx context.Context, in PayRequest) (service.PayInput, error) {
	raw, param := in.Amount, "amount"
	if !isNull(in.AmountUSD) {
		if !isNull(in.Amount) {
			return service.PayInput{}, both("amount", "amount_usd")
		}
		raw, param = in.AmountUSD, "amount_usd"
	}
	if isNull(raw) {
		return service.PayInput{}, service.Errorf(service.CodeInvalidArgument, param, "%s is required", param)
	}
	keyID := in.SessionKeyID
	if in.UserWallet != "" {
		id, err := h.svc.KeyIDByAddress(ctx, in.AgentID, in.UserWallet)
		if err != nil {
			return service.PayInput{}, err
		}
		if keyID != "" && keyID != id {
			return service.PayInput{}, service.Errorf(service.CodeInvalidArgument, "user_wallet", "user_wallet is the address of %s, not of session_key_id %s", id, keyID)
		}
		keyID = id
	}
	// The amount is in the paying key's token (a session's, for a session payment).
	tok := h.svc.KeySymbol(ctx, in.AgentID, keyID)
	parse := func(raw []byte) (service.Amount, error) { return h.svc.ParseKeyAmount(ctx, in.AgentID, keyID, raw) }
	if keyID == "" {
		tok = h.svc.SessionSymbol(ctx, in.AgentID, in.SessionID)
		parse = func(raw []byte) (service.Amount, error) {
			return h.svc.ParseSessionAmount(ctx, in.AgentID, in.SessionID, raw)
		}
	}
	if param == "amount_usd" && !usdTokens[strings.ToUpper(tok)] {
		return service.PayInput{}, service.Errorf(service.CodeInvalidArgument, "amount_usd", "amount_usd needs a US dollar token; this payment is in %s: give amount", tok)
	}
	amt, err := parse(raw)
	if err = withParam(err, param); err != nil {
		return service.PayInput{}, err
	}
	return service.PayInput{AgentID: in.AgentID, SessionKeyID: keyID, SessionID: in.SessionID, Recipient: in.Recipient,
		Amount: amt, Description: in.Description, IdempotencyKey: in.IdempotencyKey, DeviceFingerprint: in.DeviceFingerprint}, nil
}
