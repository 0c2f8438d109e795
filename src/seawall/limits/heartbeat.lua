-- Keep a live process's concurrency leases from expiring (limits/redis.py): each KEYS[i] holds
-- lease ARGV[i + 1]; each still held is pushed to now + ARGV[1] us. A lease already gone (its
-- key expired while Redis was unreachable) is not brought back.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local lease = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], math.ceil(lease / 1000) + 1000)  -- a missing key stays missing
end
return 1
