// Package testenv holds the helpers that tests in several packages share:
// a connection to the real Redis server and the local Solana chain.
package testenv

import (
	"context"
	"errors"
	"os"
	"strings"
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

// RedisClusterAddrs are the seed nodes of the Redis Cluster the tests use
// (STIPEND_TEST_REDIS_CLUSTER, comma-separated); `make redis-cluster` starts
// one on 127.0.0.1:7001-7003.
func RedisClusterAddrs() []string {
	if a := os.Getenv("STIPEND_TEST_REDIS_CLUSTER"); a != "" {
		return strings.Split(a, ",")
	}
	return []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}
}

// RedisCluster returns a client of the test Redis Cluster. Without one the
// test is skipped loudly, or fails when STIPEND_TEST_REDIS_CLUSTER is set
// (CI sets it after starting the cluster).
func RedisCluster(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: RedisClusterAddrs(), PoolSize: 64})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := rdb.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
	if err == nil {
		var info string
		info, err = rdb.ClusterInfo(ctx).Result()
		if err == nil && !strings.Contains(info, "cluster_state:ok") {
			err = errors.New("cluster_state is not ok")
		}
	}
	if err != nil {
		_ = rdb.Close()
		if os.Getenv("STIPEND_TEST_REDIS_CLUSTER") != "" {
			tb.Fatalf("testenv: no Redis Cluster at %v: %v", RedisClusterAddrs(), err)
		}
		tb.Skipf("testenv: SKIPPING, no Redis Cluster at %v (make redis-cluster): %v", RedisClusterAddrs(), err)
	}
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
