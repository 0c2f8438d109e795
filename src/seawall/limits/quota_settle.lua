-- Settle a hold (limits/quota_redis.py): give it back and charge the request's real cost, capped
-- at the limit as decide/quota.py's charge is (a balance never goes past its limit). A hold
-- already gone (expired while its gateway could not renew it) is not given back twice; a cost
-- counted while Redis was down comes here with no hold at all.
--
-- KEYS: the balance and the holds (see quota_hold.lua). ARGV: member ("" = none), held tokens,
-- held usd, cost tokens, cost usd, limit_tokens, limit_usd ("" = none), seed_tokens, seed_usd.
-- Returns {charged tokens, charged usd, ut, uu, ht, hu}.
local balance, holds = KEYS[1], KEYS[2]
if redis.call('EXISTS', balance) == 0 then
  redis.call('HSET', balance, 'ut', ARGV[8], 'uu', ARGV[9], 'ht', 0, 'hu', 0)
end
if ARGV[1] ~= '' and redis.call('ZREM', holds, ARGV[1]) == 1 then
  redis.call('HINCRBY', balance, 'ht', -tonumber(ARGV[2]))
  redis.call('HINCRBYFLOAT', balance, 'hu', -tonumber(ARGV[3]))
end
local s = redis.call('HMGET', balance, 'ut', 'uu', 'ht', 'hu')
local function charge(limit, used, cost)
  cost = math.max(cost, 0)
  if limit == '' then return cost end
  return math.min(cost, math.max(tonumber(limit) - used, 0))
end
local t = charge(ARGV[6], tonumber(s[1]), tonumber(ARGV[4]))
local u = charge(ARGV[7], tonumber(s[2]), tonumber(ARGV[5]))
local ut, uu = s[1], s[2]
if t > 0 then ut = redis.call('HINCRBY', balance, 'ut', t) end
if u > 0 then uu = redis.call('HINCRBYFLOAT', balance, 'uu', string.format('%.17g', u)) end
return {string.format('%d', t), string.format('%.17g', u), tostring(ut), uu, s[3], s[4]}
