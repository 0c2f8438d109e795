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
import time
import uuid
from collections.abc import Coroutine
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from seawall.config import redact_url

log = logging.getLogger("seawall.cluster")

PREFIX = "seawall:cl:"
# A call on a request's path (an id looked up on a local miss, a console session) waits at most
# this long; background syncs use the same cap. Loopback Redis answers in well under 1 ms.
TIMEOUT_S = 1.0
BACKOFF_S, BACKOFF_MAX_S = 0.1, 5.0  # as the limiter's (limits/redis.py): a blip is over in a fraction of a second
FAILURES = (RedisError, OSError, TimeoutError)

T = TypeVar("T")


class Link:
    def __init__(self, url: str, prefix: str = PREFIX, gateway_id: str | None = None):
        self.where = redact_url(url)
        self.prefix = prefix
        self.gateway_id = gateway_id or uuid.uuid4().hex[:12]
        self.redis = aioredis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S,
                                             retry=Retry(NoBackoff(), 0), health_check_interval=0)
        self._failures, self._retry_at = 0, 0.0

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def call(self, what: str, work: Coroutine[object, object, T]) -> T | None:
        """`work`'s result, or None when Redis failed (logged once per outage). After a failure,
        calls answer None at once until the next try is due (BACKOFF_S, doubling to BACKOFF_MAX_S):
        a Redis that hangs costs a request one timeout per backoff, not one each."""
        now = time.monotonic()
        if now < self._retry_at:
            work.close()
            return None
        try:
            result = await asyncio.wait_for(work, TIMEOUT_S)
        except FAILURES as e:
            if not self._failures:  # an outage, not a bug: one line when it starts, one when it ends
                log.warning("cluster state in Redis at %s: %s failed (%s: %s); going on with this gateway's own "
                            "state", self.where, what, type(e).__name__, str(e)[:200] or "no detail")
            self._failures += 1
            self._retry_at = time.monotonic() + min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (self._failures - 1))
            return None
        if self._failures:
            log.warning("cluster state in Redis at %s: works again", self.where)
        self._failures, self._retry_at = 0, 0.0
        return result

    async def close(self) -> None:
        await self.redis.aclose()
