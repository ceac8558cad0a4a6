package mcpsession_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/mcpsession"
	"github.com/stipend/stipend/policy"
)

// TestStore runs on the real Redis: issue, check, refuse another agent's
// key, end, and expire.
func TestStore(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.Redis(t)
	s := mcpsession.New(rdb, "stipendtest"+policy.NewID("")[:10], time.Second)
	id, err := s.Create(ctx, "agent-a", "2025-03-26")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := s.Create(ctx, "agent-a", "")
	if id == other || len(id) < 40 {
		t.Fatalf("ids %q %q", id, other)
	}
	tests := []struct {
		name, id, agent string
		want            error
	}{
		{"owner", id, "agent-a", nil},
		{"other agent", id, "agent-b", mcpsession.ErrOtherAgent},
		{"unknown", "mcp_" + "x0000000000000000000000000000000000000000", "agent-a", mcpsession.ErrUnknown},
		{"empty", "", "agent-a", mcpsession.ErrUnknown},
		{"garbage", "a:b*{c}", "agent-a", mcpsession.ErrUnknown},
	}
	for _, tc := range tests {
		sess, err := s.Check(ctx, tc.id, tc.agent)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if tc.want == nil && (sess.Agent != "agent-a" || sess.Version != "2025-03-26") {
			t.Errorf("%s: %+v", tc.name, sess)
		}
	}
	if err := s.End(ctx, id, "agent-b"); !errors.Is(err, mcpsession.ErrOtherAgent) {
		t.Fatalf("another agent ended the session: %v", err)
	}
	if err := s.End(ctx, id, "agent-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Check(ctx, id, "agent-a"); !errors.Is(err, mcpsession.ErrUnknown) {
		t.Fatalf("ended session still valid: %v", err)
	}
	if err := s.End(ctx, id, "agent-a"); !errors.Is(err, mcpsession.ErrUnknown) {
		t.Fatalf("second end: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := s.Check(ctx, other, "agent-a"); !errors.Is(err, mcpsession.ErrUnknown) {
		t.Fatalf("idle session outlived its TTL: %v", err)
	}
}
