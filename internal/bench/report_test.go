package bench_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/go-redis/redis_rate/v10"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/audit"
	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/tools"
	"github.com/stipend/stipend/wallet"
)

var ctx = context.Background()

const usdc = 1_000_000

// The knobs of the report; the defaults keep `make bench` around two minutes.
var (
	clients  = envInt("STIPEND_BENCH_CLIENTS", 16) // parallel Redis clients per measurement
	rounds   = envInt("STIPEND_BENCH_ROUNDS", 3)   // each operation is measured this often, interleaved; the best counts
	per      = time.Duration(envInt("STIPEND_BENCH_MS", 1000)) * time.Millisecond
	history  = envInt("STIPEND_BENCH_HISTORY", 2000)  // payments in the month of history
	weighed  = envInt("STIPEND_BENCH_KEYS", 3000)     // keys and payments weighed with INFO memory
	payments = envInt("STIPEND_BENCH_PAYMENTS", 200)  // confirmed payments on the local chain
	payers   = envInt("STIPEND_BENCH_PAY_CLIENTS", 8) // parallel payers on the chain
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkReport prints the figures of issue 14 (run it with -benchtime 1x).
func BenchmarkReport(b *testing.B) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil))) // the service's logs would bury the table
	addr := privateRedis(b)
	b.Setenv("STIPEND_TEST_REDIS_ADDR", addr)
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 2 * clients})
	b.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	flat := steadyState(b, rdb)
	var trips tripCounter
	rdb.AddHook(&trips)
	s := policy.New(rdb, policy.Options{Prefix: "stipendbench"})
	lim := redis_rate.NewLimiter(rdb)
	noop := redis.NewScript("return 1")

	fresh := linkedKey(b, s, "fresh")
	hist := linkedKey(b, s, "history")
	fillHistory(b, s, hist)
	res := linkedKey(b, s, "reserve")

	check := func(k keyRef) func() error {
		return func() error {
			d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeCheck, SessionKeyID: k.id, AgentID: k.agent,
				Amount: usdc, Recipient: "merchant"})
			if err == nil && !d.Allowed {
				err = fmt.Errorf("check refused: %+v", d.Checks)
			}
			return err
		}
	}
	reserve := func() (*policy.Decision, error) {
		d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: res.id, AgentID: res.agent,
			Amount: 1, Recipient: "merchant", Signature: "sig"})
		if err == nil && d.Outcome != policy.OutcomeReserved {
			err = fmt.Errorf("reserve refused: %+v", d.Checks)
		}
		return d, err
	}
	ops := []struct {
		name string
		fn   func() error
	}{
		{"no-op EVALSHA (`return 1`)", func() error { return noop.Run(ctx, rdb, []string{"stipendbench:noop"}).Err() }},
		{"go-redis/redis_rate Allow", func() error {
			_, err := lim.Allow(ctx, "stipendbench:rate", redis_rate.PerSecond(1e9))
			return err
		}},
		{"check (can_afford), fresh key", check(fresh)},
		{fmt.Sprintf("check, after %d payments over 29 days", history), check(hist)},
		{"reserve", func() error { _, err := reserve(); return err }},
		{"reserve + commit", func() error {
			d, err := reserve()
			if err == nil {
				_, err = s.Commit(ctx, res.wallet, d.Payment.ID)
			}
			return err
		}},
	}
	for _, o := range ops { // warm up: scripts loaded, pools filled
		for range 50 {
			if err := o.fn(); err != nil {
				b.Fatalf("%s: %v", o.name, err)
			}
		}
	}
	best := make([]float64, len(ops))
	inRedis := make([]float64, len(ops))
	for r := range rounds {
		for i, o := range ops {
			if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			us, err := measure(clients, per, o.fn)
			if err != nil {
				b.Fatalf("%s: %v", o.name, err)
			}
			if r == 0 || us < best[i] {
				best[i], inRedis[i] = us, scriptTime(b, rdb)
			}
		}
	}
	noopUS, allowUS, freshUS, histUS, resUS := best[0], best[1], best[2], best[3], best[4]

	// Round trips, counted by the hook around one call each.
	rtCheck := trips.around(func() { _ = check(fresh)() })
	rtRefusal := trips.around(func() {
		d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: fresh.id, AgentID: fresh.agent,
			Amount: 11 * usdc, Recipient: "merchant", Signature: "sig"})
		if err != nil || d.Outcome != policy.OutcomeRefused {
			b.Fatalf("refusal: %v %+v", err, d)
		}
	})

	mem := weigh(b, rdb)
	keyBytes, payBytes := mem.perKey, mem.perPay
	e2e := endToEnd(b)

	inRedis[5] *= 2 // two scripts per operation
	w := os.Stdout
	fmt.Fprintf(w, "\nstipend bench: one Redis (%s, %s), %d parallel clients, best of %d rounds of %v each\n\n",
		addr, redisVersion(rdb), clients, rounds, per)
	fmt.Fprintf(w, "| operation | µs/op | ops/s | µs in Redis per op | ratio |\n|---|---:|---:|---:|---|\n")
	row := func(i int, ratio string) {
		fmt.Fprintf(w, "| %s | %.1f | %.0f | %.1f | %s |\n", ops[i].name, best[i], 1e6/best[i], inRedis[i], ratio)
	}
	row(0, "the store's limit")
	row(1, "the anchor")
	row(2, fmt.Sprintf("%.2f × Allow ops/s", allowUS/freshUS))
	row(3, fmt.Sprintf("%.2f × the fresh check", histUS/freshUS))
	row(4, fmt.Sprintf("%.2f × Allow ops/s", allowUS/resUS))
	row(5, "")
	fmt.Fprintf(w, "\n| figure | measured | goal |\n|---|---:|---|\n")
	goal := func(name, got, want string) { fmt.Fprintf(w, "| %s | %s | %s |\n", name, got, want) }
	goal("check ÷ Allow (ops/s)", fmt.Sprintf("%.2f", allowUS/freshUS), "≥ 0.8")
	goal("check ÷ no-op EVALSHA (ops/s)", fmt.Sprintf("%.2f", noopUS/freshUS), "")
	goal("reserve ÷ Allow (ops/s)", fmt.Sprintf("%.2f", allowUS/resUS), "≥ 0.5")
	goal("history ratio (check after a month ÷ fresh check, µs)", fmt.Sprintf("%.2f", histUS/freshUS), "≤ 1.1")
	goal("Redis round trips per check", strconv.FormatInt(rtCheck, 10), "1")
	goal("Redis round trips per refusal", strconv.FormatInt(rtRefusal, 10), "1")
	goal("Redis round trips per confirmed payment (MCP pay)", strconv.FormatInt(e2e.trips, 10), "≤ 3")
	goal("bytes per live linked key (INFO memory; hash tables at their cost per key)", fmt.Sprintf("%.0f", keyBytes), "≤ 2048")
	goal("bytes per payment in Redis (the same; its record, which its idempotency key finds; no webhook: no event)", fmt.Sprintf("%.0f", payBytes), "≤ 400")
	goal("… a key's first payment (adds its window, hourly and recipient records)", fmt.Sprintf("%.0f", mem.firstPay), "")
	goal("confirmed payments/s through MCP", fmt.Sprintf("%.0f", e2e.mcpRate), "")
	goal("pre-signed transfers/s, same chain", fmt.Sprintf("%.0f", e2e.rawRate), "")
	goal("MCP ÷ raw chain rate", fmt.Sprintf("%.2f", e2e.mcpRate/e2e.rawRate), "")
	fmt.Fprintf(w, "\nMEMORY USAGE of one linked key's records (audit entries moved to the sink):\n\n")
	for _, p := range mem.keyParts {
		fmt.Fprintf(w, "  %-60s %6d\n", p[0], p[1])
	}
	fmt.Fprintf(w, "  plus its share of the shared sets and indexes (idx:<id>, keys, agent:<agent>:keys, wallets, expiry)\n")
	fmt.Fprintf(w, "\n... and what one payment adds (88-character signature, idempotency key):\n\n")
	for _, p := range mem.payParts {
		fmt.Fprintf(w, "  %-60s %6d\n", p[0], p[1])
	}
	fmt.Fprintf(w, "  plus its window buckets (no events stream without a webhook endpoint)\n")
	fmt.Fprintf(w, "\nSteady payments on one key (run first, on an empty Redis), idempotency window 3 s standing for 30 days, audit drained every second:\n\n")
	fmt.Fprintf(w, "| elapsed | payments made | payment records in Redis | used_memory |\n|---:|---:|---:|---:|\n")
	for _, p := range flat {
		fmt.Fprintf(w, "| %v | %d | %d | %d |\n", p.at, p.payments, p.records, p.used)
	}
	fmt.Fprintln(w)
}

// scriptTime is the µs Redis spent in EVALSHA/EVAL per operation since the
// last CONFIG RESETSTAT (INFO commandstats: EVAL, EVALSHA and FCALL), a script call being one operation
// except reserve + commit (two).
func scriptTime(tb testing.TB, rdb *redis.Client) float64 {
	tb.Helper()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var calls, usec float64
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.HasPrefix(line, "cmdstat_eval:") && !strings.HasPrefix(line, "cmdstat_fcall:") {
			continue
		}
		for _, kv := range strings.Split(line[strings.Index(line, ":")+1:], ",") {
			k, v, _ := strings.Cut(kv, "=")
			f, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				calls += f
			case "usec":
				usec += f
			}
		}
	}
	if calls == 0 {
		return 0
	}
	return usec / calls
}

// measure runs fn from n goroutines for d and returns the wall time per operation in µs.
func measure(n int, d time.Duration, fn func() error) (float64, error) {
	var ops atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := fn(); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return 0, err
	}
	return float64(time.Since(start).Microseconds()) / float64(ops.Load()), nil
}

// tripCounter is a go-redis hook counting round trips: a command or a pipeline is one.
type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}
func (c *tripCounter) around(fn func()) int64 {
	before := c.n.Load()
	fn()
	return c.n.Load() - before
}

type keyRef struct{ id, agent, wallet, session string }

// linkedKey is a session key linked to a session with all four limits.
func linkedKey(tb testing.TB, s *policy.Store, name string) keyRef {
	tb.Helper()
	wallet := "BenchWallet" + name + policy.NewID("")[:12]
	agent := "bench-" + name
	now, err := s.Now(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := s.CreateKey(ctx, policy.NewKey{AgentID: agent, UserWallet: wallet, Token: "USDC", Decimals: 6,
		Address: "addr" + name, MaxAmount: policy.MaxAmount, ExpiresAt: now.Add(31 * 24 * time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Activate(ctx, k.ID, "fundsig", policy.MaxAmount); err != nil {
		tb.Fatal(err)
	}
	sess, err := s.CreateSession(ctx, policy.NewSession{AgentID: agent, UserWallet: wallet, ExpiresAt: now.Add(31 * 24 * time.Hour),
		Limits: policy.Limits{PerTransaction: 10 * usdc, PerDay: 1e13, PerWeek: 1e14, PerMonth: 1e15}})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Link(ctx, agent, k.ID, sess.ID); err != nil {
		tb.Fatal(err)
	}
	return keyRef{id: k.ID, agent: agent, wallet: wallet, session: sess.ID}
}

// fillHistory pays (reserve, commit) history times, evenly over the last 29 days.
func fillHistory(tb testing.TB, s *policy.Store, k keyRef) {
	tb.Helper()
	span := 29 * 24 * time.Hour
	for i := range history {
		at := s.WithClockSkew(-span + time.Duration(i)*span/time.Duration(history))
		d, err := at.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.id, AgentID: k.agent,
			Amount: usdc, Recipient: "merchant", Signature: "sig"})
		if err != nil || d.Outcome != policy.OutcomeReserved {
			tb.Fatalf("history payment %d: %v %+v", i, err, d)
		}
		if _, err := at.Commit(ctx, k.wallet, d.Payment.ID); err != nil {
			tb.Fatal(err)
		}
	}
}

// Realistic sizes of what a payment record holds (base58 as on Solana).
const (
	sigText = "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW"
	address = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
	hashB58 = "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N"
)

// memory is what the report says about Redis memory.
type memory struct {
	perKey, firstPay, perPay float64  // memory deltas (footprint), audit entries moved to the sink
	keyParts                 [][2]any // MEMORY USAGE of one linked key's records
	payParts                 [][2]any // ... and of one payment's
}

type memPoint struct {
	at                time.Duration
	payments, records int // payments made, payment records in Redis
	used              int64
}

// weigh measures bytes of Redis memory per live linked key (each of its own
// user_wallet) and per confirmed payment from memory deltas (footprint), with an
// audit sink taking the audit entries as in production.
func weigh(tb testing.TB, rdb *redis.Client) memory {
	tb.Helper()
	sink, err := audit.OpenFile(filepath.Join(tb.TempDir(), "audit.jsonl"), 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sink.Close() })
	// As serve runs with no webhook endpoint: no events stream.
	s := policy.New(rdb, policy.Options{Prefix: "stipendweigh", AuditArchive: sink, WithoutEvents: true})
	drain := func() {
		if _, err := s.DrainAllAudit(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	var m memory
	before := footprint(tb, rdb)
	keys := make([]keyRef, weighed)
	for i := range keys {
		keys[i] = linkedKey(tb, s, "w"+strconv.Itoa(i))
	}
	drain()
	mid := footprint(tb, rdb)
	m.keyParts = parts(tb, rdb, "stipendweigh:{"+keys[0].wallet+"}:*")
	round := func(r int) float64 {
		start := footprint(tb, rdb)
		for i, k := range keys {
			payRealistic(tb, s, k, r*len(keys)+i)
		}
		drain()
		return footprint(tb, rdb).since(start) / float64(len(keys))
	}
	m.perKey = mid.since(before) / float64(weighed)
	m.firstPay = round(0) // a key's first payment adds its window, hourly and recipient records
	m.perPay = round(1)   // a further payment: its record (which its idempotency key finds)
	all := parts(tb, rdb, "stipendweigh:{"+keys[0].wallet+"}:*")
	seen := map[string]bool{}
	for _, p := range m.keyParts {
		seen[p[0].(string)] = true
	}
	for _, p := range all {
		if !seen[p[0].(string)] {
			m.payParts = append(m.payParts, p)
		}
	}

	return m
}

// steadyState pays on one key at a steady rate, with a 3 s idempotency
// window standing for 30 days and the audit drained every second, and samples
// Redis's memory: it runs first, on a Redis holding nothing else.
func steadyState(tb testing.TB, rdb *redis.Client) []memPoint {
	tb.Helper()
	sink, err := audit.OpenFile(filepath.Join(tb.TempDir(), "steady.jsonl"), 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sink.Close() })
	steady := policy.New(rdb, policy.Options{Prefix: "stipendsteady", AuditArchive: sink, IdempotencyTTL: 3 * time.Second,
		WithoutEvents: true})
	k := linkedKey(tb, steady, "steady")
	var out []memPoint
	start := time.Now()
	n := 0
	for sec := 1; sec <= 12; sec++ {
		for time.Since(start) < time.Duration(sec)*time.Second {
			payRealistic(tb, steady, k, n)
			n++
			time.Sleep(2 * time.Millisecond)
		}
		if _, err := steady.DrainAllAudit(ctx); err != nil {
			tb.Fatal(err)
		}
		if sec%2 == 0 {
			pays, _ := rdb.Keys(ctx, "stipendsteady:{"+k.wallet+"}:pay:*").Result()
			out = append(out, memPoint{at: time.Since(start).Round(time.Second), payments: n, records: len(pays),
				used: usedMemory(tb, rdb)})
		}
	}
	return out
}

// payRealistic reserves and commits one payment with real-sized fields.
func payRealistic(tb testing.TB, s *policy.Store, k keyRef, i int) {
	tb.Helper()
	d, err := s.Decide(ctx, policy.PaymentRequest{Mode: policy.ModeReserve, SessionKeyID: k.id, AgentID: k.agent,
		Amount: usdc, Recipient: address, Signature: sigText, Blockhash: hashB58, IdempotencyKey: "order-" + strconv.Itoa(i),
		Description: "bench"})
	if err != nil || d.Outcome != policy.OutcomeReserved {
		tb.Fatalf("payment: %v %+v", err, d)
	}
	if _, err := s.Commit(ctx, k.wallet, d.Payment.ID); err != nil {
		tb.Fatal(err)
	}
}

// parts lists the records matching pattern with their MEMORY USAGE, the id
// part of each name replaced by its kind.
func parts(tb testing.TB, rdb *redis.Client, pattern string) [][2]any {
	tb.Helper()
	names, err := rdb.Keys(ctx, pattern).Result()
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(names)
	var out [][2]any
	for _, n := range names {
		u, _ := rdb.MemoryUsage(ctx, n, 0).Result()
		enc, _ := rdb.ObjectEncoding(ctx, n).Result()
		name := n[strings.Index(n, "}:")+2:]
		for _, id := range []string{"sk_", "sess_", "pay_"} {
			if i := strings.Index(name, id); i >= 0 {
				j := i + len(id)
				for j < len(name) && name[j] != ':' {
					j++
				}
				name = name[:i] + "<" + strings.TrimSuffix(id, "_") + ">" + name[j:]
			}
		}
		if i := strings.Index(name, "idem:"); i >= 0 {
			name = name[:i] + "idem:<idempotency key>"
		}
		if strings.HasPrefix(name, "pay:") && !strings.Contains(name, "<") {
			name = "pay:<slot>"
		}
		out = append(out, [2]any{name + " (" + enc + ")", u})
	}
	return out
}

// memSnapshot is what Redis's memory is made of at one moment: in all
// (used_memory), in the two hash tables of the database (their entries and
// slots: MEMORY STATS), and how many keys, and keys with a time to live,
// those tables hold.
type memSnapshot struct {
	used, main, expires int64
	keys, expiring      int64
}

// footprint takes a memSnapshot of db 0.
func footprint(tb testing.TB, rdb *redis.Client) memSnapshot {
	tb.Helper()
	m := memSnapshot{used: usedMemory(tb, rdb)}
	stats, err := rdb.Do(ctx, "MEMORY", "STATS").Result()
	if err != nil {
		tb.Fatal(err)
	}
	db := pairs(pairs(stats)["db.0"])
	m.main, _ = db["overhead.hashtable.main"].(int64)
	m.expires, _ = db["overhead.hashtable.expires"].(int64)
	info, err := rdb.Info(ctx, "keyspace").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "db0:"); ok {
			for _, kv := range strings.Split(v, ",") {
				k, n, _ := strings.Cut(kv, "=")
				x, _ := strconv.ParseInt(n, 10, 64)
				switch k {
				case "keys":
					m.keys = x
				case "expires":
					m.expiring = x
				}
			}
		}
	}
	return m
}

// pairs reads a map reply as RESP3 gives it, or as RESP2's name/value list.
func pairs(v any) map[string]any {
	out := map[string]any{}
	switch m := v.(type) {
	case map[any]any:
		for k, x := range m {
			if name, ok := k.(string); ok {
				out[name] = x
			}
		}
	case []any:
		for i := 0; i+1 < len(m); i += 2 {
			if name, ok := m[i].(string); ok {
				out[name] = m[i+1]
			}
		}
	}
	return out
}

// since is the memory added from before to m, with the database's hash
// tables counted at their average cost per key (entry and slots) at m, not at
// the step a table makes when it doubles: the doubling of the expiry table
// (to 32,768 slots, 128 KiB more) falls in one round of 3,000 payments in some
// runs and not in others, and would add 44 bytes to each of them.
func (m memSnapshot) since(before memSnapshot) float64 {
	rest := float64((m.used - m.main - m.expires) - (before.used - before.main - before.expires))
	if m.keys > 0 {
		rest += float64(m.keys-before.keys) * float64(m.main) / float64(m.keys)
	}
	if m.expiring > 0 {
		rest += float64(m.expiring-before.expiring) * float64(m.expires) / float64(m.expiring)
	}
	return rest
}

func usedMemory(tb testing.TB, rdb *redis.Client) int64 {
	tb.Helper()
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	tb.Fatal("INFO memory has no used_memory")
	return 0
}

func redisVersion(rdb *redis.Client) string {
	info, _ := rdb.Info(ctx, "server").Result()
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return "Redis " + v
		}
	}
	return "Redis"
}

type chainFigures struct {
	mcpRate, rawRate float64
	trips            int64
}

// endToEnd pays through MCP (the pay tool, in-process clients) on the local
// chain, then sends as many pre-signed transfers of the same shape straight
// to the same chain, each with the same number of parallel payers.
func endToEnd(tb testing.TB) chainFigures {
	tb.Helper()
	st := testenv.NewStack(tb, testenv.StackOptions{})
	var trips tripCounter
	st.Store.Redis().AddHook(&trips)
	srv := tools.NewServer(st.Service, tools.Options{DefaultAgent: "bench"})
	user := st.NewUser(tb, 1_000_000*usdc)
	k := st.Fund(tb, "bench", user, 100_000*usdc, "")
	shop, _ := solana.NewRandomPrivateKey()
	cs := make([]*client.Client, payers)
	for i := range cs {
		c, err := client.NewInProcessClient(srv)
		if err != nil {
			tb.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = c.Close() })
		init := mcp.InitializeRequest{}
		init.Params.ProtocolVersion = mcp.ProtocolVersion20251125
		init.Params.ClientInfo = mcp.Implementation{Name: "bench", Version: "0"}
		if _, err := c.Initialize(ctx, init); err != nil {
			tb.Fatal(err)
		}
		cs[i] = c
	}
	var n atomic.Int64
	pay := func(c *client.Client) error {
		req := mcp.CallToolRequest{}
		req.Params.Name = "pay"
		req.Params.Arguments = map[string]any{"session_key_id": k.SessionKeyID, "recipient": shop.PublicKey().String(),
			"amount": "0.01", "idempotency_key": "bench-" + strconv.FormatInt(n.Add(1), 10)}
		res, err := c.CallTool(ctx, req)
		if err == nil && res.IsError {
			err = fmt.Errorf("pay: %+v", res.Content)
		}
		return err
	}
	// The first payment loads the scripts into this Redis (EVALSHA answers
	// NOSCRIPT once per script and server, then EVAL); the second is counted.
	if err := pay(cs[0]); err != nil {
		tb.Fatal(err)
	}
	payTrips := trips.around(func() {
		if err := pay(cs[0]); err != nil {
			tb.Fatal(err)
		}
	})
	mcpRate := parallel(tb, payments, payers, func(i int) error { return pay(cs[i%payers]) })

	// The chain's own rate: the same token transfer, built and signed before the clock starts.
	kp, _ := wallet.NewKeypair()
	if err := st.Local.Airdrop(ctx, kp.PublicKey(), 1_000_000_000); err != nil {
		tb.Fatal(err)
	}
	if _, err := st.Local.MintTo(ctx, kp.PublicKey(), 1_000_000*usdc); err != nil {
		tb.Fatal(err)
	}
	txs := make([]*solana.Transaction, payments)
	for i := range txs {
		tx, err := st.Chain.BuildPayment(ctx, kp, shop.PublicKey(), 10_000, "raw_"+strconv.Itoa(i))
		if err != nil {
			tb.Fatal(err)
		}
		txs[i] = tx
	}
	rawRate := parallel(tb, payments, payers, func(i int) error {
		_, err := st.Chain.SendAndConfirm(ctx, txs[i])
		return err
	})
	return chainFigures{mcpRate: mcpRate, rawRate: rawRate, trips: payTrips}
}

// parallel runs fn(0..n-1) from p workers and returns completions per second.
func parallel(tb testing.TB, n, p int, fn func(i int) error) float64 {
	tb.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, p)
	start := time.Now()
	for range p {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return float64(n) / elapsed.Seconds()
}

// privateRedis starts a Redis server of the bench's own (memory figures need a
// server nobody else writes to) and returns its address; without redis-server
// on PATH it falls back to the tests' Redis.
func privateRedis(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Logf("bench: no redis-server on PATH; measuring on %s, shared with whatever else runs there", testenv.RedisAddr())
		return testenv.RedisAddr()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir := tb.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for range 100 {
		if c.Ping(ctx).Err() == nil {
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("bench: redis-server on %s did not answer", addr)
	return ""
}
