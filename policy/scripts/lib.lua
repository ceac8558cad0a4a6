-- lib.lua holds the rules that several scripts of the ledger share: the
-- clock, expiry, rolling windows, events and audit. It is cut into sections
-- ("--- section NAME (needs OTHER ...)"); a script names the sections it uses
-- in its "--- uses: ..." line. The loader (scripts.go) builds two things of
-- the same text: one Redis function library holding every section once and
-- every script as a function (FCALL; the sections run once, at FUNCTION
-- LOAD), and, for a server without functions, each script as an EVAL
-- script: the sections it uses, then its body, run at every call.
--
-- Calling convention of every script: ARGV[1] is the key prefix carrying the
-- hash tag of the user_wallet ("stipend:{<user_wallet>}:"), so every key a
-- script touches lives in one Redis Cluster slot; ARGV[2] is a clock skew in
-- milliseconds (zero in production, set by tests to move time forward).
-- Script-specific arguments start at ARGV[3]. A script answers one JSON
-- string: {"ok":...} or {"error":{"code":..,"message":..,"param":..}}
-- (decide.lua answers a decision as name/value pairs, see there).
-- Amounts are integer base units, exact in a Lua number up to 2^53-1; they
-- travel as decimal strings so no JSON encoder rounds them.

--- section core
-- What one call knows: its KEYS and ARGV, the key prefix P, the ledger's
-- clock NOW (ms) and WALLET, the user_wallet of P. begin() sets them first
-- in every call; everything else in this file is the same for every call
-- and, in the function library (scripts.go), runs once when it is loaded.
local KEYS, ARGV, P, NOW, WALLET
local MAX_UNITS = 9007199254740991

local function begin(keys, args)
  KEYS, ARGV, P = keys, args, args[1]
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(args[2])
  WALLET = string.match(P, '{(.-)}') or ''
end

-- fmt writes an integer (an amount, a time in ms) in full. '%d' formats it as
-- a C long: exact for every integer here, and cheaper than '%.0f'.
local function fmt(n) return string.format('%d', n) end
local function num(v) if v == nil or v == false or v == '' or v == '0' then return 0 end return tonumber(v) end

local function reply(tbl) return cjson.encode(tbl) end
local function fail(code, message, param)
  return cjson.encode({error = {code = code, message = message, param = param}})
end

local function flatten(tbl)
  local f = {}
  for a, b in pairs(tbl) do f[#f + 1] = a; f[#f + 1] = b end
  return f
end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end

-- hmget reads the named fields of a hash into a table (nil if it has none of them).
local function hmget(key, names)
  local vals = redis.call('HMGET', key, unpack(names))
  local h, any = {}, false
  for i, n in ipairs(names) do
    if vals[i] then h[n] = vals[i]; any = true end
  end
  if not any then return nil end
  return h
end

--- section windows (needs core)

-- Rolling windows. Each window sums per-bucket counters; a bucket is counted
-- whole while any part of it lies inside the window, so a window never
-- under-counts: a payment weighs on it for at least its length and at most its
-- length plus one bucket.
local WINDOWS = {
  {name = 'day',   adj = 'daily',   field = 'per_day',   code = 'daily_limit',   len = 86400000,   bucket = 900000},   -- 24 h, 15 min buckets
  {name = 'week',  adj = 'weekly',  field = 'per_week',  code = 'weekly_limit',  len = 604800000,  bucket = 7200000},  -- 7 d, 2 h buckets
  {name = 'month', adj = 'monthly', field = 'per_month', code = 'monthly_limit', len = 2592000000, bucket = 28800000}, -- 30 d, 8 h buckets
}

-- A session's buckets are in its window hash ('as:<sid>:w', field
-- '<window>:<bucket>' → amount). What a decision needs of them is kept in the
-- session's own hash, which a decision reads anyway, in three fields of at
-- most 64 bytes each (the session hash stays a compact listpack):
--   w   '<retire> <used day> <used week> <used month>': each window's total,
--       the sum of its buckets lo..hi, and the first time (ms) one of those
--       buckets leaves its window (0: none counted yet);
--   wb  '<lo> <hi>' of each window: the bounds of its counted buckets;
--   wc  '<hi of the day> <cur day> <cur week> <cur month>': the amount in
--       each window's bucket hi (the newest). Buckets nest (15 min in 2 h in
--       8 h), so while the clock is in the day's bucket hi every window's
--       newest bucket is the current one.
-- Before 'retire', a check reads the totals and nothing of the buckets, and
-- a reservation in the day's newest bucket the totals and 'wc' (windows_quick).
-- After it, only the buckets that left are read, subtracted and deleted, and
-- the fields rewritten (by a check too: it changes no amount), so the next
-- decisions read totals again. A session hash without 'w' (written before
-- these fields) is summed once from its window hash.
local WINDOW_FIELDS_NEW = '0 0 0 0' -- 'w' of a session that never counted a payment
local WINDOW_TTL = 2592000000 + 2 * 28800000
-- A value longer than Redis's hash-max-listpack-value (64 bytes by default)
-- keeps the window hash a hash table: a month of buckets in a listpack would
-- make every bucket read and write scan hundreds of entries.
local WINDOW_HASHTABLE = '-----------------------------------------------------------------' -- 65 (no string library while a function library loads)

local function window_key(sid) return P .. 'as:' .. sid .. ':w' end
local function bucket_field(w, b) return w.name .. ':' .. fmt(b) end
-- leaves_at is when bucket b stops counting in window w.
local function leaves_at(w, b) return (b + 1) * w.bucket + w.len end

-- numbers reads the integers of a space-separated field.
local function numbers(v)
  local out, i = {}, 0
  if v then for n in string.gmatch(v, '%-?%d+') do i = i + 1; out[i] = tonumber(n) end end
  return out
end

-- windows_full reads every window of a session in full from its fields
-- (s.w, s.wb, s.wc) or, without them, from its window hash: per window the
-- amount used now, the bounds lo..hi of its counted buckets, the amount cur
-- in bucket hi, its first bucket inside the window now (bmin) and the bucket
-- fields to delete (dead). Buckets that left are subtracted; state.dirty says
-- the session's fields must be written again (windows_save).
local function windows_full(sid, s)
  local out = {dirty = false}
  if not s.w then
    local flat = redis.call('HGETALL', window_key(sid))
    for _, w in ipairs(WINDOWS) do
      out[w.name] = {used = 0, cur = 0, bmin = math.floor((NOW - w.len) / w.bucket),
        dead = {w.name .. ':t', w.name .. ':lo', w.name .. ':hi'}} -- totals of an earlier layout
    end
    for i = 1, #flat, 2 do
      local tag, b = string.match(flat[i], '^(%a+):(%d+)$')
      local st = tag and out[tag]
      if st then
        b = tonumber(b)
        local a = tonumber(flat[i + 1])
        if b >= st.bmin then
          st.used = st.used + a
          if not st.lo or b < st.lo then st.lo = b end
          if not st.hi or b > st.hi then st.hi, st.cur = b, a end
        else
          st.dead[#st.dead + 1] = flat[i]
        end
      end
    end
    for _, w in ipairs(WINDOWS) do
      local st = out[w.name]
      if not st.lo then st.lo, st.hi = st.bmin, st.bmin - 1 end
    end
    out.dirty, out.renew = true, #flat > 0
    return out
  end
  local t, b, c = numbers(s.w), numbers(s.wb), numbers(s.wc)
  local retire, owner = {}, {}
  for i, w in ipairs(WINDOWS) do
    local bmin = math.floor((NOW - w.len) / w.bucket)
    local st = {used = t[i + 1] or 0, lo = b[2 * i - 1] or bmin, hi = b[2 * i] or bmin - 1, cur = c[i + 1] or 0,
      bmin = bmin, dead = {}}
    out[w.name] = st
    if st.lo < bmin then
      out.dirty = true
      if st.hi < bmin then -- every counted bucket left
        for x = st.lo, st.hi do st.dead[#st.dead + 1] = bucket_field(w, x) end
        st.used, st.cur, st.lo, st.hi = 0, 0, bmin, bmin - 1
      else
        for x = st.lo, bmin - 1 do
          retire[#retire + 1] = bucket_field(w, x)
          owner[#retire] = st
        end
        st.lo = bmin
      end
    end
  end
  if #retire > 0 then
    local vals = redis.call('HMGET', window_key(sid), unpack(retire))
    for j = 1, #retire do
      local st = owner[j]
      if vals[j] then st.used = st.used - tonumber(vals[j]) end
      st.dead[#st.dead + 1] = retire[j]
    end
  end
  return out
end

-- windows_save writes a session's window fields from state, and deletes the
-- buckets that left from its window hash.
local function windows_save(sid, state)
  local ra, t, b, c, dead = 0, {}, {}, {}, {}
  for i, w in ipairs(WINDOWS) do
    local st = state[w.name]
    t[i], b[2 * i - 1], b[2 * i], c[i + 1] = fmt(st.used), fmt(st.lo), fmt(st.hi), fmt(st.cur)
    if st.lo <= st.hi then
      local at = leaves_at(w, st.lo)
      if ra == 0 or at < ra then ra = at end
    end
    for _, d in ipairs(st.dead) do dead[#dead + 1] = d end
  end
  c[1] = b[2]
  local w, wb, wc = fmt(ra) .. ' ' .. table.concat(t, ' '), table.concat(b, ' '), table.concat(c, ' ')
  redis.call('HSET', P .. 'as:' .. sid, 'w', w, 'wb', wb, 'wc', wc)
  if #dead > 0 then redis.call('HDEL', window_key(sid), unpack(dead)) end
  return w, wb, wc
end

-- windows_used is what a check needs: each window's used amount. Until the
-- first bucket leaves it reads only the session's 'w'; after that it takes
-- the full state (reading s.wb and s.wc if the caller did not) and saves it.
local function windows_used(sid, s, skey)
  if s.w then
    local ra, d, wk, m = string.match(s.w, '^(%d+) (%-?%d+) (%-?%d+) (%-?%d+)$')
    ra = tonumber(ra)
    if ra and (ra == 0 or NOW < ra) then
      return {day = {used = tonumber(d)}, week = {used = tonumber(wk)}, month = {used = tonumber(m)}}
    end
    if s.wb == nil then
      local f = redis.call('HMGET', skey, 'wb', 'wc')
      s.wb, s.wc = f[1], f[2]
    end
  end
  local state = windows_full(sid, s)
  if state.dirty then s.w, s.wb, s.wc = windows_save(sid, state) end
  return state
end

-- window_buckets lists the live buckets {bucket, amount} of window i, oldest
-- first: at most one window's worth of fields, read only when needed (a
-- failing check saying when its window resets).
local function window_buckets(sid, s, skey, i)
  local w = WINDOWS[i]
  if s.wb == nil and s.w then s.wb = redis.call('HGET', skey, 'wb') end
  local bmin = math.floor((NOW - w.len) / w.bucket)
  local lo, hi
  if s.wb then
    local b = numbers(s.wb)
    lo, hi = b[2 * i - 1], b[2 * i]
  end
  if not lo then lo, hi = bmin, math.floor(NOW / w.bucket) end -- no bounds: every bucket the window can hold
  if lo < bmin then lo = bmin end
  local out = {}
  if hi < lo then return out end
  local names = {}
  for b = lo, hi do names[#names + 1] = bucket_field(w, b) end
  local vals = redis.call('HMGET', window_key(sid), unpack(names))
  for j = 1, #names do
    local a = vals[j] and tonumber(vals[j])
    if a and a > 0 then out[#out + 1] = {lo + j - 1, a} end
  end
  return out
end

-- windows_quick is the state of a reservation that neither retires a bucket
-- nor starts one (the clock is still in the day's newest bucket, before
-- 'retire'): the totals and the newest buckets, from 'w' and 'wc' alone. It
-- is nil otherwise (windows_full then).
local function windows_quick(s)
  if not (s.w and s.wc) then return nil end
  local ra, d, wk, m = string.match(s.w, '^(%d+) (%-?%d+) (%-?%d+) (%-?%d+)$')
  local hi, cd, cw, cm = string.match(s.wc, '^(%-?%d+) (%-?%d+) (%-?%d+) (%-?%d+)$')
  if not ra or not hi or ra == '0' or NOW >= tonumber(ra) or math.floor(NOW / WINDOWS[1].bucket) ~= tonumber(hi) then
    return nil
  end
  return {quick = true, ra = ra, hi = hi, day = {used = tonumber(d), cur = tonumber(cd)},
    week = {used = tonumber(wk), cur = tonumber(cw)}, month = {used = tonumber(m), cur = tonumber(cm)}}
end

-- windows_add counts amount in every window's current bucket of a full state
-- (windows_full) and writes it: the buckets in one HSET, the session's fields
-- in another. The window hash's time to live is renewed when it is new or a
-- new month bucket starts (at most every 8 h): it then outlives by at least
-- 8 h every bucket written since, so it never expires while a bucket still
-- counts. It returns the bucket of each window, which a release gives back.
local function windows_add(sid, state, amount)
  local wk = window_key(sid)
  if state.quick then
    local d, w, m = state.day, state.week, state.month
    d.cur, w.cur, m.cur = d.cur + amount, w.cur + amount, m.cur + amount
    d.used, w.used, m.used = d.used + amount, w.used + amount, m.used + amount
    local at = {day = state.hi, week = fmt(math.floor(NOW / WINDOWS[2].bucket)),
      month = fmt(math.floor(NOW / WINDOWS[3].bucket))}
    redis.call('HSET', wk, 'day:' .. at.day, fmt(d.cur), 'week:' .. at.week, fmt(w.cur), 'month:' .. at.month, fmt(m.cur))
    redis.call('HSET', P .. 'as:' .. sid, 'w', state.ra .. ' ' .. fmt(d.used) .. ' ' .. fmt(w.used) .. ' ' .. fmt(m.used),
      'wc', state.hi .. ' ' .. fmt(d.cur) .. ' ' .. fmt(w.cur) .. ' ' .. fmt(m.cur))
    return at
  end
  local sets, at = {}, {}
  local renew = state.renew
  for _, w in ipairs(WINDOWS) do
    local st = state[w.name]
    local b = math.floor(NOW / w.bucket)
    if b >= st.hi then
      if b > st.hi then
        st.cur = 0
        if w.name == 'month' then renew = true end
        if st.lo > st.hi then st.lo = b end -- the window was empty
        st.hi = b
      end
      st.cur = st.cur + amount
      sets[#sets + 1] = bucket_field(w, b); sets[#sets + 1] = fmt(st.cur)
    else -- the clock went back: a bucket before the newest
      redis.call('HINCRBY', wk, bucket_field(w, b), fmt(amount))
      if b < st.lo then st.lo = b end
    end
    st.used = st.used + amount
    at[w.name] = fmt(b)
  end
  if renew then sets[#sets + 1] = 'hashtable'; sets[#sets + 1] = WINDOW_HASHTABLE end
  if #sets > 0 then redis.call('HSET', wk, unpack(sets)) end
  if renew then redis.call('PEXPIRE', wk, fmt(WINDOW_TTL)) end
  windows_save(sid, state)
  return at
end

-- windows_sub gives back amount held in the buckets at (window name → bucket)
-- of a released payment. A bucket that already left its window is no longer
-- in its total.
local function windows_sub(sid, at, amount)
  local skey = P .. 'as:' .. sid
  local f = redis.call('HMGET', skey, 'w', 'wb', 'wc')
  local state = windows_full(sid, {w = f[1], wb = f[2], wc = f[3]})
  for _, w in ipairs(WINDOWS) do
    local st = state[w.name]
    local b = at[w.name] and tonumber(at[w.name])
    if b and b >= st.lo and b <= st.hi then
      local bf = bucket_field(w, b)
      if redis.call('HINCRBY', window_key(sid), bf, fmt(-amount)) <= 0 then redis.call('HDEL', window_key(sid), bf) end
      st.used = st.used - amount
      if b == st.hi then st.cur = st.cur - amount end
    end
  end
  if redis.call('EXISTS', skey) == 1 then windows_save(sid, state) end
end

--- section events (needs core)

-- Events: each state change is appended to the user's hash-chained audit log
-- and, while webhooks read them, to the user's event stream, in the same script.
-- An audit entry is a JSON object holding the hash of the entry before it;
-- the head key holds the hash of the last entry, so any edit, removal or
-- reordering breaks the chain.
local function audit(event, data)
  local head = redis.call('HMGET', P .. 'audit:head', 'seq', 'hash')
  local seq = num(head[1]) + 1
  local prev = head[2] or ''
  local entry = cjson.encode({seq = seq, ts = fmt(NOW), event = event, prev = prev, data = data})
  local hash = redis.sha1hex(entry)
  redis.call('RPUSH', P .. 'audit', entry)
  redis.call('HSET', P .. 'audit:head', 'seq', seq, 'hash', hash)
end

-- emit records a state change in the audit log and, when something reads the
-- events stream (the store names it as KEYS[2]: a webhook endpoint is
-- configured), appends it there too; with no reader no stream grows unread.
local function emit(event, data)
  data.ts = fmt(NOW)
  if KEYS[2] then
    redis.call('XADD', KEYS[2], '*', 'event', event, 'data', cjson.encode(data))
  end
  audit(event, data)
end

--- section payments (needs core)

-- Payments. A payment is one string, not a hash: its fields in the fixed
-- order of PAY_FIELDS, each written '<length>:<bytes>', trailing empty ones
-- left out; the status is one letter and updated_at is kept as milliseconds
-- after created_at. Its id and user_wallet are not stored (the caller and the
-- key name know them). What only a payment in flight needs (its blockhash,
-- the window buckets it holds) is dropped once it is settled, and no
-- fingerprint is kept: a replay is compared with the payment's own fields.
-- The record lives under 'pay:<slot>', the 16 characters of its id after
-- 'pay_'; the id's rest ('tail') is stored to tell it from another. A
-- payment with an idempotency key has the slot idem_slot derives from that
-- key, so the key finds its payment with no idempotency record of its own.
-- Payments written before (a hash under 'pay:<id>') are still read, and
-- move to this layout when next written.
local PAY_FIELDS = {'status', 'tail', 'session_key_id', 'session_id', 'agent_id', 'amount', 'recipient', 'signature',
  'created_at', 'updated_at', 'idempotency_key', 'description', 'reason', 'blockhash', 'b_day', 'b_week', 'b_month'}
local PAY_LETTER = {approval_required = 'a', reserved = 'r', confirmed = 'c', failed = 'f'}
local PAY_STATUS = {a = 'approval_required', r = 'reserved', c = 'confirmed', f = 'failed'}

local function pay_key(pid) return P .. 'pay:' .. string.sub(pid, 5, 20) end

-- idem_slot is the slot of the payment an idempotency key of a key ('sk') or
-- session ('as') leads to.
local function idem_slot(kind, id, idem) return string.sub(redis.sha1hex(kind .. ':' .. id .. ':' .. idem), 1, 16) end

local function pay_decode(v, pid)
  local p, pos = {}, 1
  for _, f in ipairs(PAY_FIELDS) do
    local c = string.find(v, ':', pos, true)
    if not c then break end
    local n = tonumber(string.sub(v, pos, c - 1))
    p[f] = string.sub(v, c + 1, c + n)
    pos = c + 1 + n
  end
  p.status = PAY_STATUS[p.status] or p.status
  p.updated_at = fmt(num(p.created_at) + num(p.updated_at))
  p.payment_id, p.user_wallet = pid, WALLET
  p.kind = (p.session_key_id or '') ~= '' and 'sk' or 'as'
  return p
end

-- pay_get reads a payment (nil if there is none).
local function pay_get(pid)
  local v = redis.call('GET', pay_key(pid))
  if v then
    local p = pay_decode(v, pid)
    if 'pay_' .. string.sub(pid, 5, 20) .. (p.tail or '') == pid then return p end
    return nil
  end
  local p = hgetall(P .. 'pay:' .. pid)
  if p then p.legacy = true end
  return p
end

-- pay_put writes a payment, kept for keep ms (nil: while in flight, for good).
local function pay_put(pid, p, keep)
  local parts, last = {}, 0
  p.tail = string.sub(pid, 21)
  for i, f in ipairs(PAY_FIELDS) do
    local v = p[f] or ''
    if f == 'status' then v = PAY_LETTER[v] or v
    elseif f == 'updated_at' and v ~= '' then v = fmt(num(v) - num(p.created_at)) end
    parts[i] = #v .. ':' .. v
    if v ~= '' then last = i end
  end
  local v = table.concat(parts, '', 1, last)
  if keep then redis.call('SET', pay_key(pid), v, 'PX', keep) else redis.call('SET', pay_key(pid), v) end
  p.tail = nil
  if p.legacy then redis.call('DEL', P .. 'pay:' .. pid); p.legacy = nil end -- the hash of the earlier layout
end

-- pay_settled drops what only a payment in flight needs.
local function pay_settled(p)
  p.blockhash, p.b_day, p.b_week, p.b_month, p.fingerprint = nil, nil, nil, nil, nil
end

--- section views (needs core)

local KEY_FIELDS = {'session_key_id', 'agent_id', 'user_wallet', 'token', 'mint', 'decimals', 'status',
  'session_key_address', 'pkp_public_key', 'attestation', 'max_amount', 'spent', 'reserved',
  'transaction_count', 'created_at', 'expires_at', 'activated_at', 'last_activity', 'linked_session_id',
  'refusals', 'last_refusal', 'device_bound'}

-- key_view is the public view of a session key record (never the sealed secret).
local function key_view(k)
  local v = {}
  for _, f in ipairs(KEY_FIELDS) do v[f] = k[f] end
  local rem = num(k.max_amount) - num(k.spent) - num(k.reserved)
  -- A revoked or expired key can spend nothing more: what was left on it goes
  -- back to its owner, so nothing remains.
  if rem < 0 or k.status == 'revoked' or k.status == 'expired' then rem = 0 end
  v.remaining_amount = fmt(rem)
  return v
end

local function session_view(s)
  local v = {}
  for f, val in pairs(s) do v[f] = val end
  v.w, v.wb, v.wc = nil, nil, nil -- the window fields (section windows)
  return v
end

--- section keys (needs events)

local ACTIVE_STATES = {pending_approval = true, active = true, exhausted = true}

-- expire_key turns a key past expires_at into 'expired' (with its event).
-- Every script that reads a key calls it first: expiry never waits for a sweeper.
-- With write=false (read-only scripts) it only changes the in-memory view.
local function expire_key(kkey, k, write)
  if ACTIVE_STATES[k.status] and NOW >= num(k.expires_at) then
    k.status = 'expired'
    if write then
      redis.call('HSET', kkey, 'status', 'expired')
      emit('session_key.expired', {session_key_id = k.session_key_id, agent_id = k.agent_id,
        user_wallet = k.user_wallet})
    end
    return true
  end
  return false
end

local function expire_session(skey, s, write)
  if s.status == 'active' and NOW >= num(s.expires_at) then
    s.status = 'expired'
    if write then
      redis.call('HSET', skey, 'status', 'expired')
      emit('session.expired', {session_id = s.session_id, agent_id = s.agent_id, user_wallet = s.user_wallet})
    end
    return true
  end
  return false
end

-- The fields of a key and of its session a decision (decide.lua) reads, in
-- the order it reads them: a check, then a reservation, which also takes what
-- the service needs to sign and what a payment records.
local DECIDE_KEY_CHECK = {'agent_id', 'status', 'expires_at', 'max_amount', 'spent', 'reserved', 'linked_session_id',
  'device_hash', 'mint'}
local DECIDE_KEY_RESERVE = {'agent_id', 'status', 'expires_at', 'max_amount', 'spent', 'reserved', 'linked_session_id',
  'device_hash', 'mint', 'sealed_key', 'session_key_address'}
local DECIDE_SESSION_CHECK = {'status', 'expires_at', 'has_recipients', 'per_transaction', 'per_day', 'per_week',
  'per_month', 'approval_above', 'w'}
local DECIDE_SESSION_OWN = {'status', 'expires_at', 'has_recipients', 'per_transaction', 'per_day', 'per_week',
  'per_month', 'approval_above', 'w', 'agent_id', 'mint'}
local DECIDE_SESSION_RESERVE = {'status', 'expires_at', 'has_recipients', 'per_transaction', 'per_day', 'per_week',
  'per_month', 'approval_above', 'w', 'agent_id', 'mint', 'wb', 'wc'}

-- load_key reads a session key and checks that the agent may see it ('' = owner or operator).
-- With names, only those fields are read (a hot path skips the sealed secret and the attestation).
local function load_key(id, agent, names)
  local kkey = P .. 'sk:' .. id
  local k
  if names then k = hmget(kkey, names) else k = hgetall(kkey) end
  if not k or (agent ~= '' and k.agent_id ~= agent) then return nil, kkey end
  return k, kkey
end

local function load_session(id, agent, names)
  local skey = P .. 'as:' .. id
  local s
  if names then s = hmget(skey, names) else s = hgetall(skey) end
  if not s or (agent ~= '' and s.agent_id ~= agent) then return nil, skey end
  return s, skey
end
