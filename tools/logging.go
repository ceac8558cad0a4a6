package tools

import (
	"context"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/stipend/stipend/service"
)

// Thresholds of the warnings an agent is sent as notifications/message.
const (
	// lowBalancePercent: a key with less than this share of its max_amount left is low.
	lowBalancePercent = 10
	// expiresSoon: a key that expires within this is about to expire.
	expiresSoon = time.Hour
)

// logTo sends a notifications/message to the calling client, at the level
// the client asked for with logging/setLevel (mcp-go filters by it).
func (h *handlers) logTo(ctx context.Context, level mcp.LoggingLevel, data any) {
	if h.srv == nil || server.ClientSessionFromContext(ctx) == nil {
		return
	}
	if err := h.srv.SendLogMessageToClient(ctx, mcp.NewLoggingMessageNotification(level, "stipend", data)); err != nil {
		h.log.Debug("log notification not sent", "err", err)
	}
}

// wantsLog reports whether a message at level would reach the calling
// client (as mcp-go decides when sending), so that nothing is read only to
// build a message nobody asked for.
func (h *handlers) wantsLog(ctx context.Context, level mcp.LoggingLevel) bool {
	sess := server.ClientSessionFromContext(ctx)
	if h.srv == nil || sess == nil {
		return false
	}
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.Modern {
		return info.LogLevel != "" && level.ShouldSendTo(info.LogLevel)
	}
	sl, ok := sess.(server.SessionWithLogging)
	return ok && level.ShouldSendTo(sl.GetLogLevel())
}

// payLog reports the steps of a payment (reserved, signed, sent, confirmed) as info messages.
func (h *handlers) payLog(ctx context.Context, keyID string) func(string) {
	return func(stage string) {
		h.logTo(ctx, mcp.LoggingLevelInfo, map[string]any{"event": "payment_" + stage, "session_key_id": keyID,
			"message": fmt.Sprintf("payment from %s: %s", keyID, stage)})
	}
}

// warnKey sends the warnings an agent should see about a key: a low
// balance, an expiry close at hand.
func (h *handlers) warnKey(ctx context.Context, k *service.KeyView) {
	if k == nil || k.Status != "active" {
		return
	}
	remaining, err1 := service.ParseAmountJSON([]byte(`"`+k.RemainingAmount+`"`), k.Decimals) // in the key's token
	maxAmount, err2 := service.ParseAmountJSON([]byte(`"`+k.MaxAmount+`"`), k.Decimals)
	if err1 == nil && err2 == nil && maxAmount > 0 && remaining*100 < maxAmount*lowBalancePercent {
		h.logTo(ctx, mcp.LoggingLevelWarning, map[string]any{"event": "low_balance", "session_key_id": k.SessionKeyID,
			"remaining_amount": k.RemainingAmount, "max_amount": k.MaxAmount,
			"message": fmt.Sprintf("session key %s has %s of %s %s left; ask for a top-up with top_up_request", k.SessionKeyID, k.RemainingAmount, k.MaxAmount, k.Token)})
	}
	if exp, err := time.Parse(time.RFC3339, k.ExpiresAt); err == nil && time.Until(exp) < expiresSoon {
		h.logTo(ctx, mcp.LoggingLevelWarning, map[string]any{"event": "key_expiring", "session_key_id": k.SessionKeyID,
			"expires_at": k.ExpiresAt, "message": fmt.Sprintf("session key %s expires at %s", k.SessionKeyID, k.ExpiresAt)})
	}
}
