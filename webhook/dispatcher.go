package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/policy"
)

// ErrDelivery reports a failed delivery: a transport error, a timeout or a
// non-2xx answer.
var ErrDelivery = errors.New("webhook: delivery failed")

// Event is the JSON body of a delivery.
type Event struct {
	// ID is the event's id for this endpoint, the same on every attempt
	// ("evt_…"); receivers de-duplicate on it.
	ID string `json:"id"`
	// Type is the event's name, e.g. "session_key.activated".
	Type string `json:"type"`
	// Created is when the event happened, in unix seconds.
	Created int64 `json:"created"`
	// Data is the event's payload, a JSON object.
	Data json.RawMessage `json:"data"`
}

// epState is the delivery state of one (stream entry, endpoint) pair once
// an attempt failed.
type epState struct {
	Attempts int    `json:"n,omitempty"`     // failed attempts so far
	First    int64  `json:"first,omitempty"` // first failed attempt, unix ms
	Err      string `json:"err,omitempty"`   // last error
}

// Dispatcher delivers the events of every wallet's stream to the
// configured endpoints. It is safe for concurrent use; run one per
// replica, each with its own Config.Consumer.
type Dispatcher struct {
	rdb       redis.UniversalClient
	events    policy.EventReader // the wallets' event streams, and the names of this package's records
	cfg       Config
	log       *slog.Logger
	deadKey   string
	healthKey string
	lanes     []*lane
	groups    sync.Map     // stream key → struct{}: group known to exist
	offset    atomic.Int64 // Redis clock minus local clock, ns
	acked     sync.Map     // wallet → struct{}: entries finished since its stream was last trimmed
	wakeCh    chan struct{}
	metrics   *metrics
}

// lane is one endpoint's delivery line: its own slots (workers in Run),
// its own queue of due events, its own schedule in Redis.
type lane struct {
	ep     Endpoint // Timeout, RetryWindow and Slots resolved
	lease  time.Duration
	jobs   chan job // due events waiting for a slot (Run)
	mu     sync.Mutex
	queued map[job]struct{} // in jobs or being delivered (Run)
	more   atomic.Bool      // the last round left due events for want of room
	flight atomic.Int64     // requests in flight (this replica)
	fails  atomic.Int64     // consecutive failures seen here (0: healthy)
	okSeen atomic.Int64     // last time a success was recorded in Redis, unix ms
}

// job is an event due at a lane.
type job struct{ wallet, entry string }

// New returns a Dispatcher reading the streams of store's wallets on rdb
// (the client the store runs on). It fails with ErrConfig on an invalid
// endpoint (no name, a name used twice, no secret, not an http(s) URL).
// A nil log discards the logs.
func New(rdb redis.UniversalClient, store *policy.Store, cfg Config, log *slog.Logger) (*Dispatcher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		rdb:       rdb,
		events:    store.Events(),
		cfg:       cfg,
		log:       log.With("component", "webhook", "consumer", cfg.Consumer),
		deadKey:   store.Events().SharedKey("webhooks:dead"),
		healthKey: store.Events().SharedKey("webhooks:health"),
		wakeCh:    make(chan struct{}, 1),
		metrics:   newMetrics(),
	}
	for _, e := range cfg.Endpoints {
		d.lanes = append(d.lanes, &lane{ep: e, lease: 2*e.Timeout + 5*time.Second,
			jobs: make(chan job, max(16*e.Slots, 128)), queued: map[job]struct{}{}})
	}
	return d, nil
}

// DeadLettersKey is the Redis Stream of the dead letters.
func (d *Dispatcher) DeadLettersKey() string { return d.deadKey }

func (d *Dispatcher) stateKey(wallet string) string { return d.events.Key(wallet, "webhook:state") }
func (d *Dispatcher) queueKey(wallet, ep string) string {
	return d.events.Key(wallet, "webhook:q:"+ep)
}
func (d *Dispatcher) waitKey(wallet, ep string) string {
	return d.events.Key(wallet, "webhook:wait:"+ep)
}
func (d *Dispatcher) oldAttemptsKey(wallet string) string {
	return d.events.Key(wallet, "webhook:attempts")
}
func (d *Dispatcher) oldRetryKey(wallet string) string {
	return d.events.Key(wallet, "webhook:retry")
}

// now is the Redis server's clock as last measured, so that replicas
// agree on the schedule.
func (d *Dispatcher) now() time.Time {
	return time.Now().Add(time.Duration(d.offset.Load()))
}

func (d *Dispatcher) syncClock(ctx context.Context) error {
	t, err := d.rdb.Time(ctx).Result()
	if err != nil {
		return fmt.Errorf("webhook: redis time: %w", err)
	}
	d.offset.Store(int64(time.Until(t)))
	return nil
}

// EventID is the id of the event in stream entry entryID of wallet's
// stream, as delivered to the endpoint named endpoint.
func EventID(wallet, entryID, endpoint string) string {
	h := sha256.Sum256([]byte(wallet + "\x00" + entryID + "\x00" + endpoint))
	return "evt_" + hex.EncodeToString(h[:16])
}

// Notify tells a running dispatcher that new events may be waiting, so
// that it reads them now instead of at its next poll. It never blocks;
// the service calls it after every change it makes.
func (d *Dispatcher) Notify() { d.wake() }

func (d *Dispatcher) wake() {
	select {
	case d.wakeCh <- struct{}{}:
	default:
	}
}

// Run delivers events until ctx is done, then waits for the deliveries in
// flight and returns nil. Each endpoint has Slots workers fed from its own
// queue; a round reads new events, hands them to the endpoints that want
// them and queues what is due at each endpoint, as far as its queue has
// room. Rounds run when Notify is called, when an endpoint's queue runs
// low while it has more due, and every PollInterval. Errors of a round
// (e.g. Redis unreachable) are logged and the round is tried again.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.log.InfoContext(ctx, "webhook dispatcher running", "endpoints", len(d.cfg.Endpoints), "group", d.cfg.Group)
	var workers sync.WaitGroup
	defer workers.Wait()
	for _, l := range d.lanes {
		for range l.ep.Slots {
			workers.Go(func() { d.work(ctx, l) })
		}
	}
	workers.Go(func() { // trimming never holds a round up
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(trimEvery):
				d.trimAcked(ctx)
			}
		}
	})
	for {
		jobs, more, err := d.round(ctx, false)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			d.log.WarnContext(ctx, "webhook round failed", "err", err)
		}
		for l, js := range jobs {
			for _, j := range js {
				select {
				case l.jobs <- j:
				default: // no room after all: still due, taken next round
					l.unqueue(j)
					l.more.Store(true)
				}
			}
		}
		if more && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.wakeCh:
		case <-time.After(d.cfg.PollInterval):
		}
	}
}

// work is one slot of a lane: it delivers the lane's queued events one by one.
func (d *Dispatcher) work(ctx context.Context, l *lane) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-l.jobs:
			d.deliver(ctx, l, j)
			l.unqueue(j)
			if l.more.Load() && len(l.jobs) <= cap(l.jobs)/2 {
				d.wake()
			}
		}
	}
}

func (l *lane) unqueue(j job) {
	l.mu.Lock()
	delete(l.queued, j)
	l.mu.Unlock()
}

// Poll does one round: it reads new entries, takes over entries idle at
// dead replicas, picks up what is due at each endpoint, delivers it (at
// most Slots requests at a time per endpoint) and waits for the
// deliveries. It returns the number of HTTP deliveries attempted.
func (d *Dispatcher) Poll(ctx context.Context) (int, error) {
	jobs, _, err := d.round(ctx, true)
	var attempts atomic.Int64
	var wg sync.WaitGroup
	for l, js := range jobs {
		next := make(chan job, len(js))
		for _, j := range js {
			next <- j
		}
		close(next)
		for range min(l.ep.Slots, len(js)) {
			wg.Go(func() {
				for j := range next {
					if d.deliver(ctx, l, j) {
						attempts.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	return int(attempts.Load()), err
}

// round reads the streams of every wallet in chunks: new entries and
// entries idle at other consumers are fanned out to the endpoints' schedules,
// then what is due at each endpoint is collected, up to the room in its
// queue (Batch per wallet when polling). more reports that some wallet had
// a full batch of new entries: the next round should not wait.
func (d *Dispatcher) round(ctx context.Context, poll bool) (map[*lane][]job, bool, error) {
	if err := d.syncClock(ctx); err != nil {
		return nil, false, err
	}
	if poll {
		d.trimAcked(ctx)
	}
	jobs := map[*lane][]job{}
	room := map[*lane]int{}
	for _, l := range d.lanes {
		if poll {
			room[l] = int(^uint(0) >> 1)
		} else {
			room[l] = cap(l.jobs) - len(l.jobs)
			l.more.Store(false)
		}
	}
	more := false
	var cursor uint64
	for {
		wallets, next, err := d.events.ScanWallets(ctx, cursor, 512)
		if err != nil {
			return jobs, more, fmt.Errorf("webhook: list wallets: %w", err)
		}
		full, ferr := d.fanOut(ctx, wallets)
		more = more || full
		d.collectDue(ctx, wallets, poll, room, jobs)
		if ferr != nil {
			return jobs, more, ferr
		}
		if cursor = next; cursor == 0 {
			return jobs, more, nil
		}
	}
}

// fanOut reads, for each wallet, its new entries and the entries idle at
// other consumers, and hands each to the endpoints that want it. full
// reports a wallet with a full batch of new entries.
func (d *Dispatcher) fanOut(ctx context.Context, wallets []string) (full bool, err error) {
	if err := d.ensureGroups(ctx, wallets); err != nil {
		return false, err
	}
	reads := make([]*redis.XStreamSliceCmd, len(wallets))
	claims := make([]*redis.XAutoClaimCmd, len(wallets))
	_, _ = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, w := range wallets {
			stream := d.events.Stream(w)
			reads[i] = p.XReadGroup(ctx, &redis.XReadGroupArgs{Group: d.cfg.Group, Consumer: d.cfg.Consumer,
				Streams: []string{stream, ">"}, Count: int64(d.cfg.Batch), Block: -1})
			claims[i] = p.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: stream, Group: d.cfg.Group,
				MinIdle: d.cfg.ClaimIdle, Start: "0-0", Count: int64(d.cfg.Batch), Consumer: d.cfg.Consumer})
		}
		return nil
	})
	var firstErr error
	fail := func(w string, err error) {
		if strings.HasPrefix(err.Error(), "NOGROUP") {
			d.groups.Delete(d.events.Stream(w))
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("webhook: read events of %s: %w", w, err)
		}
	}
	nowMs := d.now().UnixMilli()
	var calls []scriptCall
	var owners []string
	for i, w := range wallets {
		var msgs []redis.XMessage
		streams, err := reads[i].Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			fail(w, err)
		}
		for _, s := range streams {
			msgs = append(msgs, s.Messages...)
			full = full || len(s.Messages) >= d.cfg.Batch
		}
		claimed, _, err := claims[i].Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			fail(w, err)
		}
		msgs = append(msgs, claimed...)
		for _, m := range msgs {
			calls = append(calls, d.fanoutCall(w, m, nowMs))
			owners = append(owners, w)
		}
	}
	for i, c := range runPipelined(ctx, d.rdb, fanout, calls) {
		if err := c.Err(); err != nil {
			fail(owners[i], fmt.Errorf("fan out: %w", err)) // still pending: fanned out next round
		}
	}
	return full, firstErr
}

// fanoutCall is the fanout script's run for message m of wallet w.
func (d *Dispatcher) fanoutCall(w string, m redis.XMessage, nowMs int64) scriptCall {
	name, _ := m.Values["event"].(string)
	keys := []string{d.events.Stream(w), d.stateKey(w), d.oldAttemptsKey(w), d.oldRetryKey(w)}
	args := []any{d.cfg.Group, m.ID, nowMs, entryMs(m.ID)}
	if name == "" {
		d.log.Warn("webhook: entry without event, dropped", "wallet", w, "entry", m.ID)
	}
	for _, l := range d.lanes {
		if name != "" && l.ep.Wants(name) {
			keys = append(keys, d.queueKey(w, l.ep.Name), d.waitKey(w, l.ep.Name))
			args = append(args, l.ep.Name)
		}
	}
	return scriptCall{keys: keys, args: args}
}

// collectDue adds to jobs the entries due at each lane with room, per wallet.
func (d *Dispatcher) collectDue(ctx context.Context, wallets []string, poll bool, room map[*lane]int, jobs map[*lane][]job) {
	type fetch struct {
		l   *lane
		w   string
		cmd *redis.StringSliceCmd
	}
	var fs []fetch
	nowMs := strconv.FormatInt(d.now().UnixMilli(), 10)
	_, _ = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, l := range d.lanes {
			if room[l] <= 0 {
				l.more.Store(true)
				continue
			}
			n := int64(d.cfg.Batch)
			if !poll {
				n = int64(cap(l.jobs)) // past those already queued
			}
			for _, w := range wallets {
				fs = append(fs, fetch{l, w, p.ZRangeByScore(ctx, d.queueKey(w, l.ep.Name),
					&redis.ZRangeBy{Min: "-inf", Max: nowMs, Count: n})})
			}
		}
		return nil
	})
	for _, f := range fs {
		ids, err := f.cmd.Result()
		if err != nil {
			d.log.WarnContext(ctx, "webhook: read schedule", "wallet", f.w, "endpoint", f.l.ep.Name, "err", err)
			continue
		}
		for _, id := range ids {
			j := job{f.w, id}
			if !poll {
				f.l.mu.Lock()
				_, busy := f.l.queued[j]
				if !busy && room[f.l] > 0 {
					f.l.queued[j] = struct{}{}
				}
				f.l.mu.Unlock()
				if busy {
					continue
				}
			}
			if room[f.l] <= 0 {
				f.l.more.Store(true)
				break
			}
			room[f.l]--
			jobs[f.l] = append(jobs[f.l], j)
		}
	}
}

// ensureGroups creates the consumer group on the streams of wallets that
// this process has not seen yet (from the stream's start, creating the
// stream if need be; an existing group is fine).
func (d *Dispatcher) ensureGroups(ctx context.Context, wallets []string) error {
	var todo []string
	for _, w := range wallets {
		if _, ok := d.groups.Load(d.events.Stream(w)); !ok {
			todo = append(todo, d.events.Stream(w))
		}
	}
	if len(todo) == 0 {
		return nil
	}
	res := make([]*redis.StatusCmd, len(todo))
	_, _ = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range todo {
			res[i] = p.XGroupCreateMkStream(ctx, s, d.cfg.Group, "0")
		}
		return nil
	})
	for i, s := range todo {
		if err := res[i].Err(); err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("webhook: create group on %s: %w", s, err)
		}
		d.groups.Store(s, struct{}{})
	}
	return nil
}

// deliver makes one attempt of job j at lane l under a lease and records
// the outcome. It reports whether an HTTP request was made.
func (d *Dispatcher) deliver(ctx context.Context, l *lane, j job) bool {
	ep := l.ep
	field := ep.Name + "|" + j.entry
	qkey, wkey, skey := d.queueKey(j.wallet, ep.Name), d.waitKey(j.wallet, ep.Name), d.stateKey(j.wallet)
	log := d.log.With("wallet", j.wallet, "entry", j.entry, "endpoint", ep.Name)
	now := d.now()
	leaseEnd := now.Add(l.lease).UnixMilli()
	res, err := take.Run(ctx, d.rdb, []string{qkey, d.events.Stream(j.wallet), skey},
		j.entry, now.UnixMilli(), leaseEnd, field).Slice()
	if errors.Is(err, redis.Nil) {
		return false // done, backing off, or another replica's
	}
	if err != nil {
		if ctx.Err() == nil {
			log.WarnContext(ctx, "webhook: take lease", "err", err)
		}
		return false
	}
	// The records outlive a cancelled ctx.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	record := func(mode string, next int64, st *epState) {
		var js []byte
		if st != nil {
			js, _ = json.Marshal(st)
		}
		if err := settle.Run(rctx, d.rdb, []string{qkey, wkey, skey}, j.entry, field, mode, leaseEnd, next, string(js)).Err(); err != nil {
			// The lease runs out and the entry is tried again (at least once).
			log.ErrorContext(ctx, "webhook: record delivery state", "err", err)
			return
		}
		if mode == "done" {
			d.acked.Store(j.wallet, struct{}{})
		}
	}
	st := &epState{}
	if s, _ := res[0].(string); s != "" {
		if err := json.Unmarshal([]byte(s), st); err != nil {
			log.ErrorContext(ctx, "webhook: garbled attempt state, starting over", "err", err)
			st = &epState{}
		}
	}
	values := map[string]string{}
	if len(res) > 1 {
		kv, _ := res[1].([]any)
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			v, _ := kv[i+1].(string)
			values[k] = v
		}
	}
	name, data := values["event"], values["data"]
	if name == "" {
		log.WarnContext(ctx, "webhook: entry missing or without event, dropped", "found", len(res) > 1)
		record("done", 0, nil)
		return false
	}
	payload := json.RawMessage(data)
	if !json.Valid(payload) {
		payload, _ = json.Marshal(data)
	} else if v, err := View(name, payload, d.decimals(ctx, payload)); err != nil {
		log.ErrorContext(ctx, "webhook: event data in the ledger's dialect", "event", name, "err", err)
	} else {
		payload = v
	}
	id := EventID(j.wallet, j.entry, ep.Name)
	body, _ := json.Marshal(Event{ID: id, Type: name, Created: createdAt(j.entry, data), Data: payload})
	elog := log.With("event", name, "event_id", id)

	l.flight.Add(1)
	err = d.send(ctx, ep, id, name, body)
	l.flight.Add(-1)
	now = d.now()
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: not an attempt; due again at once, here or elsewhere.
		record("retry", now.UnixMilli(), st)
	case err == nil:
		record("done", 0, nil)
		d.metrics.outcome(ep.Name, "delivered")
		d.metrics.lag.WithLabelValues(ep.Name).Observe(float64(now.UnixMilli()-entryMs(j.entry)) / 1000)
		d.healthy(rctx, l, now)
		elog.DebugContext(ctx, "webhook delivered", "attempt", st.Attempts+1)
	default:
		st.Attempts++
		st.Err = truncate(err.Error(), 512)
		if st.First == 0 {
			st.First = now.UnixMilli()
		}
		d.unhealthy(rctx, l, now, st.Err)
		deadline := st.First + ep.RetryWindow.Milliseconds()
		if now.UnixMilli() < deadline && (d.cfg.MaxAttempts == 0 || st.Attempts < d.cfg.MaxAttempts) {
			next := min(now.Add(d.backoff(st.Attempts)).UnixMilli(), deadline)
			d.metrics.outcome(ep.Name, "failed")
			elog.WarnContext(ctx, "webhook delivery failed, will retry", "attempt", st.Attempts, "err", err,
				"retry_at", time.UnixMilli(next))
			record("retry", next, st)
			return true
		}
		if err := d.deadLetter(rctx, j, ep, id, name, body, st); err != nil {
			// Not recorded as dead: tried again after the backoff.
			elog.ErrorContext(ctx, "webhook: dead-letter", "err", err)
			record("retry", now.Add(d.backoff(st.Attempts)).UnixMilli(), st)
			return true
		}
		d.metrics.outcome(ep.Name, "dead")
		elog.ErrorContext(ctx, "webhook dead-lettered", "attempts", st.Attempts, "err", err)
		record("done", 0, nil)
	}
	return true
}

// trimEvery is how often Run trims, beside its rounds, the streams of the
// wallets whose entries were finished (a few commands per wallet).
const trimEvery = time.Second

// trimAcked trims the streams of the wallets that had entries finished
// since the last round.
func (d *Dispatcher) trimAcked(ctx context.Context) {
	d.acked.Range(func(k, _ any) bool {
		d.acked.Delete(k)
		if err := d.trim(ctx, k.(string)); err != nil {
			d.log.WarnContext(ctx, "webhook: trim stream", "wallet", k, "err", err)
		}
		return true
	})
}

// trim removes from a wallet's event stream the entries every consumer
// group has had and every endpoint is done with: those before the oldest
// entry still pending in any group (or, with none pending, after the last
// one each group read) and before the oldest entry an endpoint still
// waits for. Entries not yet read, pending, or waiting at an endpoint are
// never removed; the audit log keeps the history.
func (d *Dispatcher) trim(ctx context.Context, wallet string) error {
	stream := d.events.Stream(wallet)
	groups, err := d.rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return err
	}
	var least [2]uint64
	have := false
	lower := func(v [2]uint64) {
		if !have || v[0] < least[0] || (v[0] == least[0] && v[1] < least[1]) {
			least, have = v, true
		}
	}
	for _, g := range groups {
		id := g.LastDeliveredID
		if g.Pending > 0 {
			p, err := d.rdb.XPending(ctx, stream, g.Name).Result()
			if err != nil {
				return err
			}
			id = p.Lower
		}
		v, ok := parseStreamID(id)
		if !ok || v == [2]uint64{} {
			return nil // a group that read nothing yet: keep everything
		}
		lower(v)
	}
	for _, l := range d.lanes {
		zs, err := d.rdb.ZRangeWithScores(ctx, d.waitKey(wallet, l.ep.Name), 0, 0).Result()
		if err != nil {
			return err
		}
		if len(zs) == 1 {
			lower([2]uint64{uint64(zs[0].Score), 0}) // the entry's millisecond: keeps all of it
		}
	}
	if !have {
		return nil
	}
	return d.rdb.XTrimMinID(ctx, stream, fmt.Sprintf("%d-%d", least[0], least[1])).Err()
}

// parseStreamID parses a stream entry id "ms-seq".
func parseStreamID(id string) ([2]uint64, bool) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return [2]uint64{}, false
	}
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	return [2]uint64{a, b}, err1 == nil && err2 == nil
}

// entryMs is the time of a stream entry, from its id, in unix ms.
func entryMs(id string) int64 {
	v, _ := parseStreamID(id)
	return int64(v[0])
}

// backoff is the delay after the n-th failure: BaseBackoff·2^(n-1), capped
// at MaxBackoff, drawn from [d/2, d].
func (d *Dispatcher) backoff(n int) time.Duration {
	return Backoff(d.cfg.BaseBackoff, d.cfg.MaxBackoff, n)
}

// Backoff is the delay after the n-th failed attempt (n ≥ 1): base·2^(n-1),
// capped at maxWait, drawn at random from [d/2, d] (jitter, so that the
// retries of many events spread out).
func Backoff(base, maxWait time.Duration, n int) time.Duration {
	b := base
	for i := 1; i < n && b < maxWait; i++ {
		b *= 2
	}
	b = min(b, maxWait)
	half := b / 2
	return half + rand.N(b-half+1)
}

// send makes one signed delivery of body to ep, within ep.Timeout.
func (d *Dispatcher) send(ctx context.Context, ep Endpoint, eventID, event string, body []byte) error {
	timeout := ep.Timeout
	if timeout <= 0 {
		timeout = d.cfg.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrDelivery, ep.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "stipend-webhooks/1")
	req.Header.Set(HeaderEventID, eventID)
	req.Header.Set(HeaderEvent, event)
	req.Header.Set(HeaderSignature, Sign(ep.Secret, time.Now(), body))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrDelivery, ep.Name, err)
	}
	defer func() { _ = resp.Body.Close() }() // the body is read (or dropped) already: its close has nothing to tell
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: %s answered %d: %s", ErrDelivery, ep.Name, resp.StatusCode, bytes.TrimSpace(snippet))
	}
	return nil
}

// createdAt is the event's time in unix seconds: its "ts" (unix ms) if
// data has one, else the stream entry id's time.
func createdAt(entryID, data string) int64 {
	var f struct {
		TS string `json:"ts"`
	}
	if json.Unmarshal([]byte(data), &f) == nil {
		if ms, err := strconv.ParseInt(f.TS, 10, 64); err == nil && ms > 0 {
			return ms / 1000
		}
	}
	return entryMs(entryID) / 1000
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// decimals returns the decimals an event's amounts are written with.
func (d *Dispatcher) decimals(ctx context.Context, data []byte) int32 {
	if d.cfg.DecimalsOf != nil {
		if n := d.cfg.DecimalsOf(ctx, data); n >= 0 {
			return n
		}
	}
	return d.cfg.Decimals
}
