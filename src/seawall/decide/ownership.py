"""Ownership: may a caller bring back an object another request made? A Midjourney task today;
stored responses, captured requests, replays and support bundles use the same rule.

An object belongs to the key that made it. The operator may widen that to the keys of its group
or of its tenant (server.share_within). Sharing within a group stays within a tenant too: a group
named alike in two tenants is not a bridge between them. Anyone else must be told the object does
not exist, with the same answer as for an id never handed out, so ids can't be probed (Midjourney
task ids are timestamps).
"""

from __future__ import annotations

from dataclasses import dataclass

SHARE_WITHIN = ("key", "group", "tenant")


@dataclass(frozen=True, slots=True)
class Owner:
    """Who made an object, as the key's Principal said when it was made."""

    key_id: str
    tenant: str | None = None
    group: str | None = None


def may_see(caller: Owner, owner: Owner, share_within: str = "key") -> bool:
    """True when `caller` may see an object `owner` made, under the operator's rule."""
    if caller.key_id == owner.key_id:
        return True
    if share_within == "tenant":
        return owner.tenant is not None and caller.tenant == owner.tenant
    if share_within == "group":
        return owner.group is not None and caller.group == owner.group and caller.tenant == owner.tenant
    return False
