package testenv

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	solana "github.com/gagliardetto/solana-go"
)

// Fault is what an RPCProxy does to the JSON-RPC calls it applies to.
type Fault string

// The faults of an RPCProxy.
const (
	Pass      Fault = ""          // forward the call and its reply
	Refuse    Fault = "refuse"    // close the connection without an answer
	Hang      Fault = "hang"      // hold the call until the client gives up (or Heal)
	DropReply Fault = "drop"      // forward the call, then hold its reply back (the call took effect)
	Blackhole Fault = "blackhole" // answer sendTransaction with its signature without forwarding (it never lands)
	Delay     Fault = "delay"     // forward after the configured delay
)

// RPCProxy is a fault-injecting HTTP proxy in front of a JSON-RPC endpoint
// (the local chain): it refuses, hangs, forwards but drops the reply, or
// delays chosen methods, and counts the calls by method.
type RPCProxy struct {
	URL    string
	target string
	srv    *http.Server
	ln     net.Listener

	mu      sync.Mutex
	fault   Fault
	methods map[string]bool // nil: every method
	delay   time.Duration
	healed  chan struct{}
	counts  map[string]int
	total   atomic.Int64
}

// NewRPCProxy starts a proxy in front of target (an http:// JSON-RPC URL).
func NewRPCProxy(target string) (*RPCProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &RPCProxy{URL: "http://" + ln.Addr().String(), target: target, ln: ln, healed: make(chan struct{}),
		counts: map[string]int{}}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy, releasing every held call.
func (p *RPCProxy) Close() error {
	p.Heal()
	return p.srv.Close()
}

// Set applies fault to the given methods (none: every method).
func (p *RPCProxy) Set(f Fault, methods ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
	p.methods = nil
	if len(methods) > 0 {
		p.methods = map[string]bool{}
		for _, m := range methods {
			p.methods[m] = true
		}
	}
}

// SetDelay sets the delay of the Delay fault.
func (p *RPCProxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Heal stops every fault and releases the calls being held.
func (p *RPCProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.methods = Pass, nil
	close(p.healed)
	p.healed = make(chan struct{})
}

// Count returns how many calls of method the proxy saw ("" for all).
func (p *RPCProxy) Count(method string) int {
	if method == "" {
		return int(p.total.Load())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[method]
}

// ResetCounts zeroes the counters.
func (p *RPCProxy) ResetCounts() {
	p.mu.Lock()
	p.counts = map[string]int{}
	p.mu.Unlock()
	p.total.Store(0)
}

type rpcRequest struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

// ServeHTTP implements http.Handler.
func (p *RPCProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var req rpcRequest
	_ = json.Unmarshal(body, &req) // batches are forwarded as they are
	p.mu.Lock()
	p.counts[req.Method]++
	fault := p.fault
	if p.methods != nil && !p.methods[req.Method] {
		fault = Pass
	}
	delay, healed := p.delay, p.healed
	p.mu.Unlock()
	p.total.Add(1)
	hold := func() {
		select {
		case <-r.Context().Done():
		case <-healed:
		}
	}
	switch fault {
	case Refuse:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return
			}
		}
		http.Error(w, "refused", http.StatusBadGateway)
		return
	case Hang:
		hold()
		return
	case Delay:
		// The call arrives late even if its client gave up waiting (as a
		// slow network delivers it anyway): it is forwarded after delay.
		select {
		case <-time.After(delay):
		case <-healed:
		}
	case Blackhole:
		if req.Method == "sendTransaction" && len(req.Params) > 0 {
			var wire string
			if json.Unmarshal(req.Params[0], &wire) == nil {
				if raw, err := base64.StdEncoding.DecodeString(wire); err == nil {
					if tx, err := solana.TransactionFromBytes(raw); err == nil && len(tx.Signatures) > 0 {
						w.Header().Set("Content-Type", "application/json")
						_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": tx.Signatures[0].String()})
						return
					}
				}
			}
		}
	}
	resp, err := http.Post(p.target, "application/json", bytes.NewReader(body)) //nolint:noctx // forwarded even when the client left
	if err != nil {
		http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer func() { _ = resp.Body.Close() }() // the body is read (or dropped) already: its close has nothing to tell
	out, _ := io.ReadAll(resp.Body)
	if fault == DropReply {
		hold()
		return
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// TCPProxy forwards TCP connections to a target (Redis) until cut: Cut
// closes every open connection and refuses new ones until Restore.
type TCPProxy struct {
	Addr   string
	target string
	ln     net.Listener

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

// NewTCPProxy starts a proxy in front of target (host:port).
func NewTCPProxy(target string) (*TCPProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &TCPProxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	go p.accept()
	return p, nil
}

func (p *TCPProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// Cut closes every connection and refuses new ones.
func (p *TCPProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// Restore accepts connections again.
func (p *TCPProxy) Restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// Close stops the proxy.
func (p *TCPProxy) Close() error {
	p.Cut()
	err := p.ln.Close()
	if errors.Is(err, net.ErrClosed) || (err != nil && strings.Contains(err.Error(), "closed")) {
		return nil
	}
	return err
}
