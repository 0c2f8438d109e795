"""Ownership: may a caller bring back, or see, something a request made? A Midjourney task, a
stored response, a request-log row and its capture, a replay, a support bundle: one rule.

An object belongs to the key that made it. The operator may widen that, for objects a client
brings back by id (tasks, responses), to the keys of its group or of its tenant
(server.share_within); sharing within a group stays within a tenant too: a group named alike in
two tenants is not a bridge between them. The admin sees everything.

A refusal must never say whether the object exists: anyone else gets the same "not found" as for
an id never handed out, so ids can't be probed (Midjourney task ids are timestamps). Callers ask
`may_see` / `visible` / `found` and answer one not-found either way; they never branch on "exists
but not yours".
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


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who looks at recorded requests (the console, bundles): the admin (`key_id` None), or the
    owner of one gateway key."""

    key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.key_id is None


ADMIN = Viewer()


def visible(owner_key_id: str | None, viewer: Viewer) -> bool:
    """Whether `viewer` may see a thing made by the key `owner_key_id` (None: made without a key,
    e.g. a request refused before authentication, which only the admin sees)."""
    if viewer.is_admin:
        return True
    return owner_key_id is not None and owner_key_id == viewer.key_id


def found(record: object | None, owner_key_id: str | None, viewer: Viewer) -> bool:
    """The record exists and the viewer may see it: the one test behind every not-found."""
    return record is not None and visible(owner_key_id, viewer)
