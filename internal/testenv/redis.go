// Package testenv holds the helpers that tests in several packages share:
// a connection to the real Redis server and the local Solana chain.
package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisAddr is the address of the Redis server the tests use; STIPEND_TEST_REDIS_ADDR overrides it.
func RedisAddr() string {
	if a := os.Getenv("STIPEND_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// Redis returns a client of the real Redis server at RedisAddr. Tests must
// use keys of their own (random wallets), never flush the database: packages
// run in parallel against the same server. Outside CI a missing server skips
// the test loudly; in CI (CI=true) it fails.
func Redis(tb testing.TB) *redis.Client {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: RedisAddr(), PoolSize: 64})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		if os.Getenv("CI") == "true" {
			tb.Fatalf("testenv: no Redis at %s: %v", RedisAddr(), err)
		}
		tb.Skipf("testenv: SKIPPING, no Redis at %s: %v", RedisAddr(), err)
	}
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
