-- link.lua: links a session key to a session; from now on a payment must pass both.
-- Linking only ever tightens what the agent may spend, so the agent may do it.
-- ARGV[3] session_key_id  [4] session_id  [5] agent ('' = owner/operator)
--- uses: core events views keys
local kid, sid, agent = ARGV[3], ARGV[4], ARGV[5]
local k, kkey = load_key(kid, agent)
if not k then return fail('not_found', 'no session key ' .. kid, 'session_key_id') end
local s, skey = load_session(sid, agent)
if not s then return fail('not_found', 'no session ' .. sid .. ' of this user_wallet', 'session_id') end
if s.agent_id ~= k.agent_id then return fail('conflict', 'session and session key belong to different agents', 'session_id') end
if (s.mint or '') ~= '' and (k.mint or '') ~= s.mint then
  return fail('token_mismatch', 'session ' .. sid .. ' has its limits in another token than session key ' .. kid ..
    ' (' .. (k.token or '') .. '): link a key of the session\'s token, or create a session for this one', 'session_id')
end
expire_key(kkey, k, true)
expire_session(skey, s, true)
if k.status == 'revoked' or k.status == 'expired' then return fail(k.status, 'session key is ' .. k.status, 'session_key_id') end
if s.status ~= 'active' then return fail(s.status == 'revoked' and 'revoked' or 'expired', 'session is ' .. s.status, 'session_id') end
local cur = k.linked_session_id or ''
if cur == sid then return reply({ok = {key = key_view(k), duplicate = true}}) end
if cur ~= '' then return fail('conflict', 'session key is already linked to ' .. cur .. '; the owner must unlink it first', 'session_key_id') end
k.linked_session_id = sid
redis.call('HSET', kkey, 'linked_session_id', sid)
emit('session_key.linked', {session_key_id = kid, session_id = sid, agent_id = k.agent_id, user_wallet = k.user_wallet})
return reply({ok = {key = key_view(k)}})
