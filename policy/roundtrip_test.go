package policy_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/internal/testenv"
	"github.com/stipend/stipend/policy"
)

// counter is a go-redis hook counting the commands sent to Redis.
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestOneRoundTripPerDecision: a payment decision (check or reserve, with a
// linked session and all four limits) is exactly one command to Redis.
func TestOneRoundTripPerDecision(t *testing.T) {
	rdb := testenv.Redis(t)
	c := &counter{}
	rdb.AddHook(c)
	s := policy.New(rdb, policy.Options{})
	f := newFixture(t, s)
	k, _ := f.linked(100*usdc, policy.Limits{PerTransaction: 10 * usdc, PerDay: 50 * usdc, PerWeek: 60 * usdc, PerMonth: 70 * usdc})
	// Warm: the script is loaded once (a NOSCRIPT fallback costs one more, once).
	f.check(s, k.ID, usdc)
	f.reserve(s, k.ID, usdc)
	for _, mode := range []policy.Mode{policy.ModeCheck, policy.ModeReserve} {
		before := c.n.Load()
		d, err := s.Decide(ctx, policy.PaymentRequest{Mode: mode, SessionKeyID: k.ID, AgentID: f.agent, Amount: usdc, Recipient: "m"})
		if err != nil || !d.Allowed {
			t.Fatalf("%s: %+v %v", mode, d, err)
		}
		if n := c.n.Load() - before; n != 1 {
			t.Fatalf("%s took %d round trips; want 1", mode, n)
		}
	}

}
