package tools_test

import (
	"encoding/json"
	"testing"

	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
)

// TestToolsListSize logs the size of tools/list as the server sends it (the
// raw JSON-RPC response), and keeps it within a budget an agent's context can
// afford.
func TestToolsListSize(t *testing.T) {
	srv := tools.NewServer(nilService(), tools.Options{DefaultAgent: "a"})
	resp := srv.HandleMessage(ctx, json.RawMessage(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Result struct {
			Tools []json.RawMessage `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal(b, &m); err != nil || len(m.Result.Tools) == 0 {
		t.Fatalf("tools/list: %s (%v)", b, err)
	}
	t.Logf("tools/list: %d tools, %d bytes", len(m.Result.Tools), len(b))
	if len(b) > 40000 {
		t.Fatalf("tools/list is %d bytes; keep it under 40,000", len(b))
	}
}

// nilService is a Service with no store or chain: enough to list tools.
func nilService() *service.Service { return service.New(nil, nil, nil, service.Config{}, nil) }
