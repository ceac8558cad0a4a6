package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/stipend/stipend/mcpsession"
	"github.com/stipend/stipend/service"
)

// DefaultMaxStreamsPerAgent is how many MCP streams (GET /mcp, GET /sse) one
// agent may hold open at once on one server, when not configured.
const DefaultMaxStreamsPerAgent = 8

// sessionHeader is the streamable HTTP transport's session header.
const sessionHeader = "Mcp-Session-Id"

// batchVersion is the only protocol revision whose clients may send
// JSON-RPC batches (2025-06-18 removed them).
const batchVersion = "2025-03-26"

// checkOrigin refuses (403) a request whose Origin is neither the server's
// own nor listed in allowed_origins: the spec's defence against DNS
// rebinding and cross-site requests. A request without Origin (not from a
// browser) passes.
func (h *Handler) checkOrigin(next http.Handler) http.Handler {
	own := map[string]bool{}
	if u, err := url.Parse(h.svc.Config().PublicURL); err == nil && u.Host != "" {
		own[strings.ToLower(u.Scheme+"://"+u.Host)] = true
	}
	for _, o := range h.opts.AllowedOrigins {
		own[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(&noWildcardCORS{ResponseWriter: w}, r)
			return
		}
		o := strings.ToLower(origin)
		if own[o] || o == "http://"+strings.ToLower(r.Host) && loopbackHost(r.Host) {
			next.ServeHTTP(&noWildcardCORS{ResponseWriter: w}, r)
			return
		}
		h.log.Warn("refused MCP request from a foreign origin", "origin", origin, "path", r.URL.Path)
		writeError(w, http.StatusForbidden, &service.Error{Code: "forbidden_origin", Message: "requests from origin " + origin + " are not allowed"})
	})
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// noWildcardCORS drops the "Access-Control-Allow-Origin: *" mcp-go's SSE
// transport adds: no route of stipend allows every origin.
type noWildcardCORS struct {
	http.ResponseWriter
	done bool
}

func (n *noWildcardCORS) strip() {
	if !n.done {
		n.done = true
		if n.Header().Get("Access-Control-Allow-Origin") == "*" {
			n.Header().Del("Access-Control-Allow-Origin")
		}
	}
}

func (n *noWildcardCORS) WriteHeader(code int) { n.strip(); n.ResponseWriter.WriteHeader(code) }

func (n *noWildcardCORS) Write(b []byte) (int, error) { n.strip(); return n.ResponseWriter.Write(b) }

// Flush implements http.Flusher.
func (n *noWildcardCORS) Flush() {
	n.strip()
	_ = http.NewResponseController(n.ResponseWriter).Flush() // a writer that cannot flush sends at the end
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (n *noWildcardCORS) Unwrap() http.ResponseWriter { return n.ResponseWriter }

// streams counts the open MCP streams of each agent on this server.
type streams struct {
	mu   sync.Mutex
	max  int
	open map[string]int
}

// acquire takes one of agent's streams; false when it holds max already.
func (s *streams) acquire(agent string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[agent] >= s.max {
		return false
	}
	s.open[agent]++
	return true
}

func (s *streams) release(agent string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[agent]--; s.open[agent] <= 0 {
		delete(s.open, agent)
	}
}

// limitStream holds one of the agent's streams for as long as next serves
// a long-lived stream; beyond the cap, 429.
func (h *Handler) limitStream(w http.ResponseWriter, r *http.Request, next http.Handler) {
	agent, _ := agentOf(r.Context())
	if !h.streams.acquire(agent) {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusTooManyRequests, &service.Error{Code: "too_many_streams",
			Message: "this agent already holds the most MCP streams allowed; close one first"})
		return
	}
	defer h.streams.release(agent)
	next.ServeHTTP(w, r)
}

// sessionCtxKey carries the session id the HTTP layer checked (or issued)
// for this request, for the session id manager mcp-go asks.
type sessionCtxKey struct{}

// sessionIDs is the session id manager of one request: it hands mcp-go the
// id the HTTP layer issued at initialize, and validates only what the HTTP
// layer checked against Redis. Sessions outlive one replica: a shutdown
// (a nil request) ends nothing in Redis.
type sessionIDs struct {
	checked string
	store   *mcpsession.Store
	ctx     context.Context
	agent   string
}

// ResolveSessionIdManager implements server.SessionIdManagerResolver.
func (h *Handler) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	m := &sessionIDs{store: h.sessions}
	if r != nil {
		m.ctx = r.Context()
		m.checked, _ = r.Context().Value(sessionCtxKey{}).(string)
		m.agent, _ = agentOf(r.Context())
	}
	return m
}

// Generate returns the id issued for this initialize.
func (m *sessionIDs) Generate() string { return m.checked }

// Validate accepts the id the HTTP layer checked for this request.
func (m *sessionIDs) Validate(id string) (bool, error) {
	if id != "" && id == m.checked {
		return false, nil
	}
	return false, mcpsession.ErrUnknown
}

// Terminate ends the session in Redis (DELETE); without a request (a
// replica shutting down) it ends nothing.
func (m *sessionIDs) Terminate(id string) (bool, error) {
	if m.ctx == nil || id == "" || id != m.checked {
		return false, nil
	}
	if err := m.store.End(m.ctx, id, m.agent); err != nil && !errors.Is(err, mcpsession.ErrUnknown) {
		return false, err
	}
	return false, nil
}

// streamableSessions puts the rules of streamable HTTP sessions in front of
// mcp-go: initialize issues an id recorded in Redis with its agent; any
// other request must carry it (400 without, 404 for an unknown, ended or
// other agent's id); DELETE ends it; a 2025-03-26 session may send batches.
func (h *Handler) streamableSessions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agent, _ := agentOf(r.Context())
		var body []byte
		if r.Method == http.MethodPost {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			body = b
			r.Body = io.NopCloser(bytes.NewReader(body))
			if init, version := initializeOf(body); init {
				id, err := h.sessions.Create(r.Context(), agent, version)
				if err != nil {
					h.log.Error("record MCP session", "err", err)
					writeRPCError(w, http.StatusServiceUnavailable, nil, mcp.INTERNAL_ERROR, "the session store is unavailable; retry")
					return
				}
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionCtxKey{}, id)))
				return
			}
		}
		if r.Method != http.MethodPost && r.Method != http.MethodGet && r.Method != http.MethodDelete {
			next.ServeHTTP(w, r)
			return
		}
		if modernRequest(r) {
			// Protocol revisions from 2026-07-28 have no sessions.
			next.ServeHTTP(w, r)
			return
		}
		id := r.Header.Get(sessionHeader)
		if id == "" {
			writeRPCError(w, http.StatusBadRequest, nil, mcp.INVALID_REQUEST, "Bad Request: the "+sessionHeader+" header is required after initialize")
			return
		}
		sess, err := h.sessions.Check(r.Context(), id, agent)
		switch {
		case errors.Is(err, mcpsession.ErrUnknown), errors.Is(err, mcpsession.ErrOtherAgent):
			if errors.Is(err, mcpsession.ErrOtherAgent) {
				h.log.Warn("refused another agent's MCP session", "agent", agent, "path", r.URL.Path)
			}
			writeRPCError(w, http.StatusNotFound, nil, mcp.INVALID_REQUEST, "Not Found: unknown or ended session; initialize a new one")
			return
		case err != nil:
			h.log.Error("check MCP session", "err", err)
			writeRPCError(w, http.StatusServiceUnavailable, nil, mcp.INTERNAL_ERROR, "the session store is unavailable; retry")
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), sessionCtxKey{}, id))
		switch r.Method {
		case http.MethodGet:
			h.limitStream(w, r, next)
		case http.MethodDelete:
			next.ServeHTTP(w, r)
		default:
			h.post(w, r, next, body, agent, id, sess)
		}
	})
}

// post serves a message of a checked session: a batch on a 2025-03-26
// session one message at a time; a request the spec gives its own error
// code (Options.Guard) answered here; anything else by mcp-go.
func (h *Handler) post(w http.ResponseWriter, r *http.Request, next http.Handler, body []byte, agent, sessionID string, sess *mcpsession.Session) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if sess.Version != batchVersion {
			writeRPCError(w, http.StatusBadRequest, nil, mcp.INVALID_REQUEST,
				"JSON-RPC batches are only accepted on "+batchVersion+" sessions")
			return
		}
		h.batch(w, r, next, trimmed, agent)
		return
	}
	if e := h.opts.Guard.Check(r.Context(), agent, body); e != nil {
		writeJSON(w, http.StatusOK, e)
		return
	}
	if id, ok := h.opts.Guard.CancelledRequest(body); ok {
		if f, ok := h.inflight.Load(sessionID + " " + id); ok {
			f.(*atomic.Bool).Store(true)
		}
	}
	if id := requestID(body); id != "" {
		// A request the client cancels gets no response (mcp-go would send one).
		k, cancelled := sessionID+" "+id, new(atomic.Bool)
		h.inflight.Store(k, cancelled)
		defer h.inflight.Delete(k)
		w = &quietWhenCancelled{ResponseWriter: w, cancelled: cancelled}
	}
	next.ServeHTTP(w, r)
}

// requestID returns the id (as JSON) of a JSON-RPC request, "" for anything else.
func requestID(body []byte) string {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal(body, &m) != nil || m.Method == "" || len(m.ID) == 0 || string(m.ID) == "null" {
		return ""
	}
	return string(m.ID)
}

// quietWhenCancelled writes nothing more once its request was cancelled.
type quietWhenCancelled struct {
	http.ResponseWriter
	cancelled *atomic.Bool
}

func (q *quietWhenCancelled) Write(b []byte) (int, error) {
	if q.cancelled.Load() {
		return len(b), nil
	}
	return q.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (q *quietWhenCancelled) Flush() { _ = http.NewResponseController(q.ResponseWriter).Flush() }

// Unwrap returns the underlying writer, for http.ResponseController.
func (q *quietWhenCancelled) Unwrap() http.ResponseWriter { return q.ResponseWriter }

// batch answers a JSON-RPC batch (2025-03-26): each message is served on
// its own, the responses come back as one array, in order; a batch of only
// notifications and responses gets 202.
func (h *Handler) batch(w http.ResponseWriter, r *http.Request, next http.Handler, body []byte, agent string) {
	var msgs []json.RawMessage
	if err := json.Unmarshal(body, &msgs); err != nil || len(msgs) == 0 {
		writeRPCError(w, http.StatusBadRequest, nil, mcp.INVALID_REQUEST, "the batch is not a non-empty JSON array")
		return
	}
	out := []json.RawMessage{}
	for _, m := range msgs {
		var head struct {
			ID     any    `json:"id"`
			Method string `json:"method"`
		}
		if err := json.Unmarshal(m, &head); err != nil {
			out = append(out, rpcError(nil, mcp.INVALID_REQUEST, "a batch entry is not a JSON-RPC message"))
			continue
		}
		if head.Method == string(mcp.MethodInitialize) {
			out = append(out, rpcError(head.ID, mcp.INVALID_REQUEST, "initialize cannot be part of a batch"))
			continue
		}
		if e := h.opts.Guard.Check(r.Context(), agent, m); e != nil {
			b, _ := json.Marshal(e)
			out = append(out, b)
			continue
		}
		sub := r.Clone(r.Context())
		sub.Body = io.NopCloser(bytes.NewReader(m))
		sub.ContentLength = int64(len(m))
		sub.Header.Set("Accept", "application/json, text/event-stream")
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, sub)
		out = append(out, responsesOf(rec)...)
	}
	if len(out) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// responsesOf takes the JSON-RPC responses out of one recorded answer
// (application/json, or an SSE stream whose messages with an id and a
// result or error are responses).
func responsesOf(rec *httptest.ResponseRecorder) []json.RawMessage {
	body := bytes.TrimSpace(rec.Body.Bytes())
	if len(body) == 0 {
		return nil
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") {
		if json.Valid(body) && body[0] == '{' {
			return []json.RawMessage{body}
		}
		return nil
	}
	var out []json.RawMessage
	for line := range strings.SplitSeq(string(body), "\n") {
		data, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "data:")
		if !ok {
			continue
		}
		var m struct {
			ID     any             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if json.Unmarshal([]byte(strings.TrimSpace(data)), &m) == nil && m.ID != nil && (m.Result != nil || m.Error != nil) {
			out = append(out, json.RawMessage(strings.TrimSpace(data)))
		}
	}
	return out
}

// initializeOf reports whether body is an initialize request, and the
// protocol version it asks for.
func initializeOf(body []byte) (bool, string) {
	var m struct {
		Method string `json:"method"`
		Params struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &m) != nil || m.Method != string(mcp.MethodInitialize) {
		return false, ""
	}
	return true, m.Params.ProtocolVersion
}

// modernRequest reports whether a request declares a protocol revision
// without sessions (2026-07-28 and later).
func modernRequest(r *http.Request) bool {
	v := r.Header.Get(mcp.HeaderProtocolVersion)
	return v != "" && mcp.IsModernProtocol(v)
}

func rpcError(id any, code int, msg string) json.RawMessage {
	b, _ := json.Marshal(mcp.NewJSONRPCError(mcp.NewRequestId(id), code, msg, nil))
	return b
}

func writeRPCError(w http.ResponseWriter, status int, id any, code int, msg string) {
	writeJSON(w, status, rpcError(id, code, msg))
}

// sseSessions binds SSE sessions to their agent: /sse issues the sessionId
// through the session store (and ends it with the stream); /message
// refuses a sessionId that is unknown, ended or another agent's (404).
func (h *Handler) sseSessionID(ctx context.Context, r *http.Request) (string, error) {
	agent, _ := agentOf(r.Context())
	id, err := h.sessions.Create(ctx, agent, "")
	if err != nil {
		return "", err
	}
	if holder, ok := r.Context().Value(sseHolderKey{}).(*string); ok {
		*holder = id
	}
	return id, nil
}

type sseHolderKey struct{}

func (h *Handler) sseStream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		var id string
		r = r.WithContext(context.WithValue(r.Context(), sseHolderKey{}, &id))
		h.limitStream(w, r, next)
		if id != "" {
			agent, _ := agentOf(r.Context())
			_ = h.sessions.End(context.WithoutCancel(r.Context()), id, agent) // a session left behind expires with its TTL
		}
	})
}

func (h *Handler) sseMessage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agent, _ := agentOf(r.Context())
		id := r.URL.Query().Get("sessionId")
		if id == "" {
			writeRPCError(w, http.StatusBadRequest, nil, mcp.INVALID_PARAMS, "Missing sessionId")
			return
		}
		if _, err := h.sessions.Check(r.Context(), id, agent); err != nil {
			if errors.Is(err, mcpsession.ErrOtherAgent) {
				h.log.Warn("refused another agent's SSE session", "agent", agent)
			}
			if errors.Is(err, mcpsession.ErrUnknown) || errors.Is(err, mcpsession.ErrOtherAgent) {
				writeRPCError(w, http.StatusNotFound, nil, mcp.INVALID_PARAMS, "unknown or ended session")
				return
			}
			h.fail(w, r, err)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if e := h.opts.Guard.Check(r.Context(), agent, body); e != nil {
			// The answer goes on the session's stream, as every SSE answer does.
			if err := h.sse.SendEventToSession(id, e); err != nil {
				h.fail(w, r, err)
				return
			}
			w.WriteHeader(http.StatusAccepted)
			return
		}
		next.ServeHTTP(w, r)
	})
}
