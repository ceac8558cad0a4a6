-- revoke.lua: the key stops paying at once and for good.
-- ARGV[3] session_key_id  [4] agent ('' = owner/operator)  [5] reason
--- uses: core events views keys
local id, agent, reason = ARGV[3], ARGV[4], ARGV[5]
local k, kkey = load_key(id, agent)
if not k then return fail('not_found', 'no session key ' .. id, 'session_key_id') end
if k.status == 'revoked' then return reply({ok = {key = key_view(k), duplicate = true}}) end
if expire_key(kkey, k, true) or k.status == 'expired' then
  return fail('expired', 'session key already expired', 'session_key_id')
end
k.status, k.revoked_at = 'revoked', fmt(NOW)
redis.call('HSET', kkey, 'status', 'revoked', 'revoked_at', k.revoked_at, 'last_activity', fmt(NOW))
emit('session_key.revoked', {session_key_id = id, agent_id = k.agent_id, user_wallet = k.user_wallet, reason = reason})
return reply({ok = {key = key_view(k)}})
