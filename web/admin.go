package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/stipend/stipend/service"
)

// The admin API (Authorization: Bearer <admin token>), JSON in and out:
//
//	POST /admin/session-keys                      create (agent_id, user_wallet, max_amount, expiry_hours, session_id)
//	GET  /admin/session-keys[?agent_id=]          list
//	GET  /admin/session-keys/{id}                 status
//	POST /admin/session-keys/{id}/top-up          top-up request (amount) → approval link
//	POST /admin/session-keys/{id}/revoke          revoke and sweep (reason)
//	POST /admin/session-keys/{id}/can-afford      check (amount, recipient)
//	POST /admin/session-keys/{id}/link            link to a session (session_id)
//	POST /admin/session-keys/{id}/unlink          unlink → approval link for the owner; {"force": true} at once (audited as forced)
//	POST /admin/sessions                          create a session with limits
//	GET  /admin/sessions/{id}                     show a session
//	POST /admin/sessions/{id}/limits              new limits → approval link for the owner; "force": true at once (audited as forced)
//	POST /admin/payments                          pay (as agent_id, from a key or session)
//	GET  /admin/audit?wallet=|session_key_id=     the audit log
//	GET  /admin/audit/verify[?wallet=|session_key_id=]  verify one chain, or every wallet's
//	GET  /admin/webhooks                          each endpoint's health and backlog
//	POST /admin/webhooks/{endpoint}/test          send a test event
//	GET  /admin/webhooks/dead[?limit=]            dead letters
//	POST /admin/webhooks/dead/{id}/retry          retry a dead letter
//	GET  /admin/reconcile                         keys whose chain and ledger disagree
//	GET  /admin/openapi.json                      this API in OpenAPI 3.1 (from the same Go types; openapi.go)
func (h *Handler) adminRoutes() {
	route := func(pattern, op string, fn func(r *http.Request) (int, any, error)) {
		h.mux.Handle(pattern, h.adminAuth(h.bounded(h.adminOp(op, fn))))
	}
	route("POST /admin/session-keys", "session_keys.create", h.adminCreateKey)
	route("GET /admin/session-keys", "session_keys.list", h.adminListKeys)
	route("GET /admin/session-keys/{id}", "session_keys.status", h.adminKeyStatus)
	route("POST /admin/session-keys/{id}/top-up", "session_keys.top_up", h.adminTopUp)
	route("POST /admin/session-keys/{id}/revoke", "session_keys.revoke", h.adminRevoke)
	route("POST /admin/session-keys/{id}/can-afford", "session_keys.can_afford", h.adminCanAfford)
	route("POST /admin/session-keys/{id}/link", "session_keys.link", h.adminLink)
	route("POST /admin/session-keys/{id}/unlink", "session_keys.unlink", h.adminUnlink)
	route("POST /admin/sessions", "sessions.create", h.adminCreateSession)
	route("GET /admin/sessions/{id}", "sessions.show", h.adminShowSession)
	route("POST /admin/sessions/{id}/limits", "sessions.limits", h.adminLimits)
	route("POST /admin/payments", "payments.pay", h.adminPay)
	route("GET /admin/audit", "audit.show", h.adminAudit)
	route("GET /admin/audit/verify", "audit.verify", h.adminVerifyAudit)
	route("GET /admin/webhooks", "webhooks.status", h.adminWebhookStatus)
	route("POST /admin/webhooks/{endpoint}/test", "webhooks.test", h.adminWebhookTest)
	route("GET /admin/webhooks/dead", "webhooks.dead", h.adminWebhookDead)
	route("POST /admin/webhooks/dead/{id}/retry", "webhooks.retry", h.adminWebhookRetry)
	route("GET /admin/reconcile", "reconcile", h.adminReconcile)
	route("GET /admin/openapi.json", "openapi", h.adminOpenAPI)
	h.mux.Handle("/admin/", h.adminAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, &service.Error{Code: service.CodeNotFound, Message: "no admin route " + r.Method + " " + r.URL.Path})
	})))
}

// adminOp runs an admin operation, counts it and writes its answer.
func (h *Handler) adminOp(op string, fn func(r *http.Request) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, out, err := fn(r)
		if err != nil {
			h.metrics.admin.WithLabelValues(op, string(codeOrInternal(err))).Inc()
			var refused *refusal
			if errors.As(err, &refused) {
				writeJSON(w, StatusOf(refused.err.Code), map[string]any{"error": refused.err, "payment": refused.result})
				return
			}
			h.fail(w, r, err)
			return
		}
		h.metrics.admin.WithLabelValues(op, "ok").Inc()
		h.log.Info("admin", "op", op)
		writeJSON(w, status, out)
	})
}

// refusal is a refused payment: its code and the whole result.
type refusal struct {
	err    *service.Error
	result *service.PayResult
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// keyAmount parses a required amount of session key keyID's token.
func (h *Handler) keyAmount(r *http.Request, keyID string, raw json.RawMessage, param string) (service.Amount, error) {
	if isNull(raw) {
		return 0, service.Errorf(service.CodeInvalidArgument, param, "%s is required", param)
	}
	a, err := h.svc.ParseKeyAmount(r.Context(), "", keyID, raw)
	return a, withParam(err, param)
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// withParam names the field of an amount error.
func withParam(err error, param string) error {
	var pe *service.Error
	if errors.As(err, &pe) {
		msg := pe.Message
		if rest, ok := strings.CutPrefix(msg, "amount "); ok {
			msg = param + " " + rest
		}
		return &service.Error{Code: pe.Code, Message: msg, Param: param}
	}
	return err
}

// CreateKeyRequest is the body of POST /admin/session-keys. The documented
// SDK's spellings are accepted too, each with one meaning: limit_usdc is
// max_amount (of a USDC key), duration_days is expiry_hours / 24; giving
// both spellings of one thing is invalid_argument.
type CreateKeyRequest struct {
	AgentID           string          `json:"agent_id,omitempty"`
	UserWallet        string          `json:"user_wallet"`
	MaxAmount         json.RawMessage `json:"max_amount,omitempty"`
	LimitUSDC         json.RawMessage `json:"limit_usdc,omitempty"`
	ExpiryHours       float64         `json:"expiry_hours,omitempty"`
	DurationDays      float64         `json:"duration_days,omitempty"`
	SessionID         string          `json:"session_id,omitempty"`
	Token             string          `json:"token,omitempty"`
	DeviceFingerprint string          `json:"device_fingerprint,omitempty"`
}

func (h *Handler) adminCreateKey(r *http.Request) (int, any, error) {
	var in CreateKeyRequest
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	ci, err := h.createKeyInput(in)
	if err != nil {
		return 0, nil, err
	}
	c, err := h.svc.CreateSessionKey(r.Context(), ci)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, c, nil
}

// KeyList is the answer of GET /admin/session-keys, as the seed's list.
type KeyList struct {
	Total       int                `json:"total"`
	SessionKeys []*service.KeyView `json:"session_keys"`
}

func (h *Handler) adminListKeys(r *http.Request) (int, any, error) {
	ks, err := h.svc.ListKeys(r.Context(), r.URL.Query().Get("agent_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, KeyList{Total: len(ks), SessionKeys: ks}, nil
}

func (h *Handler) adminKeyStatus(r *http.Request) (int, any, error) {
	k, err := h.svc.Status(r.Context(), "", r.PathValue("id"))
	return http.StatusOK, k, err
}

// AmountRequest is the body of a top-up: {"amount"}.
type AmountRequest struct {
	Amount json.RawMessage `json:"amount"`
}

func (h *Handler) adminTopUp(r *http.Request) (int, any, error) {
	var in AmountRequest
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	amt, err := h.keyAmount(r, r.PathValue("id"), in.Amount, "amount")
	if err != nil {
		return 0, nil, err
	}
	t, err := h.svc.TopUpRequest(r.Context(), "", r.PathValue("id"), amt)
	return http.StatusOK, t, err
}

// RevokeRequest is the optional body of a revocation.
type RevokeRequest struct {
	Reason string `json:"reason,omitempty"`
}

func (h *Handler) adminRevoke(r *http.Request) (int, any, error) {
	var in RevokeRequest
	if err := decodeJSON(r, &in); err != nil && !isEmptyBody(err) {
		return 0, nil, err
	}
	if in.Reason == "" {
		in.Reason = "revoked by the operator"
	}
	res, err := h.svc.Revoke(r.Context(), "", r.PathValue("id"), in.Reason)
	return http.StatusOK, res, err
}

// CanAffordRequest is the body of a check: {"amount", "recipient"}.
type CanAffordRequest struct {
	Amount    json.RawMessage `json:"amount"`
	Recipient string          `json:"recipient,omitempty"`
}

func (h *Handler) adminCanAfford(r *http.Request) (int, any, error) {
	var in CanAffordRequest
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	amt, err := h.keyAmount(r, r.PathValue("id"), in.Amount, "amount")
	if err != nil {
		return 0, nil, err
	}
	d, err := h.svc.CanAfford(r.Context(), "", r.PathValue("id"), amt, in.Recipient)
	return http.StatusOK, d, err
}

// LinkRequest is the body of a link: {"session_id"}.
type LinkRequest struct {
	SessionID string `json:"session_id"`
}

func (h *Handler) adminLink(r *http.Request) (int, any, error) {
	var in LinkRequest
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if in.SessionID == "" {
		return 0, nil, service.Errorf(service.CodeInvalidArgument, "session_id", "session_id is required")
	}
	k, err := h.svc.Link(r.Context(), "", r.PathValue("id"), in.SessionID)
	return http.StatusOK, k, err
}

// UnlinkRequest is the optional body of an unlink. Without force the owner
// must approve it (202 and the approval link); with force it is done at once
// and the audit log records it as the operator's forced change.
type UnlinkRequest struct {
	Force bool `json:"force,omitempty"`
}

func (h *Handler) adminUnlink(r *http.Request) (int, any, error) {
	var in UnlinkRequest
	if err := decodeJSON(r, &in); err != nil && !isEmptyBody(err) {
		return 0, nil, err
	}
	if in.Force {
		k, err := h.svc.ForceUnlink(r.Context(), r.PathValue("id"))
		return http.StatusOK, k, err
	}
	link, err := h.svc.RequestUnlink(r.Context(), "", r.PathValue("id"))
	return http.StatusAccepted, link, err
}

// LimitsRequest holds a session's limits; absent or null means no limit.
type LimitsRequest struct {
	MaxPerTransaction    json.RawMessage `json:"max_per_transaction,omitempty"`
	MaxPerDay            json.RawMessage `json:"max_per_day,omitempty"`
	MaxPerWeek           json.RawMessage `json:"max_per_week,omitempty"`
	MaxPerMonth          json.RawMessage `json:"max_per_month,omitempty"`
	RequireApprovalAbove json.RawMessage `json:"require_approval_above,omitempty"`
}

// limitsIn parses limits with parse (in the session's token).
func (h *Handler) limitsIn(in LimitsRequest, parse func([]byte) (service.Amount, error)) (service.Limits, service.Amount, error) {
	var l service.Limits
	var above service.Amount
	for _, f := range []struct {
		raw  json.RawMessage
		name string
		dst  *service.Amount
	}{
		{in.MaxPerTransaction, "max_per_transaction", &l.PerTransaction},
		{in.MaxPerDay, "max_per_day", &l.PerDay},
		{in.MaxPerWeek, "max_per_week", &l.PerWeek},
		{in.MaxPerMonth, "max_per_month", &l.PerMonth},
		{in.RequireApprovalAbove, "require_approval_above", &above},
	} {
		var a service.Amount
		var err error
		if !isNull(f.raw) {
			a, err = parse(f.raw)
		}
		if err = withParam(err, f.name); err != nil {
			return l, 0, err
		}
		*f.dst = a
	}
	return l, above, nil
}

// CreateSessionRequest is the body of POST /admin/sessions. The limits are
// given at the top level or, as the documented SDK does, nested in "limits";
// both in one request is invalid_argument.
type CreateSessionRequest struct {
	AgentID           string         `json:"agent_id"`
	UserWallet        string         `json:"user_wallet"`
	DurationHours     float64        `json:"duration_hours,omitempty"`
	AllowedRecipients []string       `json:"allowed_recipients,omitempty"`
	Limits            *LimitsRequest `json:"limits,omitempty"`
	// Token is the symbol of the token the limits are in (default: the first
	// offered); only keys of it link to the session (token_mismatch).
	Token string `json:"token,omitempty"`
	LimitsRequest
}

func (h *Handler) adminCreateSession(r *http.Request) (int, any, error) {
	var in CreateSessionRequest
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if in.AgentID == "" {
		return 0, nil, service.Errorf(service.CodeInvalidArgument, "agent_id", "agent_id is required")
	}
	lr, err := nestedLimits(in)
	if err != nil {
		return 0, nil, err
	}
	l, above, err := h.limitsIn(lr, func(raw []byte) (service.Amount, error) { return h.svc.ParseAmountIn(in.Token, raw) })
	if err != nil {
		return 0, nil, err
	}
	s, err := h.svc.CreateSession(r.Context(), service.CreateSessionInput{AgentID: in.AgentID, UserWallet: in.UserWallet,
		Limits: l, RequireApprovalAbove: above, AllowedRecipients: in.AllowedRecipients, DurationHours: in.DurationHours, Token: in.Token})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, SessionCreated{ID: s.SessionID, SessionView: s}, nil
}

// SessionCreated is the answer of POST /admin/sessions: the session, and its
// id also as "id" (the documented SDK reads session.id).
type SessionCreated struct {
	ID string `json:"id"`
	*service.SessionView
}

func (h *Handler) adminShowSession(r *http.Request) (int, any, error) {
	s, err := h.svc.Session(r.Context(), "", r.PathValue("id"))
	return http.StatusOK, s, err
}

// SetLimitsRequest is the body of POST /admin/sessions/{id}/limits: the new
// limits (absent = no limit). Without force the owner must approve them (202
// and the approval link); with force they apply at once and the audit log
// records the operator's forced change.
type SetLimitsRequest struct {
	LimitsRequest
	Force bool `json:"force,omitempty"`
}

func (h *Handler) adminLimits(r *http.Request) (int, any, error) {
	var in SetLimitsRequest
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	l, above, err := h.limitsIn(in.LimitsRequest, func(raw []byte) (service.Amount, error) {
		return h.svc.ParseSessionAmount(r.Context(), "", r.PathValue("id"), raw)
	})
	if err != nil {
		return 0, nil, err
	}
	if in.Force {
		s, err := h.svc.ForceLimits(r.Context(), r.PathValue("id"), l, above)
		return http.StatusOK, s, err
	}
	link, err := h.svc.RequestLimits(r.Context(), "", r.PathValue("id"), l, above)
	return http.StatusAccepted, link, err
}

// PayRequest is the body of POST /admin/payments. The documented SDK's
// spellings are accepted too, each with one meaning: amount_usd is amount
// (of a USD stablecoin key), user_wallet names the paying session key by its
// address (session_key_address); giving both spellings of one thing is
// invalid_argument.
type PayRequest struct {
	AgentID           string          `json:"agent_id,omitempty"`
	SessionKeyID      string          `json:"session_key_id,omitempty"`
	UserWallet        string          `json:"user_wallet,omitempty"`
	SessionID         string          `json:"session_id,omitempty"`
	Recipient         string          `json:"recipient"`
	Amount            json.RawMessage `json:"amount,omitempty"`
	AmountUSD         json.RawMessage `json:"amount_usd,omitempty"`
	Description       string          `json:"description,omitempty"`
	IdempotencyKey    string          `json:"idempotency_key,omitempty"`
	DeviceFingerprint string          `json:"device_fingerprint,omitempty"`
	AutoDetectGasless bool            `json:"auto_detect_gasless,omitempty"`
}

func (h *Handler) adminPay(r *http.Request) (int, any, error) {
	var in PayRequest
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	pi, err := h.payInput(r.Context(), in)
	if err != nil {
		return 0, nil, err
	}
	res, err := h.svc.Pay(r.Context(), pi)
	if res != nil && in.AutoDetectGasless {
		g := h.svc.Gasless()
		res.Gasless = &g
	}
	var pe *service.Error
	if errors.As(err, &pe) && res != nil {
		// A refusal, or an unavailable answer, carries the payment (a retry's idempotency_key).
		return 0, nil, &refusal{err: pe, result: res}
	}
	if err != nil {
		return 0, nil, err
	}
	if res.Status == "approval_required" || res.Status == "pending" {
		h.metrics.payments.WithLabelValues(res.Status).Inc()
	}
	return http.StatusOK, res, nil
}

// AuditLog is the answer of GET /admin/audit.
type AuditLog struct {
	Wallet  string       `json:"wallet"`
	Entries []AuditEntry `json:"entries"`
}

// AuditEntry is one entry of an audit log, with its hash.
type AuditEntry struct {
	Seq   int64          `json:"seq"`
	TS    string         `json:"ts"`
	Event string         `json:"event"`
	Prev  string         `json:"prev"`
	Hash  string         `json:"hash"`
	Data  map[string]any `json:"data"`
}

// walletParam resolves ?wallet= or ?session_key_id= (a key's user_wallet).
func (h *Handler) walletParam(ctx context.Context, r *http.Request) (string, error) {
	q := r.URL.Query()
	w, id := q.Get("wallet"), q.Get("session_key_id")
	if w != "" && id != "" {
		return "", service.Errorf(service.CodeInvalidArgument, "wallet", "give wallet or session_key_id, not both")
	}
	if id != "" {
		k, err := h.svc.Status(ctx, "", id)
		if err != nil {
			return "", err
		}
		return k.UserWallet, nil
	}
	return w, nil
}

func (h *Handler) adminAudit(r *http.Request) (int, any, error) {
	w, err := h.walletParam(r.Context(), r)
	if err != nil {
		return 0, nil, err
	}
	if w == "" {
		return 0, nil, service.Errorf(service.CodeInvalidArgument, "wallet", "give wallet or session_key_id")
	}
	es, err := h.svc.Audit(r.Context(), w)
	if err != nil {
		return 0, nil, err
	}
	out := AuditLog{Wallet: w, Entries: make([]AuditEntry, 0, len(es))}
	for _, e := range es {
		out.Entries = append(out.Entries, AuditEntry{Seq: e.Seq, TS: e.TS, Event: e.Event, Prev: e.Prev, Hash: e.Hash, Data: e.Data})
	}
	return http.StatusOK, out, nil
}

// AuditVerification is the answer of GET /admin/audit/verify.
type AuditVerification struct {
	OK      bool          `json:"ok"`
	Wallets []AuditResult `json:"wallets"`
}

// AuditResult is the verification of one wallet's audit chain.
type AuditResult struct {
	Wallet  string `json:"wallet"`
	Entries int    `json:"entries"`
	OK      bool   `json:"ok"`
	Break   *struct {
		Index  int    `json:"index"`
		Seq    int64  `json:"seq"`
		Reason string `json:"reason"`
	} `json:"break,omitempty"`
}

func (h *Handler) adminVerifyAudit(r *http.Request) (int, any, error) {
	ctx := r.Context()
	w, err := h.walletParam(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	wallets := []string{w}
	if w == "" {
		if h.opts.Wallets == nil {
			return 0, nil, service.Errorf(service.CodeInvalidArgument, "wallet", "give wallet or session_key_id")
		}
		if wallets, err = h.opts.Wallets(ctx); err != nil {
			return 0, nil, err
		}
	}
	out := AuditVerification{OK: true, Wallets: []AuditResult{}}
	for _, w := range wallets {
		n, err := h.svc.VerifyAudit(ctx, w)
		res := AuditResult{Wallet: w, Entries: n, OK: err == nil}
		var br *service.AuditBreak
		switch {
		case errors.As(err, &br):
			res.Break = &struct {
				Index  int    `json:"index"`
				Seq    int64  `json:"seq"`
				Reason string `json:"reason"`
			}{br.Index, br.Seq, br.Reason}
			out.OK = false
		case err != nil:
			return 0, nil, err
		}
		out.Wallets = append(out.Wallets, res)
	}
	return http.StatusOK, out, nil
}

var errNoWebhooks = &service.Error{Code: service.CodeNotFound, Message: "no webhook endpoints are configured"}

func (h *Handler) adminWebhookStatus(r *http.Request) (int, any, error) {
	if h.opts.Webhooks == nil {
		return 0, nil, errNoWebhooks
	}
	eps, err := h.opts.Webhooks.Status(r.Context())
	if err != nil {
		return 0, nil, err
	}
	if eps == nil {
		eps = []WebhookEndpoint{}
	}
	return http.StatusOK, map[string]any{"endpoints": eps}, nil
}

func (h *Handler) adminWebhookTest(r *http.Request) (int, any, error) {
	if h.opts.Webhooks == nil {
		return 0, nil, errNoWebhooks
	}
	name := r.PathValue("endpoint")
	if err := h.opts.Webhooks.SendTest(r.Context(), name); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, WebhookStatus{Status: "delivered", Endpoint: name}, nil
}

func (h *Handler) adminWebhookDead(r *http.Request) (int, any, error) {
	if h.opts.Webhooks == nil {
		return 0, nil, errNoWebhooks
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return 0, nil, service.Errorf(service.CodeInvalidArgument, "limit", "limit must be a number from 1 to 10000")
		}
		limit = n
	}
	ds, err := h.opts.Webhooks.DeadLetters(r.Context(), limit)
	if err != nil {
		return 0, nil, err
	}
	if ds == nil {
		ds = []DeadLetter{}
	}
	return http.StatusOK, DeadLetterList{Total: len(ds), DeadLetters: ds}, nil
}

func (h *Handler) adminWebhookRetry(r *http.Request) (int, any, error) {
	if h.opts.Webhooks == nil {
		return 0, nil, errNoWebhooks
	}
	id := r.PathValue("id")
	if err := h.opts.Webhooks.Retry(r.Context(), id); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, WebhookStatus{Status: "delivered", ID: id}, nil
}
