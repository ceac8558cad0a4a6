package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

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
