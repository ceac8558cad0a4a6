package webhook_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stipend/stipend/webhook"
)

// pollFor polls d until cond holds, for at most a minute.
func pollFor(t *testing.T, d *webhook.Dispatcher, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := d.Poll(ctx); err != nil {
			t.Fatalf("poll: %v", err)
		}
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("condition not reached within a minute")
}

// TestStreamTrimmed: delivered events are trimmed from the stream; one still
// being retried (and everything after it) stays.
func TestStreamTrimmed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := wallet()
	failFirst := e.emit(w, "session_key.created", map[string]string{"session_key_id": "sk_first"})
	r := newReceiver(t, nil)
	stuck := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	for i := 0; i < 100; i++ {
		e.emit(w, "payment.confirmed", map[string]string{"n": string(rune('a' + i%26))})
	}
	// "stuck" wants only the first event and never takes it: it stays pending.
	cfg := fast(r.endpoint("ok"), stuck.endpoint("stuck", "session_key.created"))
	cfg.MaxAttempts = 1_000_000 // never dead-lettered during the test
	d := e.dispatcher(cfg)
	pollFor(t, d, func() bool { return len(r.delivered()) == 101 })
	n := e.rdb.XLen(ctx, e.store.Events().Stream(w)).Val()
	if n != 101 {
		t.Fatalf("stream has %d entries; the oldest is still being retried, so all 101 must stay", n)
	}

	// A wallet whose events all went through is trimmed.
	w2 := wallet()
	for i := 0; i < 100; i++ {
		e.emit(w2, "payment.confirmed", nil)
	}
	pollFor(t, d, func() bool { return len(r.delivered()) == 201 })
	for range 2 { // the next rounds trim what the last one acknowledged
		if _, err := d.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.rdb.XLen(ctx, e.store.Events().Stream(w2)).Val(); n > 1 {
		t.Fatalf("stream of delivered events still has %d entries", n)
	}
	if e.rdb.XRange(ctx, e.store.Events().Stream(w), failFirst, failFirst).Val() == nil {
		t.Fatal("the pending entry was trimmed")
	}
}
