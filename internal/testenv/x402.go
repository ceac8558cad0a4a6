package testenv

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stipend/stipend/internal/localnet"
)

// DevnetUSDC and DevnetX402Network: see package localnet.
var (
	DevnetUSDC        = localnet.DevnetUSDC
	DevnetX402Network = localnet.DevnetX402Network
)

// X402 starts the x402 harness (localnet.Seller) against the chain, which
// must have been started with DevnetUSDC as its mint (StackOptions.X402), and
// stops it when the test ends. Without its npm packages
// (cd internal/localnet/x402 && npm ci) the test is skipped loudly, or fails in CI.
func X402(tb testing.TB, chain *localnet.Chain) *localnet.Seller {
	tb.Helper()
	var stderr io.Writer
	if os.Getenv("X402_DEBUG") == "1" {
		stderr = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := localnet.StartSeller(ctx, chain.URL, stderr)
	if err != nil {
		if errors.Is(err, localnet.ErrX402NotInstalled) || errors.Is(err, localnet.ErrNodeMissing) {
			if os.Getenv("CI") == "true" {
				tb.Fatalf("testenv: no x402 harness: %v", err)
			}
			tb.Skipf("testenv: SKIPPING: no x402 harness: %v", err)
		}
		tb.Fatalf("testenv: start the x402 harness: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}
