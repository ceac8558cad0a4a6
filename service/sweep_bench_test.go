package service_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
)

// BenchmarkSweep100k measures one sweep over 100,000 keys of which 1,000 are
// due (never funded, so no chain is involved): the sorted set by expiry makes
// its cost follow the due keys, not all keys.
func BenchmarkSweep100k(b *testing.B) {
	rdb := testenv.Redis(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		prefix := "stipendbench" + policy.NewID("")[:10]
		store := policy.New(rdb, policy.Options{Prefix: prefix})
		fill(b, rdb, store, 100_000, 1_000)
		svc := service.New(store, nil, nil, service.Config{}, nil)
		b.StartTimer()
		total := 0
		for {
			n, err := svc.SweepExpired(ctx, 500)
			if err != nil {
				b.Fatal(err)
			}
			total += n
			if n == 0 {
				break
			}
		}
		b.StopTimer()
		if total != 1_000 {
			b.Fatalf("expired %d keys; want 1000", total)
		}
		cleanup(b, rdb, prefix)
		b.StartTimer()
	}
}

// fill writes n pending keys directly (as the create script lays them out),
// due of them already past expiry, with their expiry-queue entries.
func fill(b *testing.B, rdb *redis.Client, store *policy.Store, n, due int) {
	now, _ := store.Now(ctx)
	past := store.WithClockSkew(-2 * time.Hour)
	// The due keys go through the real create script (in the past).
	pnow, _ := past.Now(ctx)
	for i := range due {
		w := fmt.Sprintf("W%08dbench", i%50)
		if _, err := past.CreateKey(ctx, policy.NewKey{AgentID: "bot", UserWallet: w, Token: "USDC", Decimals: 6,
			Address: "addr", MaxAmount: 1, ExpiresAt: pnow.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	// The others only need to sit in the expiry queue, not yet due.
	pipe := rdb.Pipeline()
	for i := range n - due {
		pipe.ZAdd(ctx, store.ExpiryKey(), redis.Z{Score: float64(now.Add(time.Duration(24+i%1000) * time.Hour).UnixMilli()), Member: fmt.Sprintf("sk_notdue%07d", i)})
		if i%5000 == 4999 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
}

func cleanup(b *testing.B, rdb *redis.Client, prefix string) {
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			rdb.Del(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		rdb.Del(ctx, keys...)
	}
}
