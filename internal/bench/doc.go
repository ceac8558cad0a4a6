// Package bench holds `make bench`: one benchmark, BenchmarkReport, that
// measures the ledger against its anchors in one run on one Redis (a no-op
// EVALSHA, go-redis/redis_rate's Allow), counts Redis round trips with a
// go-redis hook, weighs keys and payments with INFO memory, and compares
// confirmed payments through MCP on the local chain with the chain's own rate
// for pre-signed transfers. It prints a table; it asserts no time.
package bench
