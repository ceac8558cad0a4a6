package wallet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
)

// RPC defaults.
const (
	// DefaultRPCTimeout bounds one JSON-RPC call to one endpoint when
	// Config.RPCTimeout is zero; a call that takes longer is tried on the next.
	DefaultRPCTimeout = 10 * time.Second
	// maxRetryAfter caps how long one Retry-After (or backoff) keeps an
	// endpoint aside.
	maxRetryAfter = 30 * time.Second
	// maxCallWait is the longest one call waits for a resting endpoint.
	maxCallWait = 3 * time.Second
	// baseBackoff is the first pause after a failure without Retry-After; it
	// doubles with each consecutive failure of the endpoint, up to maxRetryAfter.
	baseBackoff = 200 * time.Millisecond
	// maxResponseBytes bounds a JSON-RPC answer read into memory.
	maxResponseBytes = 64 << 20
)

// providers is the HTTP client under solana-go's JSON-RPC client: it sends
// each call to the first endpoint that is not set aside, and on a transport
// error, a timeout, HTTP 429 or a 5xx answer sets that endpoint aside (for
// its Retry-After, else an exponential backoff with jitter) and tries the
// next. When every endpoint is set aside it waits for the first to come
// back, within the call's context. Resending a JSON-RPC call is safe for
// every method stipend uses: reads, and sendTransaction of a signed
// transaction, which never executes twice.
type providers struct {
	urls     []*url.URL
	client   *http.Client
	timeout  time.Duration
	attempts int
	log      *slog.Logger

	mu    sync.Mutex
	aside []time.Time // per endpoint: not used before this time
	setAt []time.Time // per endpoint: when it was last set aside
	fails []int       // per endpoint: consecutive failures
}

func newProviders(rawURLs []string, timeout time.Duration, log *slog.Logger) (*providers, error) {
	p := &providers{
		client:  &http.Client{Transport: http.DefaultTransport},
		timeout: timeout,
		log:     log,
	}
	for _, raw := range rawURLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: RPC URL %q is not an http(s) URL", ErrConfig, redactURL(raw))
		}
		p.urls = append(p.urls, u)
	}
	p.aside = make([]time.Time, len(p.urls))
	p.setAt = make([]time.Time, len(p.urls))
	p.fails = make([]int, len(p.urls))
	p.attempts = max(4, 2*len(p.urls))
	return p, nil
}

// redactURL drops a URL's query and user info: providers put API keys there.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

// hostOf is a URL's scheme and host, for logs.
func hostOf(raw string) string { return RedactURL(raw) }

// startKey carries, in a call's context, the endpoint to try first (an
// offset from the preferred one): a retry after a lagging node's answer
// asks another node.
type startKey struct{}

// withStart returns ctx asking the call to start at the n-th endpoint after the preferred.
func withStart(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, startKey{}, n)
}

// pick returns the endpoint to use now, or how long until one is usable.
func (p *providers) pick(offset int) (int, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	soonest, wait := -1, time.Duration(0)
	for k := range p.urls {
		i := (k + offset) % len(p.urls)
		if !p.aside[i].After(now) {
			return i, 0
		}
		if d := p.aside[i].Sub(now); soonest < 0 || d < wait {
			soonest, wait = i, d
		}
	}
	return soonest, wait
}

// setAside keeps endpoint i out of use for retryAfter, or, when that is
// zero, for an exponential backoff with jitter.
func (p *providers) setAside(i int, retryAfter time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fails[i]++
	d := retryAfter
	if d <= 0 {
		d = baseBackoff << min(p.fails[i]-1, 8)
		d += rand.N(d/2 + 1) // jitter, so replicas do not retry in step
	}
	d = min(d, maxRetryAfter)
	p.setAt[i] = time.Now()
	p.aside[i] = p.setAt[i].Add(d)
	return d
}

// healthy records that a call to endpoint i sent at started succeeded. A
// call sent before the endpoint was last set aside says nothing of it since:
// its answer does not lift a rest (a 429's Retry-After) that came after.
func (p *providers) healthy(i int, started time.Time) {
	p.mu.Lock()
	if !p.setAt[i].After(started) {
		p.fails[i], p.aside[i] = 0, time.Time{}
	}
	p.mu.Unlock()
}

// Do implements jsonrpc.HTTPClient.
func (p *providers) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("wallet: rpc request body: %w", err)
		}
		body = b
	}
	offset, _ := ctx.Value(startKey{}).(int)
	var lastErr error
	var lastResp *http.Response
	// One call, retries and waits included, is bounded: each endpoint gets
	// its per-call timeout, and resting endpoints are waited for at most
	// maxCallWait in all. An endpoint resting longer (after many failures in
	// a row) fails the call now, instead of holding it; the caller may retry.
	budget := time.Now().Add(time.Duration(len(p.urls))*p.timeout + maxCallWait)
	for attempt := 0; attempt < p.attempts; attempt++ {
		i, wait := p.pick(offset)
		if wait > maxCallWait || (wait > 0 && time.Now().Add(wait).After(budget)) {
			if lastErr == nil {
				lastErr = fmt.Errorf("wallet: rpc %s: resting after failures for %s more", shownURL(p.urls[i]), wait.Round(time.Millisecond))
			}
			break
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, p.giveUp(ctx, lastErr)
			case <-t.C:
			}
		}
		started := time.Now()
		resp, err := p.once(ctx, i, req, body)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, p.giveUp(ctx, err)
		case err != nil:
			d := p.setAside(i, 0)
			p.log.WarnContext(ctx, "RPC endpoint failed; trying the next", "endpoint", shownURL(p.urls[i]), "err", err, "aside", d)
			lastErr, lastResp = err, nil
		case resp.StatusCode == http.StatusTooManyRequests:
			d := p.setAside(i, retryAfter(resp.Header.Get("Retry-After")))
			p.log.WarnContext(ctx, "RPC endpoint rate-limits (429)", "endpoint", shownURL(p.urls[i]), "retry_after", resp.Header.Get("Retry-After"), "aside", d)
			lastErr, lastResp = fmt.Errorf("wallet: rpc %s: HTTP 429", shownURL(p.urls[i])), resp
		case resp.StatusCode >= 500:
			d := p.setAside(i, retryAfter(resp.Header.Get("Retry-After")))
			p.log.WarnContext(ctx, "RPC endpoint answers a server error", "endpoint", shownURL(p.urls[i]), "status", resp.StatusCode, "aside", d)
			lastErr, lastResp = fmt.Errorf("wallet: rpc %s: HTTP %d", shownURL(p.urls[i]), resp.StatusCode), resp
		case resp.StatusCode == http.StatusOK && nodeBehind(resp):
			d := p.setAside(i, 0)
			p.log.WarnContext(ctx, "RPC node is behind (-32005); trying the next", "endpoint", shownURL(p.urls[i]), "aside", d)
			lastErr, lastResp = fmt.Errorf("wallet: rpc %s: node is behind", shownURL(p.urls[i])), resp
		default:
			p.healthy(i, started)
			return resp, nil
		}
		offset = (i + 1) % len(p.urls) // after a failure, the next endpoint first
		if time.Now().After(budget) {
			break
		}
	}
	if lastResp != nil {
		return lastResp, nil // solana-go reports its status as a jsonrpc.HTTPError
	}
	return nil, fmt.Errorf("wallet: every RPC endpoint failed %d times: %w", p.attempts, lastErr)
}

func (p *providers) giveUp(ctx context.Context, last error) error {
	if last != nil {
		return fmt.Errorf("%w (last RPC failure: %w)", ctx.Err(), last)
	}
	return ctx.Err()
}

// once sends the call to endpoint i, within the per-call timeout, and reads
// the whole answer.
func (p *providers) once(ctx context.Context, i int, req *http.Request, body []byte) (*http.Response, error) {
	actx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	r := req.Clone(actx)
	u := *p.urls[i]
	r.URL, r.Host = &u, u.Host
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	resp, err := p.client.Do(r)
	if err != nil {
		// url.Error quotes the whole URL, API key included: name the host only.
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("%s %s: %w", ue.Op, shownURL(&u), ue.Err)
		}
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // the body is read (or dropped) already: its close has nothing to tell
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	resp.Body = answer{bytes.NewReader(data), data}
	return resp, nil
}

// nodeBehind reports a JSON-RPC answer with error -32005 (node unhealthy:
// behind the cluster by too many slots), which another node may not share.
func nodeBehind(resp *http.Response) bool {
	body, ok := resp.Body.(interface{ Bytes() []byte })
	return ok && bytes.Contains(body.Bytes(), []byte(`"code":-32005`))
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
// It returns 0 when the header is absent or unparsable, and at most
// maxRetryAfter.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		// Capped before multiplying: a huge value would overflow to a negative wait.
		return time.Duration(min(s, int(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return min(max(time.Until(t), 0), maxRetryAfter)
	}
	return 0
}

// newRPC returns solana-go's client over the configured endpoints.
func newRPC(cfg Config, log *slog.Logger) (*rpc.Client, *providers, error) {
	p, err := newProviders(append([]string{cfg.RPCURL}, cfg.FallbackRPCURLs...), cfg.RPCTimeout, log)
	if err != nil {
		return nil, nil, err
	}
	// The endpoint given here only names the calls in solana-go's errors:
	// providers sends each call to a configured URL, whose path and query
	// (where providers put API keys) stay out of errors and logs.
	// Failures to reach an endpoint come back as *RPCFault (the dependency
	// named, never its URL); an error the node answered passes as it is.
	client := jsonrpc.NewClientWithOpts("solana-rpc", &jsonrpc.RPCClientOpts{HTTPClient: p})
	return rpc.NewWithCustomRPCClient(&redactingRPC{inner: client, r: newURLRedactor(cfg.RPCURL)}), p, nil
}

// isBlockhashNotFound reports a node's refusal of a transaction whose
// blockhash it does not know: expired, or too new for a node lagging behind
// the one that gave it out.
func isBlockhashNotFound(err error) bool {
	var re *jsonrpc.RPCError
	if !errors.As(err, &re) {
		return false
	}
	if m, ok := re.Data.(map[string]any); ok && m["err"] == "BlockhashNotFound" {
		return true
	}
	return re.Message == "Transaction simulation failed: Blockhash not found"
}

// isAlreadyProcessed reports a node's refusal of a transaction it has
// already processed: it is on chain (or in flight), not lost.
func isAlreadyProcessed(err error) bool {
	var re *jsonrpc.RPCError
	if !errors.As(err, &re) {
		return false
	}
	if m, ok := re.Data.(map[string]any); ok && m["err"] == "AlreadyProcessed" {
		return true
	}
	return re.Message == "Transaction simulation failed: This transaction has already been processed"
}

// answer is a response body read into memory.
type answer struct {
	*bytes.Reader
	data []byte
}

func (a answer) Close() error  { return nil }
func (a answer) Bytes() []byte { return a.data }

// CloseIdleConnections implements jsonrpc.HTTPClient.
func (p *providers) CloseIdleConnections() { p.client.CloseIdleConnections() }

// shownURL is how an endpoint appears in logs and errors: scheme and host,
// never the path or query where providers put their keys.
func shownURL(u *url.URL) string { return u.Scheme + "://" + u.Host }
