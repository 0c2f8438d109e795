-- One admission decision, atomically (limits/redis.py): every check first, then, only if all
-- pass, every spend. The same arithmetic as decide/gcra.py, on the bucket's level instead of its
-- absolute TAT (level = TAT - now, scaled by the limit), in microseconds: Lua numbers are
-- doubles, exact below 2^53, and an absolute TAT in ns x limit would not fit; a level is at most
-- period_us x limit (6e7 x limit), exact for limits up to ~1.5e8 per minute.
--
-- KEYS[i]: one per check. ARGV: now_us ("" = Redis TIME, so every process reads one clock),
-- lease member, lease_us, then per check: limit, period_us (0 = a concurrency check), cost.
-- Returns {admitted (0/1), then per check: allowed (0/1), wait_us (-1: never fits), remaining, reset_us}.
--
-- A quota hold may be folded in (limits/quota_redis.py; quota_hold.lua, prefixed to this script as
-- the function quota_hold): its two keys follow the checks' and its arguments (quota_hold.lua's
-- but now_us) follow theirs. It is tried only once every check passes, and the checks spend only
-- if it is taken, so one round trip admits and holds, and a refusal by either spends nothing.
-- Its reply (quota_hold.lua's) is appended.
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local member, lease = ARGV[2], tonumber(ARGV[3])
local folded = #ARGV > 3 + 3 * #KEYS  -- a check has 3 arguments per key; a hold 8 for its 2
local checks = folded and #KEYS - 2 or #KEYS

local function ceil_div(a, b)  -- exact for integers below 2^53, whatever the double division rounds to
  local q = math.floor(a / b)
  if q * b < a then q = q + 1 end
  if (q - 1) * b >= a then q = q - 1 end
  return q
end

local function floor_div(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 end
  if (q + 1) * b <= a then q = q + 1 end
  return q
end

local out, spend, admitted = {0}, {}, 1
for i = 1, checks do
  local at = 3 + (i - 1) * 3
  local limit, period, cost = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  local allowed, wait, remaining, reset = 1, 0, 0, 0
  if period > 0 then
    local state = redis.call('HMGET', KEYS[i], 'l', 't')
    local level, since = 0, now
    if state[1] then
      since = math.max(now, tonumber(state[2]))  -- a clock stepped back spends nothing extra
      level = math.max(0, tonumber(state[1]) - (since - tonumber(state[2])) * limit)
    end
    local cap = period * limit  -- the level may reach one period (scaled) ahead of now
    local new = level + cost * period
    if new <= cap then
      remaining, reset = floor_div(cap - new, period), ceil_div(new, limit)
      spend[i] = {new, since}
    else
      allowed, admitted = 0, 0
      if cost > limit then wait = -1 else wait = ceil_div(new - cap, limit) end
      remaining, reset = math.max(0, floor_div(cap - level, period)), ceil_div(level, limit)
    end
  else
    -- Concurrency: a sorted set of leases scored by their expiry; expired ones (a crashed
    -- process's) are dropped before counting.
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    if redis.call('ZCARD', KEYS[i]) >= limit then allowed, admitted = 0, 0 end
  end
  out[#out + 1], out[#out + 2], out[#out + 3], out[#out + 4] = allowed, wait, remaining, reset
end

local held
if folded and admitted == 1 then
  local at, args = 3 + 3 * checks, {now}
  for j = 1, 8 do args[j + 1] = ARGV[at + j] end
  held = quota_hold({KEYS[checks + 1], KEYS[checks + 2]}, args)
  if held[1] == 0 then admitted = 0 end
end

if admitted == 1 then
  for i = 1, checks do
    local period = tonumber(ARGV[3 + (i - 1) * 3 + 2])
    if period > 0 then
      local limit = tonumber(ARGV[3 + (i - 1) * 3 + 1])
      local new, since = spend[i][1], spend[i][2]
      redis.call('HSET', KEYS[i], 'l', string.format('%d', new), 't', string.format('%d', since))
      -- Gone once drained: a missing bucket is a full one.
      redis.call('PEXPIRE', KEYS[i], ceil_div(ceil_div(new, limit), 1000) + 1000)
    else
      redis.call('ZADD', KEYS[i], now + lease, member)
      redis.call('PEXPIRE', KEYS[i], ceil_div(lease, 1000) + 1000)
    end
  end
end
out[1] = admitted
if held then
  for j = 1, #held do out[#out + 1] = held[j] end
end
return out
