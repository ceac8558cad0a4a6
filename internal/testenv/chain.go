package testenv

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	solana "github.com/gagliardetto/solana-go"

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

// Wallet makes a wallet on the chain holding 1 SOL and usdc base units of
// its token, and returns its key.
func Wallet(tb testing.TB, chain *localnet.Chain, usdc uint64) solana.PrivateKey {
	tb.Helper()
	key, err := solana.NewRandomPrivateKey()
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if err := chain.Airdrop(ctx, key.PublicKey(), 1_000_000_000); err != nil {
		tb.Fatal(err)
	}
	if usdc > 0 {
		if _, err := chain.MintTo(ctx, key.PublicKey(), usdc); err != nil {
			tb.Fatal(err)
		}
	}
	return key
}
