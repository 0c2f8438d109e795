"""Issued ids (pipeline/issued.py) found from any gateway: each id is also a Redis hash
`seawall:cl:id:<kind>:<id>` {d: deployment label, k: key id, t: tenant, g: group, m: model} that
expires after `ttl_s`, written when the id is handed out (awaited before the client gets the
reply that holds it, so it can't come back to another gateway first) and read on a local miss.

The owner travels with the id, so the ownership rule (decide/ownership.py) is judged where the
id is brought back, exactly as for a local one. Redis down: ids stay in this process only (as
without Redis), and one unknown here is unknown (the same 404), never an error. Redis that lost
its data (told by the circuits' epoch, circuits.py): every gateway writes again the ids it holds,
each with what was left of its time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from seawall.cluster.link import Link
from seawall.config import ResolvedDeployment
from seawall.decide.ownership import Owner
from seawall.pipeline.issued import Issued, IssuedIds


def fields(issued: Issued) -> dict[str, str]:
    o = issued.owner
    return {"d": issued.target.label, "k": o.key_id, "t": o.tenant or "", "g": o.group or "", "m": issued.model}


def from_fields(found: dict[bytes, bytes], targets: dict[str, ResolvedDeployment]) -> Issued | None:
    """The record, if it names a deployment this gateway has (a config may have dropped it)."""
    d = {k.decode(): v.decode() for k, v in found.items()}
    target = targets.get(d.get("d", ""))
    if target is None or not d.get("k"):
        return None
    return Issued(target, Owner(d["k"], d.get("t") or None, d.get("g") or None), d.get("m", ""))


REPUBLISH_CHUNK = 1000  # ids per pipeline when writing them all again


class SharedIds(IssuedIds):
    def __init__(self, link: Link, kind: str, ttl_s: float, limit: int, targets: Iterable[ResolvedDeployment] = ()):
        super().__init__(limit, targets)
        self.link, self.kind, self.ttl_ms = link, kind, int(ttl_s * 1000)
        self._expires: dict[str, float] = {}  # id -> wall time its shared copy ends, for ids this process holds

    def _key(self, issued_id: str) -> str:
        return self.link.key("id", self.kind, issued_id)

    async def remember(self, issued_id: str, issued: Issued) -> None:
        self._hold(issued_id, issued, time.time() + self.ttl_ms / 1000)
        pipe = self.link.redis.pipeline(transaction=True)
        pipe.hset(self._key(issued_id), mapping=fields(issued))
        pipe.pexpire(self._key(issued_id), self.ttl_ms)
        await self.link.call(f"sharing a {self.kind} id", pipe.execute())

    async def fetch(self, issued_id: str) -> Issued | None:
        pipe = self.link.redis.pipeline(transaction=False)
        pipe.hgetall(self._key(issued_id))
        pipe.pttl(self._key(issued_id))
        found = await self.link.call(f"finding a {self.kind} id", pipe.execute())
        issued = from_fields(found[0], self.targets) if found and found[0] else None
        if issued is not None:
            self._hold(issued_id, issued, time.time() + max(found[1], 0) / 1000)
        return issued

    async def forget(self, issued_id: str) -> None:
        await super().forget(issued_id)
        self._expires.pop(issued_id, None)
        await self.link.call(f"forgetting a {self.kind} id", self.link.redis.delete(self._key(issued_id)))

    def _hold(self, issued_id: str, issued: Issued, expires_at: float) -> None:
        self.keep(issued_id, issued)
        self._expires[issued_id] = expires_at
        if len(self._expires) > 2 * self.limit:  # ids the local map dropped (least recently used)
            self._expires = {i: self._expires[i] for i in self._ids if i in self._expires}

    async def republish(self) -> int:
        """Redis lost its data: write again every id this process holds, for what was left of its
        time (an id past it stays gone). Returns how many went out."""
        now, sent = time.time(), 0
        held = [(i, issued, self._expires.get(i, 0.0) - now) for i, issued in list(self._ids.items())]
        for start in range(0, len(held), REPUBLISH_CHUNK):
            pipe = self.link.redis.pipeline(transaction=False)
            for issued_id, issued, left_s in held[start:start + REPUBLISH_CHUNK]:
                if left_s > 0:
                    pipe.hset(self._key(issued_id), mapping=fields(issued))
                    pipe.pexpire(self._key(issued_id), max(1, int(left_s * 1000)))
            count = len(pipe) // 2  # before execute(), which empties the pipeline
            if count and await self.link.call(f"writing {self.kind} ids again", pipe.execute()) is None:
                break
            sent += count
        return sent
