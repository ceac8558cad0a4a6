package webhook_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stipend/stipend/webhook"
)

// TestBackoff: the n-th wait doubles from the base, is capped, and is
// drawn from [d/2, d].
func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		want time.Duration // d before jitter
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {12, 2048 * time.Second},
		{13, time.Hour}, {40, time.Hour}, {1000, time.Hour},
	} {
		for range 200 {
			got := webhook.Backoff(time.Second, time.Hour, tc.n)
			if got < tc.want/2 || got > tc.want {
				t.Fatalf("Backoff(n=%d) = %v, want within [%v, %v]", tc.n, got, tc.want/2, tc.want)
			}
		}
	}
}

// TestDefaultScheduleSpansTheWindow: with the defaults (1 s doubling, 1 h
// cap, 72 h window) an event failing every time is tried for three days,
// the waits never above an hour: between 80 and 150 attempts.
func TestDefaultScheduleSpansTheWindow(t *testing.T) {
	t.Parallel()
	var elapsed time.Duration
	n := 0
	for elapsed < webhook.DefaultRetryWindow {
		n++
		w := webhook.Backoff(time.Second, time.Hour, n)
		if w > time.Hour {
			t.Fatalf("wait %d is %v", n, w)
		}
		elapsed += w
	}
	if n < 80 || n > 150 {
		t.Errorf("%d attempts in %v", n, webhook.DefaultRetryWindow)
	}
	t.Logf("%d attempts over %v", n+1, webhook.DefaultRetryWindow)
}

// TestRetryWindowThenDeadLetter: with no MaxAttempts, an event failing
// every time is retried until its window (compressed to 100 ms) is over,
// then dead-lettered, once.
func TestRetryWindowThenDeadLetter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	ep := r.endpoint("r")
	ep.RetryWindow = 100 * time.Millisecond
	d := e.dispatcher(fast(ep))
	w := wallet()
	e.emit(w, "session_key.expired", nil)
	start := time.Now()
	pollUntil(t, d, func() bool { dead, _ := d.Dead(ctx, 10); return len(dead) == 1 })
	for range 5 {
		_, _ = d.Poll(ctx)
	}
	dead, _ := d.Dead(ctx, 10)
	reqs := r.requests()
	if len(dead) != 1 || dead[0].Attempts != len(reqs) || len(reqs) < 3 {
		t.Errorf("%d dead letters, %d requests: %+v", len(dead), len(reqs), dead)
	}
	if time.Since(start) < ep.RetryWindow {
		t.Errorf("dead-lettered before its window was over")
	}
	if k := e.rdb.ZCard(ctx, e.store.Events().Key(w, "webhook:q:r")).Val(); k != 0 {
		t.Errorf("%d entries still scheduled", k)
	}
}
