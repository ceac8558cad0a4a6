package testenv

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stipend/stipend/policy"
	"github.com/stipend/stipend/service"
	"github.com/stipend/stipend/wallet"
)

// Via returns a service on the stack's ledger (same key prefix) and sealer
// that reaches the chain at rpcURL ("" = the local chain) and Redis through
// rdb (nil = the stack's client), with cfg: tests put fault proxies there.
func (st *Stack) Via(tb testing.TB, rpcURL string, rdb redis.UniversalClient, cfg service.Config) (*service.Service, *policy.Store, *wallet.Chain) {
	tb.Helper()
	if rpcURL == "" {
		rpcURL = st.Local.URL
	}
	if rdb == nil {
		rdb = st.Store.Redis()
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://127.0.0.1:0"
	}
	c := st.open(tb, rdb, wallet.Config{RPCURL: rpcURL, Mint: st.Local.Mint, Decimals: st.Local.Decimals,
		ConfirmTimeout: 5 * time.Minute}, cfg)
	return c.Service, c.Store, c.Chain
}

// RPCProxy starts a fault proxy in front of the stack's chain for the test.
func (st *Stack) RPCProxy(tb testing.TB) *RPCProxy {
	tb.Helper()
	p, err := NewRPCProxy(st.Local.URL)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// RedisProxy starts a TCP proxy in front of the test Redis and returns a
// client through it, for cutting Redis off in the middle of a flow.
func RedisProxy(tb testing.TB) (*TCPProxy, *redis.Client) {
	tb.Helper()
	Redis(tb) // skips or fails without a Redis
	p, err := NewTCPProxy(RedisAddr())
	if err != nil {
		tb.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: p.Addr, MaxRetries: -1, DialTimeout: time.Second,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	tb.Cleanup(func() { _ = rdb.Close(); _ = p.Close() })
	return p, rdb
}
