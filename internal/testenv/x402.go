package testenv

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"

	"github.com/stipend/stipend/localnet"
)

// DevnetUSDC is devnet's USDC mint address. @x402/svm prices "$0.01" in it,
// so an x402 test's local chain is started with this mint.
var DevnetUSDC = solana.MustPublicKeyFromBase58("4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU")

// DevnetX402Network is devnet's CAIP-2 id, the network the x402 harness sells on
// (@x402/svm refuses ids of other networks than mainnet, devnet and testnet).
const DevnetX402Network = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"

// X402Server is the x402 harness (localnet/x402/server.mjs): an Express
// resource server protected by @x402/express, with the @x402/svm facilitator
// in process, paying fees from its own keypair on the local chain.
type X402Server struct {
	URL      string           // http://127.0.0.1:PORT
	PayTo    solana.PublicKey // the seller
	FeePayer solana.PublicKey // the facilitator
	Network  string
}

// X402 starts the harness against the chain (started with DevnetUSDC as its
// mint) and stops it when the test ends. Without its npm packages
// (cd localnet/x402 && npm ci) the test is skipped loudly, or fails in CI.
func X402(tb testing.TB, chain *localnet.Chain) *X402Server {
	tb.Helper()
	ln, err := localnet.FindDir()
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(ln, "x402")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@x402", "express")); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("testenv: x402 harness not installed (cd localnet/x402 && npm ci)")
		}
		tb.Skipf("testenv: SKIPPING: x402 harness not installed (cd localnet/x402 && npm ci)")
	}
	cmd := exec.Command("node", "server.mjs", "--rpc", chain.URL, "--parent-stdin")
	cmd.Dir = dir
	if os.Getenv("X402_DEBUG") == "1" {
		cmd.Stderr = os.Stderr
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("testenv: start x402 harness: %v", err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close() // the harness exits when its stdin closes
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		if line, err := r.ReadString('\n'); err == nil {
			lines <- line
		}
		close(lines)
		_, _ = io.Copy(io.Discard, r)
	}()
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			tb.Fatal(errors.New("testenv: x402 harness exited before ready (X402_DEBUG=1 shows why)"))
		}
		line = l
	case <-time.After(60 * time.Second):
		tb.Fatal("testenv: x402 harness not ready after 60s")
	}
	var info struct {
		URL      string `json:"url"`
		PayTo    string `json:"pay_to"`
		FeePayer string `json:"fee_payer"`
		Network  string `json:"network"`
	}
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		tb.Fatalf("testenv: x402 harness ready line %q: %v", line, err)
	}
	return &X402Server{URL: info.URL, PayTo: solana.MustPublicKeyFromBase58(info.PayTo),
		FeePayer: solana.MustPublicKeyFromBase58(info.FeePayer), Network: info.Network}
}
