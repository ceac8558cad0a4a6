-- audit_trim.lua: the oldest audit entries of a user_wallet left Redis for
-- the audit sink, which has them durably. They are removed only if they are
-- still the oldest (the last one's hash matches); the head remembers the
-- sequence and hash of the last entry removed (its base, lib.lua's
-- audit_head), so the chain in Redis goes on from the sink's.
-- ARGV[3] how many entries  [4] the seq of the last one  [5] its hash
--- uses: core events
local n, seq, hash = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local last = redis.call('LINDEX', P .. 'audit', n - 1)
if not last or redis.sha1hex(last) ~= hash then
  return fail('conflict', 'the audit log changed under the drain', 'audit')
end
redis.call('LTRIM', P .. 'audit', n, -1)
local hseq, hhash = audit_head()
audit_head_put(hseq, hhash, seq, hash)
return reply({ok = {removed = n}})
