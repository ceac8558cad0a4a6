package policy_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/policy"
)

func TestZZFixture(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6399"})
	s := policy.New(rdb, policy.Options{Prefix: "zz"})
	f := newFixture(t, s)
	k, sess := f.linked(policy.MaxAmount, policy.Limits{PerTransaction: 10 * usdc, PerDay: 1e13, PerWeek: 1e14, PerMonth: 1e15})
	f.pay(s, k.ID, 1)
	_ = os.WriteFile("/tmp/scripts/fixture6399", []byte(fmt.Sprintf("%s %s %s %s %s\n", k.ID, f.agent, f.wallet, sess.ID, policy.LibraryName())), 0o644)
}
