"""A lease in Redis that one gateway holds at a time (the alert evaluator: cluster/alerts.py; who
probes a deployment out of rotation: cluster/circuits.py): the holder renews it every call, well
within ttl_s; when it dies, the lease lapses after at most ttl_s and the next gateway to ask takes it.

One script per call, atomic: renew if it is ours, take it if nobody holds it, else say no.
"""

from __future__ import annotations

from seawall.cluster.link import Link

_HOLD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    def __init__(self, link: Link, name: str, ttl_s: float):
        self.link, self.key, self.ttl_ms = link, link.key("lease", name), int(ttl_s * 1000)
        self._hold = link.redis.register_script(_HOLD)
        self._release = link.redis.register_script(_RELEASE)
        self.held = False

    async def renew(self, ttl_s: float | None = None) -> bool | None:
        """Whether this gateway holds the lease now (for ttl_s, else the lease's own); None: Redis
        did not answer (nobody knows)."""
        ttl_ms = self.ttl_ms if ttl_s is None else int(ttl_s * 1000)
        got = await self.link.call("holding a lease", self._hold(keys=[self.key], args=[self.link.gateway_id, ttl_ms]))
        if got is None:
            return None
        self.held = bool(got)
        return self.held

    async def release(self) -> None:
        """Let another gateway take over at once (a clean stop), not after ttl_s."""
        if self.held:
            await self.link.call("releasing a lease", self._release(keys=[self.key], args=[self.link.gateway_id]))
            self.held = False
