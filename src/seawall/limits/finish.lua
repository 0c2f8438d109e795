-- The end of an admission (limits/redis.py): give its concurrency leases back and settle its
-- token buckets with real usage minus the estimate, as decide/gcra.py's settle does (a refund
-- never past a full bucket; a charge may leave debt).
--
-- KEYS: the slot keys (ARGV[3] of them), then the token buckets. ARGV: now_us ("" = Redis TIME),
-- lease member, slot count, then per bucket: limit, period_us, delta.
--
-- A quota settlement may be folded in (limits/quota_redis.py; quota_settle.lua, prefixed to this
-- script as the function quota_settle): its two keys last, its arguments (quota_settle.lua's)
-- after the buckets'. The reply is then quota_settle.lua's; else 1.
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local member, slots = ARGV[2], tonumber(ARGV[3])
local folded = #ARGV > 3 + 3 * (#KEYS - slots)  -- a bucket has 3 arguments per key; a settlement 9 for its 2
local last = folded and #KEYS - 2 or #KEYS
for i = 1, slots do
  redis.call('ZREM', KEYS[i], member)
end
for i = slots + 1, last do
  local at = 3 + (i - slots - 1) * 3
  local limit, period, delta = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  local state = redis.call('HMGET', KEYS[i], 'l', 't')
  local level, since = 0, now
  if state[1] then
    since = math.max(now, tonumber(state[2]))
    level = math.max(0, tonumber(state[1]) - (since - tonumber(state[2])) * limit)
  end
  local new = math.max(0, level + delta * period)
  if new > 0 then
    redis.call('HSET', KEYS[i], 'l', string.format('%d', new), 't', string.format('%d', since))
    redis.call('PEXPIRE', KEYS[i], math.ceil(new / limit / 1000) + 1000)
  else
    redis.call('DEL', KEYS[i])
  end
end
if folded then
  local at, args = 3 + 3 * (last - slots), {}
  for j = 1, 9 do args[j] = ARGV[at + j] end
  return quota_settle({KEYS[last + 1], KEYS[last + 2]}, args)
end
return 1
