package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/webhook"
)

// sink is a receiver that answers at once, checks every signature and
// records when each event id first got a 2xx, and the most requests it
// had in flight at once.
type sink struct {
	srv      *httptest.Server
	mu       sync.Mutex
	first    map[string]time.Time
	requests int
	badSig   int
	inflight atomic.Int64
	most     atomic.Int64
	status   func(r *http.Request) int // nil: 204
}

func newSink(t testing.TB, status func(r *http.Request) int) *sink {
	s := &sink{first: map[string]time.Time{}, status: status}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := s.inflight.Add(1)
		defer s.inflight.Add(-1)
		for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
		}
		_, err := webhook.VerifyRequest(req, "s")
		_, _ = io.Copy(io.Discard, req.Body)
		id := req.Header.Get(webhook.HeaderEventID)
		code := http.StatusNoContent
		if s.status != nil {
			code = s.status(req)
		}
		now := time.Now()
		s.mu.Lock()
		s.requests++
		if err != nil {
			s.badSig++
		}
		if _, ok := s.first[id]; !ok && code/100 == 2 && err == nil {
			s.first[id] = now
		}
		s.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) endpoint(name string) webhook.Endpoint {
	return webhook.Endpoint{Name: name, URL: s.srv.URL, Secret: "s"}
}

func (s *sink) got() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.first)
}

// lags are the times from each event (its stream entry's time) to its
// first 2xx, for the events of ids (event id → entry id).
func (s *sink) lags(ids map[string]string) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for id, entry := range ids {
		at, ok := s.first[id]
		if !ok {
			continue
		}
		ms, _ := strconv.ParseInt(strings.SplitN(entry, "-", 2)[0], 10, 64)
		out = append(out, at.Sub(time.UnixMilli(ms)))
	}
	slices.Sort(out)
	return out
}

// run starts d.Run until the test ends.
func run(t testing.TB, d *webhook.Dispatcher) {
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}

// paced is a Config as served (default schedule, poll interval and
// slots), with a client keeping enough idle connections.
func paced(eps ...webhook.Endpoint) webhook.Config {
	return webhook.Config{Endpoints: eps, Consumer: "c-" + randHex(3),
		Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// BenchmarkThroughput measures deliveries per second to ONE endpoint by a
// running dispatcher (Run, the default 8 slots), from a backlog of b.N
// events on 4 wallets, to a local receiver that checks each signature and
// answers at once. It fails if the dispatcher ever had more than the
// endpoint's slots in flight.
func BenchmarkThroughput(b *testing.B) {
	e := newEnv(b)
	s := newSink(b, nil)
	cfg := paced(s.endpoint("r"))
	counted := &counting{base: cfg.Client.Transport, host: strings.TrimPrefix(s.srv.URL, "http://")}
	cfg.Client.Transport = counted
	d := e.dispatcher(cfg)
	ws := []string{wallet(), wallet(), wallet(), wallet()}
	for i := range b.N {
		e.emit(ws[i%len(ws)], "payment.confirmed", map[string]string{"i": fmt.Sprint(i)})
	}
	b.ResetTimer()
	run(b, d)
	d.Notify()
	for s.got() < b.N {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(counted.most.Load()), "max-in-flight")
	if m := counted.most.Load(); m > 8 {
		b.Fatalf("%d requests in flight at once to one endpoint; its slots are 8", m)
	}
	if s.badSig > 0 {
		b.Fatalf("%d bad signatures", s.badSig)
	}
}

// burst makes n events on 8 wallets as fast as it can, calling d.Notify
// after each (unless d is nil) as the service does after each change, and
// returns event id → entry id.
func burst(e *env, d *webhook.Dispatcher, endpoint string, n int) map[string]string {
	ws := make([]string, 8)
	for i := range ws {
		ws[i] = wallet()
	}
	ids := map[string]string{}
	for i := range n {
		w := ws[i%len(ws)]
		entry := e.emit(w, "payment.confirmed", map[string]string{"i": fmt.Sprint(i)})
		ids[webhook.EventID(w, entry, endpoint)] = entry
		if d != nil {
			d.Notify()
		}
	}
	return ids
}

// BenchmarkBurstLatency measures, for bursts of 500 events made as fast
// as the test can append them, the time from each event to its first 2xx
// at a healthy receiver: the median and the maximum over every burst.
// "notified" calls Notify after each event, as serve does after each
// change it makes; "polled" does not, as for events another replica made
// (read at the next poll, every 250 ms).
func BenchmarkBurstLatency(b *testing.B) {
	for _, notify := range []bool{true, false} {
		name := map[bool]string{true: "notified", false: "polled"}[notify]
		b.Run(name, func(b *testing.B) {
			e := newEnv(b)
			s := newSink(b, nil)
			d := e.dispatcher(paced(s.endpoint("r")))
			run(b, d)
			all := map[string]string{}
			for range b.N {
				var nd *webhook.Dispatcher
				if notify {
					nd = d
				}
				for id, entry := range burst(e, nd, "r", 500) {
					all[id] = entry
				}
				for s.got() < len(all) {
					time.Sleep(time.Millisecond)
				}
			}
			l := s.lags(all)
			b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(l[len(l)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// TestBurst: a burst of events reaches a healthy receiver through a
// running dispatcher, each once, signed, and the streams are trimmed
// after; the median and maximum lag are logged (measured by
// BenchmarkBurstLatency).
func TestBurst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := newSink(t, nil)
	d := e.dispatcher(paced(s.endpoint("r")))
	run(t, d)
	ids := burst(e, d, "r", 200)
	waitFor(t, "every event delivered", func() bool { return s.got() == len(ids) })
	s.mu.Lock()
	for id := range ids {
		if _, ok := s.first[id]; !ok {
			t.Errorf("event %s not delivered", id)
		}
	}
	if s.badSig > 0 || s.requests != len(ids) {
		t.Errorf("%d requests (%d with a bad signature) for %d events", s.requests, s.badSig, len(ids))
	}
	s.mu.Unlock()
	if m := s.most.Load(); m > 8 {
		t.Errorf("%d requests in flight at once; the endpoint's slots are 8", m)
	}
	l := s.lags(ids)
	t.Logf("%d events: lag median %v, max %v", len(l), l[len(l)/2], l[len(l)-1])
	ws := e.rdb.SMembers(ctx, e.walletsKey()).Val()
	waitFor(t, "the streams to be trimmed", func() bool {
		var n int64
		for _, w := range ws {
			n += e.rdb.XLen(ctx, e.store.Events().Stream(w)).Val()
		}
		return n <= int64(len(ws)) // at most the last entry of each
	})
}

// TestDownLongerThanOldSchedule: a receiver refuses every request until
// each event has failed more often than the old schedule allowed (8
// attempts), on a compressed schedule (waits of 1-20 ms, a window of a
// minute); then it comes back and gets every event, none dead-lettered.
// While it is down the endpoint is reported failing, with its backlog
// and the age of its oldest event, in Status and in the metrics.
func TestDownLongerThanOldSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n, oldAttempts = 40, 8
	var up atomic.Bool
	var fmu sync.Mutex
	fails := map[string]int{}
	s := newSink(t, func(r *http.Request) int {
		id := r.Header.Get(webhook.HeaderEventID)
		if up.Load() {
			return http.StatusOK
		}
		fmu.Lock()
		fails[id]++
		fmu.Unlock()
		return http.StatusServiceUnavailable
	})
	cfg := paced(s.endpoint("r"))
	cfg.BaseBackoff, cfg.MaxBackoff, cfg.RetryWindow, cfg.PollInterval = time.Millisecond, 20*time.Millisecond, time.Minute, 5*time.Millisecond
	d := e.dispatcher(cfg)
	run(t, d)
	ids := burst(e, d, "r", n)

	waitFor(t, "every event to fail more often than the old schedule tried", func() bool {
		fmu.Lock()
		defer fmu.Unlock()
		for id := range ids {
			if fails[id] <= oldAttempts {
				return false
			}
		}
		return true
	})
	st := status(t, d, "r")
	if !st.Failing || st.Backlog != n || st.OldestAge <= 0 || st.Oldest.IsZero() || !strings.Contains(st.LastError, "503") {
		t.Errorf("status while down: %+v", st)
	}
	if v := gauge(t, d, "stipend_webhook_endpoint_failing", "r"); v != 1 {
		t.Errorf("metric failing = %v while down", v)
	}
	if v := gauge(t, d, "stipend_webhook_oldest_undelivered_age_seconds", "r"); v <= 0 {
		t.Errorf("metric oldest age = %v while down", v)
	}

	up.Store(true)
	waitFor(t, "every event delivered once the receiver is back", func() bool { return s.got() == n })
	if dead, err := d.Dead(ctx, 100); err != nil || len(dead) != 0 {
		t.Errorf("dead letters: %v (%v)", dead, err)
	}
	waitFor(t, "the endpoint reported healthy with no backlog", func() bool {
		st := status(t, d, "r")
		return !st.Failing && st.Backlog == 0 && st.OldestAge == 0
	})
	if v := gauge(t, d, "stipend_webhook_endpoint_failing", "r"); v != 0 {
		t.Errorf("metric failing = %v once back", v)
	}
}

// TestFailingEndpointDoesNotHoldOthers: one endpoint hangs on every
// request (each attempt runs to its timeout) with a backlog of events;
// another endpoint gets every event, new ones too, meanwhile; the hanging
// one never has more than its slots in flight and is reported failing.
func TestFailingEndpointDoesNotHoldOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	hang := newSink(t, func(r *http.Request) int {
		select { // until the client gives up
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusServiceUnavailable
	})
	t.Cleanup(func() { close(release) })
	ok := newSink(t, nil)
	slow := hang.endpoint("hang")
	slow.Timeout, slow.Slots = 50*time.Millisecond, 2
	cfg := paced(slow, ok.endpoint("ok"))
	counted := &counting{base: cfg.Client.Transport, host: strings.TrimPrefix(hang.srv.URL, "http://")}
	cfg.Client.Transport = counted
	cfg.BaseBackoff, cfg.MaxBackoff, cfg.PollInterval = time.Millisecond, 5*time.Millisecond, 5*time.Millisecond
	d := e.dispatcher(cfg)
	before := burst(e, d, "ok", 300) // the backlog, before the dispatcher runs
	run(t, d)
	waitFor(t, "the healthy endpoint to get the backlog", func() bool { return ok.got() == len(before) })
	waitFor(t, "the hanging endpoint to be reported failing", func() bool { return status(t, d, "hang").Failing })
	after := burst(e, d, "ok", 100)
	waitFor(t, "the healthy endpoint to get new events", func() bool { return ok.got() == len(before)+len(after) })
	if m := counted.most.Load(); m > 2 || m == 0 {
		t.Errorf("%d requests in flight to the hanging endpoint; its slots are 2", m)
	}
	st := status(t, d, "hang")
	if st.Backlog != int64(len(before)+len(after)) || st.OldestAge <= 0 {
		t.Errorf("hanging endpoint's status: %+v", st)
	}
	// The receiver has the last event a moment before the dispatcher records
	// its answer: the healthy endpoint's backlog empties right after.
	waitFor(t, "the healthy endpoint's backlog to empty", func() bool {
		o := status(t, d, "ok")
		return !o.Failing && o.Backlog == 0
	})
	l := ok.lags(after)
	t.Logf("healthy endpoint beside a hanging one: lag median %v, max %v", l[len(l)/2], l[len(l)-1])
}

// counting is a RoundTripper that counts the requests to host in flight
// (from the request until its body is closed or it fails) and the most at once.
type counting struct {
	base      http.RoundTripper
	host      string
	cur, most atomic.Int64
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != c.host {
		return c.base.RoundTrip(r)
	}
	n := c.cur.Add(1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
	resp, err := c.base.RoundTrip(r)
	if err != nil {
		c.cur.Add(-1)
		return nil, err
	}
	resp.Body = &doneBody{ReadCloser: resp.Body, done: func() { c.cur.Add(-1) }}
	return resp, nil
}

type doneBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *doneBody) Close() error {
	b.once.Do(b.done)
	return b.ReadCloser.Close()
}

// status is the Status of the endpoint named name.
func status(t testing.TB, d *webhook.Dispatcher, name string) webhook.EndpointStatus {
	t.Helper()
	sts, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for %s in %+v", name, sts)
	return webhook.EndpointStatus{}
}

// gauge reads the metric named name for endpoint from d's collector.
func gauge(t testing.TB, d *webhook.Dispatcher, name, endpoint string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(d.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "endpoint" && l.GetValue() == endpoint {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{endpoint=%q}", name, endpoint)
	return 0
}

// BenchmarkBesideBacklog measures the lag (event → first 2xx) at a
// healthy endpoint for bursts of 500 events made while another endpoint,
// refusing connections, has a backlog of 20,000 events (a day of a busy
// ledger, on 8 wallets) being retried on the default schedule with the
// same 8 slots. Compare with BenchmarkBurstLatency/notified.
func BenchmarkBesideBacklog(b *testing.B) {
	e := newEnv(b)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // connection refused
	s := newSink(b, nil)
	ok := s.endpoint("ok")
	ok.Events = []string{"payment.confirmed"}
	cfg := paced(webhook.Endpoint{Name: "down", URL: down.URL, Secret: "s", Events: []string{"session_key.created"}}, ok)
	d := e.dispatcher(cfg)
	ws := make([]string, 8)
	for i := range ws {
		ws[i] = wallet()
	}
	const backlog = 20_000
	for i := 0; i < backlog; i += 1000 {
		_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for k := range 1000 {
				w := ws[(i+k)%len(ws)]
				p.XAdd(ctx, &redis.XAddArgs{Stream: e.store.Events().Stream(w), Values: []any{"event", "session_key.created", "data", "{}"}})
				p.SAdd(ctx, e.walletsKey(), w)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	run(b, d)
	waitFor(b, "the backlog handed to the failing endpoint", func() bool { return status(b, d, "down").Backlog == backlog })
	b.ResetTimer()
	all := map[string]string{}
	for range b.N {
		for id, entry := range burst(e, d, "ok", 500) {
			all[id] = entry
		}
		for s.got() < len(all) {
			time.Sleep(time.Millisecond)
		}
	}
	b.StopTimer()
	l := s.lags(all)
	b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(l[len(l)-1].Microseconds())/1000, "max-ms")
	st := status(b, d, "down")
	if !st.Failing || st.Backlog != backlog {
		b.Fatalf("failing endpoint's status %+v", st)
	}
	b.ReportMetric(st.OldestAge.Seconds(), "backlog-age-s")
}
