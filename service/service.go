// Package service is stipend's one orchestrator: it runs a session key's life
// (create, approve, pay, top up, revoke) and an agent session's (create,
// link, unlink, change limits) across the ledger (policy) and the chain
// (wallet). The faces (MCP tools, approval pages, admin API) call it and
// nothing else; it knows neither MCP nor HTTP.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/wallet"
	"github.com/stipend/stipend/x402"
)

// Config configures the Service.
type Config struct {
	Token    string // token symbol shown to people; "USDC"
	Decimals int32  // the token's decimals; 6
	// Tokens are the tokens offered, the default first; a key holds one. When
	// empty, the one token is Token with Decimals on the chain given to New;
	// when set, Token and Decimals become the first's.
	Tokens        []Token
	PublicURL     string        // base URL of the approval pages, e.g. http://127.0.0.1:8080
	Domain        string        // the domain named in messages the owner signs; from PublicURL by default
	Cluster       string        // Wallet Standard chain id, e.g. solana:localnet, solana:mainnet
	ApprovalTTL   time.Duration // how long an approval link lives (at most the key's life); 30 min
	MaxExpiry     time.Duration // the longest a key or session may live; 90 days
	RiskThreshold int           // a payment whose risk score exceeds it needs the owner (0-100); 0 = off

	X402Network      string        // CAIP-2 network of the x402 offers paid; default: Cluster's public cluster
	X402AllowPrivate bool          // let paid fetches reach loopback, private and link-local addresses (tests)
	X402Timeout      time.Duration // bound of one fetch; 20s
	X402MaxBody      int64         // bound of an answer's body; 256 KiB

	// PayWait bounds how long pay waits for its transaction to confirm before
	// answering pending (with the retry sentence); 30 s.
	PayWait time.Duration
	// RPCTimeout bounds each RPC call of the payment flow and the reconciler; 5 s.
	RPCTimeout time.Duration
	// AttachGrace is how old a reservation without a transaction must be
	// before recovery takes its process for dead and releases it; 1 min.
	AttachGrace time.Duration
	// SecretGrace is how long a key's sealed secret is kept after the
	// reconciler confirmed its zero balance; 30 days.
	SecretGrace time.Duration
}

// Service orchestrates session keys and sessions. It is safe for concurrent use.
type Service struct {
	store  *policy.Store
	chain  *wallet.Chain
	sealer *wallet.Sealer
	cfg    Config
	log    *slog.Logger

	blockhash *wallet.BlockhashCache // one recent blockhash shared by every payment
	recon     reconStats

	inflight sync.WaitGroup // payments and approvals being sent, for graceful shutdown
	mu       sync.Mutex
	subs     map[int]func(Change)
	nextSub  int

	mints sync.Map // session key id → its mint (never changes), for parsing its amounts

	x402Once  sync.Once     // builds x402Fetch on first use
	x402Fetch *x402.Fetcher // the paid fetches' HTTP client
}

// New returns a Service.
func New(store *policy.Store, chain *wallet.Chain, sealer *wallet.Sealer, cfg Config, log *slog.Logger) *Service {
	if cfg.Token == "" {
		cfg.Token = "USDC"
	}
	if cfg.Decimals == 0 {
		cfg.Decimals = policy.USDCDecimals
	}
	if cfg.ApprovalTTL <= 0 {
		cfg.ApprovalTTL = 30 * time.Minute
	}
	if cfg.MaxExpiry <= 0 {
		cfg.MaxExpiry = 90 * 24 * time.Hour
	}
	if cfg.PayWait <= 0 {
		cfg.PayWait = 30 * time.Second
	}
	if cfg.RPCTimeout <= 0 {
		cfg.RPCTimeout = 5 * time.Second
	}
	if cfg.AttachGrace <= 0 {
		cfg.AttachGrace = time.Minute
	}
	if cfg.SecretGrace <= 0 {
		cfg.SecretGrace = 30 * 24 * time.Hour
	}
	if cfg.Cluster == "" {
		cfg.Cluster = "solana:localnet"
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Domain == "" {
		cfg.Domain = strings.TrimPrefix(strings.TrimPrefix(cfg.PublicURL, "https://"), "http://")
	}
	if log == nil {
		log = slog.Default()
	}
	if len(cfg.Tokens) == 0 && chain != nil {
		cfg.Tokens = []Token{{Symbol: cfg.Token, Decimals: cfg.Decimals, Chain: chain}}
	}
	cfg.Tokens = append([]Token(nil), cfg.Tokens...)
	for i, t := range cfg.Tokens {
		if t.Decimals == 0 && t.Chain != nil {
			cfg.Tokens[i].Decimals = int32(t.Chain.Decimals())
		}
	}
	if len(cfg.Tokens) > 0 {
		cfg.Token, cfg.Decimals = cfg.Tokens[0].Symbol, cfg.Tokens[0].Decimals
	}
	svc := &Service{store: store, chain: chain, sealer: sealer, cfg: cfg, log: log, subs: map[int]func(Change){}}
	if chain != nil {
		svc.blockhash = wallet.NewBlockhashCache(chain, 10*time.Second)
	}
	return svc
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// ParseAmount parses an amount in token units (a JSON string or number).
func (s *Service) ParseAmount(raw []byte) (policy.Amount, error) {
	return policy.ParseAmountJSON(raw, s.cfg.Decimals)
}

// Format writes an amount in token units.
func (s *Service) Format(a policy.Amount) string { return a.Format(s.cfg.Decimals) }

// Wait blocks until in-flight payments and approvals have finished, or ctx ends.
func (s *Service) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Change tells subscribers that a session key or an approval changed.
type Change struct {
	SessionKeyID  string
	ApprovalToken string
	Status        string
}

// Subscribe calls fn after every change; the returned func unsubscribes.
func (s *Service) Subscribe(fn func(Change)) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs, id)
	}
}

func (s *Service) notify(c Change) {
	s.mu.Lock()
	fns := make([]func(Change), 0, len(s.subs))
	for _, fn := range s.subs {
		fns = append(fns, fn)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(c)
	}
}

// parseWallet parses a base58 wallet address given for param.
func parseWallet(addr, param string) (solana.PublicKey, error) {
	pk, err := solana.PublicKeyFromBase58(strings.TrimSpace(addr))
	if err != nil || addr == "" {
		return solana.PublicKey{}, policy.Errorf(policy.CodeInvalidArgument, param, "%s is not a valid Solana address", param)
	}
	return pk, nil
}

// chainErr turns a chain failure into an unavailable error that says nothing
// changed and names the dependency, never its URL; the failure itself is
// kept as the Cause, for the log.
func chainErr(what string, err error) error {
	return &policy.Error{Code: policy.CodeUnavailable, Cause: err,
		Message: fmt.Sprintf("%s: %s; nothing was changed, try again", what, dependencyFailed(err))}
}

// dependencyFailed says in words which dependency failed, without its URL or
// what it answered.
func dependencyFailed(err error) string {
	var fault *wallet.RPCFault
	switch {
	case errors.As(err, &fault):
		return "the Solana RPC did not answer"
	case isStoreFault(err):
		return "the Redis store did not answer"
	}
	return "the Solana network did not accept it"
}

// isStoreFault reports whether err is a failure to reach Redis.
func isStoreFault(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout)
}

// PublicText is what an agent, the owner or the operator's client may read of
// a failure that is not a coded refusal: which dependency failed, never its
// URL, address or raw answer.
func PublicText(err error) string {
	if err == nil {
		return ""
	}
	var pe *policy.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	var fault *wallet.RPCFault
	if errors.As(err, &fault) || isStoreFault(err) {
		return dependencyFailed(err)
	}
	return "internal error; see the server log"
}

// RunBlockhash keeps the shared blockhash fresh until ctx ends.
func (s *Service) RunBlockhash(ctx context.Context, interval time.Duration) {
	if s.blockhash != nil {
		s.blockhash.Run(ctx, interval)
	}
}

func isCoded(err error) bool {
	var e *policy.Error
	return errors.As(err, &e)
}

func rfc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
