// Package tools defines stipend's MCP tools, their argument structs and
// schemas, and the MCP server that serves them (with prompts and resources).
package tools

import (
	"context"

	"github.com/mark3labs/mcp-go/server"

	"github.com/stipend/stipend/service"
)

// Options configure the MCP server.
type Options struct {
	// DefaultAgent is the agent of calls whose context carries none (stdio).
	DefaultAgent string
	// Version is the server version reported to clients.
	Version string
}

type agentKey struct{}

// WithAgent returns ctx carrying the calling agent's id (the HTTP layer sets
// it from the bearer API key).
func WithAgent(ctx context.Context, agent string) context.Context {
	return context.WithValue(ctx, agentKey{}, agent)
}

// AgentFrom returns the agent id carried by ctx.
func AgentFrom(ctx context.Context) (string, bool) {
	a, ok := ctx.Value(agentKey{}).(string)
	return a, ok && a != ""
}

// NewServer returns the MCP server of stipend's tools, prompts and resources.
func NewServer(svc *service.Service, opts Options) *server.MCPServer {
	if opts.Version == "" {
		opts.Version = "dev"
	}
	s := server.NewMCPServer("stipend", opts.Version,
		server.WithToolCapabilities(true),
		server.WithResourceCapabilities(true, true),
		server.WithPromptCapabilities(true),
		server.WithElicitation(),
	)
	return s
}
