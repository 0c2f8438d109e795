-- Keep a live gateway's quota holds from expiring (limits/quota_redis.py): each KEYS[i] (a holds
-- set) has member ARGV[i + 1], pushed to now + ARGV[1] us. A hold already gone (expired and given
-- back while Redis was unreachable) is not brought back. Unlike heartbeat.lua, no expiry is set on
-- the set: its members' amounts are counted in the balance, and must be given back one by one.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local lease = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + lease, ARGV[i + 1])
end
return 1
