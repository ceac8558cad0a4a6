-- attest.lua: stores a fresh attestation of a key's parameters. It is stored
-- only while the parameters it states are still the key's (a later change
-- brings its own attestation), so a stored attestation never states old ones.
-- ARGV[3] session_key_id  [4] attestation (base58 signature)  [5] max_amount it states (base units)
-- [6] linked_session_id it states ('' = none)
--- uses: core events views keys
local id, att, max, sid = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local k, kkey = load_key(id, '')
if not k then return fail('not_found', 'no session key ' .. id, 'session_key_id') end
if num(k.max_amount) ~= tonumber(max) or (k.linked_session_id or '') ~= sid then
  return fail('conflict', 'the key changed since; its newer attestation follows', 'session_key_id')
end
k.attestation = att
redis.call('HSET', kkey, 'attestation', att)
audit('session_key.attested', {session_key_id = id, max_amount = max, session_id = sid})
return reply({ok = {key = key_view(k)}})
