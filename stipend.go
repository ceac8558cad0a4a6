// Package stipend is the product assembled: from one configuration, New
// builds the whole server (the ledger's store on Redis or the embedded
// in-memory one, the chain layer, the orchestrator, the MCP server with its
// tools and prompts, the approval pages and admin API, webhook delivery, the
// audit sink, the reconciler) and App.Run serves it. `stipend serve` and
// `stipend demo` call New; the test stack opens the same core
// (internal/core). The CLI's other verbs find what they need here too:
// configuration (LoadConfig, Config.Check), Doctor, NewSecrets.
package stipend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gagliardetto/solana-go/rpc"
	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/internal/core"
	"github.com/stipend/stipend/mcpsession"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
	"github.com/stipend/stipend/wallet"
	"github.com/stipend/stipend/web"
	"github.com/stipend/stipend/webhook"
)

// Options are how the app is run, besides its configuration.
type Options struct {
	// Stdio serves MCP on Stdin/Stdout (the agent is stdio_agent_id), with
	// the pages and admin API on listen; otherwise MCP is served over HTTP.
	Stdio  bool
	Stdin  io.Reader
	Stdout io.Writer
	// Logger logs; nil: one on LogOutput at the configured level and format.
	Logger *slog.Logger
	// LogOutput receives the logs when Logger is nil (stderr: stdout is the
	// MCP channel in stdio mode); nil discards them.
	LogOutput io.Writer
	// Listener, if set, serves HTTP instead of listening on Config.Listen
	// (which still names the address in logs).
	Listener net.Listener
	// Version is reported to MCP clients.
	Version string
}

// App is the wired server.
type App struct {
	rt      *Runtime
	opts    Options
	log     *slog.Logger
	rdb     redis.UniversalClient // the client New made; nil on the embedded store
	core    *core.Core
	mcp     *server.MCPServer
	handler *web.Handler
	hooks   *webhook.Dispatcher
}

// New checks cfg and builds the app on it: it connects to Redis (or starts
// the embedded store, saying loudly that nothing survives a restart) and to
// the chain. A bad setting is an error naming it ("config: <key>: …"), before
// anything is served. Close releases what New opened.
func New(ctx context.Context, cfg Config, opts Options) (*App, error) {
	rt, err := cfg.Check()
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		out := opts.LogOutput
		if out == nil {
			out = io.Discard
		}
		logger = NewLogger(out, rt.LogLevel, rt.LogFormat)
	}
	redis.SetLogger(redisLogger{logger})
	if host, _, _ := net.SplitHostPort(rt.Listen); rt.Config.PublicURL == "" && !rt.ListenOff && !isLoopback(host) {
		logger.Warn("public_url is not set: approval links point at "+rt.PublicURL+
			", which only this machine can open; set public_url (STIPEND_PUBLIC_URL) to the address people reach", "listen", rt.Listen)
	}
	a := &App{rt: rt, opts: opts, log: logger}
	if rt.Redis != nil || rt.RedisCluster != nil {
		if a.rdb, err = dialRedis(ctx, rt); err != nil {
			return nil, err
		}
	} else {
		logger.Warn("!!! NO REDIS CONFIGURED: using an embedded IN-MEMORY store. NOTHING SURVIVES A RESTART: " +
			"session keys, their sealed secrets (and so any USDC still on them), limits and audit logs are LOST when " +
			"this process exits. For trying stipend out only; set redis_url (STIPEND_REDIS_URL) for real money. !!!")
	}
	if a.core, err = core.Open(coreConfig(rt, a.rdb, logger)); err != nil {
		a.Close()
		return nil, err
	}
	svc := a.core.Service
	defaultAgent := ""
	if opts.Stdio {
		defaultAgent = rt.StdioAgentID
	}
	a.mcp = tools.NewServer(svc, tools.Options{DefaultAgent: defaultAgent, Version: opts.Version, Logger: logger})
	if len(rt.Webhooks.Endpoints) > 0 {
		hooks := rt.Webhooks
		hooks.Decimals = int32(rt.Decimals)
		hooks.DecimalsOf = svc.EventDecimals // each event in its key's token
		d, err := webhook.New(a.core.Redis, a.core.Store, hooks, logger)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("config: webhooks: %w", err)
		}
		a.hooks = d
		svc.Subscribe(func(service.Change) { d.Notify() }) // deliver a change now, not at the next poll
	}
	rdb, chain := a.core.Redis, a.core.Chain
	o := web.Options{Service: svc, MCP: a.mcp, Guard: tools.NewGuard(svc), APIKeys: rt.APIKeys, AdminTokenSHA256: rt.AdminToken, Logger: logger,
		AllowNonLocalHost: rt.AllowNonLocalHost, DefaultAgentID: rt.StdioAgentID,
		AllowedOrigins: rt.AllowedOrigins, MaxStreamsPerAgent: rt.MaxStreamsPerAgent,
		Sessions: mcpsession.New(rdb, rt.RedisPrefix, rt.MCPSessionTTL),
		Wallets:  svc.Wallets,
		Ready: []web.ReadyCheck{
			{Name: "redis", Check: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
			{Name: "rpc", Check: func(ctx context.Context) error { _, err := chain.RPC().GetHealth(ctx); return err }},
		}}
	if a.hooks != nil {
		o.Webhooks = webhookOps{a.hooks}
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(a.hooks.Collector())
	}
	if a.handler, err = web.NewHandler(o); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// dialRedis connects to the configured Redis (standalone or cluster) and
// checks that it answers.
func dialRedis(ctx context.Context, rt *Runtime) (redis.UniversalClient, error) {
	var c redis.UniversalClient
	var addr string
	if rt.RedisCluster != nil {
		c, addr = redis.NewClusterClient(rt.RedisCluster), strings.Join(rt.RedisCluster.Addrs, ",")
	} else {
		c, addr = redis.NewClient(rt.Redis), rt.Redis.Addr
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := c.Ping(pctx).Err()
	cancel()
	if err != nil {
		_ = c.Close() // it never answered: nothing to flush
		return nil, fmt.Errorf("config: redis_url: cannot reach Redis at %s: %w", addr, err)
	}
	return c, nil
}

// coreConfig is the core of a checked configuration.
func coreConfig(rt *Runtime, rdb redis.UniversalClient, logger *slog.Logger) core.Config {
	tokens := make([]core.Token, 0, len(rt.Tokens))
	for _, t := range rt.Tokens {
		tokens = append(tokens, core.Token{Symbol: t.Symbol, Mint: t.Mint, Decimals: t.Decimals, TokenProgram: t.TokenProgram})
	}
	return core.Config{
		Redis:             rdb,
		RedisPrefix:       rt.RedisPrefix,
		IdempotencyWindow: rt.IdempotencyWindow,
		AuditFile:         rt.AuditFile,
		WithoutEvents:     len(rt.Webhooks.Endpoints) == 0, // events are written only while webhooks read them
		Chain:             walletConfig(rt, logger),
		Tokens:            tokens,
		Sealer:            rt.Sealer,
		Service: service.Config{Token: rt.Token, Decimals: int32(rt.Decimals),
			PublicURL: rt.PublicURL, Cluster: rt.Cluster, ApprovalTTL: rt.ApprovalTTL, MaxExpiry: rt.MaxExpiry,
			RiskThreshold: rt.RiskThreshold, X402Network: rt.X402Network, X402AllowPrivate: rt.X402AllowPrivate,
			PayWait: rt.PayWait, SecretGrace: rt.SecretGrace, AttachGrace: rt.RecoveryGrace},
		Logger:            logger,
		SweepInterval:     rt.SweepInterval,
		ReconcileInterval: rt.ReconcileInterval,
	}
}

// walletConfig is the chain configuration of a checked runtime: endpoints,
// token, fee payer and the compute budget every transaction carries.
func walletConfig(rt *Runtime, logger *slog.Logger) wallet.Config {
	return wallet.Config{
		RPCURL:          rt.RPCURL,
		FallbackRPCURLs: rt.RPCFallbackURLs,
		RPCTimeout:      rt.RPCTimeout,
		WSURL:           rt.WSURL,
		Commitment:      rpc.CommitmentType(rt.Commitment),
		Mint:            rt.Mint,
		Decimals:        uint8(rt.Decimals),
		TokenProgram:    rt.TokenProgram,
		FeePayer:        rt.FeePayer,
		FeePercentile:   rt.PriorityFeePercentile,
		MaxUnitPrice:    rt.PriorityFeeMax,
		UnitMargin:      rt.ComputeUnitMargin,
		Logger:          logger,
	}
}

// Service is the orchestrator the app serves.
func (a *App) Service() *service.Service { return a.core.Service }

// Close releases the chain, the audit sink and the store.
func (a *App) Close() {
	if a.core != nil {
		a.core.Close()
	}
	if a.rdb != nil {
		_ = a.rdb.Close() // shutting down: every write was answered already
	}
}

// Run serves until ctx ends (or stdin closes, in stdio mode), then shuts
// down gracefully: stop accepting, wait for in-flight payments, stop.
func (a *App) Run(ctx context.Context) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() { stopBG(); wg.Wait() }()

	wg.Go(func() { a.core.Run(bg) })
	if a.hooks != nil {
		wg.Go(func() {
			if err := a.hooks.Run(bg); err != nil && bg.Err() == nil {
				a.log.Error("webhook dispatcher stopped", "err", err)
			}
		})
	}

	stdio := a.opts.Stdio
	var srv *http.Server
	serveErr := make(chan error, 1)
	if !a.rt.ListenOff {
		ln, err := a.opts.Listener, error(nil)
		if ln == nil {
			ln, err = net.Listen("tcp", a.rt.Listen)
		}
		switch {
		case err != nil && stdio:
			// Another stipend may serve the pages on a shared Redis; MCP still works.
			a.log.Warn("approval pages not served: cannot listen", "listen", a.rt.Listen, "err", err)
		case err != nil:
			return fmt.Errorf("config: listen: %w", err)
		default:
			srv = web.NewServer(a.rt.Listen, a.handler, a.log)
			a.log.Info("stipend listening", "addr", ln.Addr().String(), "public_url", a.rt.PublicURL,
				"mcp", !stdio, "admin_api", a.rt.AdminToken != nil, "agents", len(a.rt.APIKeys))
			go func() { serveErr <- srv.Serve(ln) }()
		}
	}

	stdioDone := make(chan error, 1)
	if stdio {
		s := server.NewStdioServer(a.mcp)
		s.SetErrorLogger(log.New(logWriter{a.log}, "mcp stdio: ", 0))
		a.log.Info("stipend serving MCP on stdio", "agent_id", a.rt.StdioAgentID)
		in, out := tools.GuardStdio(ctx, a.core.Service, a.rt.StdioAgentID, a.opts.Stdin, a.opts.Stdout)
		go func() { stdioDone <- s.Listen(ctx, in, out) }()
	}

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "reason", context.Cause(ctx))
	case err := <-stdioDone:
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
			runErr = fmt.Errorf("stdio: %w", err)
		}
		a.log.Info("stdin closed; shutting down")
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("http: %w", err)
		}
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.rt.ShutdownTimeout)
	defer cancel()
	if err := a.handler.Shutdown(sctx); err != nil {
		a.log.Warn("closing MCP sessions", "err", err)
	}
	if srv != nil {
		if err := srv.Shutdown(sctx); err != nil {
			a.log.Warn("HTTP server shutdown", "err", err)
		}
	}
	if err := a.core.Service.Wait(sctx); err != nil {
		a.log.Warn("in-flight payments did not finish before the shutdown timeout; they are stored with their "+
			"signatures and the next start resolves them", "timeout", a.rt.ShutdownTimeout)
	}
	a.log.Info("stipend stopped")
	return runErr
}

// NewLogger logs to w at level (debug, info, warn, error) in format (text, json).
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // Check names a bad level; unchecked, info it is
	o := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// logWriter sends a standard logger's lines (mcp-go's stdio errors) to slog.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Error(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// redisLogger sends go-redis's own messages (connection retries) to slog at debug level.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// isLoopback reports whether a listen host only accepts local connections.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
