"""Ids the gateway hands out and clients bring back: a Midjourney task id (pipeline/tasks.py), a
passed-through response id (pipeline/responses.py). Each names the deployment that holds the
object upstream and who may bring it back (decide/ownership.py): one map for both.

In memory, bounded, least recently used dropped first: this class. With other gateways on a
Redis, cluster/ids.py keeps each id there too, so any gateway finds it. Either way a caller that
may not see an id hears exactly what an unknown id gets: `find` answers None for both.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from seawall.config import ResolvedDeployment
from seawall.decide.ownership import Owner, may_see
from seawall.pipeline.context import RequestContext


@dataclass(frozen=True, slots=True)
class Issued:
    """The deployment holding an id's object, who made it, and the model it was made for."""

    target: ResolvedDeployment
    owner: Owner
    model: str = ""


class IssuedIds:
    """id -> Issued, in this process, at most `limit` of them. One per kind of id and gateway."""

    def __init__(self, limit: int, targets: Iterable[ResolvedDeployment] = ()):
        self.limit = limit
        self.targets: dict[str, ResolvedDeployment] = {}  # by label: how a shared copy names its deployment
        for t in targets:
            self.targets.setdefault(t.label, t)
        self._ids: OrderedDict[str, Issued] = OrderedDict()

    async def remember(self, issued_id: str, issued: Issued) -> None:
        self.keep(issued_id, issued)

    async def find(self, issued_id: str, caller: Owner, share_within: str = "key") -> Issued | None:
        """The id's record if `caller` may see it (else None, as for an id never handed out)."""
        found = self._ids.get(issued_id)
        if found is None:
            found = await self.fetch(issued_id)
        if found is None or not may_see(caller, found.owner, share_within):
            return None
        self._ids.move_to_end(issued_id)
        return found

    async def forget(self, issued_id: str) -> None:
        self._ids.pop(issued_id, None)

    async def fetch(self, issued_id: str) -> Issued | None:
        """An id this process doesn't hold: nowhere else to look."""
        return None

    def keep(self, issued_id: str, issued: Issued) -> None:
        self._ids[issued_id] = issued
        self._ids.move_to_end(issued_id)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def __len__(self) -> int:
        return len(self._ids)


def caller_of(ctx: RequestContext) -> Owner:
    """Who is asking (or handing out an id): the request's key, with its tenant and group."""
    principal = ctx.principal
    return Owner(principal.key_id, principal.tenant, principal.group)
