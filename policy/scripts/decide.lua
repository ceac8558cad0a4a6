-- decide.lua: the payment decision. The same checks serve can_afford
-- (mode 'check': it changes no amount, status or event; it may only retire
-- window buckets that left, see lib.lua's windows) and pay (mode 'reserve'), so the two can never
-- disagree. It reports every failing check, the largest amount that passes
-- now and when the requested amount would pass, and in 'reserve' mode holds
-- the amount against the key's balance and every session window at once.
--
-- Arguments, from ARGV[3] on, in this order (decide.go's PaymentRequest.args;
-- the trailing ones a check does not need are left out):
--   [3] mode 'check'|'reserve'   [4] kind 'sk' (session key) | 'as' (agent session)   [5] id
--   [6] agent ('' = owner/operator)   [7] amount (base units)   [8] recipient
--   [9] device: SHA-256 (hex) of the device fingerprint presented
--   [10] flags: 'a' the owner approved this payment_id, 'r' the service's risk
--        check asks for the owner's approval
--   [11] payment_id   [12] idempotency_key   [13] fingerprint (of the arguments)
--   [14] signature (of the payment transaction)   [15] description   [16] blockhash
--
-- The answer of a decision is a flat list of name/value pairs (no JSON to
-- encode here or decode in Go): each 'check' and the 'payment' are nested
-- lists of name/value pairs. A refused argument answers fail()'s JSON.
--- uses: core payments windows events keys
local mode, kind, id, agent = ARGV[3], ARGV[4], ARGV[5], ARGV[6] or ''
local amount, recipient, device, flags = tonumber(ARGV[7]), ARGV[8] or '', ARGV[9] or '', ARGV[10] or ''
-- The amount is an integer of base units, written in full (units() in Go).
local amount_s = ARGV[7]
if not amount or amount <= 0 or amount > MAX_UNITS or fmt(amount) ~= amount_s then
  return fail('invalid_argument', 'amount out of range', 'amount')
end
local approved, risky = string.find(flags, 'a', 1, true) ~= nil, string.find(flags, 'r', 1, true) ~= nil
local write = mode == 'reserve'
local pid, idem, fp = ARGV[11] or '', ARGV[12] or '', ARGV[13] or ''
local sig, desc, blockhash = ARGV[14] or '', ARGV[15] or '', ARGV[16] or ''

local out, n = {}, 0 -- the answer's name/value pairs
local function put(name, value) out[n + 1] = name; out[n + 2] = value; n = n + 2 end

local k, kkey, s, skey
if kind == 'sk' then
  -- Only the fields the decision reads; a reservation also takes what the
  -- service needs to sign (the sealed secret and the key's address).
  kkey = P .. 'sk:' .. id
  local f = redis.call('HMGET', kkey, unpack(write and DECIDE_KEY_RESERVE or DECIDE_KEY_CHECK))
  if not f[1] or (agent ~= '' and f[1] ~= agent) then return fail('not_found', 'no session key ' .. id, 'session_key_id') end
  k = {session_key_id = id, agent_id = f[1], status = f[2], expires_at = f[3], max_amount = f[4], spent = f[5],
    reserved = f[6], linked_session_id = f[7], device_hash = f[8], mint = f[9], sealed_key = f[10],
    session_key_address = f[11], user_wallet = WALLET}
  -- A key bound to a device pays only for that device (the owner's own approval aside);
  -- a check (can_afford) compares only when a fingerprint is presented.
  local bound = k.device_hash or ''
  if bound ~= '' and not approved and (write or device ~= '') and device ~= bound then
    return fail('device_mismatch', device == '' and 'this session key is bound to a device: present its device_fingerprint'
      or 'device_fingerprint does not match the device this session key is bound to', 'device_fingerprint')
  end
  expire_key(kkey, k, write)
end
local sid = k and (k.linked_session_id or '') or id
if sid ~= '' then
  skey = P .. 'as:' .. sid
  local f = redis.call('HMGET', skey, unpack(write and DECIDE_SESSION_RESERVE or k and DECIDE_SESSION_CHECK or
    DECIDE_SESSION_OWN))
  if f[1] then
    s = {session_id = sid, status = f[1], expires_at = f[2], has_recipients = f[3], per_transaction = f[4],
      per_day = f[5], per_week = f[6], per_month = f[7], approval_above = f[8], w = f[9], agent_id = f[10],
      mint = f[11], wb = f[12], wc = f[13], user_wallet = WALLET}
    if not k and agent ~= '' and s.agent_id ~= agent then s = nil end
  end
  if not k and not s then return fail('not_found', 'no session ' .. id, 'session_id') end
end
if s then expire_session(skey, s, write) end
local mint = (k or s).mint or ''

-- An idempotency key leads to its payment's slot (idem_slot): a payment there
-- is this key's, replayed; with other arguments it is a conflict. Keys used
-- before that layout have an idempotency record of their own.
local islot
if write and idem ~= '' then
  islot = idem_slot(kind, id, idem)
  local p
  local v = redis.call('GET', P .. 'pay:' .. islot)
  if v then
    p = pay_decode(v, 'pay_' .. islot)
    p.payment_id = p.payment_id .. (p.tail or '')
    p.tail = nil
    if p.idempotency_key ~= idem or (kind == 'sk' and p.session_key_id ~= id) or (kind == 'as' and p.session_id ~= id) or
      num(p.amount) ~= amount or p.recipient ~= recipient or (p.description or '') ~= desc then
      return fail('conflict', 'idempotency_key ' .. idem .. ' was already used with different arguments', 'idempotency_key')
    end
  else
    local prev = redis.call('HMGET', P .. 'idem:' .. kind .. ':' .. id .. ':' .. idem, 'payment_id', 'fingerprint')
    if prev[1] then
      if prev[2] ~= fp then
        return fail('conflict', 'idempotency_key ' .. idem .. ' was already used with different arguments', 'idempotency_key')
      end
      p = pay_get(prev[1])
      if not p then
        return fail('conflict', 'idempotency_key ' .. idem .. ' was already used; its payment is no longer kept', 'idempotency_key')
      end
    end
  end
  if p then
    p.legacy = nil
    put('allowed', '1'); put('outcome', p.status); put('duplicate', '1'); put('payment', flatten(p)); put('mint', mint)
    if k then
      -- What is left on the key now, for the replay's answer.
      local rem = num(k.max_amount) - num(k.spent) - num(k.reserved)
      if rem < 0 or k.status == 'revoked' or k.status == 'expired' then rem = 0 end
      put('session_key_remaining', fmt(rem))
    end
    return out
  end
  if not approved and string.sub(pid, 5, 20) ~= islot then
    return fail('invalid_argument', 'payment_id ' .. pid .. ' is not the one of idempotency_key ' .. idem, 'payment_id')
  end
end

local prior
if approved then
  prior = pay_get(pid)
  if not prior or prior.status ~= 'approval_required' then
    return fail('conflict', 'payment ' .. pid .. ' is not awaiting approval', 'payment_id')
  end
  if num(prior.amount) ~= amount or prior.recipient ~= recipient then
    return fail('conflict', 'payment ' .. pid .. ' was approved for other terms', 'payment_id')
  end
end

local checks = {} -- every failing check: {code, param, message, and more pairs}
local maxnow = MAX_UNITS
local next_at, never = 0, false
local key_remaining, today_remaining
local function cap(n) if n < 0 then n = 0 end if n < maxnow then maxnow = n end end

if k then
  local st = k.status
  if st == 'pending_approval' then
    checks[#checks + 1] = {'code', 'not_active', 'param', 'session_key_id', 'message',
      'session key is waiting for the owner to approve its funding'}
    never = true; cap(0)
  elseif st == 'expired' then
    checks[#checks + 1] = {'code', 'expired', 'param', 'session_key_id', 'message', 'session key expired',
      'resets_at', k.expires_at or ''}
    never = true; cap(0)
  elseif st == 'revoked' then
    checks[#checks + 1] = {'code', 'revoked', 'param', 'session_key_id', 'message', 'session key was revoked'}
    never = true; cap(0)
  end
  local max, used = num(k.max_amount), num(k.spent) + num(k.reserved)
  local rem = max - used
  if rem < 0 then rem = 0 end
  key_remaining = rem
  if amount > rem then
    checks[#checks + 1] = {'code', 'insufficient_funds', 'param', 'amount', 'message', 'session key balance is too low',
      'limit', fmt(max), 'used', fmt(used), 'remaining', fmt(rem)}
    never = true
  end
  cap(rem)
end

local state
if s then
  if s.status ~= 'active' then
    local code = s.status == 'revoked' and 'revoked' or 'expired'
    checks[#checks + 1] = {'code', code, 'param', 'session_id', 'message', 'linked session is ' .. s.status,
      'resets_at', s.expires_at or ''}
    never = true; cap(0)
  end
  if s.has_recipients == '1' and redis.call('SISMEMBER', skey .. ':recipients', recipient) == 0 then
    checks[#checks + 1] = {'code', 'recipient_not_allowed', 'param', 'recipient', 'message',
      'recipient is not on the session allow-list'}
    never = true; cap(0)
  end
  local per_tx = num(s.per_transaction)
  if per_tx > 0 then
    if amount > per_tx then
      checks[#checks + 1] = {'code', 'per_transaction_limit', 'param', 'amount', 'message',
        'amount is over the per-transaction limit', 'limit', fmt(per_tx), 'used', '0', 'remaining', fmt(per_tx)}
      never = true
    end
    cap(per_tx)
  end
  if write then state = windows_quick(s) or windows_full(sid, s) else state = windows_used(sid, s, skey) end
  for i, w in ipairs(WINDOWS) do
    local limit = num(s[w.field])
    local used = state[w.name].used
    if limit > 0 then
      local rem = limit - used
      if rem < 0 then rem = 0 end
      if w.name == 'day' then today_remaining = rem end
      if amount > rem then
        -- Only a failing window reads its buckets, to say when it resets.
        local buckets = window_buckets(sid, s, skey, i)
        local c = {'code', w.code, 'param', 'amount', 'message', 'amount is over the ' .. w.adj .. ' limit',
          'limit', fmt(limit), 'used', fmt(used), 'remaining', fmt(rem), 'window', w.name}
        if #buckets > 0 then c[#c + 1] = 'resets_at'; c[#c + 1] = fmt(leaves_at(w, buckets[1][1])) end
        checks[#checks + 1] = c
        if amount > limit then
          never = true
        else
          local freed = 0
          for _, b in ipairs(buckets) do
            freed = freed + b[2]
            if used - freed + amount <= limit then
              local at = leaves_at(w, b[1])
              if at > next_at then next_at = at end
              break
            end
          end
        end
      end
      cap(rem)
    end
  end
end
if next_at > 0 and k and next_at >= num(k.expires_at) then never = true end
if next_at > 0 and s and next_at >= num(s.expires_at) then never = true end

local allowed = #checks == 0
local needs_approval = allowed and not approved and
  (kind == 'as' or risky or (s ~= nil and num(s.approval_above) > 0 and amount > num(s.approval_above)))

put('allowed', allowed and '1' or '0')
if needs_approval then put('approval_required', '1') end
put('max_affordable_now', fmt(maxnow))
for _, c in ipairs(checks) do put('check', c) end
if not allowed and not never then put('next_available_at', fmt(next_at)) end
if key_remaining then put('session_key_remaining', fmt(key_remaining)) end
if today_remaining then put('session_remaining_today', fmt(today_remaining)) end
local nows = fmt(NOW)
put('now', nows)
-- The token the amounts are in: the key's mint (a session's for a session payment).
put('mint', mint)

if not write then
  put('outcome', allowed and (needs_approval and 'approval_required' or 'allowed') or 'refused')
  return out
end

local owner = k or s
if not allowed then
  put('outcome', 'refused')
  local codes = {}
  for i, c in ipairs(checks) do codes[i] = c[2] end
  if k then
    redis.call('HINCRBY', kkey, 'refusals', 1)
    redis.call('HSET', kkey, 'last_refusal', nows)
    redis.call('HINCRBY', kkey .. ':hourly', 'r' .. fmt(math.floor(NOW / 3600000)), 1)
  end
  audit('payment.refused', {kind = kind, id = id, agent_id = owner.agent_id, amount = amount_s,
    recipient = recipient, codes = table.concat(codes, ',')})
  return out
end

-- (With an idempotency key its slot was read above, and found empty.)
if not prior and not islot and redis.call('EXISTS', pay_key(pid)) == 1 then
  return fail('conflict', 'payment ' .. pid .. ' already exists', 'payment_id')
end
local pay = prior or {payment_id = pid, kind = kind, agent_id = owner.agent_id, user_wallet = owner.user_wallet,
  amount = amount_s, recipient = recipient, description = desc, idempotency_key = idem, created_at = nows}
if k then pay.session_key_id = k.session_key_id end
if s then pay.session_id = s.session_id end
pay.updated_at = nows

if needs_approval then
  pay.status = 'approval_required'
  pay_put(pid, pay)
  emit('payment.approval_required', {payment_id = pid, session_key_id = pay.session_key_id, session_id = pay.session_id,
    agent_id = owner.agent_id, user_wallet = owner.user_wallet, amount = amount_s, recipient = recipient})
  put('outcome', 'approval_required')
  if prior then put('payment', flatten(pay)) else put('new_payment', {'session_id', pay.session_id or '', 'agent_id', owner.agent_id}) end
  return out
end

pay.status = 'reserved'
pay.signature = sig
pay.blockhash = blockhash
if s then
  -- Every window counts, limited or not, so a limit set later sees past spending.
  local at = windows_add(sid, state, amount)
  for _, w in ipairs(WINDOWS) do pay['b_' .. w.name] = at[w.name] end
end
pay_put(pid, pay)
redis.call('ZADD', P .. 'inflight', nows, pid)
if k then
  if key_remaining - amount <= 0 then
    redis.call('HSET', kkey, 'reserved', fmt(num(k.reserved) + amount), 'last_activity', nows, 'status', 'exhausted')
    emit('session_key.exhausted', {session_key_id = k.session_key_id, agent_id = k.agent_id, user_wallet = k.user_wallet})
  else
    redis.call('HSET', kkey, 'reserved', fmt(num(k.reserved) + amount), 'last_activity', nows)
  end
end
audit('payment.reserved', {payment_id = pid, session_key_id = pay.session_key_id, session_id = pay.session_id,
  amount = amount_s, recipient = recipient, signature = sig})
put('outcome', 'reserved')
-- A new payment is what the request said (decide.go builds it): only what the
-- service does not know is answered.
if prior then put('payment', flatten(pay)) else put('new_payment', {'session_id', pay.session_id or '', 'agent_id', owner.agent_id}) end
-- The service signs after the decision: it needs the key's sealed secret.
if k then put('sealed_key', k.sealed_key or ''); put('session_key_address', k.session_key_address or '') end
return out
