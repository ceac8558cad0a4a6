-- expire.lua: makes a due key's expiry visible (for the sweeper). Running it
-- twice, or from several replicas at once, emits one session_key.expired.
-- ARGV[3] session_key_id
--- uses: core views keys
local k, kkey = load_key(ARGV[3], '')
if not k then return fail('not_found', 'no session key ' .. ARGV[3], 'session_key_id') end
local changed = expire_key(kkey, k, true)
return reply({ok = {expired = changed, key = key_view(k)}})
