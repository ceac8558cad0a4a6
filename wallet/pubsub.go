package wallet

import (
	"context"
	"log/slog"
	"sync"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/ws"
)

// wsPollInterval is how often confirmation still polls while a websocket
// subscription watches the signature: a safety net, should a notification
// be lost.
const wsPollInterval = 2 * time.Second

// wsRetryAfter is how long confirmation polls only, after the websocket
// endpoint failed, before it tries to connect again.
const wsRetryAfter = 30 * time.Second

// pubsub wakes confirmation when a signature lands, through the provider's
// websocket (signatureSubscribe). It only ever hastens a status lookup:
// statuses are still read with getSignatureStatuses, and any websocket
// failure falls back to polling.
type pubsub struct {
	url     string
	timeout time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	client  *ws.Client
	retryAt time.Time // no connection attempt before this, after a failure
}

// conn returns the shared connection, dialling it if needed.
func (p *pubsub) conn(ctx context.Context) (*ws.Client, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return p.client, true
	}
	if time.Now().Before(p.retryAt) {
		return nil, false
	}
	dctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	c, err := ws.Connect(dctx, p.url)
	if err != nil {
		p.retryAt = time.Now().Add(wsRetryAfter)
		p.log.WarnContext(ctx, "websocket endpoint unavailable; confirming by polling", "endpoint", hostOf(p.url), "err", err)
		return nil, false
	}
	p.client = c
	return c, true
}

// drop forgets a broken connection.
func (p *pubsub) drop(c *ws.Client) {
	p.mu.Lock()
	if p.client == c {
		p.client, p.retryAt = nil, time.Now().Add(wsRetryAfter)
	}
	p.mu.Unlock()
	c.Close()
}

// watch subscribes to sig at commitment. The channel is closed when the
// signature's notification arrives, or when the subscription breaks (then
// polling carries on alone). ok is false when there is no subscription.
func (p *pubsub) watch(ctx context.Context, sig solana.Signature, commitment rpc.CommitmentType) (<-chan struct{}, bool) {
	c, ok := p.conn(ctx)
	if !ok {
		return nil, false
	}
	sub, err := c.SignatureSubscribe(sig, commitment)
	if err != nil {
		p.log.WarnContext(ctx, "signatureSubscribe failed; confirming by polling", "err", err)
		p.drop(c)
		return nil, false
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := sub.Recv(ctx); err != nil {
			if ctx.Err() != nil {
				sub.Unsubscribe()
				return
			}
			p.log.WarnContext(ctx, "websocket subscription broke; confirming by polling", "err", err)
			p.drop(c)
		}
	}()
	return done, true
}

// close ends the shared connection.
func (p *pubsub) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		p.client.Close() // ws.Client.Close returns nothing
		p.client = nil
	}
}
