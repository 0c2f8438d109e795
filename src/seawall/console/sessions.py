"""Console sign-ins: a random session token in an HttpOnly cookie, the session kept in this
process's memory (signing in again after a restart is the price of keeping no session store),
each with its own CSRF token and an absolute expiry. With limits.redis_url, cluster/sessions.py
keeps them in Redis instead, with the same methods, so a sign-in works on every gateway.

The token is looked up by its hash, so the table never holds a usable cookie. The clock is an
argument: tests move it instead of sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE = "seawall_console"
LOGIN_COOKIE = "seawall_login"  # the sign-in form's CSRF token, before there is a session
MAX_SESSIONS = 10_000  # past it, the oldest sign-in goes first


@dataclass(slots=True)
class Session:
    key_id: str | None  # None: the admin; else the gateway key whose owner signed in
    name: str  # who, as the pages say it ("admin", or the key's name)
    csrf: str
    expires_at: float

    @property
    def is_admin(self) -> bool:
        return self.key_id is None


class Sessions:
    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self._by_hash: dict[str, Session] = {}

    async def start(self, key_id: str | None, name: str, now: float) -> tuple[str, Session]:
        """A new session and the token for its cookie (the only place the token exists)."""
        if len(self._by_hash) >= MAX_SESSIONS:
            self._expire(now)
            while len(self._by_hash) >= MAX_SESSIONS:
                del self._by_hash[next(iter(self._by_hash))]
        token = secrets.token_urlsafe(32)
        session = Session(key_id, name, secrets.token_urlsafe(24), now + self.ttl_s)
        self._by_hash[_digest(token)] = session
        return token, session

    async def get(self, token: str | None, now: float) -> Session | None:
        """The live session for a cookie's token; an expired one is forgotten and gives None."""
        if not token:
            return None
        digest = _digest(token)
        session = self._by_hash.get(digest)
        if session is not None and session.expires_at <= now:
            del self._by_hash[digest]
            return None
        return session

    async def end(self, token: str | None) -> None:
        if token:
            self._by_hash.pop(_digest(token), None)

    async def end_for_key(self, key_id: str) -> None:
        """Sign out every session of a key (revoked, rotated, gone)."""
        for digest in [d for d, s in self._by_hash.items() if s.key_id == key_id]:
            del self._by_hash[digest]

    def _expire(self, now: float) -> None:
        for digest in [d for d, s in self._by_hash.items() if s.expires_at <= now]:
            del self._by_hash[digest]


def same_token(given: str | None, expected: str) -> bool:
    """CSRF check: equal-length compare in constant time; a missing token never matches."""
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
