-- sweep.lua: the state of returning what a session key holds to its owner.
-- A sweep's signature is stored before it is sent (as a payment's is), so a
-- crash never loses track of it; the key's sealed secret is kept until a
-- sweep has confirmed a zero balance and a grace period has passed.
-- ARGV[3] session_key_id  [4] action:
--   'begin'  [5] signature [6] blockhash: refused (conflict) while another sweep
--            is pending; refused (conflict) for a key that may still spend
--   'clear'  [5] signature [6] '1' when it landed: the pending sweep is resolved
--   'zero'   the chain confirmed a zero balance (records when, once)
--   'dirty'  tokens were found on the key again: forget the confirmed zero
--   'forget' [5] grace (ms): delete the sealed secret once zero was confirmed
--            at least grace ago and no sweep is pending; answers deleted
--   'get'    the sweep state only
--- uses: core events keys
local id, action = ARGV[3], ARGV[4]
local kkey = P .. 'sk:' .. id
local k = hgetall(kkey)
if not k then return fail('not_found', 'no session key ' .. id, 'session_key_id') end
local function state(extra)
  local out = {session_key_id = id, status = k.status, sweep_signature = k.sweep_signature or '',
    sweep_blockhash = k.sweep_blockhash or '', last_sweep_signature = k.last_sweep_signature or '',
    swept_zero_at = k.swept_zero_at or '', secret_deleted_at = k.secret_deleted_at or '',
    has_secret = (k.sealed_key or '') ~= ''}
  for a, b in pairs(extra or {}) do out[a] = b end
  return reply({ok = out})
end
if action == 'begin' then
  if (k.sweep_signature or '') ~= '' then return fail('conflict', 'a sweep of ' .. id .. ' is pending', 'session_key_id') end
  expire_key(kkey, k, true)
  if k.status == 'active' or k.status == 'exhausted' then
    return fail('conflict', 'session key ' .. id .. ' may still spend', 'session_key_id')
  end
  k.sweep_signature, k.sweep_blockhash = ARGV[5], ARGV[6]
  redis.call('HSET', kkey, 'sweep_signature', ARGV[5], 'sweep_blockhash', ARGV[6], 'sweep_started_at', fmt(NOW))
elseif action == 'clear' then
  if (k.sweep_signature or '') == ARGV[5] then
    redis.call('HDEL', kkey, 'sweep_signature', 'sweep_blockhash', 'sweep_started_at')
    k.sweep_signature, k.sweep_blockhash = nil, nil
    if ARGV[6] == '1' then
      redis.call('HSET', kkey, 'last_sweep_signature', ARGV[5])
      k.last_sweep_signature = ARGV[5]
      audit('session_key.swept', {session_key_id = id, signature = ARGV[5]})
    end
  end
elseif action == 'zero' then
  if (k.swept_zero_at or '') == '' then
    k.swept_zero_at = fmt(NOW)
    redis.call('HSET', kkey, 'swept_zero_at', k.swept_zero_at)
  end
elseif action == 'dirty' then
  if (k.swept_zero_at or '') ~= '' then
    redis.call('HDEL', kkey, 'swept_zero_at')
    k.swept_zero_at = nil
  end
elseif action == 'forget' then
  local zero = num(k.swept_zero_at)
  if zero > 0 and NOW - zero >= tonumber(ARGV[5]) and (k.sweep_signature or '') == '' and
    (k.status == 'revoked' or k.status == 'expired') and (k.sealed_key or '') ~= '' then
    k.secret_deleted_at = fmt(NOW)
    redis.call('HDEL', kkey, 'sealed_key')
    k.sealed_key = nil
    redis.call('HSET', kkey, 'secret_deleted_at', k.secret_deleted_at)
    audit('session_key.secret_deleted', {session_key_id = id})
    return state({deleted = true})
  end
  return state({deleted = false})
elseif action ~= 'get' then
  return fail('invalid_argument', 'unknown action', 'action')
end
return state()
