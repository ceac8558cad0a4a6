-- create_session.lua: an agent session, the policy layer of limits.
-- ARGV[3] session_id  [4] agent_id  [5] user_wallet  [6] max_per_transaction  [7] max_per_day
-- [8] max_per_week  [9] max_per_month  [10] require_approval_above  [11] expires_at (ms)
-- [12] mint the limits are in ('' = any)  [13..] allowed recipients. A limit of 0 means none.
--- uses: core windows events views
local id = ARGV[3]
local skey = P .. 'as:' .. id
if redis.call('EXISTS', skey) == 1 then return fail('conflict', 'session ' .. id .. ' already exists', 'session_id') end
local exp = tonumber(ARGV[11])
if exp <= NOW then return fail('invalid_argument', 'expires_at must be in the future', 'duration_hours') end
local s = {session_id = id, agent_id = ARGV[4], user_wallet = ARGV[5], status = 'active',
  per_transaction = ARGV[6], per_day = ARGV[7], per_week = ARGV[8], per_month = ARGV[9],
  approval_above = ARGV[10], created_at = fmt(NOW), expires_at = fmt(exp), has_recipients = '0', mint = ARGV[12],
  w = WINDOW_FIELDS_NEW}
for _, f in ipairs({'per_transaction', 'per_day', 'per_week', 'per_month', 'approval_above'}) do
  local v = tonumber(s[f])
  if not v or v < 0 or v > MAX_UNITS then return fail('invalid_argument', f .. ' out of range', f) end
end
if #ARGV >= 13 then
  s.has_recipients = '1'
  redis.call('SADD', skey .. ':recipients', unpack(ARGV, 13))
end
redis.call('HSET', skey, unpack(record_fields(s)))
emit('session.created', {session_id = id, agent_id = s.agent_id, user_wallet = s.user_wallet})
return reply({ok = {session = session_view(s)}})
