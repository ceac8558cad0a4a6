package tools_test

import (
	"encoding/json"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
)

// TestToolsListSize logs the size of tools/list as a client receives it, and
// keeps it within a budget an agent's context can afford.
func TestToolsListSize(t *testing.T) {
	srv := tools.NewServer(nilService(), tools.Options{DefaultAgent: "a"})
	c, err := client.NewInProcessClient(srv)
	if err != nil {
		t.Fatal(err)
	}
	initialize(t, c, false)
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	t.Logf("tools/list: %d tools, %d bytes", len(res.Tools), len(b))
	if len(b) > 12000 {
		t.Fatalf("tools/list is %d bytes; keep it under 12,000", len(b))
	}
}

// nilService is a Service with no store or chain: enough to list tools.
func nilService() *service.Service { return service.New(nil, nil, nil, service.Config{}, nil) }
