package testenv

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stipend/stipend/internal/localnet"
)

// Chain starts a local Solana chain (see package localnet) for the test and
// stops it when the test ends. Without Node.js or the localnet npm packages
// (cd internal/localnet && npm ci) the test is skipped loudly, or fails in CI (CI=true).
func Chain(tb testing.TB) *localnet.Chain {
	tb.Helper()
	return ChainWith(tb, localnet.Options{})
}

// ChainWith is Chain with options, e.g. a short blockhash lifetime.
func ChainWith(tb testing.TB, opts localnet.Options) *localnet.Chain {
	tb.Helper()
	if opts.Stderr == nil && os.Getenv("LOCALNET_DEBUG") == "1" {
		opts.Stderr = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := localnet.Start(ctx, opts)
	if err != nil {
		if errors.Is(err, localnet.ErrNodeMissing) || errors.Is(err, localnet.ErrNotInstalled) {
			if os.Getenv("CI") == "true" {
				tb.Fatalf("testenv: no local chain: %v", err)
			}
			tb.Skipf("testenv: SKIPPING: no local Solana chain: %v", err)
		}
		tb.Fatalf("testenv: start local chain: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}
