// Package web is stipend's HTTP face: MCP over streamable HTTP and SSE for
// agents (behind API keys), the approval pages for the humans who own the
// money, the operator's admin API (behind the admin token), health, readiness
// and Prometheus metrics.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stipend/stipend/mcpsession"
	"github.com/stipend/stipend/service"
)

// Limits of requests.
const (
	// MaxBodyBytes bounds the body of approval and admin requests.
	MaxBodyBytes = 64 << 10
	// MaxMCPBodyBytes bounds the body of an MCP message.
	MaxMCPBodyBytes = 1 << 20
	// RequestTimeout bounds the write of a non-streaming response; an
	// approval waits for the chain to confirm, so it is generous.
	RequestTimeout = 3 * time.Minute
)

// APIKey is an agent's API key, kept only as the SHA-256 of the key.
type APIKey struct {
	AgentID string
	SHA256  [32]byte
}

// HashToken returns the SHA-256 of a bearer token (an API key or the admin token).
func HashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// ReadyCheck is one dependency /readyz checks.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// DeadLetter is a webhook event given up on at one endpoint, as the admin API shows it.
type DeadLetter struct {
	ID       string `json:"id"`
	At       string `json:"at"`
	Wallet   string `json:"wallet"`
	Endpoint string `json:"endpoint"`
	EventID  string `json:"event_id"`
	Event    string `json:"event"`
	Error    string `json:"error"`
	Attempts int    `json:"attempts"`
}

// WebhookEndpoint is one webhook endpoint's delivery health, as the admin API shows it.
type WebhookEndpoint struct {
	Name                        string  `json:"name"`
	State                       string  `json:"state"` // "ok" or "failing"
	ConsecutiveFailures         int64   `json:"consecutive_failures"`
	LastSuccessAt               string  `json:"last_success_at,omitempty"`
	LastFailureAt               string  `json:"last_failure_at,omitempty"`
	LastError                   string  `json:"last_error,omitempty"`
	Backlog                     int64   `json:"backlog"`
	OldestUndeliveredAt         string  `json:"oldest_undelivered_at,omitempty"`
	OldestUndeliveredAgeSeconds int64   `json:"oldest_undelivered_age_seconds"`
	InFlight                    int64   `json:"in_flight"`
	Slots                       int     `json:"slots"`
	TimeoutSeconds              float64 `json:"timeout_seconds"`
	RetryWindowSeconds          int64   `json:"retry_window_seconds"`
}

// Webhooks is the operator's side of the webhook dispatcher.
type Webhooks interface {
	// Status reports each endpoint's health and backlog.
	Status(ctx context.Context) ([]WebhookEndpoint, error)
	// SendTest sends a test event to the endpoint of that name now.
	SendTest(ctx context.Context, endpoint string) error
	// DeadLetters lists the newest dead letters, at most limit.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// Retry sends a dead letter again and removes it on success.
	Retry(ctx context.Context, deadID string) error
}

// MCPGuard answers, in place of the MCP server, a JSON-RPC request the spec
// gives its own error code, and reads a notifications/cancelled; the agents'
// face offers it (tools.NewGuard), so the human's face never imports it.
type MCPGuard interface {
	// Check returns the error response to msg, or nil to let the server answer.
	Check(ctx context.Context, agent string, msg json.RawMessage) *mcp.JSONRPCError
	// CancelledRequest returns the id (as JSON) of the request msg cancels.
	CancelledRequest(msg []byte) (string, bool)
}

// Options configure the HTTP handler.
type Options struct {
	// Service is the orchestrator every route calls (required).
	Service *service.Service
	// MCP is the MCP server of the tools; nil serves no /mcp, /sse, /message.
	MCP *server.MCPServer
	// Guard answers, before MCP, the messages it cannot answer itself
	// (required with MCP; tools.NewGuard in the wiring).
	Guard MCPGuard
	// APIKeys are the agents' keys for the MCP routes.
	APIKeys []APIKey
	// AdminTokenSHA256 is the SHA-256 of the admin token; nil turns the admin API off.
	AdminTokenSHA256 *[32]byte
	// Webhooks is the dispatcher's operator side; nil answers its routes with not_found.
	Webhooks Webhooks
	// Wallets lists every user_wallet with records (audit verify of all wallets); optional.
	Wallets func(ctx context.Context) ([]string, error)
	// Ready are the checks of /readyz (e.g. Redis PING, RPC getHealth).
	Ready []ReadyCheck
	// Registry receives the metrics; a new one when nil (served on /metrics either way).
	Registry *prometheus.Registry
	// Logger logs failures; slog.Default() when nil.
	Logger *slog.Logger
	// DefaultAgentID is the agent of an admin key creation that names none
	// (the documented SDK's call has no agent_id); empty: agent_id is required.
	DefaultAgentID string
	// AllowNonLocalHost turns off mcp-go's DNS-rebinding protection (a
	// request on a loopback connection must name a loopback Host), for a
	// reverse proxy on the same host that keeps the original Host header.
	AllowNonLocalHost bool
	// AllowedOrigins are the browser origins (scheme://host[:port]) besides
	// the server's own that may call /mcp, /sse and /message; none by default.
	AllowedOrigins []string
	// MaxStreamsPerAgent caps the MCP streams one agent holds open on this
	// server (beyond: 429); DefaultMaxStreamsPerAgent when 0.
	MaxStreamsPerAgent int
	// Sessions records MCP sessions (required with MCP; the serve command
	// passes the service's Redis).
	Sessions *mcpsession.Store
}

// Handler serves every HTTP route of stipend.
type Handler struct {
	opts       Options
	svc        *service.Service
	log        *slog.Logger
	mux        *http.ServeMux
	metrics    *metrics
	streamable *server.StreamableHTTPServer
	sse        *server.SSEServer
	unsub      func()
	sessions   *mcpsession.Store
	streams    *streams
	inflight   sync.Map // "session id" + " " + request id → *atomic.Bool: cancelled
}

// NewHandler composes the routes:
//
//	/mcp                       MCP streamable HTTP (Authorization: Bearer <api key>)
//	/sse, /message             MCP over SSE (Authorization: Bearer <api key>)
//	/approve/{token}           GET page or JSON (Accept: application/json); POST the signature
//	/approve/{token}/reject    POST: the owner declines
//	/approve/static/           the page's assets
//	/admin/...                 the operator's JSON API (Authorization: Bearer <admin token>)
//	/healthz, /readyz, /metrics
func NewHandler(o Options) (*Handler, error) {
	if o.Service == nil {
		return nil, errors.New("web: Options.Service is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	h := &Handler{opts: o, svc: o.Service, log: o.Logger.With("component", "http"), mux: http.NewServeMux(), metrics: m}
	if err := o.Registry.Register(newReconCollector(o.Service)); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, fmt.Errorf("web: register metrics: %w", err)
		}
	}
	h.unsub = o.Service.Subscribe(func(c service.Change) {
		switch c.Status {
		case "payment_confirmed":
			m.payments.WithLabelValues("confirmed").Inc()
		case "payment_failed":
			m.payments.WithLabelValues("failed").Inc()
		case "payment_refused":
			m.payments.WithLabelValues("refused").Inc()
		case "payment_approval_required":
			m.payments.WithLabelValues("approval_required").Inc()
		}
	})

	if o.MCP != nil {
		if o.Sessions == nil {
			return nil, errors.New("web: Options.Sessions is required with MCP")
		}
		if o.Guard == nil {
			return nil, errors.New("web: Options.Guard is required with MCP")
		}
		if o.MaxStreamsPerAgent <= 0 {
			o.MaxStreamsPerAgent = DefaultMaxStreamsPerAgent
		}
		h.opts = o
		h.sessions = o.Sessions
		h.streams = &streams{max: o.MaxStreamsPerAgent, open: map[string]int{}}
		ctxFn := func(ctx context.Context, r *http.Request) context.Context {
			if a, ok := agentOf(r.Context()); ok {
				return service.WithAgent(ctx, a)
			}
			return ctx
		}
		h.streamable = server.NewStreamableHTTPServer(o.MCP,
			server.WithEndpointPath("/mcp"),
			server.WithHTTPContextFunc(ctxFn),
			server.WithDisableLocalhostProtection(o.AllowNonLocalHost),
			server.WithSessionIdManagerResolver(h),
			server.WithStreamableHTTPLogger(h.log))
		h.sse = server.NewSSEServer(o.MCP,
			server.WithStaticBasePath(""),
			server.WithSSEEndpoint("/sse"),
			server.WithMessageEndpoint("/message"),
			server.WithUseFullURLForMessageEndpoint(false),
			server.WithSSEContextFunc(ctxFn),
			server.WithSSEDisableLocalhostProtection(o.AllowNonLocalHost),
			server.WithSessionIDGenerator(h.sseSessionID),
			server.WithKeepAlive(true))
		mcpLimit := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.Body = http.MaxBytesReader(w, r.Body, MaxMCPBodyBytes)
				next.ServeHTTP(w, r)
			})
		}
		h.mux.Handle("/mcp", h.checkOrigin(h.agentAuth(mcpLimit(h.streamableSessions(h.streamable)))))
		h.mux.Handle("/sse", h.checkOrigin(h.agentAuth(h.sseStream(h.sse))))
		h.mux.Handle("/message", h.checkOrigin(h.agentAuth(mcpLimit(h.sseMessage(h.sse)))))
	}

	h.mux.Handle("GET /approve/{token}", h.bounded(http.HandlerFunc(h.getApproval)))
	h.mux.Handle("POST /approve/{token}", h.bounded(http.HandlerFunc(h.postApproval)))
	h.mux.Handle("POST /approve/{token}/reject", h.bounded(http.HandlerFunc(h.rejectApproval)))
	h.mux.Handle("GET /approve/static/", Assets())

	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h.mux.HandleFunc("GET /readyz", h.readyz)
	h.mux.Handle("GET /metrics", nosniff(promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry})))

	h.adminRoutes()
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, &service.Error{Code: service.CodeNotFound, Message: "no route " + r.Method + " " + r.URL.Path})
	})
	return h, nil
}

// ServeHTTP serves a request, counting it by route.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	h.mux.ServeHTTP(rec, r)
	route := r.Pattern
	if route == "" || route == "/" {
		route = "other"
	}
	h.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
	h.metrics.latency.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
}

// Shutdown closes the MCP sessions (SSE streams) so the HTTP server can drain.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.unsub()
	var errs []error
	if h.sse != nil {
		if err := h.sse.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("web: shut down SSE: %w", err))
		}
	}
	if h.streamable != nil {
		if err := h.streamable.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("web: shut down streamable HTTP: %w", err))
		}
	}
	return errors.Join(errs...)
}

// NewServer returns an http.Server for h with sane timeouts. It sets no
// write timeout, since the MCP streams are long-lived; the other routes
// bound their own writes.
func NewServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// bounded limits a non-streaming route's body and write time.
func (h *Handler) bounded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		// A writer without deadlines (a test recorder) keeps the server's WriteTimeout.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(RequestTimeout))
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	for _, c := range h.opts.Ready {
		if err := c.Check(ctx); err != nil {
			// The answer names the dependency only: its error may carry its URL.
			h.log.Warn("readiness check failed", "check", c.Name, "err", err)
			checks[c.Name] = "unreachable"
			ok = false
			continue
		}
		checks[c.Name] = "ok"
	}
	status := http.StatusOK
	state := "ready"
	if !ok {
		status, state = http.StatusServiceUnavailable, "unavailable"
	}
	writeJSON(w, status, map[string]any{"status": state, "checks": checks})
}

// agentCtxKey carries the authenticated agent id of an MCP request.
type agentCtxKey struct{}

func agentOf(ctx context.Context) (string, bool) {
	a, ok := ctx.Value(agentCtxKey{}).(string)
	return a, ok && a != ""
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// agentAuth lets a request through only with a known API key, and puts its
// agent id in the context; anything else is a 401 that reaches nothing.
func (h *Handler) agentAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			unauthorized(w, "an API key is required: Authorization: Bearer <api key>")
			return
		}
		sum := HashToken(tok)
		agent := ""
		for _, k := range h.opts.APIKeys { // every key compared, in constant time
			if subtle.ConstantTimeCompare(sum[:], k.SHA256[:]) == 1 {
				agent = k.AgentID
			}
		}
		if agent == "" {
			h.log.Warn("rejected API key", "path", r.URL.Path, "remote", r.RemoteAddr)
			unauthorized(w, "the API key is not valid")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), agentCtxKey{}, agent)))
	})
}

// adminAuth lets a request through only with the admin token.
func (h *Handler) adminAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.opts.AdminTokenSHA256 == nil {
			writeError(w, http.StatusNotFound, &service.Error{Code: service.CodeNotFound,
				Message: "the admin API is off: set admin_token_sha256 (see stipend keygen)"})
			return
		}
		tok, ok := bearer(r)
		if !ok {
			unauthorized(w, "the admin token is required: Authorization: Bearer <admin token>")
			return
		}
		sum := HashToken(tok)
		if subtle.ConstantTimeCompare(sum[:], h.opts.AdminTokenSHA256[:]) != 1 {
			h.log.Warn("rejected admin token", "path", r.URL.Path, "remote", r.RemoteAddr)
			unauthorized(w, "the admin token is not valid")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// CodeUnauthorized is the code of a missing or wrong bearer token.
const CodeUnauthorized service.Code = "unauthorized"

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="stipend"`)
	writeError(w, http.StatusUnauthorized, &service.Error{Code: CodeUnauthorized, Message: msg})
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error *service.Error `json:"error"`
}

// writeJSON writes v as JSON; a value that does not encode is a 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Error("web: encode JSON answer", "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal","message":"internal error; see the server log"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, e *service.Error) {
	writeJSON(w, status, errorBody{Error: e})
}

// StatusOf is the HTTP status of a coded error.
func StatusOf(code service.Code) int {
	switch code {
	case service.CodeInvalidArgument, service.CodeTampered:
		return http.StatusBadRequest
	case service.CodeWrongSigner, service.CodeInvalidSignature, CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeCrossOrigin:
		return http.StatusForbidden
	case service.CodeNotFound:
		return http.StatusNotFound
	case service.CodeConflict, service.CodeNotActive, service.CodeRevoked, service.CodeTokenMismatch:
		return http.StatusConflict
	case service.CodeExpired:
		return http.StatusGone
	case service.CodePerTransactionLimit, service.CodeDailyLimit, service.CodeWeeklyLimit, service.CodeMonthlyLimit,
		service.CodeInsufficientFunds, service.CodeRecipientNotAllowed, service.CodeApprovalRequired:
		return http.StatusUnprocessableEntity
	case service.CodeUnavailable:
		return http.StatusServiceUnavailable
	case service.CodeDeviceMismatch:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// fail answers err: a coded error with its status, anything else as a 500
// that says nothing of the cause (which is logged).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *service.Error
	if errors.As(err, &pe) {
		if pe.Cause != nil {
			h.log.Warn("request refused on a failed dependency", "method", r.Method, "path", redactPath(r.URL.Path), "code", pe.Code, "err", pe.Cause)
		}
		writeError(w, StatusOf(pe.Code), pe)
		return
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, &service.Error{Code: service.CodeInvalidArgument,
			Message: fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)})
		return
	}
	h.log.Error("request failed", "method", r.Method, "path", redactPath(r.URL.Path), "err", err)
	// What is not a coded refusal is a dependency that failed (Redis or the RPC).
	writeError(w, http.StatusServiceUnavailable, &service.Error{Code: service.CodeUnavailable,
		Message: "a dependency of stipend (its ledger or the Solana network) did not answer; try again in a moment"})
}

// redactPath hides approval tokens from logs: they are bearer capabilities.
func redactPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "/approve/"); ok && !strings.HasPrefix(rest, "static/") {
		tok, tail, _ := strings.Cut(rest, "/")
		if len(tok) > 6 {
			tok = tok[:6] + "…"
		}
		if tail != "" {
			return "/approve/" + tok + "/" + tail
		}
		return "/approve/" + tok
	}
	return p
}

// decodeJSON reads a JSON request body into v: it must be JSON (by
// Content-Type), fit the size limit, and name only known fields.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return service.Errorf(service.CodeInvalidArgument, "Content-Type", "send JSON with Content-Type: application/json")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return service.Errorf(service.CodeInvalidArgument, te.Field, "%s must be a %s, not a %s", te.Field, te.Type.String(), te.Value)
		}
		if errors.Is(err, io.EOF) {
			return service.Errorf(service.CodeInvalidArgument, "body", "the request body is empty; send a JSON object")
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			f = strings.Trim(f, `"`)
			return service.Errorf(service.CodeInvalidArgument, f, "unknown field %q", f)
		}
		return service.Errorf(service.CodeInvalidArgument, "body", "the request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return service.Errorf(service.CodeInvalidArgument, "body", "the request body holds more than one JSON value")
	}
	return nil
}

// recorder remembers the status of a response; it passes Flush through (the
// MCP streams need it) and unwraps for http.ResponseController.
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (r *recorder) Flush() {
	r.wroteHeader = true
	_ = http.NewResponseController(r.ResponseWriter).Flush() // a writer that cannot flush sends at the end
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// metrics are the Prometheus collectors of the handler.
type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	payments  *prometheus.CounterVec
	approvals *prometheus.CounterVec
	admin     *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stipend_http_requests_total",
			Help: "HTTP requests by route, method and status code."}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stipend_http_request_duration_seconds",
			Help: "HTTP request latency by route and method.", Buckets: prometheus.DefBuckets}, []string{"route", "method"}),
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stipend_payments_total",
			Help: "Payments by outcome (confirmed, failed: all paths; refused, approval_required, pending: admin API)."}, []string{"outcome"}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stipend_approvals_total",
			Help: "Submitted approvals by kind and outcome (the result status, rejected, or the error code)."}, []string{"kind", "outcome"}),
		admin: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stipend_admin_requests_total",
			Help: "Admin API calls by operation and outcome (ok or the error code)."}, []string{"op", "outcome"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.payments, m.approvals, m.admin,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return nil, fmt.Errorf("web: register metrics: %w", err)
		}
	}
	return m, nil
}
