-- lib.lua is prepended to every script of the ledger. It holds the rules that
-- several scripts share: the clock, expiry, rolling windows, events and audit.
--
-- Calling convention of every script: ARGV[1] is the key prefix carrying the
-- hash tag of the user_wallet ("stipend:{<user_wallet>}:"), so every key a
-- script touches lives in one Redis Cluster slot; ARGV[2] is a clock skew in
-- milliseconds (zero in production, set by tests to move time forward).
-- Script-specific arguments start at ARGV[3]. Every script answers one JSON
-- string: {"ok":...} or {"error":{"code":..,"message":..,"param":..}}.
-- Amounts are integer base units, exact in a Lua number up to 2^53-1; they
-- travel as decimal strings so no JSON encoder rounds them.

local P = ARGV[1]
local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
local MAX_UNITS = 9007199254740991
local S = '%.0f'

local function fmt(n) return string.format(S, n) end
local function num(v) if v == nil or v == false or v == '' then return 0 end return tonumber(v) end

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

-- Rolling windows. Each window sums per-bucket counters; a bucket is counted
-- whole while any part of it lies inside the window, so a window never
-- under-counts: a payment weighs on it for at least its length and at most its
-- length plus one bucket. The cost of a check is bounded by the number of
-- buckets (96 + 84 + 90), never by the number of past payments.
local WINDOWS = {
  {name = 'day',   adj = 'daily',   field = 'per_day',   code = 'daily_limit',   len = 86400000,   bucket = 900000},   -- 24 h, 15 min buckets
  {name = 'week',  adj = 'weekly',  field = 'per_week',  code = 'weekly_limit',  len = 604800000,  bucket = 7200000},  -- 7 d, 2 h buckets
  {name = 'month', adj = 'monthly', field = 'per_month', code = 'monthly_limit', len = 2592000000, bucket = 28800000}, -- 30 d, 8 h buckets
}

-- All three windows of a session live in one hash, fields '<window tag>:<bucket>'.
local function window_key(sid) return P .. 'as:' .. sid .. ':w' end
local WINDOW_TTL = 2592000000 + 2 * 28800000

-- windows_state reads every window of a session in one call: for each, the
-- amount used, the sorted list of {bucket, amount} still counted (for reset
-- and availability times) and the stale fields to prune.
local function windows_state(sid)
  local flat = redis.call('HGETALL', window_key(sid))
  local out = {}
  for _, w in ipairs(WINDOWS) do
    out[w.name] = {used = 0, buckets = {}, bmin = math.floor((NOW - w.len) / w.bucket)}
  end
  local stale = {}
  for i = 1, #flat, 2 do
    local tag, b = string.match(flat[i], '^(%a+):(%d+)$')
    local st = tag and out[tag]
    b = tonumber(b)
    if st and b >= st.bmin then
      local a = tonumber(flat[i + 1])
      st.used = st.used + a
      st.buckets[#st.buckets + 1] = {b, a}
    else
      stale[#stale + 1] = flat[i]
    end
  end
  for _, w in ipairs(WINDOWS) do
    table.sort(out[w.name].buckets, function(x, y) return x[1] < y[1] end)
  end
  return out, stale
end

-- leaves_at is when bucket b stops counting in window w.
local function leaves_at(w, b) return (b + 1) * w.bucket + w.len end

-- Events: each state change is appended to the user's event stream (for
-- webhooks) and to the user's hash-chained audit log, in the same script.
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

local function emit(event, data)
  data.ts = fmt(NOW)
  redis.call('XADD', P .. 'events', '*', 'event', event, 'data', cjson.encode(data))
  audit(event, data)
end

local KEY_FIELDS = {'session_key_id', 'agent_id', 'user_wallet', 'token', 'mint', 'decimals', 'status',
  'session_key_address', 'pkp_public_key', 'attestation', 'max_amount', 'spent', 'reserved',
  'transaction_count', 'created_at', 'expires_at', 'activated_at', 'last_activity', 'linked_session_id',
  'refusals', 'last_refusal', 'device_bound'}

-- key_view is the public view of a session key record (never the sealed secret).
local function key_view(k)
  local v = {}
  for _, f in ipairs(KEY_FIELDS) do v[f] = k[f] end
  local rem = num(k.max_amount) - num(k.spent) - num(k.reserved)
  if rem < 0 then rem = 0 end
  v.remaining_amount = fmt(rem)
  return v
end

local function session_view(s)
  local v = {}
  for f, val in pairs(s) do v[f] = val end
  return v
end

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

-- load_key reads a session key and checks that the agent may see it ('' = owner or operator).
local function load_key(id, agent)
  local kkey = P .. 'sk:' .. id
  local k = hgetall(kkey)
  if not k or (agent ~= '' and k.agent_id ~= agent) then return nil, kkey end
  return k, kkey
end

local function load_session(id, agent)
  local skey = P .. 'as:' .. id
  local s = hgetall(skey)
  if not s or (agent ~= '' and s.agent_id ~= agent) then return nil, skey end
  return s, skey
end
