package stipend

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/stipend/stipend/wallet"
	"github.com/stipend/stipend/web"
	"github.com/stipend/stipend/webhook"
)

// Config is the server's configuration: defaults, then the YAML file, then
// STIPEND_* environment variables, then flags (flags win).
type Config struct {
	Listen            string          `yaml:"listen"`
	PublicURL         string          `yaml:"public_url"`
	RedisURL          string          `yaml:"redis_url"`
	RedisCluster      bool            `yaml:"redis_cluster"`
	RedisPrefix       string          `yaml:"redis_prefix"`
	RPCURL            string          `yaml:"rpc_url"`
	Commitment        string          `yaml:"commitment"`
	Mint              string          `yaml:"mint"`
	Decimals          int             `yaml:"decimals"`
	Token             string          `yaml:"token"`
	TokenProgram      string          `yaml:"token_program"`
	Tokens            []TokenConfig   `yaml:"tokens"`
	Cluster           string          `yaml:"cluster"`
	FeePayer          string          `yaml:"fee_payer"`
	MasterKeys        []string        `yaml:"master_keys"`
	MasterKeyCurrent  string          `yaml:"master_key_current"`
	APIKeys           []APIKeyConfig  `yaml:"api_keys"`
	AdminTokenSHA256  string          `yaml:"admin_token_sha256"`
	StdioAgentID      string          `yaml:"stdio_agent_id"`
	ApprovalTTL       time.Duration   `yaml:"approval_ttl"`
	IdempotencyWindow time.Duration   `yaml:"idempotency_window"`
	AuditFile         string          `yaml:"audit_file"`
	MaxExpiry         time.Duration   `yaml:"max_expiry"`
	RiskThreshold     int             `yaml:"risk_threshold"`
	SweepInterval     time.Duration   `yaml:"sweep_interval"`
	ReconcileInterval time.Duration   `yaml:"reconcile_interval"`
	PayWait           time.Duration   `yaml:"pay_wait"`
	SecretGrace       time.Duration   `yaml:"secret_grace"`
	RecoveryGrace     time.Duration   `yaml:"recovery_grace"`
	ShutdownTimeout   time.Duration   `yaml:"shutdown_timeout"`
	AllowNonLocalHost bool            `yaml:"allow_non_local_host"`
	Webhooks          []WebhookConfig `yaml:"webhooks"`
	LogLevel          string          `yaml:"log_level"`
	LogFormat         string          `yaml:"log_format"`

	// More RPC endpoints, and the bound of one call to one of them.
	RPCFallbackURLs []string      `yaml:"rpc_fallback_urls"`
	RPCTimeout      time.Duration `yaml:"rpc_timeout"`
	WSURL           string        `yaml:"ws_url"`
	// The compute budget every transaction carries: its unit price is this
	// percentile of the recent prioritization fees of the accounts it writes,
	// at most PriorityFeeMax micro-lamports a compute unit; its unit limit is
	// the simulated use plus ComputeUnitMargin percent.
	PriorityFeePercentile int           `yaml:"priority_fee_percentile"`
	PriorityFeeMax        uint64        `yaml:"priority_fee_max_micro_lamports"`
	ComputeUnitMargin     int           `yaml:"compute_unit_margin_percent"`
	AllowedOrigins        []string      `yaml:"allowed_origins"`
	MaxStreamsPerAgent    int           `yaml:"max_streams_per_agent"`
	MCPSessionTTL         time.Duration `yaml:"mcp_session_ttl"`
	// fetch_paid (x402): the network whose offers are paid, and whether private addresses may be reached.
	X402Network      string `yaml:"x402_network"`
	X402AllowPrivate bool   `yaml:"x402_allow_private"`
}

// APIKeyConfig is an agent's API key, stored as its SHA-256 (hex).
type APIKeyConfig struct {
	AgentID   string `yaml:"agent_id"`
	KeySHA256 string `yaml:"key_sha256"`
}

// WebhookConfig is a webhook receiver.
type WebhookConfig struct {
	Name   string   `yaml:"name"`
	URL    string   `yaml:"url"`
	Secret string   `yaml:"secret"`
	Events []string `yaml:"events"`
	// Timeout of one attempt (default 10s), RetryWindow after the first
	// failure before the dead-letter stream (default 72h), Slots: requests
	// in flight per replica (default 8).
	Timeout     time.Duration `yaml:"timeout"`
	RetryWindow time.Duration `yaml:"retry_window"`
	Slots       int           `yaml:"slots"`
}

// DefaultConfig is the configuration before any file, env or flag.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		RedisPrefix:     "stipend",
		Commitment:      "confirmed",
		Decimals:        6,
		Token:           "USDC",
		Cluster:         "solana:mainnet",
		StdioAgentID:    "stdio",
		ApprovalTTL:     30 * time.Minute,
		MaxExpiry:       90 * 24 * time.Hour,
		SweepInterval:   30 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		LogLevel:        "info",
		LogFormat:       "text",

		RPCTimeout:            wallet.DefaultRPCTimeout,
		PriorityFeePercentile: wallet.DefaultFeePercentile,
		PriorityFeeMax:        wallet.DefaultMaxUnitPrice,
		ComputeUnitMargin:     wallet.DefaultUnitMargin,
		MaxStreamsPerAgent:    8,
		MCPSessionTTL:         24 * time.Hour,
		IdempotencyWindow:     30 * 24 * time.Hour,
		ReconcileInterval:     10 * time.Minute,
		PayWait:               30 * time.Second,
		SecretGrace:           30 * 24 * time.Hour,
		RecoveryGrace:         time.Minute,
	}
}

// Setting is one configuration key settable from env and flags (the file
// sets every key through the YAML struct).
type Setting struct {
	Key   string // YAML key, also the name in errors
	Flag  string // flag name; "" = not a flag
	Usage string
	set   func(c *Config, v string) error
}

// Env is the environment variable of a setting.
func (s Setting) Env() string { return "STIPEND_" + strings.ToUpper(s.Key) }

// Settings are the keys env and flags can set, in the order of the help text.
func Settings() []Setting { return slices.Clone(settings) }

func str(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

func list(dst func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		*dst(c) = splitList(v)
		return nil
	}
}

func integer(dst func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*dst(c) = n
		return nil
	}
}

func duration(dst func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 30s, 15m or 24h", v)
		}
		*dst(c) = d
		return nil
	}
}

func boolean(dst func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*dst(c) = b
		return nil
	}
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// settings are the keys env and flags can set.
var settings = []Setting{
	{"listen", "listen", "HTTP address of the approval pages, admin API and metrics (\"off\" in stdio mode: none)", str(func(c *Config) *string { return &c.Listen })},
	{"public_url", "public-url", "base URL of the approval links people open (default http://<listen>)", str(func(c *Config) *string { return &c.PublicURL })},
	{"redis_url", "redis-url", "Redis URL (redis://, rediss://, unix://); empty: embedded in-memory store, lost on restart", str(func(c *Config) *string { return &c.RedisURL })},
	{"redis_cluster", "redis-cluster", "redis_url names a Redis Cluster (more seed nodes as ?addr=host:port&addr=...)", boolean(func(c *Config) *bool { return &c.RedisCluster })},
	{"redis_prefix", "redis-prefix", "prefix of every Redis key", str(func(c *Config) *string { return &c.RedisPrefix })},
	{"rpc_url", "rpc-url", "Solana JSON-RPC URL", str(func(c *Config) *string { return &c.RPCURL })},
	{"rpc_fallback_urls", "rpc-fallback-urls", "comma-separated further JSON-RPC URLs, tried in order when rpc_url fails", list(func(c *Config) *[]string { return &c.RPCFallbackURLs })},
	{"rpc_timeout", "rpc-timeout", "bound of one RPC call to one endpoint; past it the next endpoint is tried", duration(func(c *Config) *time.Duration { return &c.RPCTimeout })},
	{"ws_url", "ws-url", "optional PubSub websocket (ws:// or wss://): confirmations wait on signatureSubscribe instead of polling", str(func(c *Config) *string { return &c.WSURL })},
	{"priority_fee_percentile", "priority-fee-percentile", "percentile (1-100) of recent prioritization fees every transaction bids", integer(func(c *Config) *int { return &c.PriorityFeePercentile })},
	{"priority_fee_max_micro_lamports", "priority-fee-max-micro-lamports", "cap on the compute-unit price, in micro-lamports", func(c *Config, v string) error {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number of micro-lamports", v)
		}
		c.PriorityFeeMax = n
		return nil
	}},
	{"compute_unit_margin_percent", "compute-unit-margin-percent", "percent added to the simulated compute units of a transaction", integer(func(c *Config) *int { return &c.ComputeUnitMargin })},
	{"commitment", "commitment", "processed, confirmed or finalized", str(func(c *Config) *string { return &c.Commitment })},
	{"mint", "mint", "token mint address (USDC)", str(func(c *Config) *string { return &c.Mint })},
	{"decimals", "decimals", "the token's decimals", integer(func(c *Config) *int { return &c.Decimals })},
	{"token", "token", "token symbol shown to people", str(func(c *Config) *string { return &c.Token })},
	{"token_program", "token-program", "the mint's token program: spl-token (default) or token-2022 (e.g. PYUSD), or its address", str(func(c *Config) *string { return &c.TokenProgram })},
	{"cluster", "cluster", "Wallet Standard chain: solana:mainnet, solana:devnet, solana:testnet or solana:localnet", str(func(c *Config) *string { return &c.Cluster })},
	{"fee_payer", "", "base58 secret key of the gasless fee payer (optional; env or file only)", str(func(c *Config) *string { return &c.FeePayer })},
	{"master_keys", "master-keys", "comma-separated kid:base64 master keys sealing the session keys", list(func(c *Config) *[]string { return &c.MasterKeys })},
	{"master_key_current", "master-key-current", "key id that seals new keys (default: the only one)", str(func(c *Config) *string { return &c.MasterKeyCurrent })},
	{"api_keys", "api-keys", "comma-separated agent_id:sha256hex of the agents' API keys", func(c *Config, v string) error {
		c.APIKeys = nil
		for _, p := range splitList(v) {
			agent, sum, ok := strings.Cut(p, ":")
			if !ok {
				return fmt.Errorf("%q is not agent_id:sha256hex", p)
			}
			c.APIKeys = append(c.APIKeys, APIKeyConfig{AgentID: agent, KeySHA256: sum})
		}
		return nil
	}},
	{"admin_token_sha256", "admin-token-sha256", "SHA-256 (hex) of the admin token; empty: admin API off", str(func(c *Config) *string { return &c.AdminTokenSHA256 })},
	{"stdio_agent_id", "stdio-agent-id", "agent id of the stdio MCP client", str(func(c *Config) *string { return &c.StdioAgentID })},
	{"approval_ttl", "approval-ttl", "how long an approval link lives", duration(func(c *Config) *time.Duration { return &c.ApprovalTTL })},
	{"idempotency_window", "idempotency-window", "how long idempotency keys and settled payments stay in Redis", duration(func(c *Config) *time.Duration { return &c.IdempotencyWindow })},
	{"audit_file", "audit-file", "the audit sink: an append-only, hash-chained JSON-lines file audit entries move to from Redis (rotated at 64 MiB); default $XDG_STATE_HOME/stipend/audit-<redis_prefix>.jsonl (~/.local/state without XDG_STATE_HOME; none with the embedded store); off: they stay in Redis", str(func(c *Config) *string { return &c.AuditFile })},
	{"max_expiry", "max-expiry", "the longest a key or session may live", duration(func(c *Config) *time.Duration { return &c.MaxExpiry })},
	{"risk_threshold", "risk-threshold", "payments with a risk score above it need the owner (0-100; 0 = off)", integer(func(c *Config) *int { return &c.RiskThreshold })},
	{"sweep_interval", "sweep-interval", "how often expired keys are swept", duration(func(c *Config) *time.Duration { return &c.SweepInterval })},
	{"reconcile_interval", "reconcile-interval", "how often one replica checks every key's balance against the ledger", duration(func(c *Config) *time.Duration { return &c.ReconcileInterval })},
	{"pay_wait", "pay-wait", "how long pay waits for confirmation before answering pending", duration(func(c *Config) *time.Duration { return &c.PayWait })},
	{"secret_grace", "secret-grace", "how long a key's sealed secret is kept after its zero balance is confirmed", duration(func(c *Config) *time.Duration { return &c.SecretGrace })},
	{"recovery_grace", "recovery-grace", "how old an unfinished payment or approval submission must be before recovery takes its process for dead", duration(func(c *Config) *time.Duration { return &c.RecoveryGrace })},
	{"shutdown_timeout", "shutdown-timeout", "how long shutdown waits for in-flight payments", duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{"allow_non_local_host", "allow-non-local-host", "accept MCP requests on a loopback connection with a non-loopback Host (reverse proxy)", boolean(func(c *Config) *bool { return &c.AllowNonLocalHost })},
	{"allowed_origins", "allowed-origins", "comma-separated browser origins (scheme://host[:port]) besides public_url's that may call /mcp, /sse, /message", list(func(c *Config) *[]string { return &c.AllowedOrigins })},
	{"max_streams_per_agent", "max-streams-per-agent", "how many MCP streams (GET /mcp, /sse) one agent may hold open (beyond: 429)", integer(func(c *Config) *int { return &c.MaxStreamsPerAgent })},
	{"mcp_session_ttl", "mcp-session-ttl", "how long an idle MCP session lives (kept in Redis)", duration(func(c *Config) *time.Duration { return &c.MCPSessionTTL })},
	{"log_level", "log-level", "debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel })},
	{"log_format", "log-format", "text or json (logs go to stderr)", str(func(c *Config) *string { return &c.LogFormat })},
	{"x402_network", "x402-network", "CAIP-2 network of the x402 offers fetch_paid pays (default: the cluster's, e.g. solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp)", str(func(c *Config) *string { return &c.X402Network })},
	{"x402_allow_private", "x402-allow-private", "let fetch_paid reach loopback, private and link-local addresses (tests, private deployments)", boolean(func(c *Config) *bool { return &c.X402AllowPrivate })},
}

// LoadConfig builds the configuration: defaults, then the YAML file (path,
// or STIPEND_CONFIG when path is empty), then STIPEND_* environment
// variables, then flags (flags maps a flag name to its value; flags win).
func LoadConfig(path string, getenv func(string) string, flags map[string]string) (Config, error) {
	c := DefaultConfig()
	if path == "" {
		path = getenv("STIPEND_CONFIG")
	}
	if path != "" {
		if err := loadFile(path, &c); err != nil {
			return c, err
		}
	}
	for _, s := range settings {
		if v, ok := lookup(getenv, s.Env()); ok {
			if err := s.set(&c, v); err != nil {
				return c, fmt.Errorf("config: %s (env %s): %w", s.Key, s.Env(), err)
			}
		}
	}
	for _, s := range settings {
		if v, ok := flags[s.Flag]; ok && s.Flag != "" {
			if err := s.set(&c, v); err != nil {
				return c, fmt.Errorf("config: %s (flag --%s): %w", s.Key, s.Flag, err)
			}
		}
	}
	return c, nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// loadFile reads a YAML file over c; unknown keys are errors.
func loadFile(path string, c *Config) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: file: %w", err)
	}
	defer func() { _ = f.Close() }() // a file only read: its close has nothing to tell
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: file %s: %w", path, err)
	}
	return nil
}

// Runtime is a checked configuration, parsed into what the server runs on.
type Runtime struct {
	Config
	Redis        *redis.Options        // standalone Redis; nil with RedisCluster nil: embedded
	RedisCluster *redis.ClusterOptions // Redis Cluster
	Mint         solana.PublicKey
	TokenProgram solana.PublicKey // SPL Token or Token-2022
	Tokens       []RuntimeToken   // the tokens offered, the default first (the one of mint when tokens is empty)
	FeePayer     *wallet.Keypair
	Sealer       *wallet.Sealer
	APIKeys      []web.APIKey
	AdminToken   *[32]byte
	Webhooks     webhook.Config
	PublicURL    string
	Commitment   string
	ListenOff    bool
}

var (
	clusterRE = regexp.MustCompile(`^solana:(mainnet|devnet|testnet|localnet)$`)
	agentRE   = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,128}$`)

	x402NetworkRE = regexp.MustCompile(`^solana:[1-9A-HJ-NP-Za-km-z]{32}$`)
)

// Check validates every setting, naming the first bad one: "config: <key>: …".
func (c Config) Check() (*Runtime, error) {
	rt := &Runtime{Config: c}
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...))
	}
	if c.Listen == "off" {
		rt.ListenOff = true
	} else if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		return nil, bad("listen", "%q is not host:port (such as 127.0.0.1:8080 or :8080)", c.Listen)
	}
	rt.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if rt.PublicURL == "" && !rt.ListenOff {
		host, port, _ := net.SplitHostPort(c.Listen)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		rt.PublicURL = "http://" + net.JoinHostPort(host, port)
	}
	if rt.PublicURL != "" {
		u, err := url.Parse(rt.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, bad("public_url", "%q is not an http(s) base URL such as https://pay.example.com", c.PublicURL)
		}
	}
	switch {
	case c.RedisURL != "" && c.RedisCluster:
		o, err := redis.ParseClusterURL(c.RedisURL)
		if err != nil {
			return nil, bad("redis_url", "%v", redactErr(err, c.RedisURL))
		}
		rt.RedisCluster = o
	case c.RedisURL != "":
		o, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return nil, bad("redis_url", "%v", redactErr(err, c.RedisURL))
		}
		rt.Redis = o
	case c.RedisCluster:
		return nil, bad("redis_cluster", "needs redis_url (a seed node of the cluster)")
	}
	if c.RedisPrefix == "" || strings.ContainsAny(c.RedisPrefix, "{} \t\n") {
		return nil, bad("redis_prefix", "must be non-empty, without braces or spaces")
	}
	switch c.Commitment {
	case "processed", "confirmed", "finalized":
	default:
		return nil, bad("commitment", "%q: want processed, confirmed or finalized", c.Commitment)
	}
	rt.Commitment = c.Commitment
	if c.Decimals < 0 || c.Decimals > 18 {
		return nil, bad("decimals", "%d: want 0 to 18", c.Decimals)
	}
	if c.Token == "" || len(c.Token) > 16 {
		return nil, bad("token", "want a symbol of 1 to 16 characters")
	}
	if !clusterRE.MatchString(c.Cluster) {
		return nil, bad("cluster", "%q: want solana:mainnet, solana:devnet, solana:testnet or solana:localnet", c.Cluster)
	}
	if c.RPCURL == "" {
		return nil, bad("rpc_url", "required (e.g. https://api.mainnet-beta.solana.com)")
	}
	if u, err := url.Parse(c.RPCURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, bad("rpc_url", "%s is not an http(s) URL", wallet.RedactURL(c.RPCURL))
	}
	for _, f := range c.RPCFallbackURLs {
		if u, err := url.Parse(f); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, bad("rpc_fallback_urls", "%q is not an http(s) URL", f)
		}
	}
	if c.WSURL != "" {
		if u, err := url.Parse(c.WSURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return nil, bad("ws_url", "%q is not a ws(s) URL", c.WSURL)
		}
	}
	if len(c.Tokens) > 0 {
		if err := checkTokens(c, rt, bad); err != nil {
			return nil, err
		}
	} else if c.Mint == "" {
		return nil, bad("mint", "required (USDC on mainnet: EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v)")
	}
	if len(c.Tokens) == 0 {
		m, err := solana.PublicKeyFromBase58(c.Mint)
		if err != nil {
			return nil, bad("mint", "%q is not a base58 Solana address", c.Mint)
		}
		rt.Mint = m
		if rt.TokenProgram, err = tokenProgram(c.TokenProgram); err != nil {
			return nil, bad("token_program", "%v", err)
		}
		rt.Tokens = []RuntimeToken{{Symbol: c.Token, Mint: rt.Mint, Decimals: c.Decimals, TokenProgram: rt.TokenProgram}}
	}
	if len(c.MasterKeys) == 0 {
		return nil, bad("master_keys", "required: at least one kid:base64 key (make one with: stipend keygen)")
	}
	current := c.MasterKeyCurrent
	if current == "" {
		if len(c.MasterKeys) > 1 {
			return nil, bad("master_key_current", "required when there are several master keys")
		}
		current, _, _ = strings.Cut(strings.TrimSpace(c.MasterKeys[0]), ":")
	}
	s, err := wallet.ParseSealer(current, c.MasterKeys)
	if err != nil {
		key := "master_keys"
		if strings.Contains(err.Error(), "current key id") {
			key = "master_key_current"
		}
		return nil, bad(key, "%v", err)
	}
	rt.Sealer = s
	if c.RPCTimeout < 100*time.Millisecond || c.RPCTimeout > 5*time.Minute {
		return nil, bad("rpc_timeout", "%s: want 100ms to 5m", c.RPCTimeout)
	}
	if p := c.PriorityFeePercentile; p < 1 || p > 100 {
		return nil, bad("priority_fee_percentile", "%d: want 1 to 100", p)
	}
	if m := c.PriorityFeeMax; m < 1 || m > 1_000_000_000 {
		return nil, bad("priority_fee_max_micro_lamports", "%d: want 1 to 1000000000 micro-lamports a compute unit", m)
	}
	if m := c.ComputeUnitMargin; m < 1 || m > 1000 {
		return nil, bad("compute_unit_margin_percent", "%d: want 1 to 1000", m)
	}
	if c.FeePayer != "" {
		kp, err := wallet.KeypairFromBase58(strings.TrimSpace(c.FeePayer))
		if err != nil {
			return nil, bad("fee_payer", "not a base58 secret key") // never echo the secret
		}
		rt.FeePayer = kp
	}
	seenAgent := map[string]bool{}
	seenKey := map[string]bool{}
	for i, k := range c.APIKeys {
		if !agentRE.MatchString(k.AgentID) {
			return nil, bad("api_keys", "entry %d: agent_id %q must be 1-128 characters of letters, digits and ._:@-", i+1, k.AgentID)
		}
		sum, err := hex32(k.KeySHA256)
		if err != nil {
			return nil, bad("api_keys", "entry %d (%s): key_sha256 %v", i+1, k.AgentID, err)
		}
		if seenKey[k.KeySHA256] {
			return nil, bad("api_keys", "entry %d (%s): the same key is given twice", i+1, k.AgentID)
		}
		seenKey[k.KeySHA256] = true
		seenAgent[k.AgentID] = true
		rt.APIKeys = append(rt.APIKeys, web.APIKey{AgentID: k.AgentID, SHA256: sum})
	}
	if c.AdminTokenSHA256 != "" {
		sum, err := hex32(c.AdminTokenSHA256)
		if err != nil {
			return nil, bad("admin_token_sha256", "%v", err)
		}
		rt.AdminToken = &sum
	}
	if !agentRE.MatchString(c.StdioAgentID) {
		return nil, bad("stdio_agent_id", "%q must be 1-128 characters of letters, digits and ._:@-", c.StdioAgentID)
	}
	if c.ApprovalTTL < time.Minute || c.ApprovalTTL > 7*24*time.Hour {
		return nil, bad("approval_ttl", "%s: want 1m to 168h", c.ApprovalTTL)
	}
	if c.IdempotencyWindow < time.Hour || c.IdempotencyWindow > 366*24*time.Hour {
		return nil, bad("idempotency_window", "%s: want 1h to 8784h", c.IdempotencyWindow)
	}
	if c.MaxExpiry < time.Hour || c.MaxExpiry > 366*24*time.Hour {
		return nil, bad("max_expiry", "%s: want 1h to 8784h", c.MaxExpiry)
	}
	if c.X402Network != "" && !x402NetworkRE.MatchString(c.X402Network) {
		return nil, bad("x402_network", "%q: want a Solana CAIP-2 id, solana:<first 32 characters of the genesis hash>", c.X402Network)
	}
	if c.RiskThreshold < 0 || c.RiskThreshold > 100 {
		return nil, bad("risk_threshold", "%d: want 0 (off) to 100", c.RiskThreshold)
	}
	if c.SweepInterval < time.Second || c.SweepInterval > time.Hour {
		return nil, bad("sweep_interval", "%s: want 1s to 1h", c.SweepInterval)
	}
	if c.ReconcileInterval < 10*time.Second || c.ReconcileInterval > 24*time.Hour {
		return nil, bad("reconcile_interval", "%s: want 10s to 24h", c.ReconcileInterval)
	}
	if c.PayWait < time.Second || c.PayWait > 5*time.Minute {
		return nil, bad("pay_wait", "%s: want 1s to 5m", c.PayWait)
	}
	if c.SecretGrace < 0 || c.SecretGrace > 366*24*time.Hour {
		return nil, bad("secret_grace", "%s: want 0s to 8784h", c.SecretGrace)
	}
	if c.RecoveryGrace < time.Second || c.RecoveryGrace > time.Hour {
		return nil, bad("recovery_grace", "%s: want 1s to 1h", c.RecoveryGrace)
	}
	if c.ShutdownTimeout < time.Second || c.ShutdownTimeout > 10*time.Minute {
		return nil, bad("shutdown_timeout", "%s: want 1s to 10m", c.ShutdownTimeout)
	}
	for _, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || o == "*" {
			return nil, bad("allowed_origins", "%q is not an origin (scheme://host[:port]); wildcards are not allowed", o)
		}
	}
	if c.MaxStreamsPerAgent < 1 || c.MaxStreamsPerAgent > 1000 {
		return nil, bad("max_streams_per_agent", "%d: want 1 to 1000", c.MaxStreamsPerAgent)
	}
	if c.MCPSessionTTL < time.Minute || c.MCPSessionTTL > 30*24*time.Hour {
		return nil, bad("mcp_session_ttl", "%s: want 1m to 720h", c.MCPSessionTTL)
	}
	names := map[string]bool{}
	for i, w := range c.Webhooks {
		if w.Name == "" {
			return nil, bad("webhooks", "entry %d has no name", i+1)
		}
		if names[w.Name] {
			return nil, bad("webhooks", "the name %q is used twice", w.Name)
		}
		names[w.Name] = true
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, bad("webhooks", "%s: url %q is not an http(s) URL", w.Name, w.URL)
		}
		if w.Secret == "" {
			return nil, bad("webhooks", "%s: secret is required (it signs the requests)", w.Name)
		}
		if w.Timeout != 0 && (w.Timeout < 100*time.Millisecond || w.Timeout > 5*time.Minute) {
			return nil, bad("webhooks", "%s: timeout %s: want 100ms to 5m", w.Name, w.Timeout)
		}
		if w.RetryWindow != 0 && (w.RetryWindow < time.Minute || w.RetryWindow > 30*24*time.Hour) {
			return nil, bad("webhooks", "%s: retry_window %s: want 1m to 720h", w.Name, w.RetryWindow)
		}
		if w.Slots < 0 || w.Slots > 1024 {
			return nil, bad("webhooks", "%s: slots %d: want 1 to 1024", w.Name, w.Slots)
		}
		rt.Webhooks.Endpoints = append(rt.Webhooks.Endpoints, webhook.Endpoint{Name: w.Name, URL: w.URL, Secret: w.Secret, Events: w.Events,
			Timeout: w.Timeout, RetryWindow: w.RetryWindow, Slots: w.Slots})
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		return nil, bad("log_level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, bad("log_format", "%q: want text or json", c.LogFormat)
	}
	return rt, nil
}

// hex32 parses a 64-digit hex SHA-256.
func hex32(s string) ([32]byte, error) {
	var out [32]byte
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return out, errors.New("must be a SHA-256 in 64 hex digits (see stipend keygen)")
	}
	copy(out[:], b)
	return out, nil
}

// redactErr keeps a password in a URL out of an error message.
func redactErr(err error, raw string) string {
	msg := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// TokenConfig is one token of the configuration's tokens list.
type TokenConfig struct {
	Symbol       string `yaml:"symbol"`
	Mint         string `yaml:"mint"`
	Decimals     *int   `yaml:"decimals"`
	TokenProgram string `yaml:"token_program"`
}

// RuntimeToken is one checked token: a key created with its symbol holds it.
type RuntimeToken struct {
	Symbol       string
	Mint         solana.PublicKey
	Decimals     int
	TokenProgram solana.PublicKey
}

// tokenProgram parses a token_program setting: spl-token (the default),
// token-2022, or either program's address.
func tokenProgram(s string) (solana.PublicKey, error) {
	switch s {
	case "", "spl-token", solana.TokenProgramID.String():
		return solana.TokenProgramID, nil
	case "token-2022", solana.Token2022ProgramID.String():
		return solana.Token2022ProgramID, nil
	}
	return solana.PublicKey{}, fmt.Errorf("%q: want spl-token or token-2022", s)
}

// checkTokens checks the tokens list into rt.Tokens; the first is the
// default, and also fills rt's single-token settings (mint, decimals, token,
// token_program) so that what reads those sees it. The list and the single
// mint setting are exclusive.
func checkTokens(c Config, rt *Runtime, bad func(key, format string, args ...any) error) error {
	if c.Mint != "" || c.TokenProgram != "" {
		return bad("tokens", "give either tokens or mint/token_program, not both")
	}
	seenSym, seenMint := map[string]bool{}, map[solana.PublicKey]bool{}
	for i, t := range c.Tokens {
		at := func(field string) string { return fmt.Sprintf("tokens[%d].%s", i, field) }
		if t.Symbol == "" || len(t.Symbol) > 16 || strings.ContainsAny(t.Symbol, " \t\n,") {
			return bad(at("symbol"), "%q: want a symbol of 1 to 16 characters without spaces or commas", t.Symbol)
		}
		if seenSym[strings.ToUpper(t.Symbol)] {
			return bad(at("symbol"), "%s is listed twice", t.Symbol)
		}
		seenSym[strings.ToUpper(t.Symbol)] = true
		m, err := solana.PublicKeyFromBase58(t.Mint)
		if err != nil || t.Mint == "" {
			return bad(at("mint"), "%q is not a base58 Solana address", t.Mint)
		}
		if seenMint[m] {
			return bad(at("mint"), "%s is listed twice", t.Mint)
		}
		seenMint[m] = true
		if t.Decimals == nil {
			return bad(at("decimals"), "required (USDC and PYUSD: 6)")
		}
		if *t.Decimals < 0 || *t.Decimals > 18 {
			return bad(at("decimals"), "%d: want 0 to 18", *t.Decimals)
		}
		p, err := tokenProgram(t.TokenProgram)
		if err != nil {
			return bad(at("token_program"), "%v", err)
		}
		rt.Tokens = append(rt.Tokens, RuntimeToken{Symbol: t.Symbol, Mint: m, Decimals: *t.Decimals, TokenProgram: p})
	}
	first := rt.Tokens[0]
	rt.Mint, rt.Decimals, rt.Token, rt.TokenProgram = first.Mint, first.Decimals, first.Symbol, first.TokenProgram
	return nil
}
