"""The files API's storage: uploads kept in memory, bounded, listed like OpenAI lists them.

Bounded by total bytes (``MAX_TOTAL_BYTES``, oldest first out), because the simulator is a test
double, not a store: a batch's input, a fine-tune's data and the batch outputs it writes fit.
"""

from __future__ import annotations

import random
import string
import time
from collections import OrderedDict
from dataclasses import dataclass

from seawall.simulator.dialects import openai as oai

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
MAX_FILE_BYTES = 64 * 1024 * 1024  # OpenAI takes 512 MB; the simulator keeps files in memory
MAX_TOTAL_BYTES = 256 * 1024 * 1024
_ids = random.Random()


def new_file_id() -> str:
    return "file-" + "".join(_ids.choices(string.ascii_letters + string.digits, k=22))


@dataclass(slots=True)
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int
    expires_at: int | None = None

    def object(self) -> dict:
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed",
                "expires_at": self.expires_at, "status_details": None}


def no_such_file(file_id: str, param: str = "id") -> oai.ApiError:  # [rec]
    return oai.ApiError(404, f"No such File object: {file_id}", param=param)


class FileBoard:
    """One per app, used from its event loop."""

    def __init__(self) -> None:
        self._files: OrderedDict[str, StoredFile] = OrderedDict()
        self._bytes = 0

    def add(self, filename: str, purpose: str, data: bytes, expires_after: int | None = None) -> StoredFile:
        now = int(time.time())
        stored = StoredFile(new_file_id(), filename, purpose, data, now, now + expires_after if expires_after else None)
        self._files[stored.id] = stored
        self._bytes += len(data)
        while self._bytes > MAX_TOTAL_BYTES and len(self._files) > 1:
            _, old = self._files.popitem(last=False)
            self._bytes -= len(old.data)
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def delete(self, file_id: str) -> bool:
        stored = self._files.pop(file_id, None)
        if stored is not None:
            self._bytes -= len(stored.data)
        return stored is not None

    def listing(self, purpose: str | None, limit: int, order: str, after: str | None) -> dict:
        items = [f for f in self._files.values() if purpose is None or f.purpose == purpose]
        if order == "desc":
            items.reverse()
        if after is not None:
            ids = [f.id for f in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        page = items[:limit]
        return {"object": "list", "data": [f.object() for f in page], "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None, "has_more": len(items) > limit}
