package faultsuite_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/internal/localnet"
	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/wallet"
)

const usdc = 1_000_000

// The faults, one per round in turn.
var faults = []string{"none", "refuse", "hang", "drop", "delay", "redis"}

// TestFaultInjection runs the rounds. Each prints its seed.
func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("fault-injection suite: not in -short")
	}
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("SKIPPING: redis-server is not installed")
	}
	rounds := envInt("STIPEND_FAULT_ROUNDS", len(faults))
	base := int64(envInt("STIPEND_FAULT_SEED", int(time.Now().UnixNano()%1_000_000_000)))
	dir := t.TempDir()
	bin := buildStipend(t, dir)
	// A blockhash lives 25 slots (10 s): a send delayed 12 s arrives expired.
	chain := testenv.ChainWith(t, localnet.Options{BlockhashLifetime: 25})
	proxy, err := testenv.NewRPCProxy(chain.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	rds := startRedis(t, redisBin, filepath.Join(dir, "redis"))
	h := &harness{t: t, chain: chain, proxy: proxy, redis: rds, bin: bin, dir: dir,
		maxPay: map[string]time.Duration{}, payments: map[string]*payment{}}
	h.setup()
	h.start()
	t.Cleanup(h.kill)
	for i := 0; i < rounds; i++ {
		seed := base + int64(i)
		fault := faults[i%len(faults)]
		t.Logf("round %d: seed %d, fault %s (replay: STIPEND_FAULT_SEED=%d STIPEND_FAULT_ROUNDS=%d)", i+1, seed, fault, seed-int64(i), i+1)
		h.round(seed, fault)
		h.check(fmt.Sprintf("round %d (seed %d, %s)", i+1, seed, fault))
	}
	var names []string
	for f := range h.maxPay {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		t.Logf("longest pay answer under %s: %s", f, h.maxPay[f].Round(time.Millisecond))
	}
	t.Logf("rounds run: %d; payments: %d; tokens unaccounted for: %d", rounds, len(h.payments), h.unaccounted)
}

type payment struct {
	idem      string
	key       string
	recipient solana.PublicKey
	amount    uint64
	status    string // last definitive answer: confirmed, failed, refused; "" unknown
	answered  bool   // the burst's request got an answer
}

type harness struct {
	t      *testing.T
	chain  *localnet.Chain
	proxy  *testenv.RPCProxy
	redis  *redisProc
	bin    string
	dir    string
	server *exec.Cmd
	url    string
	port   int
	env    []string
	admin  string

	user        solana.PrivateKey
	minted      uint64
	keys        []string // every key created
	payments    map[string]*payment
	maxPay      map[string]time.Duration
	unaccounted int64
	mu          sync.Mutex
}

func (h *harness) setup() {
	t := h.t
	ctx := context.Background()
	var err error
	if h.user, err = solana.NewRandomPrivateKey(); err != nil {
		t.Fatal(err)
	}
	if err := h.chain.Airdrop(ctx, h.user.PublicKey(), 100_000_000_000); err != nil {
		t.Fatal(err)
	}
	h.minted = 100_000 * usdc
	if _, err := h.chain.MintTo(ctx, h.user.PublicKey(), h.minted); err != nil {
		t.Fatal(err)
	}
	mk, err := wallet.GenerateMasterKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	tok := make([]byte, 24)
	_, _ = rand.Read(tok)
	h.admin = "stpadm_" + hex.EncodeToString(tok)
	sum := sha256.Sum256([]byte(h.admin))
	h.port = freePort(t)
	h.url = fmt.Sprintf("http://127.0.0.1:%d", h.port)
	h.env = append(os.Environ(),
		"STIPEND_REDIS_URL=redis://"+h.redis.addr+"/0",
		"XDG_STATE_HOME="+t.TempDir(), // the default audit sink, the suite's own
		"STIPEND_RPC_URL="+h.proxy.URL,
		"STIPEND_MINT="+h.chain.Mint.String(),
		"STIPEND_CLUSTER=solana:localnet",
		"STIPEND_MASTER_KEYS="+mk,
		"STIPEND_ADMIN_TOKEN_SHA256="+hex.EncodeToString(sum[:]),
		"STIPEND_PUBLIC_URL="+h.url,
		"STIPEND_SWEEP_INTERVAL=1s",
		"STIPEND_RECONCILE_INTERVAL=10s",
		"STIPEND_PAY_WAIT=4s",
		"STIPEND_RECOVERY_GRACE=2s",
		"STIPEND_SHUTDOWN_TIMEOUT=2s",
		"STIPEND_LOG_LEVEL=warn",
	)
}

// start runs `stipend serve` as a child process and waits until it answers.
func (h *harness) start() {
	t := h.t
	cmd := exec.Command(h.bin, "serve", "--http", fmt.Sprintf("127.0.0.1:%d", h.port))
	cmd.Env = h.env
	logf, err := os.OpenFile(filepath.Join(h.dir, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.server = cmd
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(h.url + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("stipend serve did not start; log:\n%s", tail(filepath.Join(h.dir, "serve.log")))
}

// kill sends SIGKILL to serve and reaps it.
func (h *harness) kill() {
	if h.server == nil || h.server.Process == nil {
		return
	}
	_ = h.server.Process.Signal(syscall.SIGKILL)
	_ = h.server.Wait()
	h.server = nil
}

// api calls the admin API (or an approval route) and decodes the answer.
func (h *harness) api(method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+h.admin)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", h.url)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	return resp.StatusCode, nil
}

type created struct {
	SessionKeyID        string `json:"session_key_id"`
	ApprovalURL         string `json:"approval_url"`
	ApprovalTransaction string `json:"approval_transaction"`
}

// sign signs a wire transaction as the user's wallet (the product's
// signing code); "" if it cannot, which the server then refuses.
func (h *harness) sign(wireB64 string) string {
	kp, err := wallet.KeypairFromPrivateKey(h.user)
	if err != nil {
		return ""
	}
	signed, err := kp.SignTransaction(wireB64)
	if err != nil {
		return ""
	}
	return signed
}

// approve submits the owner's signature of an approval link.
func (h *harness) approve(link created) {
	token := link.ApprovalURL[strings.LastIndex(link.ApprovalURL, "/")+1:]
	_, _ = h.api("POST", "/approve/"+token, map[string]string{"signed_transaction": h.sign(link.ApprovalTransaction)}, nil)
}

// newKey creates a key and approves its funding.
func (h *harness) newKey(maxAmount int) string {
	var c created
	code, err := h.api("POST", "/admin/session-keys", map[string]any{"agent_id": "bot", "user_wallet": h.user.PublicKey().String(),
		"max_amount": strconv.Itoa(maxAmount), "expiry_hours": 24}, &c)
	if err != nil || code >= 300 || c.SessionKeyID == "" {
		h.t.Logf("  create key: %d %v", code, err)
		return ""
	}
	h.mu.Lock()
	h.keys = append(h.keys, c.SessionKeyID)
	h.mu.Unlock()
	h.approve(c)
	return c.SessionKeyID
}

type keyView struct {
	SessionKeyID      string `json:"session_key_id"`
	Status            string `json:"status"`
	SessionKeyAddress string `json:"session_key_address"`
	SpentAmount       string `json:"spent_amount"`
	ReservedAmount    string `json:"reserved_amount"`
}

func (h *harness) listKeys() ([]keyView, error) {
	var l struct {
		SessionKeys []keyView `json:"session_keys"`
	}
	code, err := h.api("GET", "/admin/session-keys", nil, &l)
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("list keys: %d", code)
	}
	return l.SessionKeys, nil
}

func (h *harness) activeKeys() []string {
	ks, _ := h.listKeys()
	var out []string
	for _, k := range ks {
		if k.Status == "active" {
			out = append(out, k.SessionKeyID)
		}
	}
	return out
}

// pay sends one payment (or its retry) and records a definitive answer.
func (h *harness) pay(p *payment, fault string) {
	var out struct {
		Status string `json:"status"`
		Error  *struct {
			Code string `json:"code"`
		} `json:"error"`
		Payment *struct {
			Status string `json:"status"`
		} `json:"payment"`
	}
	start := time.Now()
	code, err := h.api("POST", "/admin/payments", map[string]any{"agent_id": "bot", "session_key_id": p.key,
		"recipient": p.recipient.String(), "amount": fmt.Sprintf("%d.%06d", p.amount/usdc, p.amount%usdc),
		"idempotency_key": p.idem}, &out)
	el := time.Since(start)
	if err != nil {
		return // killed under it: no answer
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if el > h.maxPay[fault] {
		h.maxPay[fault] = el
	}
	p.answered = true
	switch {
	case code == 200 && (out.Status == "confirmed" || out.Status == "failed"):
		p.status = out.Status
	case code == 422 || code == 409 || code == 410:
		p.status = "refused"
	}
}

// round runs one burst under a fault, kills serve at a random moment,
// heals, restarts and retries what had no definitive answer.
func (h *harness) round(seed int64, fault string) {
	t := h.t
	rng := mrand.New(mrand.NewPCG(uint64(seed), uint64(seed)>>1))
	for len(h.activeKeys()) < 3 {
		if h.newKey(20+rng.IntN(30)) == "" {
			t.Fatalf("cannot create a key; log:\n%s", tail(filepath.Join(h.dir, "serve.log")))
		}
	}
	keys := h.activeKeys()
	switch fault {
	case "refuse":
		h.proxy.Set(testenv.Refuse, "sendTransaction", "getSignatureStatuses")
	case "hang":
		h.proxy.Set(testenv.Hang, "sendTransaction", "getSignatureStatuses", "isBlockhashValid", "getLatestBlockhash")
	case "drop":
		h.proxy.Set(testenv.DropReply, "sendTransaction")
	case "delay":
		h.proxy.SetDelay(12 * time.Second)
		h.proxy.Set(testenv.Delay, "sendTransaction")
	}
	var wg sync.WaitGroup
	// Payments, staggered over the first 8 s.
	n := 8 + rng.IntN(5)
	for i := 0; i < n; i++ {
		rk, _ := solana.NewRandomPrivateKey()
		p := &payment{idem: fmt.Sprintf("s%d-%d", seed, i), key: keys[rng.IntN(len(keys))], recipient: rk.PublicKey(),
			amount: uint64(10_000 + rng.IntN(900_000))}
		h.mu.Lock()
		h.payments[p.idem] = p
		h.mu.Unlock()
		at := time.Duration(rng.IntN(8000)) * time.Millisecond
		wg.Go(func() {
			time.Sleep(at)
			h.pay(p, fault)
		})
	}
	// A top-up, a new key's funding, a revoke. (Every draw happens here, so
	// the seed alone decides the round.)
	ms := func(n int) time.Duration { return time.Duration(rng.IntN(n)) * time.Millisecond }
	topKey, revKey := keys[rng.IntN(len(keys))], keys[rng.IntN(len(keys))]
	topAt, fundAt, revAt, newMax, revoke := ms(2000), ms(2000), ms(3000), 10+rng.IntN(10), rng.IntN(2) == 0
	redisDownAt, redisDownFor := 500*time.Millisecond+ms(1500), 2*time.Second+ms(4000)
	wg.Go(func() {
		time.Sleep(topAt)
		var c created
		if code, err := h.api("POST", "/admin/session-keys/"+topKey+"/top-up", map[string]string{"amount": "3"}, &c); err == nil && code == 200 {
			h.approve(c)
		}
	})
	wg.Go(func() {
		time.Sleep(fundAt)
		h.newKey(newMax)
	})
	if revoke {
		wg.Go(func() {
			time.Sleep(revAt)
			_, _ = h.api("POST", "/admin/session-keys/"+revKey+"/revoke", map[string]string{"reason": "fault suite"}, nil)
		})
	}
	if fault == "redis" {
		wg.Go(func() {
			time.Sleep(redisDownAt)
			h.redis.kill()
			time.Sleep(redisDownFor)
			h.redis.start(t)
		})
	}
	killAt := time.Duration(4000+rng.IntN(6000)) * time.Millisecond
	time.Sleep(killAt)
	h.mu.Lock()
	answered := 0
	for _, p := range h.payments {
		if strings.HasPrefix(p.idem, fmt.Sprintf("s%d-", seed)) && p.answered {
			answered++
		}
	}
	h.mu.Unlock()
	t.Logf("  SIGKILL serve at %s (%d of %d payments answered before)", killAt, answered, n)
	h.kill()
	h.proxy.Heal()
	wg.Wait()
	h.start()
	// Retry every payment without a definitive answer, with its idempotency key.
	deadline := time.Now().Add(90 * time.Second)
	for {
		var open []*payment
		h.mu.Lock()
		for _, p := range h.payments {
			if p.status == "" {
				open = append(open, p)
			}
		}
		h.mu.Unlock()
		if len(open) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d payments have no definitive answer after 90 s; log:\n%s", len(open), tail(filepath.Join(h.dir, "serve.log")))
		}
		for _, p := range open {
			h.pay(p, "retry")
		}
		time.Sleep(time.Second)
	}
}

// check waits until the reconciler converged, then checks the invariant.
func (h *harness) check(round string) {
	t := h.t
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	var rep struct {
		Agree bool            `json:"agree"`
		Keys  json.RawMessage `json:"keys"`
	}
	var ks []keyView
	for {
		code, err := h.api("GET", "/admin/reconcile", nil, &rep)
		ks, _ = h.listKeys()
		reserved := false
		for _, k := range ks {
			if k.ReservedAmount != "0.00" {
				reserved = true
			}
		}
		if err == nil && code == 200 && rep.Agree && !reserved && len(ks) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: chain and ledger did not converge in 90 s: %s; log:\n%s", round, rep.Keys, tail(filepath.Join(h.dir, "serve.log")))
		}
		time.Sleep(time.Second)
	}
	// Recipients hold exactly what was paid, each idempotency key at most once.
	var atRecipients, spent uint64
	h.mu.Lock()
	pays := make([]*payment, 0, len(h.payments))
	for _, p := range h.payments {
		pays = append(pays, p)
	}
	h.mu.Unlock()
	for _, p := range pays {
		got, err := tokenBalance(ctx, h.chain, p.recipient)
		if err != nil {
			t.Fatal(err)
		}
		want := uint64(0)
		if p.status == "confirmed" {
			want = p.amount
		}
		if got != want {
			t.Fatalf("%s: payment %s (%s) left %d at its recipient; want %d", round, p.idem, p.status, got, want)
		}
		atRecipients += got
	}
	var onKeys uint64
	for _, k := range ks {
		spent += units(k.SpentAmount)
		b, err := tokenBalance(ctx, h.chain, solana.MustPublicKeyFromBase58(k.SessionKeyAddress))
		if err != nil {
			t.Fatal(err)
		}
		onKeys += b
	}
	if atRecipients != spent {
		t.Fatalf("%s: recipients hold %d; the ledger spent %d", round, atRecipients, spent)
	}
	user, err := tokenBalance(ctx, h.chain, h.user.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	h.unaccounted = int64(h.minted) - int64(user+onKeys+atRecipients)
	if h.unaccounted != 0 {
		t.Fatalf("%s: user %d + keys %d + recipients %d != minted %d", round, user, onKeys, atRecipients, h.minted)
	}
	t.Logf("  %s: %d keys, %d payments, chain == ledger, recipients == spent (%d), nothing unaccounted", round, len(ks), len(pays), spent)
}

func units(s string) uint64 {
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "000000")[:6]
	w, _ := strconv.ParseUint(whole, 10, 64)
	f, _ := strconv.ParseUint(frac, 10, 64)
	return w*usdc + f
}

func tokenBalance(ctx context.Context, c *localnet.Chain, owner solana.PublicKey) (uint64, error) {
	ch, err := wallet.New(wallet.Config{RPCURL: c.URL, Mint: c.Mint, Decimals: c.Decimals})
	if err != nil {
		return 0, err
	}
	return ch.TokenBalance(ctx, owner)
}

// redisProc is the suite's own redis-server (AOF on), never the shared one.
type redisProc struct {
	bin, dir, addr string
	cmd            *exec.Cmd
}

func startRedis(t *testing.T, bin, dir string) *redisProc {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	r := &redisProc{bin: bin, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	r.start(t)
	t.Cleanup(r.kill)
	return r
}

func (r *redisProc) start(t *testing.T) {
	_, port, _ := net.SplitHostPort(r.addr)
	cmd := exec.Command(r.bin, "--port", port, "--bind", "127.0.0.1", "--dir", r.dir, "--appendonly", "yes",
		"--appendfsync", "always", "--save", "", "--daemonize", "no", "--logfile", filepath.Join(r.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Error(err)
		return
	}
	r.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: r.addr})
	defer c.Close()
	for i := 0; i < 100; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error("redis-server did not start")
}

func (r *redisProc) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func buildStipend(t *testing.T, dir string) string {
	out := filepath.Join(dir, "stipend")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", out, "./cmd/stipend")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build stipend: %v\n%s", err, b)
	}
	return out
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}
