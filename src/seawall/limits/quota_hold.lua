-- Hold a request's estimate against a key's quota balance (limits/quota_redis.py), atomically:
-- decide/quota.py's shortfall rule on the balance every gateway shares.
--
-- KEYS[1]: the balance, a hash {ut, uu: used tokens / USD; ht, hu: held by requests in flight}.
-- KEYS[2]: the holds, a sorted set of "<lease>|<tokens>|<usd>" scored by expiry (us): a gateway
-- renews its own; one that crashed stops, and its holds are given back here once expired.
-- ARGV: now_us ("" = Redis TIME), member, lease_us, tokens, usd, limit_tokens, limit_usd ("" = none),
-- seed_tokens, seed_usd (the used totals to start from when the balance is absent: the store's).
-- Returns {1, "", ut, uu, ht, hu} (held), or {0, unit, ut, uu, ht, hu} (the shortfall's unit).
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local balance, holds = KEYS[1], KEYS[2]
if redis.call('EXISTS', balance) == 0 then
  redis.call('HSET', balance, 'ut', ARGV[8], 'uu', ARGV[9], 'ht', 0, 'hu', 0)
end
local expired = redis.call('ZRANGEBYSCORE', holds, '-inf', now)
if #expired > 0 then
  local t, u = 0, 0
  for _, m in ipairs(expired) do
    local ht, hu = string.match(m, '|([^|]*)|([^|]*)$')
    t, u = t + tonumber(ht), u + tonumber(hu)
  end
  redis.call('HINCRBY', balance, 'ht', -t)
  redis.call('HINCRBYFLOAT', balance, 'hu', -u)
  redis.call('ZREMRANGEBYSCORE', holds, '-inf', now)
end
local s = redis.call('HMGET', balance, 'ut', 'uu', 'ht', 'hu')
local ut, uu, ht, hu = tonumber(s[1]), tonumber(s[2]), tonumber(s[3]), tonumber(s[4])
local tokens, usd = tonumber(ARGV[4]), tonumber(ARGV[5])
if ARGV[6] ~= '' and ut + ht + tokens > tonumber(ARGV[6]) then
  return {0, 'tokens', s[1], s[2], s[3], s[4]}
end
if ARGV[7] ~= '' and uu + hu + usd > tonumber(ARGV[7]) then
  return {0, 'usd', s[1], s[2], s[3], s[4]}
end
local held_t = redis.call('HINCRBY', balance, 'ht', tokens)
local held_u = redis.call('HINCRBYFLOAT', balance, 'hu', ARGV[5])
redis.call('ZADD', holds, now + tonumber(ARGV[3]), ARGV[2])
return {1, '', s[1], s[2], tostring(held_t), held_u}
