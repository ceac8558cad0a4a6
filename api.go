package stipend

import "github.com/stipend/stipend/web"

// The admin API's requests and answers (defined by package web, which
// serves them), for its clients: the CLI's operator commands send and read
// these, so client and server share one shape of each.
type (
	// CreateKeyRequest is POST /admin/session-keys.
	CreateKeyRequest = web.CreateKeyRequest
	// KeyList is GET /admin/session-keys.
	KeyList = web.KeyList
	// AmountRequest is a top-up.
	AmountRequest = web.AmountRequest
	// RevokeRequest is a revocation.
	RevokeRequest = web.RevokeRequest
	// CanAffordRequest is a check.
	CanAffordRequest = web.CanAffordRequest
	// LimitsRequest are a session's limits.
	LimitsRequest = web.LimitsRequest
	// CreateSessionRequest is POST /admin/sessions.
	CreateSessionRequest = web.CreateSessionRequest
	// LinkRequest links a key to a session.
	LinkRequest = web.LinkRequest
	// UnlinkRequest unlinks a key.
	UnlinkRequest = web.UnlinkRequest
	// SetLimitsRequest changes a session's limits.
	SetLimitsRequest = web.SetLimitsRequest
	// PayRequest is a payment.
	PayRequest = web.PayRequest
	// AuditVerification is the answer of an audit verify.
	AuditVerification = web.AuditVerification
	// AuditLog is the answer of an audit show.
	AuditLog = web.AuditLog
	// WebhookEndpoint is one endpoint's delivery state.
	WebhookEndpoint = web.WebhookEndpoint
	// WebhookStatus is GET /admin/webhooks.
	WebhookStatus = web.WebhookStatus
	// DeadLetterList is GET /admin/webhooks/dead.
	DeadLetterList = web.DeadLetterList
)
