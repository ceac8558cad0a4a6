package webhook_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/webhook"
)

// TestDeliveryOnCluster: delivery with retries works the same on a Redis
// Cluster (each wallet's stream, state and schedule share its slot).
func TestDeliveryOnCluster(t *testing.T) {
	rdb := testenv.RedisCluster(t)
	store := policy.New(rdb, policy.Options{Prefix: "whtest-" + randHex(6)})
	r := newReceiver(t, func(n int) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	d, err := webhook.New(rdb, store, fast(r.endpoint("a")), logger())
	if err != nil {
		t.Fatal(err)
	}
	now, _ := store.Now(ctx)
	w := wallet()
	if _, err := store.CreateKey(ctx, policy.NewKey{AgentID: "bot", UserWallet: w, Token: "USDC", Decimals: 6,
		Address: "addr", MaxAmount: 1, ExpiresAt: now.Add(3600e9)}); err != nil {
		t.Fatal(err)
	}
	pollFor(t, d, func() bool { return len(r.delivered()) == 1 })
	got := r.requests()
	if len(got) != 3 || got[0].id != got[2].id || got[2].ev.Type != "session_key.created" || got[2].sigErr != nil {
		t.Fatalf("deliveries: %+v", got)
	}
}

// TestRunOnCluster: a running dispatcher on a Redis Cluster delivers a
// burst on several wallets (so several slots) to two endpoints, one
// failing its first requests, and reports both healthy and drained after.
func TestRunOnCluster(t *testing.T) {
	rdb := testenv.RedisCluster(t)
	prefix := "whtest-" + randHex(6)
	e := struct{ store *policy.Store }{policy.New(rdb, policy.Options{Prefix: prefix})}
	ok := newSink(t, nil)
	var n atomic.Int64
	flaky := newSink(t, func(*http.Request) int {
		if n.Add(1) <= 20 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	cfg := paced(ok.endpoint("ok"), flaky.endpoint("flaky"))
	cfg.BaseBackoff, cfg.MaxBackoff = time.Millisecond, 10*time.Millisecond
	d, err := webhook.New(rdb, e.store, cfg, logger())
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	const events = 100
	for i := range events {
		w := fmt.Sprintf("wallet-%d-%s", i%10, randHex(2))
		if _, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: e.store.Events().Stream(w), Values: []any{"event", "payment.confirmed", "data", "{}"}}).Result(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.SAdd(ctx, prefix+":wallets", w).Err(); err != nil {
			t.Fatal(err)
		}
		d.Notify()
	}
	waitFor(t, "every event at both endpoints", func() bool { return ok.got() == events && flaky.got() == events })
	waitFor(t, "both endpoints drained and healthy", func() bool {
		a, b := status(t, d, "ok"), status(t, d, "flaky")
		return a.Backlog == 0 && b.Backlog == 0 && !b.Failing
	})
}
