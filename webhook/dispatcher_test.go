package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/webhook"
)

// TestRetryUntilDelivered: a receiver that fails its first two deliveries
// gets the event a third time, with the same event id each time, and then
// never again; the entry is acknowledged and its state dropped.
func TestRetryUntilDelivered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newReceiver(t, func(n int) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	d := e.dispatcher(fast(r.endpoint("a")))
	w := wallet()
	entry := e.emit(w, "session_key.activated", map[string]string{"session_key_id": "sk_1"})

	pollUntil(t, d, func() bool { return len(r.delivered()) == 1 })
	for range 20 { // more rounds, past every backoff: nothing more is sent
		if _, err := d.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	got := r.requests()
	if len(got) != 3 {
		t.Fatalf("got %d requests, want 3", len(got))
	}
	want := webhook.EventID(w, entry, "a")
	for i, g := range got {
		if g.id != want || g.ev.ID != want {
			t.Errorf("request %d: event id %q / body id %q, want %q", i, g.id, g.ev.ID, want)
		}
		if g.sigErr != nil {
			t.Errorf("request %d: signature: %v", i, g.sigErr)
		}
		if g.event != "session_key.activated" || g.ev.Type != "session_key.activated" {
			t.Errorf("request %d: event %q / type %q", i, g.event, g.ev.Type)
		}
		if g.ev.Created != 1700000000 {
			t.Errorf("request %d: created %d, want 1700000000", i, g.ev.Created)
		}
		var data map[string]string
		if err := json.Unmarshal(g.ev.Data, &data); err != nil || data["session_key_id"] != "sk_1" {
			t.Errorf("request %d: data %s (%v)", i, g.ev.Data, err)
		}
	}
	if n := e.pending("webhooks", w); n != 0 {
		t.Errorf("%d entries still pending", n)
	}
	if n := e.rdb.HLen(ctx, e.store.Events().Key(w, "webhook:state")).Val(); n != 0 {
		t.Errorf("%d attempt records left", n)
	}
	for _, k := range []string{"webhook:q:a", "webhook:wait:a"} {
		if n := e.rdb.ZCard(ctx, e.store.Events().Key(w, k)).Val(); n != 0 {
			t.Errorf("%d entries left in %s", n, k)
		}
	}
}

// TestPerEndpointState: an event delivered to A but failing at B is retried
// at B only, and B's event id differs from A's.
func TestPerEndpointState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := newReceiver(t, nil)
	b := newReceiver(t, func(n int) int {
		if n < 3 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	d := e.dispatcher(fast(a.endpoint("a"), b.endpoint("b")))
	w := wallet()
	entry := e.emit(w, "session_key.topped_up", nil)
	pollUntil(t, d, func() bool { return len(b.delivered()) == 1 })
	for range 10 {
		_, _ = d.Poll(ctx)
	}
	if n := len(a.requests()); n != 1 {
		t.Errorf("A got %d requests, want 1", n)
	}
	if n := len(b.requests()); n != 4 {
		t.Errorf("B got %d requests, want 4", n)
	}
	if a.requests()[0].id == b.requests()[0].id {
		t.Error("A and B share an event id")
	}
	if got, want := b.delivered()[0].id, webhook.EventID(w, entry, "b"); got != want {
		t.Errorf("B's event id %q, want %q", got, want)
	}
	if n := e.pending("webhooks", w); n != 0 {
		t.Errorf("%d entries still pending", n)
	}
}

// TestEndpointFilter: with events made by the real ledger, an endpoint
// subscribed to one event gets only it; an endpoint with no filter gets all.
func TestEndpointFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	only := newReceiver(t, nil)
	all := newReceiver(t, nil)
	d := e.dispatcher(fast(only.endpoint("only", "session_key.activated"), all.endpoint("all")))

	w := wallet()
	now, err := e.store.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.store.CreateKey(ctx, policy.NewKey{AgentID: "agent-" + randHex(4), UserWallet: w, Token: "USDC",
		Decimals: 6, Address: wallet(), MaxAmount: 100_000_000, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Activate(ctx, k.ID, "sig", 100_000_000); err != nil {
		t.Fatal(err)
	}
	wantAll, err := e.rdb.XLen(ctx, e.store.Events().Stream(w)).Result()
	if err != nil {
		t.Fatal(err)
	}
	pollUntil(t, d, func() bool { return int64(len(all.delivered())) == wantAll })
	for range 5 {
		_, _ = d.Poll(ctx)
	}
	types := map[string]bool{}
	for _, g := range all.requests() {
		types[g.ev.Type] = true
	}
	for _, ty := range []string{"session_key.created", "session_key.activated"} {
		if !types[ty] {
			t.Errorf("unfiltered endpoint did not get %s (got %v)", ty, types)
		}
	}
	got := only.requests()
	if len(got) != 1 || got[0].ev.Type != "session_key.activated" {
		t.Fatalf("filtered endpoint got %+v, want one session_key.activated", got)
	}
	var data map[string]string
	if err := json.Unmarshal(got[0].ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data["session_key_id"] != k.ID || data["user_wallet"] != w {
		t.Errorf("data %v", data)
	}
	if got[0].ev.Created < now.Unix()-1 || got[0].ev.Created > now.Unix()+60 {
		t.Errorf("created %d, ledger time %d", got[0].ev.Created, now.Unix())
	}
}

// TestReclaimFromDeadReplica: replica "a" reads entries and dies without
// acknowledging them. Replica "b" leaves them alone while they are fresher
// than ClaimIdle, then takes them over with XAUTOCLAIM and delivers each.
func TestReclaimFromDeadReplica(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newReceiver(t, nil)
	const n = 25
	w := wallet()
	ids := map[string]bool{}
	for i := range n {
		ids[webhook.EventID(w, e.emit(w, "payment.confirmed", map[string]string{"i": fmt.Sprint(i)}), "r")] = true
	}
	stream := e.store.Events().Stream(w)
	if err := e.rdb.XGroupCreateMkStream(ctx, stream, "webhooks", "0").Err(); err != nil {
		t.Fatal(err)
	}
	// Replica "a" reads everything, then dies.
	res, err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "webhooks", Consumer: "a", Streams: []string{stream, ">"}, Count: 100, Block: -1}).Result()
	if err != nil || len(res[0].Messages) != n {
		t.Fatalf("replica a read %v, %v", res, err)
	}

	patient := fast(r.endpoint("r"))
	patient.Consumer, patient.ClaimIdle = "b", time.Hour
	if k, err := e.dispatcher(patient).Poll(ctx); err != nil || k != 0 || len(r.requests()) != 0 {
		t.Fatalf("with ClaimIdle 1h replica b delivered %d (%v), want 0", k, err)
	}

	cfg := fast(r.endpoint("r"))
	cfg.Consumer, cfg.ClaimIdle = "b", time.Millisecond
	b := e.dispatcher(cfg)
	pollUntil(t, b, func() bool { return len(r.delivered()) >= n })
	got := map[string]bool{}
	for _, g := range r.delivered() {
		got[g.id] = true
	}
	for id := range ids {
		if !got[id] {
			t.Errorf("event %s lost", id)
		}
	}
	if k := e.pending("webhooks", w); k != 0 {
		t.Errorf("%d entries still pending", k)
	}
}

// TestReplicaStoppedMidDelivery: replica "a" is stopped while its request
// hangs; the entry is not lost: replica "b" delivers it.
func TestReplicaStoppedMidDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	var ok []string
	started := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.ReadAll(req.Body)             // so the server notices when the client leaves
		if req.Header.Get("X-Replica") == "a" { // hang until the client gives up
			started <- struct{}{}
			<-req.Context().Done()
			return
		}
		mu.Lock()
		ok = append(ok, req.Header.Get(webhook.HeaderEventID))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	ep := webhook.Endpoint{Name: "r", URL: srv.URL, Secret: "s"}
	w := wallet()
	entry := e.emit(w, "session_key.revoked", nil)

	ca := fast(ep)
	ca.Consumer = "a"
	ca.Client = &http.Client{Transport: header{"X-Replica", "a"}}
	a := e.dispatcher(ca)
	actx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _, _ = a.Poll(actx); close(done) }()
	<-started
	stop()
	<-done

	cb := fast(ep)
	cb.Consumer, cb.ClaimIdle = "b", time.Millisecond
	b := e.dispatcher(cb)
	pollUntil(t, b, func() bool { mu.Lock(); defer mu.Unlock(); return len(ok) == 1 })
	if ok[0] != webhook.EventID(w, entry, "r") {
		t.Errorf("delivered %q", ok[0])
	}
	if k := e.pending("webhooks", w); k != 0 {
		t.Errorf("%d entries still pending", k)
	}
}

// header is a RoundTripper adding a header.
type header [2]string

func (h header) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h[0], h[1])
	return http.DefaultTransport.RoundTrip(r)
}

// TestDeadLetterAndRetry: after MaxAttempts failures the event goes to the
// dead-letter stream and is acknowledged; a retry that fails leaves it
// there; once the receiver is back, a retry delivers it and removes it.
func TestDeadLetterAndRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var up atomic.Bool
	r := newReceiver(t, func(int) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	cfg := fast(r.endpoint("r"))
	cfg.MaxAttempts = 3
	d := e.dispatcher(cfg)
	w := wallet()
	entry := e.emit(w, "payment.failed", map[string]string{"payment_id": "pay_1"})

	var dead []webhook.DeadLetter
	pollUntil(t, d, func() bool {
		var err error
		dead, err = d.Dead(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(dead) == 1
	})
	for range 10 {
		_, _ = d.Poll(ctx)
	}
	if n := len(r.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	dl := dead[0]
	wantID := webhook.EventID(w, entry, "r")
	if dl.Endpoint != "r" || dl.Event != "payment.failed" || dl.EventID != wantID || dl.Attempts != 3 ||
		dl.Wallet != w || dl.Entry != entry || !strings.Contains(dl.Error, "503") {
		t.Errorf("dead letter %+v", dl)
	}
	var body webhook.Event
	if err := json.Unmarshal(dl.Body, &body); err != nil || body.ID != wantID {
		t.Errorf("dead letter body %s (%v)", dl.Body, err)
	}
	if k := e.pending("webhooks", w); k != 0 {
		t.Errorf("%d entries still pending", k)
	}

	if err := d.Retry(ctx, dl.ID); !errors.Is(err, webhook.ErrDelivery) {
		t.Fatalf("retry while down: %v, want ErrDelivery", err)
	}
	if dead, _ := d.Dead(ctx, 10); len(dead) != 1 {
		t.Fatalf("failed retry removed the dead letter: %v", dead)
	}
	up.Store(true)
	if err := d.Retry(ctx, dl.ID); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if dead, _ := d.Dead(ctx, 10); len(dead) != 0 {
		t.Fatalf("dead letters after retry: %v", dead)
	}
	last := r.delivered()
	if len(last) != 1 || last[0].id != wantID || last[0].sigErr != nil {
		t.Fatalf("retried delivery %+v", last)
	}

	for _, tc := range []struct {
		id   string
		want error
	}{
		{dl.ID, webhook.ErrDeadLetterNotFound},
		{"1-1", webhook.ErrDeadLetterNotFound},
		{"garbage", webhook.ErrDeadLetterNotFound},
	} {
		if err := d.Retry(ctx, tc.id); !errors.Is(err, tc.want) {
			t.Errorf("Retry(%q) = %v, want %v", tc.id, err, tc.want)
		}
	}
}

// TestSendTest sends a signed webhook.test event right away.
func TestSendTest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := newReceiver(t, nil)
	bad := newReceiver(t, func(int) int { return http.StatusTeapot })
	redirect := httptest.NewServer(http.RedirectHandler(good.srv.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	d := e.dispatcher(fast(good.endpoint("good"), bad.endpoint("bad"),
		webhook.Endpoint{Name: "redirect", URL: redirect.URL, Secret: "s"}))
	for _, tc := range []struct {
		name string
		want error
	}{
		{"good", nil},
		{"bad", webhook.ErrDelivery},
		{"redirect", webhook.ErrDelivery},
		{"nope", webhook.ErrUnknownEndpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := d.SendTest(ctx, tc.name); !errors.Is(err, tc.want) {
				t.Errorf("SendTest(%q) = %v, want %v", tc.name, err, tc.want)
			}
		})
	}
	got := good.requests()
	if len(got) != 1 || got[0].ev.Type != webhook.TestEvent || got[0].sigErr != nil || !strings.HasPrefix(got[0].id, "evt_test_") {
		t.Errorf("test deliveries %+v", got)
	}
}

// TestConfig: invalid endpoints are refused.
func TestConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ok := webhook.Endpoint{Name: "a", URL: "https://example.com/hook", Secret: "s"}
	for _, tc := range []struct {
		name string
		eps  []webhook.Endpoint
		ok   bool
	}{
		{"none", nil, true},
		{"one", []webhook.Endpoint{ok}, true},
		{"no name", []webhook.Endpoint{{URL: ok.URL, Secret: "s"}}, false},
		{"twice", []webhook.Endpoint{ok, ok}, false},
		{"no secret", []webhook.Endpoint{{Name: "a", URL: ok.URL}}, false},
		{"bad url", []webhook.Endpoint{{Name: "a", URL: "ftp://x", Secret: "s"}}, false},
		{"no host", []webhook.Endpoint{{Name: "a", URL: "https://", Secret: "s"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := webhook.New(e.rdb, e.store, webhook.Config{Endpoints: tc.eps}, nil)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, webhook.ErrConfig)) {
				t.Errorf("New: %v", err)
			}
		})
	}
}

// TestWants: endpoint event filters.
func TestWants(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		events []string
		event  string
		want   bool
	}{
		{nil, "session_key.created", true},
		{[]string{"*"}, "payment.failed", true},
		{[]string{"session_key.created"}, "session_key.created", true},
		{[]string{"session_key.created"}, "session_key.activated", false},
		{[]string{"session_key.created", "payment.confirmed"}, "payment.confirmed", true},
	} {
		if got := (webhook.Endpoint{Events: tc.events}).Wants(tc.event); got != tc.want {
			t.Errorf("%v wants %s = %v", tc.events, tc.event, got)
		}
	}
}

// TestPendingFromEarlierLayout: an entry left pending by the earlier
// dispatcher (one state record per entry for every endpoint, and a
// schedule of entries) is taken over after an upgrade: the endpoint that
// had it is not sent it again, the one still retrying gets it, carrying
// its failed attempts, and the earlier records are removed.
func TestPendingFromEarlierLayout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := newReceiver(t, nil)
	b := newReceiver(t, func(n int) int {
		if n == 0 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	w := wallet()
	entry := e.emit(w, "session_key.revoked", nil)
	stream := e.store.Events().Stream(w)
	if err := e.rdb.XGroupCreateMkStream(ctx, stream, "webhooks", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "webhooks", Consumer: "old-replica", Streams: []string{stream, ">"}, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	old := `{"a":{"s":"delivered","n":1},"b":{"n":3,"due":1,"err":"timeout"}}`
	e.rdb.HSet(ctx, e.store.Events().Key(w, "webhook:attempts"), entry, old)
	e.rdb.ZAdd(ctx, e.store.Events().Key(w, "webhook:retry"), redis.Z{Score: 1, Member: entry})

	cfg := fast(a.endpoint("a"), b.endpoint("b"))
	cfg.ClaimIdle = time.Millisecond
	d := e.dispatcher(cfg)
	pollUntil(t, d, func() bool { return len(b.delivered()) == 1 })
	for range 5 {
		_, _ = d.Poll(ctx)
	}
	if n := len(a.requests()); n != 0 {
		t.Errorf("endpoint a, which had the event, got it %d more times", n)
	}
	if got := b.requests(); len(got) != 2 || got[1].id != webhook.EventID(w, entry, "b") {
		t.Errorf("endpoint b got %+v", got)
	}
	if n := e.rdb.Exists(ctx, e.store.Events().Key(w, "webhook:attempts"), e.store.Events().Key(w, "webhook:retry")).Val(); n != 0 {
		t.Errorf("%d records of the earlier layout left", n)
	}
	if k := e.pending("webhooks", w); k != 0 {
		t.Errorf("%d entries pending", k)
	}
}

// TestFailedAttemptsCarryOver: the failed attempts of the earlier layout
// count toward MaxAttempts after the upgrade.
func TestFailedAttemptsCarryOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	w := wallet()
	entry := e.emit(w, "payment.failed", nil)
	stream := e.store.Events().Stream(w)
	if err := e.rdb.XGroupCreateMkStream(ctx, stream, "webhooks", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "webhooks", Consumer: "old-replica", Streams: []string{stream, ">"}, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	e.rdb.HSet(ctx, e.store.Events().Key(w, "webhook:attempts"), entry, `{"r":{"n":4,"due":1,"err":"503"}}`)
	cfg := fast(r.endpoint("r"))
	cfg.ClaimIdle, cfg.MaxAttempts = time.Millisecond, 6
	d := e.dispatcher(cfg)
	pollUntil(t, d, func() bool { dead, _ := d.Dead(ctx, 10); return len(dead) == 1 })
	dead, _ := d.Dead(ctx, 10)
	if n := len(r.requests()); n != 2 || dead[0].Attempts != 6 {
		t.Errorf("%d requests after the upgrade, dead letter after %d attempts; want 2 and 6", n, dead[0].Attempts)
	}
}
