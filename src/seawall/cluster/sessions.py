"""Console sessions in Redis (console/sessions.py's methods), so a sign-in made on one gateway
works on every gateway sharing the Redis, and signing out (or a key revoked) ends it on all.

    seawall:cl:session:<sha256 of the token>  {k: key id ("" for the admin), n: name, c: CSRF token, e: expiry}
    seawall:cl:sessions:key:<key id>           the hashes of that key's sessions (for end_for_key)

Each expires in Redis when the session does. As in memory, only the token's hash is kept, so
Redis never holds a usable cookie. Console pages are not the API's hot path: each page reads
its session from Redis (one round trip). Redis down: nobody is signed in (the console says
"sign in"), never a session that can't be checked.
"""

from __future__ import annotations

import secrets

from seawall.cluster.link import Link
from seawall.console.sessions import Session, _digest


class RedisSessions:
    def __init__(self, link: Link, ttl_s: float):
        self.link, self.ttl_s = link, ttl_s

    def _key(self, digest: str) -> str:
        return self.link.key("session", digest)

    def _of_key(self, key_id: str) -> str:
        return self.link.key("sessions", "key", key_id)

    async def start(self, key_id: str | None, name: str, now: float) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(key_id, name, secrets.token_urlsafe(24), now + self.ttl_s)
        digest, ttl_ms = _digest(token), int(self.ttl_s * 1000)
        pipe = self.link.redis.pipeline(transaction=True)
        pipe.hset(self._key(digest), mapping={"k": key_id or "", "n": name, "c": session.csrf,
                                              "e": repr(session.expires_at)})
        pipe.pexpire(self._key(digest), ttl_ms)
        if key_id:
            pipe.sadd(self._of_key(key_id), digest)
            pipe.pexpire(self._of_key(key_id), ttl_ms)
        if await self.link.call("starting a console session", pipe.execute()) is None:
            raise OSError("console sessions are kept in Redis, which is not answering")
        return token, session

    async def get(self, token: str | None, now: float) -> Session | None:
        if not token:
            return None
        found = await self.link.call("reading a console session", self.link.redis.hgetall(self._key(_digest(token))))
        if not found:
            return None
        d = {k.decode(): v.decode() for k, v in found.items()}
        session = Session(d["k"] or None, d["n"], d["c"], float(d["e"]))
        if session.expires_at <= now:
            await self.end(token)
            return None
        return session

    async def end(self, token: str | None) -> None:
        if token:
            await self.link.call("ending a console session", self.link.redis.delete(self._key(_digest(token))))

    async def end_for_key(self, key_id: str) -> None:
        digests = await self.link.call("ending a key's sessions", self.link.redis.smembers(self._of_key(key_id)))
        if digests:
            await self.link.call("ending a key's sessions", self.link.redis.delete(
                *(self._key(d.decode()) for d in digests), self._of_key(key_id)))
