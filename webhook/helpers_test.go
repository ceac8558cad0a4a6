package webhook_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/webhook"
)

var ctx = context.Background()

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wallet returns a random base58 text standing in for a user_wallet.
func wallet() string { return testenv.FakeWallet() }

// env is a key space of its own on the real Redis: a random prefix, so
// tests and packages running in parallel never see each other's wallets.
type env struct {
	t      testing.TB
	rdb    *redis.Client
	store  *policy.Store
	prefix string // the store's key prefix
}

// walletsKey is the store's set of wallets with records, which the ledger
// fills as it writes (the tests append events of their own).
func (e *env) walletsKey() string { return e.prefix + ":wallets" }

func newEnv(t testing.TB) *env {
	rdb := testenv.Redis(t)
	prefix := "whtest-" + randHex(6)
	e := &env{t: t, rdb: rdb, store: policy.New(rdb, policy.Options{Prefix: prefix}), prefix: prefix}
	t.Cleanup(func() {
		// Drop this test's keys only (never a flush).
		iter := rdb.Scan(context.Background(), 0, prefix+":*", 1000).Iterator()
		for iter.Next(context.Background()) {
			rdb.Del(context.Background(), iter.Val())
		}
	})
	return e
}

// emit appends an event of the shape package policy writes.
func (e *env) emit(w, event string, data map[string]string) string {
	e.t.Helper()
	if data == nil {
		data = map[string]string{}
	}
	data["user_wallet"] = w
	data["ts"] = "1700000000123"
	js, _ := json.Marshal(data)
	id, err := e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: e.store.Events().Stream(w), Values: []any{"event", event, "data", string(js)}}).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.rdb.SAdd(ctx, e.walletsKey(), w).Err(); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// pending is the number of entries pending in the group across wallets.
func (e *env) pending(group string, wallets ...string) int64 {
	e.t.Helper()
	var n int64
	for _, w := range wallets {
		p, err := e.rdb.XPending(ctx, e.store.Events().Stream(w), group).Result()
		if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
			continue // no stream, or never read: nothing pending
		}
		if err != nil {
			e.t.Fatal(err)
		}
		n += p.Count
	}
	return n
}

func logger() *slog.Logger {
	if os.Getenv("WEBHOOK_DEBUG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// fast is a Config with millisecond backoffs.
func fast(eps ...webhook.Endpoint) webhook.Config {
	return webhook.Config{Endpoints: eps, BaseBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
		Timeout: 5 * time.Second, Consumer: "c-" + randHex(3), PollInterval: time.Millisecond}
}

func (e *env) dispatcher(cfg webhook.Config) *webhook.Dispatcher {
	e.t.Helper()
	d, err := webhook.New(e.rdb, e.store, cfg, logger())
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// delivery is a request a receiver got.
type delivery struct {
	id, event, sig string
	ev             webhook.Event
	raw            []byte
	status         int
	sigErr         error
}

// receiver is an httptest server that records the deliveries it gets and
// answers with status(n) for its n-th request (0-based; 200 if nil).
type receiver struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	all    []delivery
	status func(n int) int
}

func newReceiver(t testing.TB, status func(n int) int) *receiver {
	r := &receiver{secret: "whsec_" + randHex(16), status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := webhook.VerifyRequest(req, r.secret)
		d := delivery{id: req.Header.Get(webhook.HeaderEventID), event: req.Header.Get(webhook.HeaderEvent),
			sig: req.Header.Get(webhook.HeaderSignature), raw: body, sigErr: err}
		_ = json.Unmarshal(body, &d.ev)
		r.mu.Lock()
		d.status = http.StatusOK
		if r.status != nil {
			d.status = r.status(len(r.all))
		}
		r.all = append(r.all, d)
		r.mu.Unlock()
		w.WriteHeader(d.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) endpoint(name string, events ...string) webhook.Endpoint {
	return webhook.Endpoint{Name: name, URL: r.srv.URL, Secret: r.secret, Events: events}
}

// requests returns a copy of every request so far.
func (r *receiver) requests() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.all...)
}

// delivered returns the requests answered 2xx.
func (r *receiver) delivered() []delivery {
	var out []delivery
	for _, d := range r.requests() {
		if d.status/100 == 2 {
			out = append(out, d)
		}
	}
	return out
}

// pollUntil polls d until cond holds; it fails the test after 2,000 rounds.
func pollUntil(t testing.TB, d *webhook.Dispatcher, cond func() bool) {
	t.Helper()
	for range 2000 {
		if _, err := d.Poll(ctx); err != nil {
			t.Fatalf("poll: %v", err)
		}
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("condition not reached")
}

// waitFor waits until cond holds, failing the test after a generous while.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for range 5000 {
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
