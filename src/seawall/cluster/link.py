"""The cluster's connection to Redis: one client per process, its keys under one prefix, this
gateway's id, and failures judged once (a Redis outage is logged when it starts and when it
ends, and every caller goes on with what it holds in memory).

Kept apart from the rate limiter's client (limits/redis.py): that one is tuned for one round trip
per admission within limits.redis_timeout_ms; these calls are background syncs and rare lookups
that may take longer without anyone waiting on them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from seawall.config import redact_url
from seawall.observe.incident import Incident

log = logging.getLogger("seawall.cluster")

PREFIX = "seawall:cl:"
# A call on a request's path (an id looked up on a local miss, a console session) waits at most
# this long; background syncs use the same cap. Loopback Redis answers in well under 1 ms.
TIMEOUT_S = 1.0
FAILURES = (RedisError, OSError, TimeoutError)

T = TypeVar("T")


class Link:
    def __init__(self, url: str, prefix: str = PREFIX, gateway_id: str | None = None):
        self.where = redact_url(url)
        self.prefix = prefix
        self.gateway_id = gateway_id or uuid.uuid4().hex[:12]
        self.redis = aioredis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S,
                                             retry=Retry(NoBackoff(), 0), health_check_interval=0)
        self._incident = Incident(log, f"cluster state in Redis at {self.where}")

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def call(self, what: str, work: Awaitable[T]) -> T | None:
        """`work`'s result, or None when Redis failed (logged once per outage)."""
        try:
            result = await asyncio.wait_for(work, TIMEOUT_S)
        except FAILURES:
            self._incident.failed("%s failed; going on with this gateway's own state", what)
            return None
        self._incident.succeeded()
        return result

    async def close(self) -> None:
        await self.redis.aclose()
