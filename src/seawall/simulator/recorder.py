"""What the simulator received: the last N requests, for ``GET /_sim/requests``.

A test of a gateway asks the upstream what really arrived: which path, which headers (was the
caller's key replaced by the provider's?), which body (was a multipart upload forwarded byte for
byte?). Each request's method, path, query and headers are kept as they came; of the body, its
size, its SHA-256 and its first ``HEAD_BYTES`` (the digest says "identical" for a body of any
size without keeping it). Authorization-like headers are masked the way OpenAI masks keys in its
own errors (first 8 and last 4 characters), so a test can still tell one key from another.

Cheap on the hot path (the simulator is also a benchmark upstream): a request keeps a reference
to the header list it came with and feeds its body chunks to a hash; rendering waits for a GET.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from typing import Any

from seawall.simulator import wire

HEAD_BYTES = 64 * 1024
_SECRET_HEADERS = frozenset({b"authorization", b"x-api-key", b"x-goog-api-key", b"api-key", b"mj-api-secret"})


def mask(value: str) -> str:
    """``Bearer sk-abcdefgh…wxyz`` keeps its scheme, the key's first 8 and last 4 characters."""
    scheme, space, key = value.rpartition(" ")
    if len(key) > 12:
        key = key[:8] + "*" * (len(key) - 12) + key[-4:]
    return scheme + space + key


class Recording:
    """One request as it arrives; ``receive`` is the app's receive, with the body teed off."""

    __slots__ = ("_hash", "_inner", "at", "body_head", "body_size", "headers", "method", "path", "query", "status")

    def __init__(self, scope: dict[str, Any], inner: wire.Receive) -> None:
        self.at = time.time()
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: bytes = scope.get("query_string", b"")
        self.headers: list[tuple[bytes, bytes]] = scope["headers"]
        self.body_size = 0
        self.body_head = b""
        self.status: str | None = None
        self._hash = hashlib.sha256()
        self._inner = inner

    async def receive(self) -> dict[str, Any]:
        message = await self._inner()
        chunk = message.get("body")
        if chunk:
            self.body_size += len(chunk)
            self._hash.update(chunk)
            if len(self.body_head) < HEAD_BYTES:
                self.body_head += chunk[:HEAD_BYTES - len(self.body_head)]
        return message

    def as_dict(self) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for name, value in self.headers:
            text = value.decode("latin-1")
            headers[name.decode("latin-1")] = mask(text) if name in _SECRET_HEADERS else text
        return {"at": self.at, "method": self.method, "path": self.path, "query": self.query.decode("latin-1"),
                "headers": headers, "body_bytes": self.body_size, "body_sha256": self._hash.hexdigest(),
                "body": self.body_head.decode("utf-8", "replace"), "outcome": self.status}


class Recorder:
    """The last ``keep`` requests, oldest first; one per app, used from one event loop."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._ring: deque[Recording] = deque(maxlen=keep or 1)

    def tap(self, scope: dict[str, Any], receive: wire.Receive) -> Recording | None:
        if not self.keep:
            return None
        recording = Recording(scope, receive)
        self._ring.append(recording)
        return recording

    def listing(self, limit: int | None = None) -> list[dict[str, Any]]:
        items = list(self._ring)
        if limit is not None:
            items = items[-limit:] if limit > 0 else []
        return [item.as_dict() for item in items]

    def clear(self) -> None:
        self._ring.clear()
