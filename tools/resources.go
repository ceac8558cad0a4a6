package tools

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

const keyURIPrefix = "stipend://session-keys/"

func keyURI(id string) string { return keyURIPrefix + id }

func keyResourceTemplate() mcp.ResourceTemplate {
	return mcp.NewResourceTemplate(keyURIPrefix+"{id}", "Session key",
		mcp.WithTemplateDescription("A session key's status and balance (the same fields as the status tool). Subscribe to be told when they change."),
		mcp.WithTemplateMIMEType("application/json"))
}

func (h *handlers) readKeyResource(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	id := strings.TrimPrefix(req.Params.URI, keyURIPrefix)
	agent, err := h.agent(ctx)
	if err != nil {
		return nil, err
	}
	k, err := h.svc.Status(ctx, agent, id)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: "application/json", Text: string(b)}}, nil
}
