// Package policy is the ledger of stipend: session keys, agent sessions,
// payments and their limits, kept in Redis.
//
// Every rule that decides money lives in one place, the Lua scripts under
// scripts/ (embedded): status transitions, expiry, the balance and limit
// checks, the rolling windows, the counters, the events and the audit log.
// Go marshals arguments, runs a script (EVALSHA, falling back to EVAL) and
// turns its JSON reply into typed values; it never re-checks a limit.
//
// All keys of one user_wallet share the Redis Cluster hash tag
// "{<user_wallet>}", so a key, its linked session, their windows, payments,
// events and audit log live in one slot and each script touches one slot.
// A few cross-user indexes (id → user_wallet, agent → keys, expiry queue)
// live outside the scripts; they only help find records and are written
// before the records they point to, so a reader skips entries whose record
// does not exist yet.
//
// Rolling windows: the daily, weekly and monthly limits are rolling (last
// 24 h, 7 d, 30 d) and sum per-bucket counters of 15 minutes, 2 hours and 8
// hours. A bucket counts whole while any part of it lies inside the window,
// so a window never under-counts: a payment weighs on a window for at least
// the window's length and at most one bucket longer. A check costs at most
// 96 + 84 + 90 bucket reads, whatever the number of past payments.
package policy
