package localnet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/gagliardetto/solana-go"
)

// DevnetUSDC is devnet's USDC mint address. @x402/svm prices "$0.01" in it,
// so a chain that an x402 Seller sells on is started with it as Options.Mint.
var DevnetUSDC = solana.MustPublicKeyFromBase58("4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU")

// DevnetX402Network is devnet's CAIP-2 id, the network a Seller sells on
// (@x402/svm refuses other networks than mainnet, devnet and testnet).
const DevnetX402Network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"

// ErrX402NotInstalled means the x402 harness's npm packages are not installed.
var ErrX402NotInstalled = errors.New("localnet: x402/node_modules missing (run: cd internal/localnet/x402 && npm ci)")

// Seller is the x402 harness (x402/server.mjs in this folder): an Express
// server protected by @x402/express, with the @x402/svm facilitator in the
// same process paying fees from its own keypair, every RPC on the local chain.
// Its routes: GET /weather ($0.01), POST /echo ($0.02), GET /premium ($5.00),
// GET /unpayable ($0.01 that never settles), GET /free.
type Seller struct {
	URL      string           // http://127.0.0.1:PORT
	PayTo    solana.PublicKey // the seller's wallet
	FeePayer solana.PublicKey // the facilitator's fee payer
	Network  string           // DevnetX402Network

	cmd       *exec.Cmd
	stdin     io.Closer
	exited    chan struct{}
	closeOnce sync.Once
}

// StartSeller starts the x402 harness against the chain at rpcURL (started
// with DevnetUSDC as its mint) and waits until it is ready. stderr, if not
// nil, receives its diagnostics.
func StartSeller(ctx context.Context, rpcURL string, stderr io.Writer) (*Seller, error) {
	ln, err := FindDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(ln, "x402")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@x402", "express")); err != nil {
		return nil, fmt.Errorf("%w: in %s", ErrX402NotInstalled, dir)
	}
	nodePath, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNodeMissing, err)
	}
	cmd := exec.Command(nodePath, "server.mjs", "--rpc", rpcURL, "--parent-stdin")
	cmd.Dir = dir
	setProcessGroup(cmd)
	tail := &tailBuffer{max: 4096}
	cmd.Stderr = tail
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, stderr)
	}
	stdin, err := cmd.StdinPipe() // the harness exits when this pipe closes
	if err != nil {
		return nil, fmt.Errorf("localnet: stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("localnet: stdout pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("localnet: start x402 harness: %w", err)
	}
	s := &Seller{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		if line, err := r.ReadString('\n'); err == nil {
			lines <- line
		}
		_, _ = io.Copy(io.Discard, r)
		_ = cmd.Wait()
		close(s.exited)
	}()
	ready, err := awaitReady(ctx, "x402 harness", lines, s.exited, s.Close, tail, func() error { return nil }) // its exit status is not kept
	if err != nil {
		return nil, err
	}
	var info struct {
		URL      string `json:"url"`
		PayTo    string `json:"pay_to"`
		FeePayer string `json:"fee_payer"`
		Network  string `json:"network"`
	}
	if err := json.Unmarshal([]byte(ready), &info); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("localnet: bad x402 ready line %q: %w", ready, err)
	}
	if s.PayTo, err = solana.PublicKeyFromBase58(info.PayTo); err == nil {
		s.FeePayer, err = solana.PublicKeyFromBase58(info.FeePayer)
	}
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("localnet: bad x402 ready line %q: %w", ready, err)
	}
	s.URL, s.Network = info.URL, info.Network
	return s, nil
}

// Close stops the harness and waits for it to exit. It may be called more than once.
func (s *Seller) Close() error {
	s.closeOnce.Do(func() {
		_ = s.stdin.Close()
		killProcessGroup(s.cmd)
		<-s.exited
	})
	return nil
}
