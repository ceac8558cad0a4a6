-- approval.lua: the single-use approval links a human opens. A token is bound
-- to one payload (the exact transaction message, or the text to sign); it is
-- claimed by one submission at a time and used once.
-- ARGV[3] token  ARGV[4] action:
--   'create'  [5] kind [6] agent_id [7] session_key_id [8] session_id [9] payment_id
--             [10] amount [11] recipient [12] payload [13] expires_at (ms) [14] details (JSON)
--   'claim'   pending and unexpired → processing; [5] the signed transaction's
--             signature and [6] its blockhash, when it signs one (kept so that a
--             submission cut short by a crash is finished by the reconciler)
--   'release' processing → pending (the chain failed; the human may try again)
--   'finish'  processing → used, [5] result (JSON)
--   'rebind'  pending → pending with a new payload [5] (a fresh blockhash)
--   'cancel'  pending and unexpired → cancelled, [5] reason
--   'get'     the record only, changing nothing
-- Every action answers {approval = <the record after it>}.
--- uses: core events
local token, action = ARGV[3], ARGV[4]
local akey = P .. 'appr:' .. token
if action == 'create' then
  if redis.call('EXISTS', akey) == 1 then return fail('conflict', 'approval exists', 'token') end
  local exp = tonumber(ARGV[13])
  if exp <= NOW then return fail('invalid_argument', 'approval expiry must be in the future', 'expires_at') end
  local a = {token = token, kind = ARGV[5], agent_id = ARGV[6], session_key_id = ARGV[7], session_id = ARGV[8],
    payment_id = ARGV[9], amount = ARGV[10], recipient = ARGV[11], payload = ARGV[12], expires_at = fmt(exp),
    details = ARGV[14], status = 'pending', created_at = fmt(NOW), user_wallet = string.sub(P, string.find(P, '{') + 1, string.find(P, '}') - 1)}
  redis.call('HSET', akey, unpack(flatten(a)))
  redis.call('PEXPIREAT', akey, fmt(exp + 86400000))
  audit('approval.requested', {token_hash = redis.sha1hex(token), kind = a.kind, session_key_id = a.session_key_id,
    session_id = a.session_id, payment_id = a.payment_id, amount = a.amount})
  return reply({ok = {approval = a}})
end
local a = hgetall(akey)
if not a then return fail('not_found', 'no such approval link', 'token') end
local expired = NOW >= num(a.expires_at)
if action == 'claim' then
  if a.status == 'used' then return fail('conflict', 'this approval link was already used', 'token') end
  if a.status == 'cancelled' then return fail('conflict', 'this approval link was cancelled', 'token') end
  if a.status == 'processing' then return fail('conflict', 'this approval is being submitted already', 'token') end
  if expired then return fail('expired', 'this approval link expired', 'token') end
  redis.call('HSET', akey, 'status', 'processing', 'claimed_at', fmt(NOW), 'tx_signature', ARGV[5] or '',
    'tx_blockhash', ARGV[6] or '')
  redis.call('ZADD', P .. 'appr_processing', fmt(NOW), token)
elseif action == 'release' then
  if a.status ~= 'processing' then return fail('conflict', 'approval is ' .. a.status, 'token') end
  redis.call('HSET', akey, 'status', 'pending')
  redis.call('ZREM', P .. 'appr_processing', token)
elseif action == 'finish' then
  if a.status ~= 'processing' then return fail('conflict', 'approval is ' .. a.status, 'token') end
  redis.call('HSET', akey, 'status', 'used', 'used_at', fmt(NOW), 'result', ARGV[5])
  redis.call('ZREM', P .. 'appr_processing', token)
  audit('approval.used', {token_hash = redis.sha1hex(token), kind = a.kind, session_key_id = a.session_key_id,
    session_id = a.session_id, payment_id = a.payment_id})
elseif action == 'rebind' then
  if a.status ~= 'pending' then return fail('conflict', 'approval is ' .. a.status, 'token') end
  if expired then return fail('expired', 'this approval link expired', 'token') end
  redis.call('HSET', akey, 'payload', ARGV[5])
elseif action == 'get' then
  -- read only: the reply is the record
elseif action == 'cancel' then
  if a.status ~= 'pending' then return fail('conflict', 'approval is ' .. a.status, 'token') end
  if expired then return fail('expired', 'this approval link expired', 'token') end
  redis.call('HSET', akey, 'status', 'cancelled', 'result', ARGV[5])
else
  return fail('invalid_argument', 'unknown action', 'action')
end
return reply({ok = {approval = hgetall(akey)}})
