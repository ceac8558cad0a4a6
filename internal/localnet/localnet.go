// Package localnet starts the local Solana chain that stipend's tests and demo
// run against: a LiteSVM instance (the real Solana runtime, with the SPL Token
// and Associated Token Account programs built in) behind a small JSON-RPC server
// (server.mjs in this folder) that speaks the standard Solana RPC subset the
// service uses. It needs Node.js and the folder's npm packages
// (cd internal/localnet && npm ci).
package localnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// ErrNodeMissing means the node binary was not found.
var ErrNodeMissing = errors.New("localnet: node not found")

// ErrNotInstalled means the localnet folder's npm packages are not installed.
var ErrNotInstalled = errors.New("localnet: node_modules missing (run: cd internal/localnet && npm ci)")

// startTimeout bounds how long Start waits for the server's ready line.
const startTimeout = 30 * time.Second

// Options configures Start. The zero value is a chain on a free port with
// mainnet-like timing.
type Options struct {
	// Dir is the localnet folder; default: found by FindDir.
	Dir string
	// Node is the node binary; default "node" on PATH.
	Node string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Stderr receives the server's diagnostics (and its request log when
	// LOCALNET_DEBUG=1); default: discarded, though the last lines are kept
	// for Start's error messages.
	Stderr io.Writer
	// SlotTime is how often the chain advances one slot (a new blockhash each
	// slot); 0 means 400ms, a negative value means only AdvanceSlots moves it.
	SlotTime time.Duration
	// BlockhashLifetime is how many slots a blockhash stays valid; 0 means 150
	// (as on mainnet: about 60s at 400ms a slot).
	BlockhashLifetime int
	// Mint optionally fixes the address of the USDC-like mint; default random.
	Mint solana.PublicKey
	// Token2022 makes the mint a Token-2022 mint (owned by the Token-2022
	// program, as PYUSD is) instead of an SPL Token one.
	Token2022 bool
}

// Chain is a running local chain. Its methods are safe for concurrent use.
type Chain struct {
	// URL is the JSON-RPC endpoint, http://127.0.0.1:PORT.
	URL string
	// WSURL is the PubSub (websocket) endpoint, ws://127.0.0.1:PORT: signatureSubscribe.
	WSURL string
	// Mint is the 6-decimal USDC-like mint whose authority the server holds.
	Mint solana.PublicKey
	// Decimals is the mint's number of decimals.
	Decimals uint8
	// TokenProgram is the mint's token program (SPL Token or Token-2022).
	TokenProgram solana.PublicKey

	client    *rpc.Client
	cmd       *exec.Cmd
	stdin     io.Closer
	exited    chan struct{} // closed when the process has exited
	waitErr   error
	closeOnce sync.Once
}

// FindDir returns the localnet folder: it walks up from the working directory
// to the folder holding go.mod and returns its "internal/localnet" subfolder.
func FindDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("localnet: working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			ln := filepath.Join(dir, "internal", "localnet")
			if _, err := os.Stat(filepath.Join(ln, "server.mjs")); err != nil {
				return "", fmt.Errorf("localnet: no server.mjs beside go.mod: %w", err)
			}
			return ln, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("localnet: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Start launches the chain (node server.mjs) and waits until it is ready,
// at most 30 seconds or until ctx is done. ctx bounds only the start: the
// chain runs until Close. It fails with ErrNodeMissing or ErrNotInstalled
// when Node.js or the npm packages are missing.
func Start(ctx context.Context, opts Options) (*Chain, error) {
	dir := opts.Dir
	if dir == "" {
		d, err := FindDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "litesvm")); err != nil {
		return nil, fmt.Errorf("%w: in %s", ErrNotInstalled, dir)
	}
	node := opts.Node
	if node == "" {
		node = "node"
	}
	nodePath, err := exec.LookPath(node)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNodeMissing, err)
	}

	args := []string{"server.mjs", "--port", strconv.Itoa(opts.Port), "--parent-stdin"}
	switch {
	case opts.SlotTime < 0:
		args = append(args, "--slot-ms", "0")
	case opts.SlotTime > 0:
		args = append(args, "--slot-ms", strconv.FormatInt(max(opts.SlotTime.Milliseconds(), 1), 10))
	}
	if opts.BlockhashLifetime > 0 {
		args = append(args, "--blockhash-lifetime", strconv.Itoa(opts.BlockhashLifetime))
	}
	if !opts.Mint.IsZero() {
		args = append(args, "--mint", opts.Mint.String())
	}
	if opts.Token2022 {
		args = append(args, "--token-2022")
	}

	cmd := exec.Command(nodePath, args...)
	cmd.Dir = dir
	setProcessGroup(cmd)
	tail := &tailBuffer{max: 4096}
	if opts.Stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, opts.Stderr)
	} else {
		cmd.Stderr = tail
	}
	// The server exits when this pipe closes, so it never outlives us.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("localnet: stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("localnet: stdout pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("localnet: start %s: %w", nodePath, err)
	}
	c := &Chain{cmd: cmd, stdin: stdin, exited: make(chan struct{})}

	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, err := r.ReadString('\n')
		if err == nil {
			lines <- line
		}
		_, _ = io.Copy(io.Discard, r) // keep the pipe drained
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()

	ready, err := awaitReady(ctx, "server", lines, c.exited, c.Close, tail, func() error { return c.waitErr })
	if err != nil {
		return nil, err
	}

	var info struct {
		RPCURL   string `json:"rpc_url"`
		WSURL    string `json:"ws_url"`
		Mint     string `json:"mint"`
		Decimals uint8  `json:"decimals"`
		Program  string `json:"token_program"`
	}
	if err := json.Unmarshal([]byte(ready), &info); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("localnet: bad ready line %q: %w", ready, err)
	}
	mint, err := solana.PublicKeyFromBase58(info.Mint)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("localnet: bad mint in ready line %q: %w", ready, err)
	}
	c.URL, c.WSURL, c.Mint, c.Decimals = info.RPCURL, info.WSURL, mint, info.Decimals
	c.TokenProgram = solana.TokenProgramID
	if info.Program != "" {
		if c.TokenProgram, err = solana.PublicKeyFromBase58(info.Program); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("localnet: bad token program in ready line %q: %w", ready, err)
		}
	}
	c.client = rpc.New(c.URL)
	return c, nil
}

// Client returns a standard solana-go RPC client of the chain.
func (c *Chain) Client() *rpc.Client { return c.client }

// Close stops the server (its whole process group) and waits for it to exit.
// It may be called more than once.
func (c *Chain) Close() error {
	c.closeOnce.Do(func() {
		_ = c.stdin.Close()
		killProcessGroup(c.cmd)
		<-c.exited
		if c.client != nil {
			_ = c.client.Close()
		}
	})
	return nil
}

// MintTo mints amount base units of the chain's mint to owner's associated
// token account, creating the account if missing (localnet_mintTo). The
// transaction has landed when MintTo returns.
func (c *Chain) MintTo(ctx context.Context, owner solana.PublicKey, amount uint64) (solana.Signature, error) {
	var sig string
	err := c.client.RPCCallForInto(ctx, &sig, "localnet_mintTo", []any{owner.String(), strconv.FormatUint(amount, 10)})
	if err != nil {
		return solana.Signature{}, fmt.Errorf("localnet: mint %d to %s: %w", amount, owner, err)
	}
	s, err := solana.SignatureFromBase58(sig)
	if err != nil {
		return solana.Signature{}, fmt.Errorf("localnet: mint: bad signature %q: %w", sig, err)
	}
	return s, nil
}

// Mint is one mint of the chain, made with CreateMint.
type Mint struct {
	Mint         solana.PublicKey
	Decimals     uint8
	TokenProgram solana.PublicKey
}

// CreateMint adds a mint with decimals on SPL Token, or on Token-2022 when
// token2022 is set (localnet_createMint); the server holds its authority, so
// MintToOf mints it. A chain holds any number of mints at once.
func (c *Chain) CreateMint(ctx context.Context, decimals uint8, token2022 bool) (Mint, error) {
	program := "spl-token"
	if token2022 {
		program = "token-2022"
	}
	var info struct {
		Mint    string `json:"mint"`
		Program string `json:"token_program"`
	}
	if err := c.client.RPCCallForInto(ctx, &info, "localnet_createMint", []any{decimals, program}); err != nil {
		return Mint{}, fmt.Errorf("localnet: create mint: %w", err)
	}
	m, err := solana.PublicKeyFromBase58(info.Mint)
	if err != nil {
		return Mint{}, fmt.Errorf("localnet: create mint: bad mint %q: %w", info.Mint, err)
	}
	p, err := solana.PublicKeyFromBase58(info.Program)
	if err != nil {
		return Mint{}, fmt.Errorf("localnet: create mint: bad program %q: %w", info.Program, err)
	}
	return Mint{Mint: m, Decimals: decimals, TokenProgram: p}, nil
}

// MintToOf mints amount base units of mint (the chain's or one made by
// CreateMint) to owner's associated token account, as MintTo does.
func (c *Chain) MintToOf(ctx context.Context, mint, owner solana.PublicKey, amount uint64) (solana.Signature, error) {
	var sig string
	err := c.client.RPCCallForInto(ctx, &sig, "localnet_mintTo", []any{owner.String(), strconv.FormatUint(amount, 10), mint.String()})
	if err != nil {
		return solana.Signature{}, fmt.Errorf("localnet: mint %d of %s to %s: %w", amount, mint, owner, err)
	}
	s, err := solana.SignatureFromBase58(sig)
	if err != nil {
		return solana.Signature{}, fmt.Errorf("localnet: mint: bad signature %q: %w", sig, err)
	}
	return s, nil
}

// Airdrop gives lamports to an account through the standard requestAirdrop.
// The transfer has landed when Airdrop returns.
func (c *Chain) Airdrop(ctx context.Context, to solana.PublicKey, lamports uint64) error {
	if _, err := c.client.RequestAirdrop(ctx, to, lamports, rpc.CommitmentFinalized); err != nil {
		return fmt.Errorf("localnet: airdrop %d lamports to %s: %w", lamports, to, err)
	}
	return nil
}

// AdvanceSlots moves the chain n slots ahead at once (localnet_advanceSlots),
// each with a new blockhash, so that blockhashes older than the lifetime expire
// without waiting. It returns the new slot.
func (c *Chain) AdvanceSlots(ctx context.Context, n uint64) (uint64, error) {
	var slot uint64
	if err := c.client.RPCCallForInto(ctx, &slot, "localnet_advanceSlots", []any{n}); err != nil {
		return 0, fmt.Errorf("localnet: advance %d slots: %w", n, err)
	}
	return slot, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// awaitReady waits for the first line a started Node process prints (its
// ready line) for at most startTimeout; what names the process in errors.
// A process that exits first, is too slow or is given up is reported with
// the tail of its stderr; stop ends it in the last two cases.
func awaitReady(ctx context.Context, what string, lines <-chan string, exited <-chan struct{}, stop func() error, tail *tailBuffer, exitErr func() error) (string, error) {
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case ready := <-lines:
		return ready, nil
	case <-exited:
		how := ""
		if err := exitErr(); err != nil {
			how = " (" + err.Error() + ")"
		}
		return "", fmt.Errorf("localnet: %s exited before ready%s: %s", what, how, tail.String())
	case <-timer.C:
		_ = stop() // giving up: the process's own error tells nothing more
		return "", fmt.Errorf("localnet: %s not ready after %s: %s", what, startTimeout, tail.String())
	case <-ctx.Done():
		_ = stop() // giving up: the context's error is the one told
		return "", fmt.Errorf("localnet: waiting for the %s: %w", what, ctx.Err())
	}
}
