package webhook_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stipend/stipend/webhook"
)

// TestReplicasRun: two replicas run side by side while events arrive on
// several wallets and the receiver fails a fifth of its requests at random.
// Every event reaches the receiver, and every entry ends acknowledged.
// Run under -race.
func TestReplicasRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	ok := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, err := webhook.VerifyRequest(req, "s"); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if rand.N(5) == 0 {
			http.Error(w, "flaky", http.StatusInternalServerError)
			return
		}
		mu.Lock()
		ok[req.Header.Get(webhook.HeaderEventID)]++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	ep := webhook.Endpoint{Name: "r", URL: srv.URL, Secret: "s"}

	rctx, stop := context.WithCancel(ctx)
	var runs sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		cfg := fast(ep)
		cfg.Consumer, cfg.PerEndpoint, cfg.MaxAttempts = name, 4, 100
		d := e.dispatcher(cfg)
		runs.Add(1)
		go func() {
			defer runs.Done()
			if err := d.Run(rctx); err != nil {
				t.Errorf("run %s: %v", name, err)
			}
		}()
	}

	const wallets, per = 8, 25
	var ws []string
	want := map[string]bool{}
	var wmu sync.Mutex
	var emit sync.WaitGroup
	for range wallets {
		w := wallet()
		ws = append(ws, w)
		emit.Add(1)
		go func() {
			defer emit.Done()
			for i := range per {
				id := e.emit(w, "payment.confirmed", map[string]string{"i": fmt.Sprint(i)})
				wmu.Lock()
				want[webhook.EventID(w, id, "r")] = true
				wmu.Unlock()
			}
		}()
	}
	emit.Wait()
	waitFor(t, "every event delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for id := range want {
			if ok[id] == 0 {
				return false
			}
		}
		return true
	})
	waitFor(t, "every entry acknowledged", func() bool { return e.pending("webhooks", ws...) == 0 })
	stop()
	runs.Wait()
	dups := 0
	for _, n := range ok {
		dups += n - 1
	}
	t.Logf("%d events, %d duplicate deliveries", len(want), dups)
}

// TestSlowEndpoint: an endpoint that hangs holds at most PerEndpoint
// requests; the other endpoint gets every event meanwhile, and the slow
// one gets them all once it recovers.
func TestSlowEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	var mu sync.Mutex
	slowGot := map[string]bool{}
	inflight, most := 0, 0
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.ReadAll(req.Body)
		mu.Lock()
		inflight++
		most = max(most, inflight)
		mu.Unlock()
		select {
		case <-release:
		case <-req.Context().Done():
		}
		mu.Lock()
		inflight--
		slowGot[req.Header.Get(webhook.HeaderEventID)] = true
		mu.Unlock()
	}))
	t.Cleanup(slow.Close)
	fastR := newReceiver(t, nil)
	cfg := fast(webhook.Endpoint{Name: "slow", URL: slow.URL, Secret: "s"}, fastR.endpoint("fast"))
	cfg.PerEndpoint = 2
	d := e.dispatcher(cfg)
	w := wallet()
	const n = 20
	for i := range n {
		e.emit(w, "session_key.exhausted", map[string]string{"i": fmt.Sprint(i)})
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d.Run(rctx) }()
	waitFor(t, "the fast endpoint to get every event", func() bool { return len(fastR.delivered()) >= n })
	mu.Lock()
	if most > 2 {
		t.Errorf("%d requests in flight to the slow endpoint, PerEndpoint is 2", most)
	}
	mu.Unlock()
	close(release)
	waitFor(t, "the slow endpoint to get every event", func() bool { mu.Lock(); defer mu.Unlock(); return len(slowGot) == n })
	waitFor(t, "every entry acknowledged", func() bool { return e.pending("webhooks", w) == 0 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if k := len(fastR.requests()); k != n {
		t.Errorf("fast endpoint got %d requests, want %d", k, n)
	}
}
