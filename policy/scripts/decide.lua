-- decide.lua: the payment decision. The same checks serve can_afford
-- (mode 'check', read-only) and pay (mode 'reserve'), so the two can never
-- disagree. It reports every failing check, the largest amount that passes
-- now and when the requested amount would pass, and in 'reserve' mode holds
-- the amount against the key's balance and every session window at once.
--
-- ARGV[3] mode 'check'|'reserve'   ARGV[4] kind 'sk' (session key) | 'as' (agent session)
-- ARGV[5] id                       ARGV[6] agent ('' = owner/operator)
-- ARGV[7] amount (base units)      ARGV[8] recipient
-- ARGV[9] payment_id               ARGV[10] idempotency_key ('' = none)
-- ARGV[11] fingerprint of the arguments (for idempotency conflicts)
-- ARGV[12] transaction signature    ARGV[13] description
-- ARGV[14] '1' when the owner approved this payment_id   ARGV[15] idempotency TTL (ms)
-- ARGV[16] '1' when the service's risk check asks for the owner's approval
-- ARGV[17] the recent blockhash of the payment transaction (to resolve a crash later)
-- ARGV[18] SHA-256 (hex) of the device fingerprint presented ('' = none)
--- uses: core windows events keys
local mode, kind, id, agent = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local amount, recipient, pid = tonumber(ARGV[7]), ARGV[8], ARGV[9]
local idem, fp, sig, desc = ARGV[10], ARGV[11], ARGV[12], ARGV[13]
local approved, idem_ttl, risky = ARGV[14] == '1', tonumber(ARGV[15]), ARGV[16] == '1'
local write = mode == 'reserve'
local blockhash = ARGV[17] or ''
local device = ARGV[18] or ''

-- The fields of a key record the decision reads (session_key_id first: it is never empty).
local DECIDE_KEY_FIELDS = {'session_key_id', 'agent_id', 'user_wallet', 'status', 'expires_at', 'max_amount',
  'spent', 'reserved', 'linked_session_id', 'device_hash', 'mint'}
local k, kkey, s, skey
if kind == 'sk' then
  k, kkey = load_key(id, agent, DECIDE_KEY_FIELDS)
  if not k then return fail('not_found', 'no session key ' .. id, 'session_key_id') end
  -- A key bound to a device pays only for that device (the owner's own approval aside);
  -- a check (can_afford) compares only when a fingerprint is presented.
  local bound = k.device_hash or ''
  if bound ~= '' and not approved and (write or device ~= '') and device ~= bound then
    return fail('device_mismatch', device == '' and 'this session key is bound to a device: present its device_fingerprint'
      or 'device_fingerprint does not match the device this session key is bound to', 'device_fingerprint')
  end
  expire_key(kkey, k, write)
  if (k.linked_session_id or '') ~= '' then
    s, skey = load_session(k.linked_session_id, '')
  end
else
  s, skey = load_session(id, agent)
  if not s then return fail('not_found', 'no session ' .. id, 'session_id') end
end
if s then expire_session(skey, s, write) end

local ikey
if write and idem ~= '' then
  ikey = P .. 'idem:' .. kind .. ':' .. id .. ':' .. idem
  local prev = redis.call('HMGET', ikey, 'payment_id', 'fingerprint')
  if prev[1] then
    if prev[2] ~= fp then
      return fail('conflict', 'idempotency_key ' .. idem .. ' was already used with different arguments', 'idempotency_key')
    end
    local p = hgetall(P .. 'pay:' .. prev[1])
    local dup = {allowed = true, outcome = p.status, duplicate = true, payment = p, mint = (k or s or {}).mint}
    if k then
      -- What is left on the key now, for the replay's answer.
      local rem = num(k.max_amount) - num(k.spent) - num(k.reserved)
      if rem < 0 or k.status == 'revoked' or k.status == 'expired' then rem = 0 end
      dup.session_key_remaining = fmt(rem)
    end
    return reply({ok = dup})
  end
end

local prior
if approved then
  prior = hgetall(P .. 'pay:' .. pid)
  if not prior or prior.status ~= 'approval_required' then
    return fail('conflict', 'payment ' .. pid .. ' is not awaiting approval', 'payment_id')
  end
  if num(prior.amount) ~= amount or prior.recipient ~= recipient then
    return fail('conflict', 'payment ' .. pid .. ' was approved for other terms', 'payment_id')
  end
end

local checks = {}
local maxnow = MAX_UNITS
local next_at, never = 0, false
local key_remaining, today_remaining
local function add(c) checks[#checks + 1] = c end
local function cap(n) if n < 0 then n = 0 end if n < maxnow then maxnow = n end end

if k then
  local st = k.status
  if st == 'pending_approval' then
    add({code = 'not_active', param = 'session_key_id', message = 'session key is waiting for the owner to approve its funding'})
    never = true; cap(0)
  elseif st == 'expired' then
    add({code = 'expired', param = 'session_key_id', message = 'session key expired', resets_at = k.expires_at})
    never = true; cap(0)
  elseif st == 'revoked' then
    add({code = 'revoked', param = 'session_key_id', message = 'session key was revoked'})
    never = true; cap(0)
  end
  local max, used = num(k.max_amount), num(k.spent) + num(k.reserved)
  local rem = max - used
  if rem < 0 then rem = 0 end
  key_remaining = rem
  if amount > rem then
    add({code = 'insufficient_funds', param = 'amount', message = 'session key balance is too low',
      limit = fmt(max), used = fmt(used), remaining = fmt(rem)})
    never = true
  end
  cap(rem)
end

local state
if s then
  if s.status ~= 'active' then
    local code = s.status == 'revoked' and 'revoked' or 'expired'
    add({code = code, param = 'session_id', message = 'linked session is ' .. s.status, resets_at = s.expires_at})
    never = true; cap(0)
  end
  if num(s.has_recipients) == 1 and redis.call('SISMEMBER', skey .. ':recipients', recipient) == 0 then
    add({code = 'recipient_not_allowed', param = 'recipient', message = 'recipient is not on the session allow-list'})
    never = true; cap(0)
  end
  local per_tx = num(s.per_transaction)
  if per_tx > 0 then
    if amount > per_tx then
      add({code = 'per_transaction_limit', param = 'amount', message = 'amount is over the per-transaction limit',
        limit = fmt(per_tx), used = '0', remaining = fmt(per_tx)})
      never = true
    end
    cap(per_tx)
  end
  state = windows_state(s.session_id)
  for _, w in ipairs(WINDOWS) do
    local limit = num(s[w.field])
    local used = state[w.name].used
    if limit > 0 then
      local rem = limit - used
      if rem < 0 then rem = 0 end
      if w.name == 'day' then today_remaining = rem end
      if amount > rem then
        -- Only a failing window reads its buckets, to say when it resets.
        local buckets = window_buckets(s.session_id, w, state[w.name])
        local c = {code = w.code, param = 'amount', message = 'amount is over the ' .. w.adj .. ' limit',
          limit = fmt(limit), used = fmt(used), remaining = fmt(rem), window = w.name}
        if #buckets > 0 then c.resets_at = fmt(leaves_at(w, buckets[1][1])) end
        add(c)
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
if k and next_at >= num(k.expires_at) then never = true end
if s and next_at >= num(s.expires_at) then never = true end

local allowed = #checks == 0
local needs_approval = allowed and not approved and
  (kind == 'as' or risky or (s ~= nil and num(s.approval_above) > 0 and amount > num(s.approval_above)))

local out = {allowed = allowed, approval_required = needs_approval, max_affordable_now = fmt(maxnow),
  effective_limit = fmt(maxnow)}
if #checks > 0 then out.checks = checks end
if not allowed and not never then out.next_available_at = fmt(next_at) end
if key_remaining then out.session_key_remaining = fmt(key_remaining) end
if today_remaining then out.session_remaining_today = fmt(today_remaining) end
out.now = fmt(NOW)
-- The token the amounts are in: the key's mint (a session's for a session payment).
out.mint = (k or s or {}).mint

if not write then
  out.outcome = allowed and (needs_approval and 'approval_required' or 'allowed') or 'refused'
  return reply({ok = out})
end

local owner = k or s
if not allowed then
  out.outcome = 'refused'
  local codes = {}
  for i, c in ipairs(checks) do codes[i] = c.code end
  if k then
    redis.call('HINCRBY', kkey, 'refusals', 1)
    redis.call('HSET', kkey, 'last_refusal', fmt(NOW))
    redis.call('HINCRBY', kkey .. ':hourly', 'r' .. fmt(math.floor(NOW / 3600000)), 1)
  end
  audit('payment.refused', {kind = kind, id = id, agent_id = owner.agent_id, amount = fmt(amount),
    recipient = recipient, codes = table.concat(codes, ',')})
  return reply({ok = out})
end

local pkey = P .. 'pay:' .. pid
if not prior and redis.call('EXISTS', pkey) == 1 then
  return fail('conflict', 'payment ' .. pid .. ' already exists', 'payment_id')
end
local pay = prior or {payment_id = pid, kind = kind, agent_id = owner.agent_id, user_wallet = owner.user_wallet,
  amount = fmt(amount), recipient = recipient, description = desc, idempotency_key = idem,
  fingerprint = fp, created_at = fmt(NOW)}
if k then pay.session_key_id = k.session_key_id end
if s then pay.session_id = s.session_id end
pay.updated_at = fmt(NOW)

if ikey then
  redis.call('HSET', ikey, 'payment_id', pid, 'fingerprint', fp)
  redis.call('PEXPIRE', ikey, idem_ttl)
end

if needs_approval then
  pay.status = 'approval_required'
  redis.call('HSET', pkey, unpack(flatten(pay)))
  emit('payment.approval_required', {payment_id = pid, session_key_id = pay.session_key_id, session_id = pay.session_id,
    agent_id = owner.agent_id, user_wallet = owner.user_wallet, amount = fmt(amount), recipient = recipient})
  out.outcome = 'approval_required'
  out.payment = pay
  return reply({ok = out})
end

pay.status = 'reserved'
pay.signature = sig
pay.blockhash = blockhash
if s then
  -- Every window counts, limited or not, so a limit set later sees past spending.
  local at = windows_add(s.session_id, state, amount)
  for _, w in ipairs(WINDOWS) do pay['b_' .. w.name] = at[w.name] end
end
redis.call('HSET', pkey, unpack(flatten(pay)))
redis.call('ZADD', P .. 'inflight', fmt(NOW), pid)
if k then
  if key_remaining - amount <= 0 then
    redis.call('HSET', kkey, 'reserved', fmt(num(k.reserved) + amount), 'last_activity', fmt(NOW), 'status', 'exhausted')
    emit('session_key.exhausted', {session_key_id = k.session_key_id, agent_id = k.agent_id, user_wallet = k.user_wallet})
  else
    redis.call('HSET', kkey, 'reserved', fmt(num(k.reserved) + amount), 'last_activity', fmt(NOW))
  end
end
audit('payment.reserved', {payment_id = pid, session_key_id = pay.session_key_id, session_id = pay.session_id,
  amount = fmt(amount), recipient = recipient, signature = sig})
out.outcome = 'reserved'
out.payment = pay
-- The service signs after the decision: it needs the key's sealed secret.
if k then
  local sk = redis.call('HMGET', kkey, 'sealed_key', 'session_key_address')
  out.sealed_key, out.session_key_address = sk[1] or '', sk[2] or ''
end
return reply({ok = out})
