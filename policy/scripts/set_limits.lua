-- set_limits.lua: the owner changes a session's limits (after a signed approval).
-- ARGV[3] session_id  [4] agent (must be '')  [5] max_per_transaction  [6] max_per_day
-- [7] max_per_week  [8] max_per_month  [9] require_approval_above
-- [10] on whose word: 'owner' (a signed approval; the default) or 'operator_forced'
--- uses: core events keys
local sid, agent, by = ARGV[3], ARGV[4], ARGV[10] or ''
if by == '' then by = 'owner' end
if by ~= 'owner' and by ~= 'operator_forced' then return fail('invalid_argument', 'unknown authority ' .. by, 'by') end
if agent ~= '' then return fail('approval_required', 'only the owner may change a session\'s limits', 'session_id') end
local s, skey = load_session(sid, '')
if not s then return fail('not_found', 'no session ' .. sid, 'session_id') end
if expire_session(skey, s, true) or s.status ~= 'active' then return fail('expired', 'session is ' .. s.status, 'session_id') end
local names = {'per_transaction', 'per_day', 'per_week', 'per_month', 'approval_above'}
for i, f in ipairs(names) do
  local v = tonumber(ARGV[4 + i])
  if not v or v < 0 or v > MAX_UNITS then return fail('invalid_argument', f .. ' out of range', f) end
  s[f] = fmt(v)
  redis.call('HSET', skey, f, s[f])
end
emit('session.limits_changed', {session_id = sid, agent_id = s.agent_id, user_wallet = s.user_wallet,
  per_transaction = s.per_transaction, per_day = s.per_day, per_week = s.per_week, per_month = s.per_month,
  approval_above = s.approval_above, by = by})
return reply({ok = {session = s}})
