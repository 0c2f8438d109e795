"""Auth: the Authorization header -> a Principal, from an in-memory cache (no store round trip).

The cache maps a keyed hash of the key (keyring.hash_key) -> Principal. A dict lookup on a keyed hash needs no
constant-time comparison: the attacker controls the key, not the hash, and can't learn hash
bytes from lookup timing without the secret. The cache is reloaded from the store every
`refresh_interval_s`, which bounds how long a change made by another instance takes to apply.
"""

from __future__ import annotations

import asyncio
import logging
import time

from seawall.decide.keys import bearer_token, diagnose_key, key_state, mask_key
from seawall.errors import SeawallError, error
from seawall.keyring import hash_key
from seawall.pipeline.context import Principal
from seawall.store.base import KeyRecord, Store

log = logging.getLogger("seawall.auth")


class Authenticator:
    def __init__(self, store: Store, secret: bytes, refresh_interval_s: float):
        self._store, self._secret, self._interval = store, secret, refresh_interval_s
        self._by_hash: dict[str, Principal] = {}
        self._inactive: dict[str, KeyRecord] = {}  # known keys that may not call: to say why
        self._task: asyncio.Task | None = None

    async def load(self) -> None:
        self._by_hash, self._inactive = split_keys(await self._store.load_keys(), time.time())

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="key-cache-refresh")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.load()
            except Exception:  # noqa: BLE001 - keep serving from the last good cache
                log.exception("reloading keys failed; serving from the cached set")

    def authenticate(self, headers: dict[str, str]) -> Principal:
        token, problem = bearer_token(headers.get("authorization"))
        if problem is not None:
            if problem.code == "missing_api_key" and "x-api-key" in headers:
                raise error("malformed_auth_header",
                            detail="the key was sent as 'x-api-key'; the OpenAI API takes "
                                   "'Authorization: Bearer <key>'")
            raise SeawallError(problem.code, {"detail": problem.detail})
        digest = hash_key(self._secret, token)
        principal = self._by_hash.get(digest)
        if principal is not None:
            if principal.expires_at is None or principal.expires_at > time.time():
                return principal
            self._inactive[digest] = _expired(principal)
        inactive = self._inactive.get(digest)
        if inactive is not None:
            state = key_state(inactive.enabled, inactive.revoked_at, inactive.expires_at, time.time())
            if state is not None:
                raise SeawallError(state.code, {"masked": mask_key(token), "when": state.detail})
        # Only a key that failed the lookup is worth diagnosing (a clean key is looked up first,
        # so the common path pays for one keyed hash and one dict lookup).
        shape = diagnose_key(token)
        if shape is not None:
            raise SeawallError(shape.code, {"detail": shape.detail, "platform": shape.platform})
        raise error("invalid_api_key", masked=mask_key(token))


def split_keys(keys: list[KeyRecord], now: float) -> tuple[dict[str, Principal], dict[str, KeyRecord]]:
    """hash -> Principal for keys that may call now; hash -> record for the others (revoked,
    expired, disabled), kept so a refusal can say which."""
    active: dict[str, Principal] = {}
    inactive: dict[str, KeyRecord] = {}
    for k in keys:
        if key_state(k.enabled, k.revoked_at, k.expires_at, now) is None:
            active[k.key_hash] = Principal(k.id, k.name, k.tenant, k.group, k.expires_at)
        else:
            inactive[k.key_hash] = k
    return active, inactive


def _expired(p: Principal) -> KeyRecord:
    return KeyRecord(id=p.key_id, name=p.name, key_hash="", key_prefix="", last4="", created_at=0.0,
                     expires_at=p.expires_at)
