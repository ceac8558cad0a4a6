package wallet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultCommitment is the commitment used when Config.Commitment is empty.
	DefaultCommitment = rpc.CommitmentConfirmed
	// DefaultConfirmTimeout is how long Confirm waits when Config.ConfirmTimeout is zero.
	DefaultConfirmTimeout = 60 * time.Second
	// DefaultKeyFeeLamports is the SOL a funding transaction gives a key for its
	// own costs when no fee payer is configured: 0.01 SOL. A payment to a
	// recipient without a token account costs that account's rent (0.00203928
	// SOL) besides the fee (5000 lamports and the priority fee, at most
	// MaxUnitPrice × the unit limit), so this covers four such payments or
	// hundreds to recipients that have one. Set KeyFeeLamports for more; a
	// sweep returns what is left.
	DefaultKeyFeeLamports = 10_000_000
	// LamportsPerSignature is Solana's base fee per signature. A transaction's
	// whole fee adds its priority fee (see Budget).
	LamportsPerSignature = 5000
)

// pollInterval is how often Confirm polls signature statuses, and
// resendInterval how often SendAndConfirm rebroadcasts a transaction that has
// not landed yet.
const (
	pollInterval   = 250 * time.Millisecond
	resendInterval = 2 * time.Second
)

// Config configures a Chain.
type Config struct {
	RPCURL         string             // JSON-RPC endpoint of the cluster
	Commitment     rpc.CommitmentType // commitment for reads and confirmation; default confirmed
	Mint           solana.PublicKey   // the SPL token mint (USDC)
	Decimals       uint8              // the mint's decimals, checked by TransferChecked
	TokenProgram   solana.PublicKey   // the mint's token program: SPL Token (default) or Token-2022
	FeePayer       *Keypair           // optional: pays network fees and rent of payments (gasless)
	ConfirmTimeout time.Duration      // how long Confirm waits; default 60s
	KeyFeeLamports uint64             // SOL a funding tx gives the key when FeePayer is nil; default DefaultKeyFeeLamports
	Logger         *slog.Logger       // optional; default slog.Default()

	// Compute budget of every transaction built (see Budget).
	FeePercentile int    // percentile (1-100) of recent prioritization fees to bid; default DefaultFeePercentile
	MaxUnitPrice  uint64 // cap on the unit price in micro-lamports; default DefaultMaxUnitPrice
	UnitMargin    int    // percent added to simulated compute units; default DefaultUnitMargin

	// RPC providers (see rpc_client.go).
	FallbackRPCURLs []string      // further endpoints tried in order when RPCURL fails
	RPCTimeout      time.Duration // bound of one RPC call to one endpoint; default DefaultRPCTimeout
	// WSURL is an optional PubSub endpoint (ws:// or wss://): confirmation
	// then waits on signatureSubscribe and polls only every 2s as a safety
	// net; without it, or when it fails, confirmation polls every 250ms.
	WSURL string
}

// Chain builds, sends and confirms stipend's transactions on one Solana
// cluster for one token mint. It is safe for concurrent use.
type Chain struct {
	cfg      Config
	rpc      *rpc.Client
	log      *slog.Logger
	statuses *statusBatcher
	pubsub   *pubsub // nil without Config.WSURL
}

// New returns a Chain for cfg after checking it.
func New(cfg Config) (*Chain, error) {
	if cfg.RPCURL == "" {
		return nil, fmt.Errorf("%w: RPCURL is empty", ErrConfig)
	}
	if cfg.Mint.IsZero() {
		return nil, fmt.Errorf("%w: Mint is empty", ErrConfig)
	}
	switch {
	case cfg.TokenProgram.IsZero():
		cfg.TokenProgram = solana.TokenProgramID
	case cfg.TokenProgram.Equals(solana.TokenProgramID), cfg.TokenProgram.Equals(solana.Token2022ProgramID):
	default:
		return nil, fmt.Errorf("%w: token program %s is neither SPL Token nor Token-2022", ErrConfig, cfg.TokenProgram)
	}
	switch cfg.Commitment {
	case "":
		cfg.Commitment = DefaultCommitment
	case rpc.CommitmentProcessed, rpc.CommitmentConfirmed, rpc.CommitmentFinalized:
	default:
		return nil, fmt.Errorf("%w: commitment %q (want processed, confirmed or finalized)", ErrConfig, cfg.Commitment)
	}
	if cfg.ConfirmTimeout <= 0 {
		cfg.ConfirmTimeout = DefaultConfirmTimeout
	}
	if cfg.KeyFeeLamports == 0 {
		cfg.KeyFeeLamports = DefaultKeyFeeLamports
	}
	switch {
	case cfg.FeePercentile == 0:
		cfg.FeePercentile = DefaultFeePercentile
	case cfg.FeePercentile < 1 || cfg.FeePercentile > 100:
		return nil, fmt.Errorf("%w: fee percentile %d (want 1 to 100)", ErrConfig, cfg.FeePercentile)
	}
	if cfg.MaxUnitPrice == 0 {
		cfg.MaxUnitPrice = DefaultMaxUnitPrice
	}
	switch {
	case cfg.UnitMargin == 0:
		cfg.UnitMargin = DefaultUnitMargin
	case cfg.UnitMargin < 0 || cfg.UnitMargin > 1000:
		return nil, fmt.Errorf("%w: compute unit margin %d%% (want 0 to 1000)", ErrConfig, cfg.UnitMargin)
	}
	if cfg.RPCTimeout <= 0 {
		cfg.RPCTimeout = DefaultRPCTimeout
	}
	if cfg.FeePayer != nil && cfg.FeePayer.sec == nil {
		return nil, fmt.Errorf("%w: FeePayer has no secret key", ErrConfig)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "wallet")
	client, _, err := newRPC(cfg, log)
	if err != nil {
		return nil, err
	}
	c := &Chain{cfg: cfg, rpc: client, log: log}
	c.statuses = &statusBatcher{c: c}
	if cfg.WSURL != "" {
		u, err := url.Parse(cfg.WSURL)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return nil, fmt.Errorf("%w: WSURL %q is not a ws(s) URL", ErrConfig, redactURL(cfg.WSURL))
		}
		c.pubsub = &pubsub{url: cfg.WSURL, timeout: cfg.RPCTimeout, log: log}
	}
	return c, nil
}

// RPC returns the underlying solana-go RPC client, for reads this package
// does not wrap.
func (c *Chain) RPC() *rpc.Client { return c.rpc }

// Mint returns the configured token mint.
func (c *Chain) Mint() solana.PublicKey { return c.cfg.Mint }

// Gasless reports whether a fee payer is configured.
func (c *Chain) Gasless() bool { return c.cfg.FeePayer != nil }

// TokenProgram returns the mint's token program (SPL Token or Token-2022).
func (c *Chain) TokenProgram() solana.PublicKey { return c.cfg.TokenProgram }

// TokenAccount returns the associated token account of owner for the mint
// (derived with the mint's own token program).
func (c *Chain) TokenAccount(owner solana.PublicKey) (solana.PublicKey, error) {
	ata, err := associatedTokenAccount(owner, c.cfg.Mint, c.cfg.TokenProgram)
	if err != nil {
		return solana.PublicKey{}, fmt.Errorf("wallet: token account of %s: %w", owner, err)
	}
	return ata, nil
}

// TokenBalance returns owner's balance of the mint in base units, read from
// its associated token account; 0 when that account does not exist.
func (c *Chain) TokenBalance(ctx context.Context, owner solana.PublicKey) (uint64, error) {
	amount, _, err := c.tokenBalance(ctx, owner)
	return amount, err
}

// tokenBalance also reports whether the associated token account exists.
func (c *Chain) tokenBalance(ctx context.Context, owner solana.PublicKey) (amount uint64, exists bool, err error) {
	ata, err := c.TokenAccount(owner)
	if err != nil {
		return 0, false, err
	}
	res, err := c.rpc.GetAccountInfoWithOpts(ctx, ata, &rpc.GetAccountInfoOpts{
		Encoding:   solana.EncodingBase64,
		Commitment: c.cfg.Commitment,
	})
	if errors.Is(err, rpc.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("wallet: read token account %s: %w", ata, err)
	}
	if res == nil || res.Value == nil {
		return 0, false, nil
	}
	if !res.Value.Owner.Equals(c.cfg.TokenProgram) {
		return 0, true, fmt.Errorf("wallet: account %s is not owned by the token program", ata)
	}
	// SPL token account layout: mint [0,32), owner [32,64), amount u64 LE [64,72).
	data := res.Value.Data.GetBinary()
	if len(data) < 72 {
		return 0, true, fmt.Errorf("wallet: token account %s: %d bytes of data", ata, len(data))
	}
	if !solana.PublicKeyFromBytes(data[0:32]).Equals(c.cfg.Mint) || !solana.PublicKeyFromBytes(data[32:64]).Equals(owner) {
		return 0, true, fmt.Errorf("wallet: token account %s has another mint or owner", ata)
	}
	return binary.LittleEndian.Uint64(data[64:72]), true, nil
}

// SOLBalance returns the lamports held by account (0 when it does not exist).
func (c *Chain) SOLBalance(ctx context.Context, account solana.PublicKey) (uint64, error) {
	res, err := c.rpc.GetBalance(ctx, account, c.cfg.Commitment)
	if err != nil {
		return 0, fmt.Errorf("wallet: SOL balance of %s: %w", account, err)
	}
	return res.Value, nil
}

// latestBlockhash returns a recent blockhash at the configured commitment.
func (c *Chain) latestBlockhash(ctx context.Context) (*rpc.LatestBlockhashResult, error) {
	res, err := c.rpc.GetLatestBlockhash(ctx, c.cfg.Commitment)
	if err != nil {
		return nil, fmt.Errorf("wallet: latest blockhash: %w", err)
	}
	if res == nil || res.Value == nil {
		return nil, fmt.Errorf("wallet: latest blockhash: empty answer")
	}
	return res.Value, nil
}

// BlockhashValid reports whether hash can still be used by a transaction. It
// asks at finalized commitment: once a blockhash is invalid there, every block
// that could have held a transaction using it is final, so a transaction with
// that blockhash that is not found now will never land.
func (c *Chain) BlockhashValid(ctx context.Context, hash solana.Hash) (bool, error) {
	res, err := c.rpc.IsBlockhashValid(ctx, hash, rpc.CommitmentFinalized)
	if err != nil {
		return false, fmt.Errorf("wallet: is blockhash valid: %w", err)
	}
	return res.Value, nil
}

// Close ends the chain's shared connections (the signature subscriptions'
// websocket); the chain is not used after it.
func (c *Chain) Close() {
	if c.pubsub != nil {
		c.pubsub.close()
	}
}
