-- create_key.lua: a new session key, waiting for its funding approval.
-- ARGV[3] session_key_id  [4] agent_id  [5] user_wallet  [6] token  [7] mint  [8] decimals
-- [9] session_key_address  [10] pkp_public_key  [11] attestation  [12] sealed secret
-- [13] max_amount (base units)  [14] expires_at (ms)
-- [15] SHA-256 (hex) of the device fingerprint the key is bound to ('' = not bound)
--- uses: core events views
local id = ARGV[3]
local kkey = P .. 'sk:' .. id
if redis.call('EXISTS', kkey) == 1 then return fail('conflict', 'session key ' .. id .. ' already exists', 'session_key_id') end
local max, exp = tonumber(ARGV[13]), tonumber(ARGV[14])
if not max or max <= 0 or max > MAX_UNITS then return fail('invalid_argument', 'max_amount out of range', 'max_amount') end
if not exp or exp <= NOW then return fail('invalid_argument', 'expires_at must be in the future', 'expiry_hours') end
local k = {session_key_id = id, agent_id = ARGV[4], user_wallet = ARGV[5], token = ARGV[6], mint = ARGV[7],
  decimals = ARGV[8], status = 'pending_approval', session_key_address = ARGV[9], pkp_public_key = ARGV[10],
  attestation = ARGV[11], sealed_key = ARGV[12], max_amount = fmt(max), spent = '0', reserved = '0',
  transaction_count = '0', refusals = '0', created_at = fmt(NOW), expires_at = fmt(exp), last_activity = fmt(NOW)}
if (ARGV[15] or '') ~= '' then k.device_hash, k.device_bound = ARGV[15], '1' end
-- Its record keeps the sealed secret's field even when empty (SealedSecret reads it).
redis.call('HSET', kkey, unpack(record_fields(k, {sealed_key = true})))
emit('session_key.created', {session_key_id = id, agent_id = k.agent_id, user_wallet = k.user_wallet,
  max_amount = k.max_amount, expires_at = k.expires_at, session_key_address = k.session_key_address})
return reply({ok = {key = key_view(k)}})
