-- release.lua: a payment is known never to land (or its approval was refused or
-- lapsed); what it held returns to the key's balance and the session's windows.
-- A settled payment stays in Redis for the idempotency window, then leaves.
-- ARGV[3] payment_id  [4] reason  [5] how long a settled payment is kept (ms)
--- uses: core payments windows events keys
local pid, reason, keep = ARGV[3], ARGV[4], ARGV[5]
local p = pay_get(pid)
if not p then return fail('not_found', 'no payment ' .. pid, 'payment_id') end
if p.status == 'failed' then p.duplicate, p.legacy = '1', nil; return reply({ok = p}) end
if p.status ~= 'reserved' and p.status ~= 'approval_required' then
  return fail('conflict', 'payment ' .. pid .. ' is ' .. p.status, 'payment_id')
end
local held = p.status == 'reserved'
local amount = num(p.amount)
p.status, p.updated_at, p.reason = 'failed', fmt(NOW), reason
local at = {day = p.b_day, week = p.b_week, month = p.b_month}
pay_settled(p)
pay_put(pid, p, keep)
redis.call('ZREM', P .. 'inflight', pid)
if held then
  if (p.session_id or '') ~= '' then
    windows_sub(p.session_id, at, amount)
  end
  if (p.session_key_id or '') ~= '' then
    local kkey = P .. 'sk:' .. p.session_key_id
    local reserved = redis.call('HINCRBY', kkey, 'reserved', fmt(-amount))
    local f = redis.call('HMGET', kkey, 'status', 'expires_at', 'max_amount', 'spent', 'session_key_id', 'agent_id', 'user_wallet')
    local k = {status = f[1], expires_at = f[2], max_amount = f[3], spent = f[4], session_key_id = f[5], agent_id = f[6], user_wallet = f[7]}
    if not expire_key(kkey, k, true) and k.status == 'exhausted' and
      num(k.max_amount) - num(k.spent) - reserved > 0 then
      redis.call('HSET', kkey, 'status', 'active')
    end
  end
end
emit('payment.failed', {payment_id = pid, session_key_id = p.session_key_id, session_id = p.session_id,
  agent_id = p.agent_id, user_wallet = p.user_wallet, amount = p.amount, recipient = p.recipient, reason = reason})
return reply({ok = p})
