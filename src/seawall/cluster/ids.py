"""Issued ids (pipeline/issued.py) found from any gateway: each id is also a Redis hash
`seawall:cl:id:<kind>:<id>` {d: deployment label, k: key id, t: tenant, g: group, m: model} that
expires after `ttl_s`, written when the id is handed out (awaited before the client gets the
reply that holds it, so it can't come back to another gateway first) and read on a local miss.

The owner travels with the id, so the ownership rule (decide/ownership.py) is judged where the
id is brought back, exactly as for a local one. Redis down: ids stay in this process only (as
without Redis), and one unknown here is unknown (the same 404), never an error.
"""

from __future__ import annotations

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


class SharedIds(IssuedIds):
    def __init__(self, link: Link, kind: str, ttl_s: float, limit: int, targets: Iterable[ResolvedDeployment] = ()):
        super().__init__(limit, targets)
        self.link, self.kind, self.ttl_ms = link, kind, int(ttl_s * 1000)

    def _key(self, issued_id: str) -> str:
        return self.link.key("id", self.kind, issued_id)

    async def remember(self, issued_id: str, issued: Issued) -> None:
        self.keep(issued_id, issued)
        pipe = self.link.redis.pipeline(transaction=True)
        pipe.hset(self._key(issued_id), mapping=fields(issued))
        pipe.pexpire(self._key(issued_id), self.ttl_ms)
        await self.link.call(f"sharing a {self.kind} id", pipe.execute())

    async def fetch(self, issued_id: str) -> Issued | None:
        found = await self.link.call(f"finding a {self.kind} id", self.link.redis.hgetall(self._key(issued_id)))
        issued = from_fields(found, self.targets) if found else None
        if issued is not None:
            self.keep(issued_id, issued)
        return issued

    async def forget(self, issued_id: str) -> None:
        await super().forget(issued_id)
        await self.link.call(f"forgetting a {self.kind} id", self.link.redis.delete(self._key(issued_id)))
