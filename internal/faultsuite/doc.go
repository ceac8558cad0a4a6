// Package faultsuite holds the fault-injection suite: `stipend serve` runs as
// a child process on its own redis-server (AOF on) and the local chain
// behind a fault proxy; bursts of payments, fundings, top-ups and revokes are
// cut by SIGKILL at random moments while the RPC refuses, hangs, drops
// replies or delays past blockhash expiry, or Redis is killed and restarted.
// After recovery, per key and in total, the chain must equal the ledger, the
// recipients hold exactly what was spent, no idempotency key paid twice, and
// every token minted is accounted for. Each round prints its seed
// (STIPEND_FAULT_SEED replays it; STIPEND_FAULT_ROUNDS sets how many rounds).
package faultsuite
