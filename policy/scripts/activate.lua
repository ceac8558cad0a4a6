-- activate.lua: the owner's funding transfer is confirmed on chain; the key turns active.
-- ARGV[3] session_key_id  [4] funding transaction signature  [5] funded amount (base units)
-- [6] '1' to check only (may this key still be funded with this amount?), changing nothing
--- uses: core events views keys
local id, sig, funded, dry = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6] == '1'
local k, kkey = load_key(id, '')
if not k then return fail('not_found', 'no session key ' .. id, 'session_key_id') end
if not dry and k.status == 'active' and k.funding_signature == sig then return reply({ok = {key = key_view(k), duplicate = true}}) end
if expire_key(kkey, k, not dry) or k.status == 'expired' then return fail('expired', 'session key expired before its funding was confirmed', 'session_key_id') end
if k.status ~= 'pending_approval' then
  return fail('conflict', 'session key is ' .. k.status .. ', not pending_approval', 'session_key_id')
end
if funded ~= num(k.max_amount) then
  return fail('conflict', 'funded amount does not match max_amount', 'amount')
end
if dry then return reply({ok = {key = key_view(k)}}) end
k.status, k.activated_at, k.last_activity, k.funding_signature = 'active', fmt(NOW), fmt(NOW), sig
redis.call('HSET', kkey, 'status', 'active', 'activated_at', k.activated_at, 'last_activity', k.last_activity,
  'funding_signature', sig)
emit('session_key.activated', {session_key_id = id, agent_id = k.agent_id, user_wallet = k.user_wallet,
  max_amount = k.max_amount, signature = sig})
return reply({ok = {key = key_view(k)}})
