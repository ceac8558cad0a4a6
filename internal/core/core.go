// Package core assembles stipend's core from one configuration: the
// ledger's store (on the Redis it is given, or an embedded in-memory one),
// the chain layer of each token, the orchestrator, the audit sink, and the
// orchestrator's background work (recovery, audit moves, expiry sweeps, the
// reconciler, the shared blockhash).
//
// The product's wiring (package stipend, for serve and the demo) adds the
// faces on top of it; the test stack (internal/testenv) opens the same core
// and puts the face under test on it. Nothing else builds a store, a chain or
// an orchestrator.
package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/audit"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/wallet"
)

// Token is one token offered besides (or instead of) the chain's own.
type Token struct {
	Symbol       string
	Mint         solana.PublicKey
	Decimals     int
	TokenProgram solana.PublicKey // SPL Token or Token-2022
}

// Config is what the core is built from.
type Config struct {
	// Redis holds the ledger; nil starts an embedded in-memory store
	// (miniredis: the same scripts, nothing survives the process). The core
	// never closes a client it is given.
	Redis redis.UniversalClient
	// RedisPrefix is the prefix of every key of the ledger; "stipend" when empty.
	RedisPrefix string
	// IdempotencyWindow is how long idempotency keys and settled payments stay.
	IdempotencyWindow time.Duration
	// AuditFile is the audit sink that audit entries move to: this file, or
	// with "" the default one in the state directory (DefaultAuditFile); "off"
	// (and the embedded store) keeps them in Redis.
	AuditFile string
	// WithoutEvents leaves out the events stream: nothing reads it without
	// webhook endpoints (the audit log still records every change).
	WithoutEvents bool
	// Chain is the chain layer: endpoints, the default token, fee payer, budget.
	Chain wallet.Config
	// Tokens are the tokens offered, the default first; empty: Chain's one.
	Tokens []Token
	// Sealer seals the session keys' secrets (required).
	Sealer *wallet.Sealer
	// Service is the orchestrator's configuration.
	Service service.Config
	// Logger logs; slog.Default() when nil.
	Logger *slog.Logger
	// SweepInterval paces recovery, audit moves and expiry sweeps (Run); 30 s.
	SweepInterval time.Duration
	// ReconcileInterval paces the reconciler's full passes (Run); 10 min.
	ReconcileInterval time.Duration
}

// Core is the orchestrator on its store and chain.
type Core struct {
	// Service is the orchestrator, the only door of the faces.
	Service *service.Service
	// Store, Chain and Redis are the parts below it, for the wiring's own
	// checks (readiness) and for tests; faces never get them.
	Store *policy.Store
	Chain *wallet.Chain
	Redis redis.UniversalClient

	cfg      Config
	log      *slog.Logger
	embedded *policy.Embedded
	sink     *audit.FileSink
}

// Open builds the core. Its errors name the setting at fault
// ("config: audit_file: …"). Close releases what Open opened.
func Open(cfg Config) (*Core, error) {
	if cfg.Sealer == nil {
		return nil, errors.New("config: master_keys: required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RedisPrefix == "" {
		cfg.RedisPrefix = "stipend"
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 30 * time.Second
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = 10 * time.Minute
	}
	if cfg.Chain.Logger == nil {
		cfg.Chain.Logger = cfg.Logger
	}
	c := &Core{cfg: cfg, log: cfg.Logger, Redis: cfg.Redis}
	if c.Redis == nil {
		e, err := policy.NewEmbedded()
		if err != nil {
			return nil, fmt.Errorf("config: redis_url: start the embedded store: %w", err)
		}
		c.embedded, c.Redis = e, e.Client
	}
	opts := policy.Options{Prefix: cfg.RedisPrefix, IdempotencyTTL: cfg.IdempotencyWindow, WithoutEvents: cfg.WithoutEvents}
	sink, err := openAuditSink(cfg, c.embedded != nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if sink != nil {
		c.sink, opts.AuditArchive = sink, sink
	}
	c.Store = policy.New(c.Redis, opts)
	chain, err := wallet.New(cfg.Chain)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("config: rpc_url: %w", err)
	}
	c.Chain = chain
	scfg := cfg.Service
	for _, t := range cfg.Tokens {
		tc, err := chain.ForToken(t.Mint, uint8(t.Decimals), t.TokenProgram)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("config: tokens: %s: %w", t.Symbol, err)
		}
		scfg.Tokens = append(scfg.Tokens, service.Token{Symbol: t.Symbol, Decimals: int32(t.Decimals), Chain: tc})
	}
	c.Service = service.New(c.Store, chain, cfg.Sealer, scfg, cfg.Logger)
	return c, nil
}

// Close releases the chain layer, the audit sink and the embedded store.
func (c *Core) Close() {
	if c.Chain != nil {
		c.Chain.Close()
	}
	if c.sink != nil {
		if err := c.sink.Close(); err != nil {
			c.log.Warn("closing the audit sink", "err", err)
		}
	}
	if c.embedded != nil {
		_ = c.embedded.Close() // an in-memory store: nothing is lost that was not lost anyway
	}
}

// Embedded reports whether the ledger is the embedded in-memory store.
func (c *Core) Embedded() bool { return c.embedded != nil }

// Run does the orchestrator's background work until ctx ends: recovery of
// payments left in flight, audit moves to the sink, expiry sweeps, the
// reconciler and the shared blockhash. It returns once all of it stopped.
func (c *Core) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { c.recoverLoop(ctx) })
	wg.Go(func() { c.auditLoop(ctx) })
	wg.Go(func() { c.Service.RunSweeper(ctx, c.cfg.SweepInterval) })
	wg.Go(func() { c.Service.RunReconciler(ctx, c.cfg.SweepInterval, c.cfg.ReconcileInterval) })
	wg.Go(func() { c.Service.RunBlockhash(ctx, 2*time.Second) })
	wg.Wait()
}

// recoverLoop resolves payments left in flight: at start those of a crash,
// then every sweep interval those whose confirmation timed out (so no
// reservation holds money for good). Each is settled from its signature.
func (c *Core) recoverLoop(ctx context.Context) {
	for {
		committed, released, err := c.Service.Recover(ctx)
		if err != nil {
			c.log.Warn("recovery of in-flight payments failed; retrying", "err", err)
		}
		if committed+released > 0 {
			c.log.Info("recovered in-flight payments", "committed", committed, "released", released)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.cfg.SweepInterval):
		}
	}
}

// auditLoop moves audit entries from Redis to the audit sink every sweep
// interval until ctx ends, once more at the end so a clean stop leaves none
// behind.
func (c *Core) auditLoop(ctx context.Context) {
	if c.sink == nil {
		return
	}
	for {
		n, err := c.Store.DrainAllAudit(context.WithoutCancel(ctx))
		switch {
		case err != nil:
			c.log.Warn("moving audit entries to the audit sink failed; they stay in Redis and the next pass retries", "err", err)
		case n > 0:
			c.log.Debug("audit entries moved to the audit sink", "entries", n, "file", c.sink.Path())
		}
		select {
		case <-ctx.Done():
			if _, err := c.Store.DrainAllAudit(context.WithoutCancel(ctx)); err != nil {
				c.log.Warn("moving audit entries to the audit sink at stop failed; they stay in Redis for the next start", "err", err)
			}
			return
		case <-time.After(c.cfg.SweepInterval):
		}
	}
}
