-- attach.lua: the payment was decided first (reserved without a transaction);
-- its signed transaction's signature is stored here, before it is sent, so a
-- crash after this point is resolved from the signature. A reservation whose
-- transaction was never attached (its process died between reserve and
-- attach) is abandoned: nothing was sent, so it may be released.
-- ARGV[3] payment_id  [4] action 'attach'|'abandon'
--   'attach'  [5] signature [6] blockhash [7] previous signature (''): refused
--             unless the payment is reserved with no transaction (or with the
--             previous one, refused by the node and so never to land) and its
--             key was not revoked since
--   'abandon' [5] cutoff (ms): a reservation made before it and still without
--             a transaction is marked abandoned ('-'); answers abandoned = true
--             once it is (the caller then releases it)
--- uses: core
local pid, action = ARGV[3], ARGV[4]
local pkey = P .. 'pay:' .. pid
local p = hgetall(pkey)
if not p then return fail('not_found', 'no payment ' .. pid, 'payment_id') end
local sig = p.signature or ''
if action == 'attach' then
  if p.status ~= 'reserved' then return fail('conflict', 'payment ' .. pid .. ' is ' .. p.status, 'payment_id') end
  if sig ~= '' and sig ~= (ARGV[7] or '') then return fail('conflict', 'payment ' .. pid .. ' already has its transaction', 'payment_id') end
  if (p.session_key_id or '') ~= '' then
    local st = redis.call('HGET', P .. 'sk:' .. p.session_key_id, 'status')
    if st == 'revoked' then return fail('revoked', 'session key was revoked', 'session_key_id') end
  end
  redis.call('HSET', pkey, 'signature', ARGV[5], 'blockhash', ARGV[6], 'updated_at', fmt(NOW))
  return reply({ok = {payment_id = pid, attached = true}})
elseif action == 'abandon' then
  if p.status == 'reserved' and sig == '-' then return reply({ok = {payment_id = pid, abandoned = true}}) end
  if p.status ~= 'reserved' or sig ~= '' or num(p.created_at) > tonumber(ARGV[5]) then
    return reply({ok = {payment_id = pid, abandoned = false}})
  end
  redis.call('HSET', pkey, 'signature', '-', 'updated_at', fmt(NOW))
  return reply({ok = {payment_id = pid, abandoned = true}})
end
return fail('invalid_argument', 'unknown action', 'action')
