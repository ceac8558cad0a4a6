package webhook_test

import (
	"net/http"
	"testing"

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
