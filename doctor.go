package stipend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	solana "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
	"github.com/gagliardetto/solana-go/rpc/ws"
	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/wallet"
)

// doctorTimeout bounds each of doctor's checks.
const doctorTimeout = 15 * time.Second

// minFeePayerLamports is the fee payer balance below which doctor warns:
// 0.01 SOL pays about 2,000 payments' fees, or four new recipients' token accounts.
const minFeePayerLamports = 10_000_000

// genesisHashes names the public clusters by their genesis hash.
var genesisHashes = map[string]string{
	"5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d": "solana:mainnet",
	"EtWTRABZaYq6iMfeYKouRu166VU2xqa1Wcyo9qMRKqBp": "solana:devnet",
	"4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY": "solana:testnet",
}

// clusterUSDC is the USDC mint of each public cluster, for fix hints.
var clusterUSDC = map[string]string{
	"solana:mainnet": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
	"solana:devnet":  "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
}

// Doctor checks a configuration against its cluster and its store, one line
// a check on w, each failure with what to fix, and returns how many checks
// failed (warnings are not failures). loadErr is the error of loading the
// configuration, reported as the config check's failure.
func Doctor(ctx context.Context, w io.Writer, cfg Config, loadErr error) int {
	d := &doctor{w: w}
	if loadErr != nil {
		d.fail("config", loadErr.Error(), "correct the setting named")
		return d.exit()
	}
	rt, err := cfg.Check()
	if err != nil {
		d.fail("config", err.Error(), "correct the setting named (stipend serve -h lists them)")
		return d.exit()
	}
	d.ok("config", "valid")
	// Failures are reported as checks: the libraries' own logs would repeat them.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	redis.SetLogger(redisLogger{quiet})
	d.run(ctx, rt, quiet)
	return d.exit()
}

// doctor prints one line per check.
type doctor struct {
	w        io.Writer
	failures int
}

func (d *doctor) line(status, check, msg string) {
	fmt.Fprintf(d.w, "%-5s %-12s %s\n", status, check, msg)
}

func (d *doctor) ok(check, msg string)   { d.line("ok", check, msg) }
func (d *doctor) warn(check, msg string) { d.line("warn", check, msg) }

func (d *doctor) fail(check, msg, fix string) {
	d.failures++
	d.line("FAIL", check, msg+"\n      fix: "+fix)
}

// exit prints the summary and returns the number of failures.
func (d *doctor) exit() int {
	if d.failures > 0 {
		fmt.Fprintf(d.w, "%d check(s) failed.\n", d.failures)
		return d.failures
	}
	fmt.Fprintln(d.w, "All checks passed.")
	return 0
}

// run checks every endpoint, the mint, the fee payer, the priority fees and Redis.
func (d *doctor) run(ctx context.Context, rt *Runtime, logger *slog.Logger) {
	reachable := 0
	for _, u := range append([]string{rt.RPCURL}, rt.RPCFallbackURLs...) {
		if d.endpoint(ctx, rt, u) {
			reachable++
		}
	}
	if rt.WSURL != "" {
		d.websocket(ctx, rt)
	}
	if reachable > 0 {
		chain, err := wallet.New(walletConfig(rt, logger))
		if err != nil {
			d.fail("rpc", err.Error(), "correct rpc_url and rpc_fallback_urls")
		} else {
			d.mint(ctx, rt, chain.RPC())
			d.feePayer(ctx, rt, chain)
			d.priorityFees(ctx, rt, chain.RPC())
		}
	}
	d.redis(ctx, rt)
}

// endpointHost shows an endpoint without path, query or credentials: providers put
// API keys there.
func endpointHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

// endpoint checks one RPC endpoint: it answers, and serves the configured cluster.
func (d *doctor) endpoint(ctx context.Context, rt *Runtime, raw string) bool {
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	cl := rpc.New(raw)
	defer func() { _ = cl.Close() }() // shutting down: nothing to do about a failed close
	scrub := func(err error) string { return strings.ReplaceAll(shortErr(err), raw, endpointHost(raw)) }
	ver, err := cl.GetVersion(ctx)
	if err != nil {
		d.fail("rpc", fmt.Sprintf("%s does not answer getVersion: %v", endpointHost(raw), scrub(err)),
			"check the URL (and its API key), or use another provider")
		return false
	}
	genesis, err := cl.GetGenesisHash(ctx)
	if err != nil {
		d.fail("rpc", fmt.Sprintf("%s does not answer getGenesisHash: %v", endpointHost(raw), scrub(err)), "use another provider")
		return false
	}
	serves, public := genesisHashes[genesis.String()]
	switch {
	case public && serves != rt.Cluster:
		d.fail("rpc", fmt.Sprintf("%s serves %s but cluster is %s: wallets would sign for the wrong chain", endpointHost(raw), serves, rt.Cluster),
			fmt.Sprintf("set cluster: %s, or point rpc_url at %s", serves, rt.Cluster))
		return false
	case !public && rt.Cluster != "solana:localnet":
		d.fail("rpc", fmt.Sprintf("%s serves an unknown cluster (genesis %s), not %s", endpointHost(raw), genesis, rt.Cluster),
			"point rpc_url at "+rt.Cluster+", or set cluster: solana:localnet for a local validator")
		return false
	}
	d.ok("rpc", fmt.Sprintf("%s answers (solana-core %s, %s)", endpointHost(raw), ver.SolanaCore, rt.Cluster))
	return true
}

// websocket checks that the PubSub endpoint accepts a connection; without
// it confirmation polls, so a failure is a warning.
func (d *doctor) websocket(ctx context.Context, rt *Runtime) {
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	c, err := ws.Connect(ctx, rt.WSURL)
	if err != nil {
		d.warn("ws", fmt.Sprintf("%s does not accept a websocket: %v; confirmations will poll", endpointHost(rt.WSURL), shortErr(err)))
		return
	}
	c.Close()
	d.ok("ws", endpointHost(rt.WSURL)+" accepts a websocket (signatureSubscribe)")
}

// mint checks that the mint exists, is an SPL Token mint (the program
// stipend's transactions call) and has the configured decimals.
func (d *doctor) mint(ctx context.Context, rt *Runtime, cl *rpc.Client) {
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	hint := "set mint to the token's mint address on " + rt.Cluster
	if usdc, ok := clusterUSDC[rt.Cluster]; ok {
		hint += " (USDC there: " + usdc + ")"
	}
	res, err := cl.GetAccountInfoWithOpts(ctx, rt.Mint, &rpc.GetAccountInfoOpts{Encoding: solana.EncodingBase64, Commitment: rpc.CommitmentType(rt.Commitment)})
	if errors.Is(err, rpc.ErrNotFound) || (err == nil && (res == nil || res.Value == nil)) {
		d.fail("mint", fmt.Sprintf("%s does not exist on %s", rt.Mint, rt.Cluster), hint)
		return
	}
	if err != nil {
		d.fail("mint", fmt.Sprintf("cannot read %s: %v", rt.Mint, shortErr(err)), "retry; if it persists, check the RPC provider")
		return
	}
	acc := res.Value
	switch {
	case acc.Owner.Equals(solana.Token2022ProgramID) && !rt.TokenProgram.Equals(solana.Token2022ProgramID):
		d.fail("mint", fmt.Sprintf("%s is a Token-2022 mint, and token_program is spl-token", rt.Mint),
			"set token_program: token-2022")
		return
	case acc.Owner.Equals(solana.TokenProgramID) && !rt.TokenProgram.Equals(solana.TokenProgramID):
		d.fail("mint", fmt.Sprintf("%s is an SPL Token mint, and token_program is token-2022", rt.Mint),
			"set token_program: spl-token")
		return
	case !acc.Owner.Equals(rt.TokenProgram):
		d.fail("mint", fmt.Sprintf("%s is not a token mint (owned by %s)", rt.Mint, acc.Owner), hint)
		return
	}
	// SPL mint layout: ... decimals at byte 44, is_initialized at 45 (82 bytes).
	data := acc.Data.GetBinary()
	// A Token-2022 mint may carry extensions after the base layout.
	if len(data) < 82 || (len(data) != 82 && !rt.TokenProgram.Equals(solana.Token2022ProgramID)) || data[45] != 1 {
		d.fail("mint", fmt.Sprintf("%s is a token account or an uninitialised mint, not a mint", rt.Mint), hint)
		return
	}
	if got := int(data[44]); got != rt.Decimals {
		d.fail("mint", fmt.Sprintf("%s has %d decimals; the configuration says %d: amounts would be off by 10^%d", rt.Mint, got, rt.Decimals, absInt(got-rt.Decimals)),
			fmt.Sprintf("set decimals: %d", got))
		return
	}
	d.ok("mint", fmt.Sprintf("%s: SPL Token mint, %d decimals (%s)", rt.Mint, rt.Decimals, rt.Token))
}

func absInt(n int) int { return max(n, -n) }

// feePayer checks that the gasless fee payer has SOL.
func (d *doctor) feePayer(ctx context.Context, rt *Runtime, chain *wallet.Chain) {
	if rt.FeePayer == nil {
		d.ok("fee_payer", "none: each key pays its own fees from the SOL its funding transaction sends along")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	addr := rt.FeePayer.PublicKey()
	bal, err := chain.SOLBalance(ctx, addr)
	fund := "send SOL to " + addr.String()
	if rt.Cluster == "solana:devnet" {
		fund += " (devnet: solana airdrop 1 " + addr.String() + " --url devnet, or https://faucet.solana.com)"
	}
	switch {
	case err != nil:
		d.fail("fee_payer", fmt.Sprintf("cannot read the balance of %s: %v", addr, shortErr(err)), "retry; if it persists, check the RPC provider")
	case bal == 0:
		d.fail("fee_payer", fmt.Sprintf("%s has no SOL: no payment can be sent", addr), fund)
	case bal < minFeePayerLamports:
		d.warn("fee_payer", fmt.Sprintf("%s has only %s SOL", addr, wallet.LamportsSOL(bal)))
		fmt.Fprintf(d.w, "      fix: %s\n", fund)
	default:
		d.ok("fee_payer", fmt.Sprintf("%s holds %s SOL", addr, wallet.LamportsSOL(bal)))
	}
}

// priorityFees reports what transactions would bid now.
func (d *doctor) priorityFees(ctx context.Context, rt *Runtime, cl *rpc.Client) {
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	fees, err := cl.GetRecentPrioritizationFees(ctx, solana.PublicKeySlice{rt.Mint})
	if err != nil {
		var re *jsonrpc.RPCError
		if errors.As(err, &re) && re.Code == -32601 {
			d.warn("priority", "the RPC does not offer getRecentPrioritizationFees: transactions bid no priority fee and may not land when the network is busy")
			return
		}
		d.warn("priority", fmt.Sprintf("getRecentPrioritizationFees failed: %v (transactions then bid no priority fee)", shortErr(err)))
		return
	}
	prices := make([]uint64, len(fees))
	for i, f := range fees {
		prices[i] = f.PrioritizationFee
	}
	price := min(wallet.Percentile(prices, rt.PriorityFeePercentile), rt.PriorityFeeMax)
	// A payment to a recipient that has a token account uses about 7,000
	// compute units; one that creates it about 16,000.
	typical := wallet.Budget{UnitLimit: 20_000, UnitPrice: price, Signatures: 1}
	d.ok("priority", fmt.Sprintf("p%d of %d recent slots: %d micro-lamports a unit (cap %d): a payment costs about %s SOL in fees",
		rt.PriorityFeePercentile, len(fees), price, rt.PriorityFeeMax, typical.FeeSOL()))
}

// redis checks that the configured Redis answers.
func (d *doctor) redis(ctx context.Context, rt *Runtime) {
	if rt.Redis == nil && rt.RedisCluster == nil {
		d.warn("redis", "none configured: an embedded in-memory store, NOTHING survives a restart (set redis_url for real money)")
		return
	}
	var c redis.UniversalClient
	var addr string
	if rt.RedisCluster != nil {
		c, addr = redis.NewClusterClient(rt.RedisCluster), strings.Join(rt.RedisCluster.Addrs, ",")
	} else {
		c, addr = redis.NewClient(rt.Redis), rt.Redis.Addr
	}
	defer func() { _ = c.Close() }() // shutting down: nothing to do about a failed close
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		d.fail("redis", fmt.Sprintf("%s does not answer PING: %v", addr, err), "start Redis there, or correct redis_url (and redis_cluster)")
		return
	}
	d.ok("redis", addr+" answers PING")
}

// shortErr is an error's first line.
func shortErr(err error) string {
	var re *jsonrpc.RPCError
	if errors.As(err, &re) {
		return fmt.Sprintf("rpc error %d: %s", re.Code, re.Message)
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}
