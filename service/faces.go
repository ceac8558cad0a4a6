package service

import (
	"context"

	"github.com/stipend/stipend/policy"
)

// The faces (tools, web, the CLI) speak to the orchestrator only: the error
// with a stable code that every face renders the same way, the amounts and
// limits they parse and print, and the audit log they read, are the
// orchestrator's own names for the ledger's types. They are aliases, so an
// error made in the ledger and one made by a face are one type, compared
// with errors.Is / errors.As and rendered in one way.

// Error is an error or refusal with a stable code, a human message and the
// offending parameter (Stripe's shape).
type Error = policy.Error

// Code is a stable, machine-readable error or refusal code.
type Code = policy.Code

// Amount is an amount in the token's base units.
type Amount = policy.Amount

// Limits are a session key's spending limits in base units.
type Limits = policy.Limits

// AuditBreak names the first broken link of an audit chain.
type AuditBreak = policy.AuditBreak

// AuditEntry is one entry of a user_wallet's audit log.
type AuditEntry = policy.AuditEntry

// AmountPattern is the JSON schema pattern of an amount given as a decimal string.
const AmountPattern = policy.AmountPattern

// The codes an agent, the owner or the operator can meet.
const (
	CodePerTransactionLimit = policy.CodePerTransactionLimit
	CodeDailyLimit          = policy.CodeDailyLimit
	CodeWeeklyLimit         = policy.CodeWeeklyLimit
	CodeMonthlyLimit        = policy.CodeMonthlyLimit
	CodeInsufficientFunds   = policy.CodeInsufficientFunds
	CodeNotActive           = policy.CodeNotActive
	CodeExpired             = policy.CodeExpired
	CodeRevoked             = policy.CodeRevoked
	CodeApprovalRequired    = policy.CodeApprovalRequired
	CodeRecipientNotAllowed = policy.CodeRecipientNotAllowed
	CodeInvalidArgument     = policy.CodeInvalidArgument
	CodeNotFound            = policy.CodeNotFound
	CodeConflict            = policy.CodeConflict
	CodeUnavailable         = policy.CodeUnavailable
	CodeDeviceMismatch      = policy.CodeDeviceMismatch
	CodeTokenMismatch       = policy.CodeTokenMismatch
)

// Errorf builds an *Error with a code, the offending parameter and a message.
func Errorf(code Code, param, format string, args ...any) *Error {
	return policy.Errorf(code, param, format, args...)
}

// CodeOf returns the code of err if it carries one, else "".
func CodeOf(err error) Code { return policy.CodeOf(err) }

// ParseAmountJSON parses an amount (a JSON string or number) of a token
// with decimals places.
func ParseAmountJSON(raw []byte, decimals int32) (Amount, error) {
	return policy.ParseAmountJSON(raw, decimals)
}

// ParseAmountText parses an amount written in token units ("29.99").
func (s *Service) ParseAmountText(text string) (Amount, error) {
	return policy.ParseAmount(text, s.cfg.Decimals)
}

// Audit returns a user_wallet's audit log, oldest first (archived entries included).
func (s *Service) Audit(ctx context.Context, userWallet string) ([]AuditEntry, error) {
	return s.store.Audit(ctx, userWallet)
}

// VerifyAudit recomputes a user_wallet's audit chain: the number of entries
// checked, or an *AuditBreak naming the first broken link.
func (s *Service) VerifyAudit(ctx context.Context, userWallet string) (int, error) {
	return s.store.VerifyAudit(ctx, userWallet)
}

// logFailure logs err, when there is one, of a step whose failure the
// caller cannot undo and need not stop for (a cleanup, a hold that the
// reconciler gives back later): handled by telling the operator.
func (s *Service) logFailure(err error, what string, args ...any) {
	if err != nil {
		s.log.Error(what+" failed", append(args, "err", err)...)
	}
}

// Wallets returns every user_wallet with records (the audit check of all wallets).
func (s *Service) Wallets(ctx context.Context) ([]string, error) { return s.store.Wallets(ctx) }

type agentKey struct{}

// WithAgent returns ctx carrying the calling agent's id (the HTTP layer sets
// it from the bearer API key; the stdio server from its configuration).
func WithAgent(ctx context.Context, agent string) context.Context {
	return context.WithValue(ctx, agentKey{}, agent)
}

// AgentFrom returns the agent id carried by ctx.
func AgentFrom(ctx context.Context) (string, bool) {
	a, ok := ctx.Value(agentKey{}).(string)
	return a, ok && a != ""
}
