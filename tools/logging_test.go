package tools_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
)

// TestLogging: notifications/message carry the steps of a payment and the
// low-balance warning, at the level the client set.
func TestLogging(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	srv := tools.NewServer(st.Service, tools.Options{DefaultAgent: "agent-a"})
	k := st.Fund(t, "agent-a", st.NewUser(t, 100_000_000), 10_000_000, "")
	for _, tc := range []struct {
		level      mcp.LoggingLevel
		amount     string
		wantEvents []string
		notEvents  []string
	}{
		{mcp.LoggingLevelInfo, "1", []string{"payment_reserved", "payment_signed", "payment_sent", "payment_confirmed"}, []string{"low_balance"}},
		{mcp.LoggingLevelWarning, "8.5", []string{"low_balance"}, []string{"payment_confirmed"}},
		{mcp.LoggingLevelError, "0.1", nil, []string{"payment_confirmed", "low_balance"}},
	} {
		c := connect(t, srv, nil)
		var mu sync.Mutex
		var events []string
		c.OnNotification(func(n mcp.JSONRPCNotification) {
			if n.Method != "notifications/message" {
				return
			}
			data, _ := n.Params.AdditionalFields["data"].(map[string]any)
			mu.Lock()
			events = append(events, data["event"].(string))
			mu.Unlock()
		})
		//lint:ignore SA1019 the session negotiates 2025-11-25, where logging/setLevel is served
		if err := c.SetLevel(ctx, mcp.SetLevelRequest{Params: mcp.SetLevelParams{Level: tc.level}}); err != nil { //nolint:staticcheck // SA1019: the session negotiates 2025-11-25, where logging/setLevel is served
			t.Fatal(err)
		}
		res, m := call(t, c, "pay", map[string]any{"session_key_id": k.SessionKeyID, "recipient": newAddress(t), "amount": tc.amount, "idempotency_key": "log-" + tc.amount})
		if res.IsError {
			t.Fatalf("pay: %s %v", text(res), m)
		}
		if len(tc.wantEvents) > 0 {
			waitFor(t, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return strings.Contains(strings.Join(events, ","), strings.Join(tc.wantEvents, ","))
			}, string(tc.level)+" messages")
		}
		// Call something that logs nothing more, so what the payment would send has arrived.
		call(t, c, "list_session_keys", map[string]any{})
		mu.Lock()
		for _, not := range tc.notEvents {
			for _, e := range events {
				if e == not {
					t.Errorf("level %s: got %s", tc.level, e)
				}
			}
		}
		mu.Unlock()
	}
}

// TestPayCancelled: cancelled before its reservation, a payment changes
// nothing and blames no network; cancelled after it, it runs to a known
// outcome.
func TestPayCancelled(t *testing.T) {
	st := testenv.NewStack(t, testenv.StackOptions{})
	k := st.Fund(t, "agent-a", st.NewUser(t, 100_000_000), 10_000_000, "")
	in := service.PayInput{AgentID: "agent-a", SessionKeyID: k.SessionKeyID, Recipient: newAddress(t), Amount: policy.Amount(1_000_000), IdempotencyKey: "c-1"}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := st.Service.Pay(cancelled, in)
	if !errors.Is(err, service.ErrCancelled) || strings.Contains(err.Error(), "http") || strings.Contains(err.Error(), "network") {
		t.Fatalf("cancelled before the reservation: %v", err)
	}
	if after, _ := st.Service.Status(ctx, "agent-a", k.SessionKeyID); after.RemainingAmount != "10.00" || after.TransactionCount != 0 || after.ReservedAmount != "0.00" {
		t.Fatalf("a cancelled payment changed the key: %+v", after)
	}
	// Through the tool: no result at all (an error the client ignores), never an unavailable blaming the network.
	var pay tools.Tool
	for _, tl := range tools.Tools(st.Service) {
		if tl.Def.Name == "pay" {
			pay = tl
		}
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = "pay"
	req.Params.Arguments = map[string]any{"session_key_id": k.SessionKeyID, "recipient": in.Recipient, "amount": "1", "idempotency_key": "c-2"}
	res, err := pay.Handler(service.WithAgent(cancelled, "agent-a"), req)
	if res != nil || err == nil {
		t.Fatalf("cancelled pay answered a result: %+v %v", res, err)
	}

	// Cancelled right after the reservation: the payment still lands.
	c2, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	in.IdempotencyKey = "c-3"
	in.Progress = func(stage string) {
		if stage == "reserved" {
			cancel2()
		}
	}
	r, err := st.Service.Pay(c2, in)
	if err != nil || r.Status != "confirmed" {
		t.Fatalf("cancelled after the reservation: %+v %v", r, err)
	}
	if after, _ := st.Service.Status(ctx, "agent-a", k.SessionKeyID); after.RemainingAmount != "9.00" || after.TransactionCount != 1 {
		t.Fatalf("after: %+v", after)
	}
}
