package tools

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/prompts"
	"github.com/stipend/stipend/service"
)

// CheckMessage answers, in place of the MCP server, a JSON-RPC request the
// spec gives its own error code that mcp-go cannot return from a handler
// (it reports every handler error as -32603):
//
//   - resources/read or resources/subscribe of a key that is not the
//     caller's (or does not exist): -32002, resource not found;
//   - prompts/get without a required argument: -32602, invalid params.
//
// It returns the error response, or nil to let the server handle msg.
// Transports that can (the HTTP layer) call it before the server.
func CheckMessage(ctx context.Context, svc *service.Service, agent string, msg json.RawMessage) *mcp.JSONRPCError {
	var m struct {
		ID     any             `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(msg, &m) != nil || m.ID == nil {
		return nil
	}
	switch mcp.MCPMethod(m.Method) {
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe:
		var p struct {
			URI string `json:"uri"`
		}
		if json.Unmarshal(m.Params, &p) != nil || !strings.HasPrefix(p.URI, keyURIPrefix) {
			return nil
		}
		h := &handlers{svc: svc, opts: Options{DefaultAgent: agent}}
		if h.owns(ctx, p.URI) {
			return nil
		}
		e := mcp.NewJSONRPCError(mcp.NewRequestId(m.ID), mcp.RESOURCE_NOT_FOUND, "Resource not found", map[string]any{"uri": p.URI})
		return &e
	case mcp.MethodPromptsGet:
		var p struct {
			Name      string            `json:"name"`
			Arguments map[string]string `json:"arguments"`
		}
		if json.Unmarshal(m.Params, &p) != nil {
			return nil
		}
		for _, pr := range prompts.All() {
			if pr.Def.Name != p.Name {
				continue
			}
			for _, a := range pr.Def.Arguments {
				if a.Required && p.Arguments[a.Name] == "" {
					e := mcp.NewJSONRPCError(mcp.NewRequestId(m.ID), mcp.INVALID_PARAMS,
						fmt.Sprintf("prompt %s: argument %s is required", p.Name, a.Name), nil)
					return &e
				}
			}
		}
	}
	return nil
}

// GuardStdio puts CheckMessage in front of an MCP server on stdio: it
// returns the reader the stdio server should read (every line of in that
// CheckMessage lets through) and the writer it should write (out, one whole
// line at a time, shared with the answers CheckMessage gives).
func GuardStdio(ctx context.Context, svc *service.Service, agent string, in io.Reader, out io.Writer) (io.Reader, io.Writer) {
	w := &lineWriter{w: out, cancelled: map[string]bool{}}
	pr, pw := io.Pipe()
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				if id, ok := CancelledRequest(line); ok {
					w.cancel(id)
				}
				if e := CheckMessage(ctx, svc, agent, bytes.TrimSpace(line)); e != nil {
					b, _ := json.Marshal(e)
					_, _ = w.Write(append(b, '\n'))
				} else if _, werr := pw.Write(line); werr != nil {
					return
				}
			}
			if err != nil {
				_ = pw.CloseWithError(err) // always nil
				return
			}
		}
	}()
	return pr, w
}

// lineWriter serialises whole writes, so two writers never interleave a
// line, and drops the response to a request the client cancelled.
type lineWriter struct {
	mu        sync.Mutex
	w         io.Writer
	cancelled map[string]bool // request ids (JSON) cancelled, whose response is not sent
}

func (l *lineWriter) cancel(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.cancelled) < 1000 {
		l.cancelled[id] = true
	}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.cancelled) > 0 {
		if id, ok := ResponseID(p); ok && l.cancelled[id] {
			delete(l.cancelled, id)
			return len(p), nil
		}
	}
	return l.w.Write(p)
}

// CancelledRequest returns the id (as JSON) of the request a
// notifications/cancelled message cancels.
func CancelledRequest(msg []byte) (string, bool) {
	var m struct {
		Method string `json:"method"`
		Params struct {
			RequestID json.RawMessage `json:"requestId"`
		} `json:"params"`
	}
	if json.Unmarshal(msg, &m) != nil || m.Method != string(mcp.MethodNotificationCancelled) || len(m.Params.RequestID) == 0 {
		return "", false
	}
	return string(m.Params.RequestID), true
}

// ResponseID returns the id (as JSON) of a JSON-RPC response (a message
// with a result or an error).
func ResponseID(msg []byte) (string, bool) {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(msg, &m) != nil || m.Method != "" || len(m.ID) == 0 || (m.Result == nil && m.Error == nil) {
		return "", false
	}
	return string(m.ID), true
}

// Guard offers CheckMessage and CancelledRequest to a transport that serves
// the tools' MCP server (the HTTP layer's web.MCPGuard), so that transport
// needs no import of this package.
type Guard struct{ svc *service.Service }

// NewGuard returns the guard of the tools served over svc.
func NewGuard(svc *service.Service) Guard { return Guard{svc: svc} }

// Check is CheckMessage.
func (g Guard) Check(ctx context.Context, agent string, msg json.RawMessage) *mcp.JSONRPCError {
	return CheckMessage(ctx, g.svc, agent, msg)
}

// CancelledRequest is CancelledRequest.
func (Guard) CancelledRequest(msg []byte) (string, bool) { return CancelledRequest(msg) }
