package webhook

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// The delivery state lives in the wallet's hash tag, so that every script
// touches one Redis Cluster slot. Per wallet and endpoint <ep>:
//
//	<prefix>:{<wallet>}:webhook:q:<ep>     sorted set: entry id → due time (unix ms); a lease moves it forward
//	<prefix>:{<wallet>}:webhook:wait:<ep>  sorted set: entry id → the entry's time (unix ms), until done
//	<prefix>:{<wallet>}:webhook:state      hash: "<ep>|<entry id>" → JSON epState, once an attempt failed
//
// The keys of the earlier layout (one lease per entry for every endpoint)
// are read once, by fanout, for entries still pending from it:
//
//	<prefix>:{<wallet>}:webhook:attempts   hash: entry id → JSON {endpoint → state}
//	<prefix>:{<wallet>}:webhook:retry      sorted set: entry id → due time

// fanout hands a stream entry read by this consumer to the endpoints that
// want it: it puts the entry on each endpoint's schedule (due now, or when
// the earlier layout had it due) and acknowledges it in the group, in one
// step. An entry no longer pending (another replica fanned it out) is left
// alone: the answer is -1. Endpoints that the earlier layout recorded as
// delivered or dead are skipped; their failed attempts carry over.
//
// KEYS: stream, state, old attempts, old retry, then q and wait of each
// endpoint. ARGV: group, entry id, now ms, entry ms, then the endpoints' names.
var fanout = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return -1 end
local old = redis.call('HGET', KEYS[3], ARGV[2])
local st = {}
if old then
  local ok, v = pcall(cjson.decode, old)
  if ok and type(v) == 'table' then st = v end
end
local n = 0
for i = 5, #ARGV do
  local name = ARGV[i]
  local s = st[name]
  if type(s) ~= 'table' or not s.s or s.s == '' then
    local k = 5 + 2 * (i - 5)
    local due = tonumber(ARGV[3])
    if type(s) == 'table' and tonumber(s.due) and tonumber(s.due) > due then due = tonumber(s.due) end
    redis.call('ZADD', KEYS[k], 'NX', due, ARGV[2])
    redis.call('ZADD', KEYS[k + 1], 'NX', ARGV[4], ARGV[2])
    if type(s) == 'table' and tonumber(s.n) and tonumber(s.n) > 0 then
      redis.call('HSET', KEYS[2], name .. '|' .. ARGV[2],
        cjson.encode({n = tonumber(s.n), err = s.err or '', first = tonumber(ARGV[3])}))
    end
    n = n + 1
  end
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if old then
  redis.call('HDEL', KEYS[3], ARGV[2])
  redis.call('ZREM', KEYS[4], ARGV[2])
end
return n
`)

// take leases an entry at one endpoint: it refuses (nil) an entry that is
// not on the endpoint's schedule any more (done) or not due yet (backing
// off, or leased by another replica); otherwise it moves the entry's due
// time to the lease's end and returns the endpoint's state of the entry
// ("" if none) and, if the stream still has it, the entry's fields.
//
// KEYS: q, stream, state. ARGV: entry id, now ms, lease end ms, state field.
var take = redis.NewScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) > tonumber(ARGV[2]) then return false end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
local st = redis.call('HGET', KEYS[3], ARGV[4]) or ''
local m = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #m == 0 then return {st} end
return {st, m[1][2]}
`)

// settle records the outcome of an attempt. "done" (delivered, dead-lettered
// or dropped) takes the entry off the endpoint's schedule and drops its
// state, whoever holds the lease. "retry" sets the next due time and the
// state, only while the caller still holds the lease (the due time is
// still the lease's end); the answer is then 0.
//
// KEYS: q, wait, state. ARGV: entry id, state field, "done" | "retry",
// lease end ms, next due ms, state JSON.
var settle = redis.NewScript(`
if ARGV[3] == 'done' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[2])
  return 1
end
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[5], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[6])
return 1
`)

// scriptCall is one run of a script in a pipeline.
type scriptCall struct {
	keys []string
	args []any
}

// runPipelined runs a script once per call in one pipeline (EVALSHA), and
// again one by one (EVALSHA, then EVAL) for the calls that found the script
// not loaded.
func runPipelined(ctx context.Context, rdb redis.UniversalClient, s *redis.Script, calls []scriptCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	if len(calls) == 0 {
		return cmds
	}
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = s.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	for i, c := range calls {
		if err := cmds[i].Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			cmds[i] = s.Run(ctx, rdb, c.keys, c.args...)
		}
	}
	return cmds
}
