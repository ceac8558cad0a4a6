-- unlink.lua: removes a key's policy layer. It loosens the limits, so only the
-- owner (through a signed approval) or the operator may do it.
-- ARGV[3] session_key_id  [4] agent (must be '')  [5] on whose word: 'owner' (a signed
-- approval; the default) or 'operator_forced' (the operator overrode the owner)
--- uses: core events views keys
local kid, agent, by = ARGV[3], ARGV[4], ARGV[5] or ''
if by == '' then by = 'owner' end
if by ~= 'owner' and by ~= 'operator_forced' then return fail('invalid_argument', 'unknown authority ' .. by, 'by') end
if agent ~= '' then return fail('approval_required', 'only the owner may unlink a session', 'session_key_id') end
local k, kkey = load_key(kid, '')
if not k then return fail('not_found', 'no session key ' .. kid, 'session_key_id') end
local cur = k.linked_session_id or ''
if cur == '' then return reply({ok = {key = key_view(k), duplicate = true}}) end
k.linked_session_id = nil
redis.call('HDEL', kkey, 'linked_session_id')
emit('session_key.unlinked', {session_key_id = kid, session_id = cur, agent_id = k.agent_id, user_wallet = k.user_wallet, by = by})
return reply({ok = {key = key_view(k)}})
