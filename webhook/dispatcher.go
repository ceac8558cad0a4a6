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
	"slices"
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

// The state of an event at one endpoint.
const (
	stDelivered = "delivered"
	stDead      = "dead"
)

// epState is the delivery state of one (stream entry, endpoint) pair.
type epState struct {
	Status   string `json:"s,omitempty"`   // "", stDelivered or stDead
	Attempts int    `json:"n,omitempty"`   // failed attempts so far
	Due      int64  `json:"due,omitempty"` // next attempt, unix ms (0: now)
	Err      string `json:"err,omitempty"` // last error
}

// acquire takes the lease on a stream entry: it refuses an entry that is no
// longer pending in the group (done: its schedule entry is dropped) or
// whose scheduled time lies ahead (backing off, or leased by another
// replica), and otherwise moves the entry's score to the lease's end and
// returns the entry's delivery state ("" if none yet). A refusal is nil.
//
// KEYS: stream, schedule, attempts. ARGV: group, entry id, now ms, lease end ms.
var acquire = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return false
end
local s = redis.call('ZSCORE', KEYS[2], ARGV[2])
if s and tonumber(s) > tonumber(ARGV[3]) then return false end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
return redis.call('HGET', KEYS[3], ARGV[2]) or ''
`)

// Dispatcher delivers the events of every wallet's stream to the
// configured endpoints. It is safe for concurrent use; run one per
// replica, each with its own Config.Consumer.
type Dispatcher struct {
	rdb      redis.UniversalClient
	store    *policy.Store
	cfg      Config
	log      *slog.Logger
	deadKey  string
	lease    time.Duration
	sem      chan struct{}            // events in delivery
	epSem    map[string]chan struct{} // requests in flight per endpoint
	groups   sync.Map                 // stream key → struct{}: group known to exist
	offset   atomic.Int64             // Redis clock minus local clock, ns
	inflight sync.WaitGroup
	acked    sync.Map // wallet → struct{}: entries acknowledged since its stream was last trimmed
}

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
		rdb:     rdb,
		store:   store,
		cfg:     cfg,
		log:     log.With("component", "webhook", "consumer", cfg.Consumer),
		deadKey: store.KeyPrefix() + ":webhooks:dead",
		lease:   2*cfg.Timeout + 5*time.Second,
		sem:     make(chan struct{}, cfg.Concurrency),
		epSem:   map[string]chan struct{}{},
	}
	for _, e := range cfg.Endpoints {
		d.epSem[e.Name] = make(chan struct{}, cfg.PerEndpoint)
	}
	return d, nil
}

// DeadLettersKey is the Redis Stream of the dead letters.
func (d *Dispatcher) DeadLettersKey() string { return d.deadKey }

func (d *Dispatcher) attemptsKey(wallet string) string {
	return d.store.Prefix(wallet) + "webhook:attempts"
}
func (d *Dispatcher) retryKey(wallet string) string { return d.store.Prefix(wallet) + "webhook:retry" }

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

// Run delivers events until ctx is done, then waits for the deliveries in
// flight and returns nil. Errors of a round (e.g. Redis unreachable) are
// logged and the round is tried again after PollInterval. Unlike Poll, a
// round does not wait for its slow deliveries: they go on while the next
// rounds read new events.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.log.InfoContext(ctx, "webhook dispatcher running", "endpoints", len(d.cfg.Endpoints), "group", d.cfg.Group)
	defer d.inflight.Wait()
	for {
		n, _, err := d.round(ctx, nil)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			d.log.WarnContext(ctx, "webhook round failed", "err", err)
		}
		if n == 0 || err != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(d.cfg.PollInterval):
			}
		}
	}
}

// Poll does one round: it reads new entries, takes over entries idle at
// dead replicas, picks up retries that are due, delivers them and waits
// for the deliveries. It returns the number of HTTP deliveries attempted.
func (d *Dispatcher) Poll(ctx context.Context) (int, error) {
	var wg sync.WaitGroup
	_, attempts, err := d.round(ctx, &wg)
	wg.Wait()
	return int(attempts.Load()), err
}

// candidate is a stream entry to deliver.
type candidate struct {
	wallet string
	id     string
	values map[string]any
	found  bool // the entry's fields were read
}

// round collects the candidates of every wallet and starts their
// deliveries; it returns how many candidates it found and a counter of the
// attempts, final once wg (if any) is done.
func (d *Dispatcher) round(ctx context.Context, wg *sync.WaitGroup) (int, *atomic.Int64, error) {
	attempts := new(atomic.Int64)
	if err := d.syncClock(ctx); err != nil {
		return 0, attempts, err
	}
	d.trimAcked(ctx)
	n := 0
	var cursor uint64
	for {
		wallets, next, err := d.rdb.SScan(ctx, d.store.WalletsKey(), cursor, "", 512).Result()
		if err != nil {
			return n, attempts, fmt.Errorf("webhook: list wallets: %w", err)
		}
		// Deliver what was read even if part of the reads failed: the
		// entries read are pending at this consumer now.
		cands, cerr := d.collect(ctx, wallets)
		for _, c := range cands {
			select {
			case d.sem <- struct{}{}:
			case <-ctx.Done():
				return n, attempts, ctx.Err()
			}
			n++
			d.inflight.Add(1)
			if wg != nil {
				wg.Add(1)
			}
			go func() {
				defer func() {
					<-d.sem
					d.inflight.Done()
					if wg != nil {
						wg.Done()
					}
				}()
				d.process(ctx, c, attempts)
			}()
		}
		if cerr != nil {
			return n, attempts, cerr
		}
		if cursor = next; cursor == 0 {
			return n, attempts, nil
		}
	}
}

// collect reads, for each wallet, its new entries, the entries idle at
// other consumers and the entries due for a retry.
func (d *Dispatcher) collect(ctx context.Context, wallets []string) ([]*candidate, error) {
	if err := d.ensureGroups(ctx, wallets); err != nil {
		return nil, err
	}
	nowMs := strconv.FormatInt(d.now().UnixMilli(), 10)
	type cmds struct {
		read  *redis.XStreamSliceCmd
		claim *redis.XAutoClaimCmd
		due   *redis.StringSliceCmd
	}
	cs := make([]cmds, len(wallets))
	_, _ = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, w := range wallets {
			stream := d.store.EventsKey(w)
			cs[i].read = p.XReadGroup(ctx, &redis.XReadGroupArgs{Group: d.cfg.Group, Consumer: d.cfg.Consumer,
				Streams: []string{stream, ">"}, Count: int64(d.cfg.Batch), Block: -1})
			cs[i].claim = p.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: stream, Group: d.cfg.Group,
				MinIdle: d.cfg.ClaimIdle, Start: "0-0", Count: int64(d.cfg.Batch), Consumer: d.cfg.Consumer})
			cs[i].due = p.ZRangeByScore(ctx, d.retryKey(w), &redis.ZRangeBy{Min: "-inf", Max: nowMs, Count: int64(d.cfg.Batch)})
		}
		return nil
	})
	var out, missing []*candidate
	var firstErr error
	fail := func(w string, err error) {
		if strings.HasPrefix(err.Error(), "NOGROUP") {
			d.groups.Delete(d.store.EventsKey(w))
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("webhook: read events of %s: %w", w, err)
		}
	}
	for i, w := range wallets {
		seen := map[string]bool{}
		add := func(m redis.XMessage) {
			if !seen[m.ID] {
				seen[m.ID] = true
				out = append(out, &candidate{wallet: w, id: m.ID, values: m.Values, found: true})
			}
		}
		streams, err := cs[i].read.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			fail(w, err)
		}
		for _, s := range streams {
			for _, m := range s.Messages {
				add(m)
			}
		}
		claimed, _, err := cs[i].claim.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			fail(w, err)
		}
		for _, m := range claimed {
			add(m)
		}
		due, err := cs[i].due.Result()
		if err != nil {
			fail(w, err)
		}
		for _, id := range due {
			if !seen[id] {
				seen[id] = true
				c := &candidate{wallet: w, id: id}
				out = append(out, c)
				missing = append(missing, c)
			}
		}
	}
	if len(missing) > 0 {
		ranges := make([]*redis.XMessageSliceCmd, len(missing))
		_, _ = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, c := range missing {
				ranges[i] = p.XRange(ctx, d.store.EventsKey(c.wallet), c.id, c.id)
			}
			return nil
		})
		var failed map[*candidate]bool
		for i, c := range missing {
			ms, err := ranges[i].Result()
			if err != nil {
				fail(c.wallet, err)
				if failed == nil {
					failed = map[*candidate]bool{}
				}
				failed[c] = true
				continue
			}
			if len(ms) == 1 {
				c.values, c.found = ms[0].Values, true
			}
		}
		if failed != nil { // not read: not known to be missing, tried next round
			out = slices.DeleteFunc(out, func(c *candidate) bool { return failed[c] })
		}
	}
	return out, firstErr
}

// ensureGroups creates the consumer group on the streams of wallets that
// this process has not seen yet (from the stream's start, creating the
// stream if need be; an existing group is fine).
func (d *Dispatcher) ensureGroups(ctx context.Context, wallets []string) error {
	var todo []string
	for _, w := range wallets {
		if _, ok := d.groups.Load(d.store.EventsKey(w)); !ok {
			todo = append(todo, d.store.EventsKey(w))
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

// process delivers one entry to the endpoints that still need it, under
// the entry's lease, and records the outcome.
func (d *Dispatcher) process(ctx context.Context, c *candidate, attempts *atomic.Int64) {
	stream, akey, rkey := d.store.EventsKey(c.wallet), d.attemptsKey(c.wallet), d.retryKey(c.wallet)
	log := d.log.With("wallet", c.wallet, "entry", c.id)
	now := d.now()
	raw, err := acquire.Run(ctx, d.rdb, []string{stream, rkey, akey}, d.cfg.Group, c.id,
		now.UnixMilli(), now.Add(d.lease).UnixMilli()).Text()
	if errors.Is(err, redis.Nil) {
		return // done, backing off, or another replica's
	}
	if err != nil {
		if ctx.Err() == nil {
			log.WarnContext(ctx, "webhook: take lease", "err", err)
		}
		return
	}
	states := map[string]*epState{}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &states); err != nil {
			log.ErrorContext(ctx, "webhook: garbled attempt state, starting over", "err", err)
			states = map[string]*epState{}
		}
	}
	name, _ := c.values["event"].(string)
	data, _ := c.values["data"].(string)
	if !c.found || name == "" {
		log.WarnContext(ctx, "webhook: entry missing or without event, dropped", "found", c.found)
		d.settle(ctx, log, c, nil, true, 0)
		return
	}
	payload := json.RawMessage(data)
	if !json.Valid(payload) {
		payload, _ = json.Marshal(data)
	} else if v, err := View(name, payload, d.cfg.Decimals); err != nil {
		log.ErrorContext(ctx, "webhook: event data in the ledger's dialect", "event", name, "err", err)
	} else {
		payload = v
	}
	created := createdAt(c.id, data)

	type job struct {
		ep    Endpoint
		st    *epState
		body  []byte
		id    string
		err   error
		later bool // put off (endpoint saturated or shutting down), not an attempt
	}
	var jobs []*job
	var wg sync.WaitGroup
	for _, ep := range d.cfg.Endpoints {
		if !ep.Wants(name) {
			continue
		}
		st := states[ep.Name]
		if st == nil {
			st = &epState{}
			states[ep.Name] = st
		}
		if st.Status != "" || st.Due > now.UnixMilli() {
			continue
		}
		id := EventID(c.wallet, c.id, ep.Name)
		body, _ := json.Marshal(Event{ID: id, Type: name, Created: created, Data: payload})
		j := &job{ep: ep, st: st, body: body, id: id}
		jobs = append(jobs, j)
		select {
		case d.epSem[ep.Name] <- struct{}{}:
		default:
			j.later = true
			continue
		}
		wg.Add(1)
		attempts.Add(1)
		go func() {
			defer func() { <-d.epSem[j.ep.Name]; wg.Done() }()
			j.err = d.send(ctx, j.ep, j.id, name, j.body)
			if j.err != nil && ctx.Err() != nil {
				j.later = true
			}
		}()
	}
	wg.Wait()

	// Record the outcomes; the records outlive a cancelled ctx.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	now = d.now()
	for _, j := range jobs {
		elog := log.With("endpoint", j.ep.Name, "event", name, "event_id", j.id)
		switch {
		case j.later:
			j.st.Due = now.Add(d.cfg.BaseBackoff).UnixMilli()
		case j.err == nil:
			*j.st = epState{Status: stDelivered, Attempts: j.st.Attempts + 1}
			elog.DebugContext(ctx, "webhook delivered", "attempt", j.st.Attempts)
		default:
			j.st.Attempts++
			j.st.Err = truncate(j.err.Error(), 512)
			if j.st.Attempts < d.cfg.MaxAttempts {
				j.st.Due = now.Add(d.backoff(j.st.Attempts)).UnixMilli()
				elog.WarnContext(ctx, "webhook delivery failed, will retry", "attempt", j.st.Attempts, "err", j.err,
					"retry_at", time.UnixMilli(j.st.Due))
				continue
			}
			if err := d.deadLetter(rctx, c, j.ep, j.id, name, j.body, j.st); err != nil {
				// Not recorded as dead: the entry stays pending and is
				// tried again after the backoff.
				j.st.Due = now.Add(d.backoff(j.st.Attempts)).UnixMilli()
				elog.ErrorContext(ctx, "webhook: dead-letter", "err", err)
				continue
			}
			j.st.Status, j.st.Due = stDead, 0
			elog.ErrorContext(ctx, "webhook dead-lettered", "attempts", j.st.Attempts, "err", j.err)
		}
	}
	done, next := true, int64(0)
	for _, ep := range d.cfg.Endpoints {
		st := states[ep.Name]
		if !ep.Wants(name) || st == nil || st.Status != "" {
			continue
		}
		done = false
		if due := max(st.Due, now.UnixMilli()); next == 0 || due < next {
			next = due
		}
	}
	d.settle(rctx, log, c, states, done, next)
}

// settle acknowledges a finished entry and drops its state, or records its
// state and its next due time.
func (d *Dispatcher) settle(ctx context.Context, log *slog.Logger, c *candidate, states map[string]*epState, done bool, next int64) {
	stream, akey, rkey := d.store.EventsKey(c.wallet), d.attemptsKey(c.wallet), d.retryKey(c.wallet)
	var js []byte
	if !done {
		js, _ = json.Marshal(states)
	}
	_, err := d.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if done {
			p.XAck(ctx, stream, d.cfg.Group, c.id)
			p.ZRem(ctx, rkey, c.id)
			p.HDel(ctx, akey, c.id)
			return nil
		}
		p.HSet(ctx, akey, c.id, js)
		p.ZAdd(ctx, rkey, redis.Z{Score: float64(next), Member: c.id})
		return nil
	})
	if err != nil {
		// The lease runs out and the entry is tried again (at least once).
		log.ErrorContext(ctx, "webhook: record delivery state", "err", err)
		return
	}
	if done {
		d.acked.Store(c.wallet, struct{}{})
	}
}

// trimAcked trims the streams of the wallets that had entries acknowledged
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
// group has had: those before the oldest entry still pending in any group
// (or, with none pending, before the last one each group read). Entries not
// yet read, pending, or waiting for a retry are never removed; the audit log
// keeps the history.
func (d *Dispatcher) trim(ctx context.Context, wallet string) error {
	stream := d.store.EventsKey(wallet)
	groups, err := d.rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return err
	}
	var min [2]uint64
	have := false
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
		if !have || v[0] < min[0] || (v[0] == min[0] && v[1] < min[1]) {
			min, have = v, true
		}
	}
	if !have {
		return nil
	}
	return d.rdb.XTrimMinID(ctx, stream, fmt.Sprintf("%d-%d", min[0], min[1])).Err()
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

// backoff is the delay after the n-th failure: BaseBackoff·2^(n-1), capped
// at MaxBackoff, drawn from [d/2, d).
func (d *Dispatcher) backoff(n int) time.Duration {
	b := d.cfg.BaseBackoff
	for i := 1; i < n && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	half := b / 2
	return half + rand.N(b-half+1)
}

// send makes one signed delivery of body to ep.
func (d *Dispatcher) send(ctx context.Context, ep Endpoint, eventID, event string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
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
	defer resp.Body.Close()
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
	msPart, _, _ := strings.Cut(entryID, "-")
	ms, _ := strconv.ParseInt(msPart, 10, 64)
	return ms / 1000
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
