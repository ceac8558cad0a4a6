-- commit.lua: a reserved payment's transaction landed; its amount moves from
-- reserved to spent. Committing twice changes nothing (the reply says
-- duplicate = '1'). The reply carries what remains on the key (key_remaining).
-- A settled payment stays in Redis for the idempotency window, then leaves.
-- ARGV[3] payment_id  [4] how long a settled payment is kept (ms)
--- uses: core payments events views
local pid, keep = ARGV[3], ARGV[4]
local p = pay_get(pid)
if not p then return fail('not_found', 'no payment ' .. pid, 'payment_id') end
if p.status == 'confirmed' then p.duplicate, p.legacy = '1', nil; return reply({ok = p}) end
if p.status ~= 'reserved' then return fail('conflict', 'payment ' .. pid .. ' is ' .. p.status, 'payment_id') end
local amount = num(p.amount)
p.status, p.updated_at = 'confirmed', fmt(NOW)
pay_settled(p)
pay_put(pid, p, keep)
redis.call('ZREM', P .. 'inflight', pid)
if (p.session_key_id or '') ~= '' then
  local kkey = P .. 'sk:' .. p.session_key_id
  redis.call('HINCRBY', kkey, 'reserved', fmt(-amount))
  redis.call('HINCRBY', kkey, 'spent', fmt(amount))
  redis.call('HINCRBY', kkey, 'transaction_count', 1)
  redis.call('HINCRBY', kkey .. ':recipients', p.recipient, 1)
  redis.call('HINCRBY', kkey .. ':hourly', 'p' .. fmt(math.floor(NOW / 3600000)), 1)
  redis.call('HSET', kkey, 'last_activity', fmt(NOW))
  local k = hgetall(kkey)
  if k.low_balance_sent ~= '1' and (num(k.spent) + num(k.reserved)) * 10 >= num(k.max_amount) * 8 then
    redis.call('HSET', kkey, 'low_balance_sent', '1')
    emit('session_key.low_balance', {session_key_id = k.session_key_id, agent_id = k.agent_id,
      user_wallet = k.user_wallet, remaining_amount = key_view(k).remaining_amount, max_amount = k.max_amount})
  end
  p.key_remaining = key_view(k).remaining_amount
end
emit('payment.confirmed', {payment_id = pid, session_key_id = p.session_key_id, session_id = p.session_id,
  agent_id = p.agent_id, user_wallet = p.user_wallet, amount = p.amount, recipient = p.recipient,
  signature = p.signature})
return reply({ok = p})
