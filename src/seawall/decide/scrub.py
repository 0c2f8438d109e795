"""Scrub: take the credentials the gateway sent upstream out of what the upstream says back.

Some relays repeat the request's Authorization header in their error message ("invalid token:
Bearer sk-…"); passed on, the operator's provider key would reach the client, the request log, an
alert or a support bundle. The transport scrubs every upstream body as it reads it
(providers/transport.py), so nothing after it ever holds the key; this module is the pure part.

A credential is the value of a header whose name says it is one (authorization, *key*, *token*,
*secret*, *auth*), and, for a value with a scheme ("Bearer sk-…"), the token alone too. Values
shorter than MIN_LENGTH are left alone: replacing them would shred ordinary text, and no
provider issues keys that short.
"""

from __future__ import annotations

from collections.abc import Mapping

REDACTED = b"[redacted credential]"
MIN_LENGTH = 8
_WORDS = ("auth", "key", "token", "secret")

_names: dict[str, bool] = {}  # header name -> is it a credential's (names repeat: a few dozen at most)
_secrets: dict[tuple[str, ...], tuple[bytes, ...]] = {}  # credential values -> what to scrub


def _is_credential(name: str) -> bool:
    found = _names.get(name)
    if found is None:
        lowered = name.lower()
        found = any(word in lowered for word in _WORDS)
        if len(_names) < 1000:
            _names[name] = found
    return found


def credentials(headers: Mapping[str, str]) -> tuple[bytes, ...]:
    """What to scrub from the replies to a request sent with `headers`, longest first (so
    "Bearer sk-x…" goes whole before "sk-x…")."""
    values = tuple(v for k, v in headers.items() if _is_credential(k))
    if not values:
        return ()
    found = _secrets.get(values)
    if found is None:
        out: set[bytes] = set()
        for value in values:
            value = value.strip()
            _, _, token = value.partition(" ")
            for v in (value, token.strip()):
                if len(v) >= MIN_LENGTH:
                    out.add(v.encode("utf-8", "surrogateescape"))
                    if "/" in v:  # as some JSON encoders write it
                        out.add(v.replace("/", "\\/").encode("utf-8", "surrogateescape"))
        found = tuple(sorted(out, key=len, reverse=True))
        if len(_secrets) < 10_000:  # one entry per distinct provider key: bounded in practice
            _secrets[values] = found
    return found


def scrub(data: bytes, secrets: tuple[bytes, ...]) -> bytes:
    for secret in secrets:
        if secret in data:
            data = data.replace(secret, REDACTED)
    return data


def scrub_text(text: str, secrets: tuple[bytes, ...]) -> str:
    raw = text.encode("utf-8", "surrogateescape")
    cleaned = scrub(raw, secrets)
    return text if cleaned is raw else cleaned.decode("utf-8", "surrogateescape")


def held_back(data: bytes, secrets: tuple[bytes, ...]) -> int:
    """How many bytes at the end of `data` could begin a credential the next chunk completes
    (0 almost always: an SSE chunk ends in a newline, which no credential holds)."""
    last = data[-1:]
    most = 0
    for secret in secrets:
        if last and last in secret:  # cheap: a partial credential at the end ends in one of its bytes
            for k in range(min(len(secret) - 1, len(data)), most, -1):
                if data.endswith(secret[:k]):
                    most = k
                    break
    return most


class StreamScrub:
    """Scrubs a body read chunk by chunk. A credential split between two chunks is caught by
    holding a chunk's end back while it could be the start of one. One per response."""

    __slots__ = ("held", "secrets")

    def __init__(self, secrets: tuple[bytes, ...]):
        self.secrets, self.held = secrets, b""

    def feed(self, chunk: bytes) -> bytes:
        data = self.held + chunk if self.held else chunk
        data = scrub(data, self.secrets)
        keep = held_back(data, self.secrets)
        if keep:
            self.held, data = data[-keep:], data[:-keep]
        else:
            self.held = b""
        return data

    def end(self) -> bytes:
        """What was held when the body ended: a partial credential is not one."""
        held, self.held = self.held, b""
        return held
