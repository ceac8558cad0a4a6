// Package tools defines stipend's MCP tools, their argument structs and
// schemas, and the MCP server that serves them (with prompts and resources).
package tools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/stipend/stipend/prompts"
	"github.com/stipend/stipend/service"
)

// Options configure the MCP server.
type Options struct {
	// DefaultAgent is the agent of calls whose context carries none (stdio).
	DefaultAgent string
	// Version is the server version reported to clients.
	Version string
	// Logger logs tool failures; slog.Default() when nil.
	Logger *slog.Logger
}

// Tool is one MCP tool: its definition and its handler, side by side.
type Tool struct {
	Def     mcp.Tool
	Handler server.ToolHandlerFunc
}

// handlers holds what the tools share.
type handlers struct {
	svc  *service.Service
	srv  *server.MCPServer
	opts Options
	log  *slog.Logger

	mu          sync.Mutex
	elicitation map[string]elicited        // approval token → where to send completion
	subscribers map[string]map[string]bool // resource URI → MCP session ids
}

type elicited struct {
	session server.ClientSession
	id      string
}

// NewServer returns the MCP server of stipend's tools, prompts and resources.
func NewServer(svc *service.Service, opts Options) *server.MCPServer {
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &handlers{svc: svc, opts: opts, log: opts.Logger, elicitation: map[string]elicited{}, subscribers: map[string]map[string]bool{}}
	hooks := &server.Hooks{}
	hooks.AddAfterSubscribe(func(ctx context.Context, _ any, req *mcp.SubscribeRequest, _ *mcp.EmptyResult) {
		// Only the subscriber's own keys: another agent's key is never
		// recorded (the HTTP layer refuses it outright, see CheckMessage).
		if sess := server.ClientSessionFromContext(ctx); sess != nil && h.owns(ctx, req.Params.URI) {
			h.subscribe(req.Params.URI, sess.SessionID())
		}
	})
	hooks.AddAfterUnsubscribe(func(ctx context.Context, _ any, req *mcp.UnsubscribeRequest, _ *mcp.EmptyResult) {
		if sess := server.ClientSessionFromContext(ctx); sess != nil {
			h.unsubscribe(req.Params.URI, sess.SessionID())
		}
	})
	hooks.AddOnUnregisterSession(func(_ context.Context, sess server.ClientSession) { h.dropSession(sess.SessionID()) })
	h.srv = server.NewMCPServer("stipend", opts.Version,
		server.WithToolCapabilities(true),
		server.WithResourceCapabilities(true, true),
		server.WithPromptCapabilities(true),
		// elicitation is a client capability: used only with clients that declare it (see elicit).
		server.WithLogging(),
		server.WithCompletions(),
		server.WithResourceCompletionProvider(completer{h}),
		server.WithPromptCompletionProvider(completer{h}),
		server.WithHooks(hooks),
		server.WithInstructions("stipend pays for things from a capped, pre-funded Solana USDC wallet (a session key) "+
			"that a human funded. Check with can_afford before paying; hand every approval_url to the human; "+
			"when a key is exhausted, ask for a top-up with top_up_request. For a URL that charges with x402 "+
			"(402 Payment Required), use fetch_paid with the most you will pay."),
	)
	for _, t := range h.tools() {
		h.srv.AddTool(t.Def, t.Handler)
	}
	h.srv.AddResourceTemplate(keyResourceTemplate(), h.readKeyResource)
	prompts.Register(h.srv)
	svc.Subscribe(h.onChange)
	return h.srv
}

// Tools returns every tool of the server (for snapshots and docs).
func Tools(svc *service.Service) []Tool {
	h := &handlers{svc: svc, log: slog.Default(), elicitation: map[string]elicited{}, subscribers: map[string]map[string]bool{}}
	return h.tools()
}

func (h *handlers) tools() []Tool {
	return []Tool{h.createSessionKey(), h.canAfford(), h.pay(), h.status(), h.topUpRequest(), h.listSessionKeys(), h.revokeSessionKey(),
		h.fetchPaid(), h.createSession(), h.linkSession(), h.requestSessionChange()}
}

// agent is the calling agent: from the HTTP bearer key, else the configured one.
func (h *handlers) agent(ctx context.Context) (string, error) {
	if a, ok := service.AgentFrom(ctx); ok {
		return a, nil
	}
	if h.opts.DefaultAgent != "" {
		return h.opts.DefaultAgent, nil
	}
	return "", service.Errorf(service.CodeInvalidArgument, "agent_id", "this connection has no agent identity")
}

// result turns a handler's outcome into a tool result: coded errors become
// tool errors the model can act on; anything else is a broken dependency.
func (h *handlers) result(name string, out any, text string, err error) (*mcp.CallToolResult, error) {
	if err != nil {
		var pe *service.Error
		if errors.As(err, &pe) {
			if pe.Cause != nil {
				h.log.Warn("tool refused on a failed dependency", "tool", name, "code", pe.Code, "err", pe.Cause)
			}
			return toolError(err, out), nil
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, service.ErrCancelled) {
			// The caller cancelled; it ignores whatever comes back.
			return nil, err
		}
		// A broken dependency (Redis or the RPC unreachable) is a tool result
		// the model can act on, naming the dependency, never its address.
		h.log.Error("tool failed", "tool", name, "err", err)
		// The agent learns which dependency failed, never its URL or raw answer.
		return toolError(&service.Error{Code: service.CodeUnavailable,
			Message: service.PublicText(err) + "; try again in a moment"}, out), nil
	}
	return structured(out, text, false), nil
}

// elicit sends an approval link to the human through the host, when the
// client supports URL-mode elicitation; it reports whether it did.
func (h *handlers) elicit(ctx context.Context, link *service.ApprovalLink, message string) bool {
	if link == nil || h.srv == nil {
		return false
	}
	sess := server.ClientSessionFromContext(ctx)
	info, ok := sess.(server.SessionWithClientInfo)
	if !ok {
		return false
	}
	caps := info.GetClientCapabilities()
	if caps.Elicitation == nil || caps.Elicitation.URL == nil {
		return false
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	id := "el_" + hex.EncodeToString(b)
	h.mu.Lock()
	h.elicitation[link.ApprovalToken] = elicited{session: sess, id: id}
	h.mu.Unlock()
	if _, err := h.srv.RequestURLElicitation(ctx, sess, id, link.ApprovalURL, message); err != nil {
		h.log.Warn("url elicitation failed; the link goes in the result", "err", err)
		h.mu.Lock()
		delete(h.elicitation, link.ApprovalToken)
		h.mu.Unlock()
		return false
	}
	return true
}

// onChange tells subscribers of a key's resource, and completes the
// elicitation of an approval that was carried out.
func (h *handlers) onChange(c service.Change) {
	if c.ApprovalToken != "" {
		h.mu.Lock()
		e, ok := h.elicitation[c.ApprovalToken]
		delete(h.elicitation, c.ApprovalToken)
		h.mu.Unlock()
		if ok {
			if err := h.srv.SendElicitationComplete(context.Background(), e.session, e.id); err != nil {
				h.log.Warn("elicitation complete", "err", err)
			}
		}
	}
	if c.SessionKeyID == "" {
		return
	}
	uri := keyURI(c.SessionKeyID)
	h.mu.Lock()
	var ids []string
	for id := range h.subscribers[uri] {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	for _, id := range ids {
		if err := h.srv.SendNotificationToSpecificClient(id, mcp.MethodNotificationResourceUpdated, map[string]any{"uri": uri}); err != nil {
			h.log.Warn("resource update notification", "session", id, "err", err)
		}
	}
}

func (h *handlers) subscribe(uri, session string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subscribers[uri] == nil {
		h.subscribers[uri] = map[string]bool{}
	}
	h.subscribers[uri][session] = true
}

func (h *handlers) unsubscribe(uri, session string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subscribers[uri], session)
}

func (h *handlers) dropSession(session string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.subscribers {
		delete(m, session)
	}
	for tok, e := range h.elicitation {
		if e.session.SessionID() == session {
			delete(h.elicitation, tok)
		}
	}
}

// owns reports whether a key resource URI names one of the calling agent's keys.
func (h *handlers) owns(ctx context.Context, uri string) bool {
	id, ok := strings.CutPrefix(uri, keyURIPrefix)
	if !ok || h.svc == nil {
		return false
	}
	agent, err := h.agent(ctx)
	if err != nil {
		return false
	}
	_, err = h.svc.Status(ctx, agent, id)
	return err == nil
}

// progress sends MCP progress notifications when the caller asked for them.
func (h *handlers) progress(ctx context.Context, req mcp.CallToolRequest, total float64) func(string) {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil || h.srv == nil {
		return nil
	}
	token := req.Params.Meta.ProgressToken
	n := 0.0
	return func(stage string) {
		n++
		// Progress is advisory: a client gone away still gets the result (or not).
		_ = h.srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
			"progressToken": token, "progress": n, "total": total, "message": stage})
	}
}

// work is what one tool does, given its decoded arguments and the calling
// agent: its result (of the type its output schema is reflected from) and the
// one sentence that says it.
type work[A, R any] func(ctx context.Context, req mcp.CallToolRequest, agent string, a *A) (R, string, error)

// tool defines a tool from its name, description, annotations and work; its
// input schema is reflected from the argument struct the work takes. What
// every tool does alike lives here once: decode the arguments (a wrong type
// is invalid_argument), find the calling agent, and shape the result or the
// coded error.
func tool[A, R any](h *handlers, name, description string, ann mcp.ToolAnnotation, fn work[A, R]) Tool {
	def := mcp.NewToolWithRawSchema(name, description, schemaOf(new(A)))
	def.RawOutputSchema = outputSchemaOf[R]()
	def.Annotations = ann
	return Tool{Def: def, Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var a A
		if err := bind(req, &a); err != nil {
			return h.result(def.Name, nil, "", err)
		}
		agent, err := h.agent(ctx)
		if err != nil {
			return h.result(def.Name, nil, "", err)
		}
		out, text, err := fn(ctx, req, agent, &a)
		if isNil(out) {
			return h.result(def.Name, nil, text, err)
		}
		return h.result(def.Name, out, text, err)
	}}
}
