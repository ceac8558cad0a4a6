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
--
-- The head is one string: '<seq>:<hash>' of the last entry, then, once
-- entries have left Redis for the audit sink (audit_trim.lua), the base: the
-- seq and hash of the last entry that left, ':<seq>:<hash>', or ':=' when it
-- is the last entry itself (the log drained). A head written before (a hash
-- of seq, hash, base_seq and base_hash) is still read, and becomes a string
-- when next written.

-- audit_head reads the head: seq, hash, base_seq, base_hash ('' for none).
local function audit_head()
  local key = P .. 'audit:head'
  local v = redis.pcall('GET', key)
  if type(v) == 'table' then -- WRONGTYPE: a hash of the earlier layout
    local h = redis.call('HMGET', key, 'seq', 'hash', 'base_seq', 'base_hash')
    return h[1] or '', h[2] or '', h[3] or '', h[4] or ''
  end
  if not v then return '', '', '', '' end
  local seq, hash, rest = string.match(v, '^(%d+):(%x+)(.*)$')
  if rest == ':=' then return seq, hash, seq, hash end
  local bseq, bhash = string.match(rest or '', '^:(%d+):(%x+)$')
  return seq or '', hash or '', bseq or '', bhash or ''
end

-- audit_head_put writes the head (see audit_head).
local function audit_head_put(seq, hash, bseq, bhash)
  local v = seq .. ':' .. hash
  if bseq == seq and bhash == hash then
    v = v .. ':='
  elseif bseq ~= '' then
    v = v .. ':' .. bseq .. ':' .. bhash
  end
  redis.call('SET', P .. 'audit:head', v)
end

local function audit(event, data)
  local seq, prev, bseq, bhash = audit_head()
  seq = num(seq) + 1
  local entry = cjson.encode({seq = seq, ts = fmt(NOW), event = event, prev = prev, data = data})
  local hash = redis.sha1hex(entry)
  redis.call('RPUSH', P .. 'audit', entry)
  audit_head_put(fmt(seq), hash, bseq, bhash)
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

-- Payments. A payment is one string, not a hash, under 'pay:<slot>', the 16
-- characters of its id after 'pay_'; the id's rest ('tail') is stored to
-- tell it from another. A payment with an idempotency key has the slot
-- idem_slot derives from that key, so the key finds its payment with no
-- idempotency record of its own. Its id and user_wallet are not stored (the
-- caller and the key name know them), nor, in the compact layout, its
-- agent_id: the agent of its session key (else of its session), which a key
-- or session never changes (pay_agent reads it from there).
-- What only a payment in flight needs (its blockhash, the window buckets it
-- holds) is dropped once it is settled, and no fingerprint is kept: a replay
-- is compared with the payment's own fields.
--
-- The record: one byte, 128 + the byte of the status's letter (PAY_LETTER),
-- then the fields of PAY_LAYOUT in order, trailing empty ones left out. A
-- text field is its length then its bytes (session_key_id and session_id
-- without their 'sk_' and 'sess_'); a number (PAY_KINDS 'n') is n + 1 (0:
-- empty), updated_at as milliseconds after created_at. Lengths and numbers
-- are unsigned LEB128 varints (7 bits a byte, low first). A payment this
-- layout cannot hold (another status, an id of another form, a time going
-- back) is written in the earlier text layout instead, whose first byte is a
-- digit: each field of PAY_FIELDS '<length>:<bytes>'. Both are read, and so
-- are payments of the layout before (a hash under 'pay:<id>'), which move to
-- the string when next written.
--
-- The layouts' tables are built on first use: a script that reads or writes
-- no payment (a check) builds none.
local PAY_FIELDS, PAY_LETTER, PAY_STATUS, PAY_LAYOUT
local function pay_fields()
  PAY_FIELDS = PAY_FIELDS or {'status', 'tail', 'session_key_id', 'session_id', 'agent_id', 'amount', 'recipient',
    'signature', 'created_at', 'updated_at', 'idempotency_key', 'description', 'reason', 'blockhash', 'b_day', 'b_week',
    'b_month'}
  return PAY_FIELDS
end
local function pay_letter()
  PAY_LETTER = PAY_LETTER or {approval_required = 'a', reserved = 'r', confirmed = 'c', failed = 'f'}
  return PAY_LETTER
end
local function pay_status()
  PAY_STATUS = PAY_STATUS or {a = 'approval_required', r = 'reserved', c = 'confirmed', f = 'failed'}
  return PAY_STATUS
end
local function pay_layout()
  PAY_LAYOUT = PAY_LAYOUT or {'tail', 'session_key_id', 'session_id', 'amount', 'created_at', 'updated_at',
    'recipient', 'signature', 'idempotency_key', 'description', 'reason', 'blockhash', 'b_day', 'b_week', 'b_month'}
  return PAY_LAYOUT
end
local PAY_KINDS = 'tksnnnttttttttt' -- of each PAY_LAYOUT field: t text, k session_key_id, s session_id, n number

local function pay_key(pid) return P .. 'pay:' .. string.sub(pid, 5, 20) end

-- idem_slot is the slot of the payment an idempotency key of a key ('sk') or
-- session ('as') leads to.
local function idem_slot(kind, id, idem) return string.sub(redis.sha1hex(kind .. ':' .. id .. ':' .. idem), 1, 16) end

-- varint writes n (an integer from 0 to 2^53, so at most 8 bytes) as an
-- unsigned LEB128 varint, unrolled: no table to build.
local function varint(n)
  local c = string.char
  if n < 128 then return c(n) end
  local a = n % 128; n = (n - a) / 128
  if n < 128 then return c(a + 128, n) end
  local b = n % 128; n = (n - b) / 128
  if n < 128 then return c(a + 128, b + 128, n) end
  local d = n % 128; n = (n - d) / 128
  if n < 128 then return c(a + 128, b + 128, d + 128, n) end
  local e = n % 128; n = (n - e) / 128
  if n < 128 then return c(a + 128, b + 128, d + 128, e + 128, n) end
  local f = n % 128; n = (n - f) / 128
  if n < 128 then return c(a + 128, b + 128, d + 128, e + 128, f + 128, n) end
  local g = n % 128; n = (n - g) / 128
  if n < 128 then return c(a + 128, b + 128, d + 128, e + 128, f + 128, g + 128, n) end
  local h = n % 128; n = (n - h) / 128
  return c(a + 128, b + 128, d + 128, e + 128, f + 128, g + 128, h + 128, n)
end

-- pay_agent is the agent of a payment: its session key's, else its session's.
local function pay_agent(p)
  local kid, sid = p.session_key_id or '', p.session_id or ''
  local a
  if kid ~= '' then a = redis.call('HGET', P .. 'sk:' .. kid, 'agent_id')
  elseif sid ~= '' then a = redis.call('HGET', P .. 'as:' .. sid, 'agent_id') end
  return a or ''
end

local function pay_decode(v, pid)
  local p = {}
  local c = string.byte(v, 1) or 0
  if c > 128 then -- the compact layout
    local layout = pay_layout()
    p.status = pay_status()[string.char(c - 128)]
    local pos, len, byte = 2, #v, string.byte
    for i = 1, #layout do
      if pos > len then break end
      local n, mul = 0, 1 -- a varint
      repeat
        c = byte(v, pos) or 0
        pos = pos + 1
        if c < 128 then n = n + c * mul else n = n + (c - 128) * mul; mul = mul * 128 end
      until c < 128
      local kind = byte(PAY_KINDS, i)
      if kind == 110 then -- 'n'
        p[layout[i]] = n > 0 and fmt(n - 1) or ''
      else
        local t = string.sub(v, pos, pos + n - 1)
        pos = pos + n
        if t ~= '' then
          if kind == 107 then t = 'sk_' .. t elseif kind == 115 then t = 'sess_' .. t end
        end
        p[layout[i]] = t
      end
    end
    p.agent_id = pay_agent(p)
  else
    local pos = 1
    for _, f in ipairs(pay_fields()) do
      local e = string.find(v, ':', pos, true)
      if not e then break end
      local n = tonumber(string.sub(v, pos, e - 1))
      p[f] = string.sub(v, e + 1, e + n)
      pos = e + 1 + n
    end
    p.status = pay_status()[p.status] or p.status
  end
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

-- pay_number is the integer a decimal text holds, if it is one written the
-- way fmt writes it (nil for anything else).
local function pay_number(v)
  if #v > 16 or not (v == '0' or string.find(v, '^[1-9]%d*$')) then return nil end
  local n = tonumber(v)
  if n > MAX_UNITS then return nil end
  return n
end

-- pay_encode writes a payment in the compact layout (nil if it cannot hold it).
local function pay_encode(p)
  local layout = pay_layout()
  local letter = pay_letter()[p.status]
  if not letter then return nil end
  local parts, last = {string.char(string.byte(letter) + 128)}, 1
  local created
  for i = 1, #layout do
    local v = p[layout[i]] or ''
    local kind = string.byte(PAY_KINDS, i)
    if v == '' then
      parts[i + 1] = '\0'
    elseif kind == 110 then -- 'n'
      local n = pay_number(v)
      if not n then return nil end
      if i == 5 then created = n -- created_at
      elseif i == 6 then -- updated_at, after created_at
        if not created or n < created then return nil end
        n = n - created
      end
      parts[i + 1] = varint(n + 1)
      last = i + 1
    else
      if kind == 107 then -- 'k'
        if #v < 4 or string.sub(v, 1, 3) ~= 'sk_' then return nil end
        v = string.sub(v, 4)
      elseif kind == 115 then -- 's'
        if #v < 6 or string.sub(v, 1, 5) ~= 'sess_' then return nil end
        v = string.sub(v, 6)
      end
      parts[i + 1] = varint(#v) .. v
      last = i + 1
    end
  end
  return table.concat(parts, '', 1, last)
end

-- pay_put writes a payment, kept for keep ms (nil: while in flight, for good).
local function pay_put(pid, p, keep)
  p.tail = string.sub(pid, 21)
  local v = pay_encode(p)
  if not v then -- the text layout holds anything
    local parts, last = {}, 0
    for i, f in ipairs(pay_fields()) do
      local t = p[f] or ''
      if f == 'status' then t = pay_letter()[t] or t
      elseif f == 'updated_at' and t ~= '' then t = fmt(num(t) - num(p.created_at)) end
      parts[i] = #t .. ':' .. t
      if t ~= '' then last = i end
    end
    v = table.concat(parts, '', 1, last)
  end
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

-- A key's or a session's record holds no empty field, nor a limit or flag
-- at '0' (none): a field it does not hold reads as empty, and as zero
-- wherever a number is read. record_fields lists the name/value pairs of r
-- to store (keep: fields stored even when empty).
local function record_fields(r, keep)
  local none = {per_transaction = true, per_day = true, per_week = true, per_month = true, approval_above = true,
    has_recipients = true}
  local f = {}
  for a, b in pairs(r) do
    if (b ~= '' and not (b == '0' and none[a])) or (keep and keep[a]) then
      f[#f + 1] = a; f[#f + 1] = b
    end
  end
  return f
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
