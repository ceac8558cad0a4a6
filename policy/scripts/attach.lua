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
--- uses: core payments
local pid, action = ARGV[3], ARGV[4]
local p = pay_get(pid)
if not p then return fail('not_found', 'no payment ' .. pid, 'payment_id') end
local sig = p.signature or ''
if action == 'attach' then
  if p.status ~= 'reserved' then return fail('conflict', 'payment ' .. pid .. ' is ' .. p.status, 'payment_id') end
  if sig ~= '' and sig ~= (ARGV[7] or '') then return fail('conflict', 'payment ' .. pid .. ' already has its transaction', 'payment_id') end
  if (p.session_key_id or '') ~= '' then
    local st = redis.call('HGET', P .. 'sk:' .. p.session_key_id, 'status')
    if st == 'revoked' then return fail('revoked', 'session key was revoked', 'session_key_id') end
  end
  p.signature, p.blockhash, p.updated_at = ARGV[5], ARGV[6], fmt(NOW)
  pay_put(pid, p)
  return reply({ok = {payment_id = pid, attached = true}})
elseif action == 'abandon' then
  if p.status == 'reserved' and sig == '-' then return reply({ok = {payment_id = pid, abandoned = true}}) end
  if p.status ~= 'reserved' or sig ~= '' or num(p.created_at) > tonumber(ARGV[5]) then
    return reply({ok = {payment_id = pid, abandoned = false}})
  end
  p.signature, p.updated_at = '-', fmt(NOW)
  pay_put(pid, p)
  return reply({ok = {payment_id = pid, abandoned = true}})
end
return fail('invalid_argument', 'unknown action', 'action')
