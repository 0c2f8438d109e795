"""Who may see a recorded thing (a request-log row, its capture, a task, a stored response): the
admin sees everything; a key's owner sees what that key made, and nothing else.

A refusal must never say whether the thing exists: the caller gets the same "not found" for
another key's id as for an id nobody issued, so ids can't be probed. Callers therefore ask
`visible` and answer one not-found either way; they never branch on "exists but not yours".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: the admin (`key_id` None), or the owner of one gateway key."""

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
