-- top_up.lua: the owner's top-up transfer is confirmed; max_amount grows and an
-- exhausted key is active again. The same funding signature never counts twice:
-- the second call changes nothing and answers duplicate = true.
-- ARGV[3] session_key_id  [4] amount (base units)  [5] funding transaction signature
-- [6] '1' to check only (may this key take a top-up of this amount?), changing nothing
--- uses: core events views keys
local id, amount, sig, dry = ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6] == '1'
local k, kkey = load_key(id, '')
if not k then return fail('not_found', 'no session key ' .. id, 'session_key_id') end
if not dry and redis.call('SISMEMBER', kkey .. ':topups', sig) == 1 then return reply({ok = {key = key_view(k), duplicate = true}}) end
if expire_key(kkey, k, not dry) or k.status == 'expired' then return fail('expired', 'session key expired', 'session_key_id') end
if k.status == 'revoked' then return fail('revoked', 'session key was revoked', 'session_key_id') end
if k.status ~= 'active' and k.status ~= 'exhausted' then
  return fail('not_active', 'session key is ' .. k.status, 'session_key_id')
end
local max = num(k.max_amount) + amount
if amount <= 0 or max > MAX_UNITS then return fail('invalid_argument', 'top-up amount out of range', 'amount') end
if dry then return reply({ok = {key = key_view(k)}}) end
k.max_amount, k.status, k.last_activity = fmt(max), 'active', fmt(NOW)
local used = num(k.spent) + num(k.reserved)
local fields = {'max_amount', k.max_amount, 'status', 'active', 'last_activity', k.last_activity}
if used * 10 < max * 8 then fields[#fields + 1] = 'low_balance_sent'; fields[#fields + 1] = '0' end
redis.call('HSET', kkey, unpack(fields))
redis.call('SADD', kkey .. ':topups', sig)
emit('session_key.topped_up', {session_key_id = id, agent_id = k.agent_id, user_wallet = k.user_wallet,
  amount = fmt(amount), new_max_amount = k.max_amount, signature = sig})
return reply({ok = {key = key_view(k)}})
