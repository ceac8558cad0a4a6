package webhook_test

import (
	"net/http"
	"testing"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/webhook"
)

// TestEmbedded: the dispatcher also runs on the embedded miniredis that
// the service falls back to without a Redis server (same commands and
// script), retrying a failure and acknowledging the entry.
func TestEmbedded(t *testing.T) {
	t.Parallel()
	emb, err := policy.NewEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emb.Close() })
	e := &env{t: t, rdb: emb.Client, store: policy.New(emb.Client, policy.Options{}), prefix: "stipend"}
	r := newReceiver(t, func(n int) int {
		if n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	d := e.dispatcher(fast(r.endpoint("a")))
	w := wallet()
	entry := e.emit(w, "session_key.created", nil)
	pollUntil(t, d, func() bool { return len(r.delivered()) == 1 })
	for range 5 {
		if _, err := d.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := r.requests()
	if len(got) != 2 || got[0].id != webhook.EventID(w, entry, "a") || got[1].id != got[0].id {
		t.Fatalf("requests %+v", got)
	}
	if n := e.pending("webhooks", w); n != 0 {
		t.Errorf("%d entries pending", n)
	}
}
