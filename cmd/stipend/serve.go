package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/audit"
	"github.com/stipend/stipend/mcpsession"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/tools"
	"github.com/stipend/stipend/wallet"
	"github.com/stipend/stipend/web"
	"github.com/stipend/stipend/webhook"
)

func serveCmd(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("serve", e)
	httpAddr := fs.String("http", "", "serve MCP over HTTP (streamable HTTP on /mcp, SSE on /sse) on this address instead of stdio, e.g. :8080")
	cf := newConfigFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: stipend serve [--http ADDR] [--config FILE] [flags]\n\n"+
			"Without --http, MCP runs over stdin/stdout (for Claude Desktop and other MCP hosts) and the approval\n"+
			"pages, admin API and metrics are served on --listen. Flags win over STIPEND_* env, env over the file.\n\n")
		fs.PrintDefaults()
	}
	if pos, err := parseArgs(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	} else if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "stipend serve: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	cfg, err := cf.load(e.getenv)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	stdio := *httpAddr == ""
	if !stdio {
		cfg.Listen = *httpAddr
	}
	rt, err := cfg.check(false)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	logger := newLogger(e.stderr, rt.LogLevel, rt.LogFormat)
	redis.SetLogger(redisLogger{logger})
	if host, _, _ := net.SplitHostPort(rt.Listen); rt.Config.PublicURL == "" && !rt.ListenOff && !isLoopback(host) {
		logger.Warn("public_url is not set: approval links point at "+rt.PublicURL+
			", which only this machine can open; set public_url (STIPEND_PUBLIC_URL) to the address people reach", "listen", rt.Listen)
	}
	a, err := newApp(ctx, rt, logger, stdio)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	defer a.close()
	if err := a.run(ctx, stdio, e); err != nil {
		logger.Error("stipend stopped", "err", err)
		return exitFail
	}
	return exitOK
}

// newLogger logs to w (stderr: stdout is the MCP channel in stdio mode).
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	o := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// app is a wired server: store, chain, service, MCP, HTTP.
type app struct {
	rt       *Runtime
	log      *slog.Logger
	rdb      redis.UniversalClient
	embedded *policy.Embedded
	store    *policy.Store
	chain    *wallet.Chain
	svc      *service.Service
	mcp      *server.MCPServer
	handler  *web.Handler
	hooks    *webhook.Dispatcher
	sink     *audit.FileSink
}

// newApp connects to Redis (or starts the embedded store) and wires the service.
func newApp(ctx context.Context, rt *Runtime, logger *slog.Logger, stdio bool) (*app, error) {
	a := &app{rt: rt, log: logger}
	if rt.Redis == nil && rt.RedisCluster == nil {
		e, err := policy.NewEmbedded()
		if err != nil {
			return nil, fmt.Errorf("config: redis_url: start the embedded store: %w", err)
		}
		a.embedded, a.rdb = e, e.Client
		logger.Warn("!!! NO REDIS CONFIGURED: using an embedded IN-MEMORY store. NOTHING SURVIVES A RESTART: " +
			"session keys, their sealed secrets (and so any USDC still on them), limits and audit logs are LOST when " +
			"this process exits. For trying stipend out only; set redis_url (STIPEND_REDIS_URL) for real money. !!!")
	} else {
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
			_ = c.Close()
			return nil, fmt.Errorf("config: redis_url: cannot reach Redis at %s: %w", addr, err)
		}
		a.rdb = c
	}
	// Events are written only while webhooks read them.
	opts := policy.Options{Prefix: rt.RedisPrefix, IdempotencyTTL: rt.IdempotencyWindow, WithoutEvents: len(rt.Webhooks.Endpoints) == 0}
	if err := a.openAuditSink(&opts); err != nil {
		a.close()
		return nil, err
	}
	a.store = policy.New(a.rdb, opts)
	chain, err := wallet.New(walletConfig(rt, logger))
	if err != nil {
		a.close()
		return nil, fmt.Errorf("config: rpc_url: %w", err)
	}
	a.chain = chain
	tokens, err := serviceTokens(rt, chain)
	if err != nil {
		a.close()
		return nil, err
	}
	a.svc = service.New(a.store, chain, rt.Sealer, service.Config{Token: rt.Token, Decimals: int32(rt.Decimals), Tokens: tokens,
		PublicURL: rt.PublicURL, Cluster: rt.Cluster, ApprovalTTL: rt.ApprovalTTL, MaxExpiry: rt.MaxExpiry,
		RiskThreshold: rt.RiskThreshold, X402Network: rt.X402Network, X402AllowPrivate: rt.X402AllowPrivate,
		PayWait: rt.PayWait, SecretGrace: rt.SecretGrace, AttachGrace: rt.RecoveryGrace}, logger)
	defaultAgent := ""
	if stdio {
		defaultAgent = rt.StdioAgentID
	}
	a.mcp = tools.NewServer(a.svc, tools.Options{DefaultAgent: defaultAgent, Version: version, Logger: logger})
	if len(rt.Webhooks.Endpoints) > 0 {
		hooks := rt.Webhooks
		hooks.Decimals = int32(rt.Decimals)
		hooks.DecimalsOf = a.svc.EventDecimals // each event in its key's token
		d, err := webhook.New(a.rdb, a.store, hooks, logger)
		if err != nil {
			a.close()
			return nil, fmt.Errorf("config: webhooks: %w", err)
		}
		a.hooks = d
		a.svc.Subscribe(func(service.Change) { d.Notify() }) // deliver a change now, not at the next poll
	}
	o := web.Options{Service: a.svc, MCP: a.mcp, Guard: tools.NewGuard(a.svc), APIKeys: rt.APIKeys, AdminTokenSHA256: rt.AdminToken, Logger: logger,
		AllowNonLocalHost: rt.AllowNonLocalHost, DefaultAgentID: rt.StdioAgentID,
		AllowedOrigins: rt.AllowedOrigins, MaxStreamsPerAgent: rt.MaxStreamsPerAgent,
		Sessions: mcpsession.New(a.rdb, rt.RedisPrefix, rt.MCPSessionTTL),
		Wallets:  a.svc.Wallets,
		Ready: []web.ReadyCheck{
			{Name: "redis", Check: func(ctx context.Context) error { return a.rdb.Ping(ctx).Err() }},
			{Name: "rpc", Check: func(ctx context.Context) error { _, err := chain.RPC().GetHealth(ctx); return err }},
		}}
	if a.hooks != nil {
		o.Webhooks = webhookOps{a.hooks}
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(a.hooks.Collector())
	}
	if a.handler, err = web.NewHandler(o); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *app) close() {
	if a.chain != nil {
		a.chain.Close()
	}
	if a.sink != nil {
		_ = a.sink.Close()
	}
	if a.embedded != nil {
		_ = a.embedded.Close()
	} else if a.rdb != nil {
		_ = a.rdb.Close()
	}
}

// run serves until ctx ends (or stdin closes, in stdio mode), then shuts
// down gracefully: stop accepting, wait for in-flight payments, stop.
func (a *app) run(ctx context.Context, stdio bool, e env) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() { stopBG(); wg.Wait() }()

	wg.Go(func() { a.recoverLoop(bg) })
	wg.Go(func() { a.auditLoop(bg) })
	wg.Go(func() { a.svc.RunSweeper(bg, a.rt.SweepInterval) })
	wg.Go(func() { a.svc.RunReconciler(bg, a.rt.SweepInterval, a.rt.ReconcileInterval) })
	wg.Go(func() { a.svc.RunBlockhash(bg, 2*time.Second) })
	if a.hooks != nil {
		wg.Go(func() {
			if err := a.hooks.Run(bg); err != nil && bg.Err() == nil {
				a.log.Error("webhook dispatcher stopped", "err", err)
			}
		})
	}

	var srv *http.Server
	serveErr := make(chan error, 1)
	if !a.rt.ListenOff {
		ln, err := net.Listen("tcp", a.rt.Listen)
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
		s.SetErrorLogger(log.New(e.stderr, "mcp stdio: ", log.LstdFlags))
		a.log.Info("stipend serving MCP on stdio", "agent_id", a.rt.StdioAgentID)
		in, out := tools.GuardStdio(ctx, a.svc, a.rt.StdioAgentID, e.stdin, e.stdout)
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
	if err := a.svc.Wait(sctx); err != nil {
		a.log.Warn("in-flight payments did not finish before the shutdown timeout; they are stored with their "+
			"signatures and the next start resolves them", "timeout", a.rt.ShutdownTimeout)
	}
	a.log.Info("stipend stopped")
	return runErr
}

// recoverLoop resolves payments left in flight: at start those of a crash,
// then every sweep interval those whose confirmation timed out (so no
// reservation holds money for good). Each is settled from its signature.
func (a *app) recoverLoop(ctx context.Context) {
	for {
		committed, released, err := a.svc.Recover(ctx)
		switch {
		case err != nil:
			a.log.Warn("recovery of in-flight payments failed; retrying", "err", err)
		}
		if committed+released > 0 {
			a.log.Info("recovered in-flight payments", "committed", committed, "released", released)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.rt.SweepInterval):
		}
	}
}

// webhookOps adapts the dispatcher to the admin API, with coded errors.
type webhookOps struct{ d *webhook.Dispatcher }

func (w webhookOps) SendTest(ctx context.Context, endpoint string) error {
	return webhookErr(w.d.SendTest(ctx, endpoint))
}

func (w webhookOps) DeadLetters(ctx context.Context, limit int) ([]web.DeadLetter, error) {
	ds, err := w.d.Dead(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]web.DeadLetter, 0, len(ds))
	for _, d := range ds {
		out = append(out, web.DeadLetter{ID: d.ID, At: d.At.UTC().Format(time.RFC3339), Wallet: d.Wallet, Endpoint: d.Endpoint,
			EventID: d.EventID, Event: d.Event, Error: d.Error, Attempts: d.Attempts})
	}
	return out, nil
}

func (w webhookOps) Status(ctx context.Context) ([]web.WebhookEndpoint, error) {
	sts, err := w.d.Status(ctx)
	if err != nil {
		return nil, err
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	out := make([]web.WebhookEndpoint, 0, len(sts))
	for _, s := range sts {
		state := "ok"
		if s.Failing {
			state = "failing"
		}
		out = append(out, web.WebhookEndpoint{Name: s.Name, State: state, ConsecutiveFailures: s.ConsecutiveFailures,
			LastSuccessAt: at(s.LastSuccess), LastFailureAt: at(s.LastFailure), LastError: s.LastError, Backlog: s.Backlog,
			OldestUndeliveredAt: at(s.Oldest), OldestUndeliveredAgeSeconds: int64(s.OldestAge.Seconds()), InFlight: s.InFlight,
			Slots: s.Slots, TimeoutSeconds: s.Timeout.Seconds(), RetryWindowSeconds: int64(s.RetryWindow.Seconds())})
	}
	return out, nil
}

func (w webhookOps) Retry(ctx context.Context, id string) error {
	return webhookErr(w.d.Retry(ctx, id))
}

func webhookErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, webhook.ErrUnknownEndpoint):
		return service.Errorf(service.CodeNotFound, "endpoint", "%v", err)
	case errors.Is(err, webhook.ErrDeadLetterNotFound):
		return service.Errorf(service.CodeNotFound, "id", "%v", err)
	case errors.Is(err, webhook.ErrDelivery):
		// The endpoint's URL (which may carry a secret) stays in the log.
		return &service.Error{Code: service.CodeUnavailable, Param: "endpoint", Cause: err,
			Message: "the webhook endpoint did not accept the event; see the server log"}
	}
	return err
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
