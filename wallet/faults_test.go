package wallet_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/mr-tron/base58"

	"github.com/stipend/stipend/internal/localnet"
	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/wallet"
)

// fault is what the proxy does with one JSON-RPC call.
type fault int

const (
	forward    fault = iota // pass it to the chain and its answer back
	tooMany                 // HTTP 429 with Retry-After (when set)
	drop                    // close the connection without an answer
	slow                    // wait, then forward
	behind                  // a lagging node: sendTransaction refused with BlockhashNotFound
	lostAnswer              // forward, then close the connection without the answer
	blackhole               // accept a sendTransaction (answer its signature) and never forward it
	unhealthy               // a node too far behind: JSON-RPC error -32005
)

// call is one JSON-RPC call the proxy saw.
type call struct {
	method string
	params []json.RawMessage
	at     time.Time
	fault  fault
}

// faultProxy stands between stipend and the local chain and misbehaves as
// RPC providers do, per a plan: 429s, drops, slowness, lag.
type faultProxy struct {
	t          *testing.T
	target     string
	srv        *httptest.Server
	retryAfter string        // Retry-After of a 429; "" = none
	delay      time.Duration // of a slow answer

	mu    sync.Mutex
	plan  func(method string, n int) fault // n counts calls of that method from 0
	count map[string]int
	calls []call
}

func newFaultProxy(t *testing.T, target string, plan func(method string, n int) fault) *faultProxy {
	p := &faultProxy{t: t, target: target, plan: plan, count: map[string]int{}, delay: time.Second}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *faultProxy) setPlan(plan func(method string, n int) fault) {
	p.mu.Lock()
	p.plan = plan
	p.mu.Unlock()
}

func (p *faultProxy) seen() []call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// methodCalls returns the calls of one method.
func (p *faultProxy) methodCalls(method string) []call {
	var out []call
	for _, c := range p.seen() {
		if c.method == method {
			out = append(out, c)
		}
	}
	return out
}

func (p *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var req struct {
		ID     json.RawMessage   `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	_ = json.Unmarshal(body, &req)
	p.mu.Lock()
	n := p.count[req.Method]
	p.count[req.Method]++
	f := p.plan(req.Method, n)
	p.calls = append(p.calls, call{method: req.Method, params: req.Params, at: time.Now(), fault: f})
	p.mu.Unlock()

	switch f {
	case tooMany:
		if p.retryAfter != "" {
			w.Header().Set("Retry-After", p.retryAfter)
		}
		http.Error(w, `{"jsonrpc":"2.0","error":{"code":429,"message":"Too many requests"},"id":null}`, http.StatusTooManyRequests)
		return
	case drop:
		p.hangUp(w)
		return
	case slow:
		select {
		case <-time.After(p.delay):
		case <-r.Context().Done():
			return
		}
	case behind:
		if req.Method == "sendTransaction" {
			fmt.Fprintf(w, `{"jsonrpc":"2.0","error":{"code":-32002,"message":"Transaction simulation failed: Blockhash not found","data":{"accounts":null,"err":"BlockhashNotFound","logs":[],"unitsConsumed":0}},"id":%s}`, req.ID)
			return
		}
	case unhealthy:
		fmt.Fprintf(w, `{"jsonrpc":"2.0","error":{"code":-32005,"message":"Node is behind by 150 slots","data":{"numSlotsBehind":150}},"id":%s}`, req.ID)
		return
	case blackhole:
		if req.Method == "sendTransaction" {
			fmt.Fprintf(w, `{"jsonrpc":"2.0","result":%q,"id":%s}`, firstSignature(p.t, req.Params), req.ID)
			return
		}
	}
	resp, err := http.Post(p.target, "application/json", bytes.NewReader(body))
	if err != nil {
		p.hangUp(w)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if f == lostAnswer {
		p.hangUp(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

func (p *faultProxy) hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// firstSignature reads the signature of a sendTransaction's base64 transaction.
func firstSignature(t *testing.T, params []json.RawMessage) string {
	var s string
	if len(params) == 0 || json.Unmarshal(params[0], &s) != nil {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < 65 {
		return ""
	}
	return base58.Encode(b[1:65])
}

// chainVia returns a wallet.Chain whose RPC endpoints are urls, in order of preference.
func chainVia(t *testing.T, ln *localnet.Chain, timeout time.Duration, urls ...string) *wallet.Chain {
	t.Helper()
	c, err := wallet.New(wallet.Config{RPCURL: urls[0], FallbackRPCURLs: urls[1:], Mint: ln.Mint, Decimals: ln.Decimals,
		ConfirmTimeout: 20 * time.Second, RPCTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// lifecycle funds a key, pays from it and sweeps it through c: every RPC
// call of the product's flow.
func lifecycle(t *testing.T, ln *localnet.Chain, c *wallet.Chain) {
	t.Helper()
	ctx := context.Background()
	user := fundedWallet(t, ln, 10*usdc)
	key, _ := wallet.NewKeypair()
	recipient, _ := wallet.NewKeypair()
	fund(t, c, user, key.PublicKey(), 5*usdc)
	tx, err := c.BuildPayment(ctx, key, recipient.PublicKey(), 2*usdc, "pay_faults")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := c.Confirm(ctx, tx.Signatures[0]); err != nil {
		t.Fatal(err)
	}
	sw, err := c.BuildSweep(ctx, key, user.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendAndConfirm(ctx, sw.Tx); err != nil {
		t.Fatal(err)
	}
	if got := tokenBal(t, c, recipient.PublicKey()); got != 2*usdc {
		t.Fatalf("recipient holds %d, want %d", got, 2*usdc)
	}
	if got := tokenBal(t, c, user.PublicKey()); got != 8*usdc {
		t.Fatalf("user holds %d after the sweep, want %d", got, 8*usdc)
	}
}

// TestFault429 runs the lifecycle through one endpoint that rate-limits:
// with Retry-After the next call waits at least that long; without it, the
// client backs off and retries. Nothing fails.
func TestFault429(t *testing.T) {
	ln := testenv.Chain(t)
	for _, tt := range []struct {
		name       string
		retryAfter string
		minWait    time.Duration
	}{
		{"Retry-After seconds", "1", time.Second},
		{"Retry-After date", time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat), 0},
		{"no Retry-After: backoff", "", 200 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The first call of the methods a payment needs most is answered 429.
			p := newFaultProxy(t, ln.URL, func(method string, n int) fault {
				switch method {
				case "getLatestBlockhash", "sendTransaction", "getSignatureStatuses", "simulateTransaction":
					if n == 0 {
						return tooMany
					}
				}
				return forward
			})
			p.retryAfter = tt.retryAfter
			lifecycle(t, ln, chainVia(t, ln, 5*time.Second, p.srv.URL))
			calls := p.seen()
			var limited, retried int
			for i, c := range calls {
				if c.fault != tooMany {
					continue
				}
				limited++
				// The retry of the refused call (the next call of its method
				// with the same parameters: other calls of that method already
				// under way may overlap) waited out the 429.
				for _, next := range calls[i+1:] {
					if next.method != c.method || !sameParams(next.params, c.params) {
						continue
					}
					if gap := next.at.Sub(c.at); gap < tt.minWait {
						t.Fatalf("%s retried %s after a 429, want at least %s", c.method, gap, tt.minWait)
					}
					retried++
					break
				}
			}
			if limited != 4 {
				t.Fatalf("only %d calls answered 429 of %d", limited, len(calls))
			}
			if retried != limited {
				t.Fatalf("%d of the %d calls answered 429 were retried", retried, limited)
			}
			t.Logf("%d calls, %d answered 429", len(calls), limited)
		})
	}
}

// TestFaultFailover: the preferred endpoint drops every call (or answers
// too slowly, past the per-call timeout); the lifecycle runs on the next one,
// and once the preferred one heals it is used again.
func TestFaultFailover(t *testing.T) {
	ln := testenv.Chain(t)
	for _, tt := range []struct {
		name  string
		fault fault
	}{
		{"drops", drop},
		{"too slow", slow},
		{"429 without end", tooMany},
		{"node behind (-32005)", unhealthy},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := newFaultProxy(t, ln.URL, func(string, int) fault { return tt.fault })
			bad.delay = 2 * time.Second
			bad.retryAfter = "1"
			good := newFaultProxy(t, ln.URL, func(string, int) fault { return forward })
			c := chainVia(t, ln, 300*time.Millisecond, bad.srv.URL, good.srv.URL)
			lifecycle(t, ln, c)
			nb, ng := len(bad.seen()), len(good.seen())
			if ng == 0 || nb >= ng {
				t.Fatalf("preferred (failing) endpoint saw %d calls, the next %d: the failing one was not set aside", nb, ng)
			}
			t.Logf("failing endpoint: %d calls, fallback: %d", nb, ng)

			// Healed: within its backoff it is preferred again.
			bad.setPlan(func(string, int) fault { return forward })
			deadline := time.Now().Add(40 * time.Second)
			for len(bad.seen()) == nb || bad.seen()[len(bad.seen())-1].fault != forward {
				if time.Now().After(deadline) {
					t.Fatal("the healed preferred endpoint was never used again")
				}
				if _, err := c.SOLBalance(context.Background(), solana.SystemProgramID); err != nil {
					t.Fatal(err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestFaultAllDown: with every endpoint failing, a call gives up within its
// context with an error naming the last failure, instead of hanging.
func TestFaultAllDown(t *testing.T) {
	ln := testenv.Chain(t)
	p := newFaultProxy(t, ln.URL, func(string, int) fault { return drop })
	c := chainVia(t, ln, 200*time.Millisecond, p.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := c.SOLBalance(ctx, solana.SystemProgramID)
	if err == nil {
		t.Fatal("a read through a dead endpoint succeeded")
	}
	if n := len(p.seen()); n < 2 {
		t.Fatalf("%d attempts, want retries", n)
	}
	t.Logf("gave up after %d attempts: %v", len(p.seen()), err)
}

// TestFaultLaggingNode: nodes that do not know the blockhash yet (another
// node gave it out) answer sendTransaction with BlockhashNotFound; the send
// is retried, the next endpoint first, and the payment lands once.
func TestFaultLaggingNode(t *testing.T) {
	ln := testenv.Chain(t)
	for _, tt := range []struct {
		name      string
		endpoints int
		lagging   int // sendTransaction calls answered BlockhashNotFound, per endpoint
	}{
		{"one node, lagging twice", 1, 2},
		{"preferred node lagging, the next one not", 2, 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var urls []string
			var proxies []*faultProxy
			for i := range tt.endpoints {
				lag := tt.lagging
				if i > 0 {
					lag = 0
				}
				p := newFaultProxy(t, ln.URL, func(method string, n int) fault {
					if method == "sendTransaction" && n < lag {
						return behind
					}
					return forward
				})
				urls, proxies = append(urls, p.srv.URL), append(proxies, p)
			}
			c := chainVia(t, ln, 5*time.Second, urls...)
			user := fundedWallet(t, ln, 10*usdc)
			key, _ := wallet.NewKeypair()
			recipient, _ := wallet.NewKeypair()
			fund(t, c, user, key.PublicKey(), 5*usdc)
			tx, err := c.BuildPayment(ctx, key, recipient.PublicKey(), usdc, "pay_lag")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Send(ctx, tx); err != nil {
				t.Fatalf("send through a lagging node: %v", err)
			}
			if err := c.Confirm(ctx, tx.Signatures[0]); err != nil {
				t.Fatal(err)
			}
			if got := tokenBal(t, c, recipient.PublicKey()); got != usdc {
				t.Fatalf("recipient holds %d, want %d (once)", got, usdc)
			}
			var refused int
			for _, p := range proxies {
				for _, s := range p.methodCalls("sendTransaction") {
					if s.fault == behind {
						refused++
					}
				}
			}
			if refused == 0 {
				t.Fatal("no send was refused: the test tested nothing")
			}
		})
	}
}

// TestFaultLostAnswer: the node takes a transaction but the answer is lost
// (the connection drops); the retried send meets "already processed", which
// is success: the payment is on chain, once.
func TestFaultLostAnswer(t *testing.T) {
	ln := testenv.Chain(t)
	ctx := context.Background()
	p := newFaultProxy(t, ln.URL, func(method string, n int) fault {
		if method == "sendTransaction" && n == 1 { // the payment (n 0 is the funding)
			return lostAnswer
		}
		return forward
	})
	c := chainVia(t, ln, 5*time.Second, p.srv.URL)
	user := fundedWallet(t, ln, 10*usdc)
	key, _ := wallet.NewKeypair()
	recipient, _ := wallet.NewKeypair()
	fund(t, c, user, key.PublicKey(), 5*usdc)
	tx, err := c.BuildPayment(ctx, key, recipient.PublicKey(), usdc, "pay_lost_answer")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, tx); err != nil {
		t.Fatalf("send whose first answer was lost: %v", err)
	}
	if err := c.Confirm(ctx, tx.Signatures[0]); err != nil {
		t.Fatal(err)
	}
	sends := p.methodCalls("sendTransaction")
	if len(sends) != 3 || sends[1].fault != lostAnswer {
		t.Fatalf("sendTransaction calls %d, want funding + lost + retry", len(sends))
	}
	if got := tokenBal(t, c, recipient.PublicKey()); got != usdc {
		t.Fatalf("recipient holds %d, want %d: paid once", got, usdc)
	}
}

// TestFaultRebroadcastSameFee: a node accepts a payment and drops it; the
// rebroadcast sends the very same bytes (same signature, same compute
// budget), and the fee charged is the one built.
func TestFaultRebroadcastSameFee(t *testing.T) {
	ln := testenv.Chain(t)
	ctx := context.Background()
	p := newFaultProxy(t, ln.URL, func(method string, n int) fault {
		if method == "sendTransaction" && n == 1 {
			return blackhole
		}
		return forward
	})
	c := chainVia(t, ln, 5*time.Second, p.srv.URL)
	user := fundedWallet(t, ln, 10*usdc)
	key, _ := wallet.NewKeypair()
	recipient, _ := wallet.NewKeypair()
	fund(t, c, user, key.PublicKey(), 5*usdc)
	tx, err := c.BuildPayment(ctx, key, recipient.PublicKey(), usdc, "pay_rebroadcast")
	if err != nil {
		t.Fatal(err)
	}
	b, err := wallet.ReadBudget(&tx.Message)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := c.SendAndConfirm(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	sends := p.methodCalls("sendTransaction")[1:]
	if len(sends) < 2 || sends[0].fault != blackhole {
		t.Fatalf("%d sends of the payment, want a dropped one and a rebroadcast", len(sends))
	}
	for _, s := range sends[1:] {
		if !bytes.Equal(s.params[0], sends[0].params[0]) {
			t.Fatal("the rebroadcast is not the same transaction")
		}
	}
	if m := landed(t, c, sig); m.Fee != b.Fee() {
		t.Fatalf("rebroadcast payment charged %d, built for %d", m.Fee, b.Fee())
	}
}

// TestBatchedStatuses: lookups of many signatures go out at most 256 per
// getSignatureStatuses call, whether asked at once (LookupSignatures, as
// recovery does) or by many concurrent callers (confirmation loops).
func TestBatchedStatuses(t *testing.T) {
	ln := testenv.Chain(t)
	ctx := context.Background()
	p := newFaultProxy(t, ln.URL, func(string, int) fault { return forward })
	c := chainVia(t, ln, 5*time.Second, p.srv.URL)
	user := fundedWallet(t, ln, 10*usdc)
	key, _ := wallet.NewKeypair()
	landedSig := fund(t, c, user, key.PublicKey(), usdc).Signatures[0]

	sigs := make([]solana.Signature, 600)
	for i := range sigs {
		sigs[i] = solana.Signature{byte(i), byte(i >> 8), 7}
	}
	sigs[321] = landedSig
	before := len(p.methodCalls("getSignatureStatuses"))
	sts, err := c.LookupSignatures(ctx, sigs)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != len(sigs) || !sts[321].Found || sts[320].Found {
		t.Fatalf("%d statuses; landed one found %v, unknown one found %v", len(sts), sts[321].Found, sts[320].Found)
	}
	var sizes []int
	for _, cl := range p.methodCalls("getSignatureStatuses")[before:] {
		var list []string
		_ = json.Unmarshal(cl.params[0], &list)
		sizes = append(sizes, len(list))
	}
	if !slices.Equal(sizes, []int{256, 256, 88}) {
		t.Fatalf("batches %v, want [256 256 88]", sizes)
	}

	// 600 concurrent single lookups share calls.
	before = len(p.methodCalls("getSignatureStatuses"))
	var wg sync.WaitGroup
	errs := make(chan error, len(sigs))
	for i, s := range sigs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := c.LookupSignature(ctx, s)
			if err == nil && st.Found != (i == 321) {
				err = fmt.Errorf("signature %d: found %v", i, st.Found)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	calls := p.methodCalls("getSignatureStatuses")[before:]
	for _, cl := range calls {
		var list []string
		_ = json.Unmarshal(cl.params[0], &list)
		if len(list) > 256 || len(list) == 0 {
			t.Fatalf("a batch of %d signatures", len(list))
		}
	}
	if len(calls) >= len(sigs)/2 {
		t.Fatalf("%d concurrent lookups took %d calls: not batched", len(sigs), len(calls))
	}
	t.Logf("%d concurrent lookups in %d getSignatureStatuses calls", len(sigs), len(calls))
}

// sameParams reports whether two calls carried the same parameters.
func sameParams(a, b []json.RawMessage) bool {
	return slices.EqualFunc(a, b, func(x, y json.RawMessage) bool { return string(x) == string(y) })
}
