-- get.lua: view of a session key or session (expiry applied to the view, not
-- saved), with the linked session's window usage (buckets that left are retired).
-- ARGV[3] kind 'sk'|'as'  [4] id  [5] agent ('' = owner/operator)  [6] recipient (optional)
-- [7] '1' to include the key's sealed secret (for the service about to sign a payment)
--- uses: core windows views keys
local kind, id, agent, recipient, sealed = ARGV[3], ARGV[4], ARGV[5], ARGV[6] or '', ARGV[7] == '1'
local out = {}
local s, skey
if kind == 'sk' then
  local k, kkey = load_key(id, agent)
  if not k then return fail('not_found', 'no session key ' .. id, 'session_key_id') end
  expire_key(kkey, k, false)
  out.key = key_view(k)
  out.key.distinct_recipients = fmt(redis.call('HLEN', kkey .. ':recipients'))
  local hour = math.floor(NOW / 3600000)
  local h = redis.call('HMGET', kkey .. ':hourly', 'p' .. fmt(hour), 'p' .. fmt(hour - 1), 'r' .. fmt(hour), 'r' .. fmt(hour - 1))
  out.key.payments_last_hour = fmt(num(h[1]) + num(h[2]))
  out.key.refusals_last_hour = fmt(num(h[3]) + num(h[4]))
  if sealed then out.sealed_key = k.sealed_key end
  if recipient ~= '' then out.key.recipient_paid = redis.call('HEXISTS', kkey .. ':recipients', recipient) == 1 end
  if (k.linked_session_id or '') ~= '' then s, skey = load_session(k.linked_session_id, '') end
else
  s, skey = load_session(id, agent)
  if not s then return fail('not_found', 'no session ' .. id, 'session_id') end
end
if s then
  expire_session(skey, s, false)
  out.session = session_view(s)
  local state = windows_used(s.session_id, s, skey)
  for i, w in ipairs(WINDOWS) do
    local st = state[w.name]
    out.session['used_' .. w.name] = fmt(st.used)
    if st.used > 0 then
      local buckets = window_buckets(s.session_id, s, skey, i)
      if #buckets > 0 then out.session['resets_' .. w.name] = fmt(leaves_at(w, buckets[1][1])) end
    end
  end
  if s.has_recipients == '1' then out.session.allowed_recipients = redis.call('SMEMBERS', skey .. ':recipients') end
end
out.now = fmt(NOW)
return reply({ok = out})
