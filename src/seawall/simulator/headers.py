"""Response headers and ids, in OpenAI's formats (reference/provider-errors.md §1.4).

Every provider reply carries ``x-request-id`` (``req_`` + 32 hex), ``openai-processing-ms``,
``openai-version``, ``openai-organization``, ``openai-project``, the six ``x-ratelimit-*``
headers from the simulator's real buckets, and the Cloudflare headers api.openai.com sends.
The static part is built once per app; per reply only ids, timing and counters are formatted.
"""

from __future__ import annotations

import functools
import random
import string

from seawall.simulator.duration import ceil_ms, format_go_duration
from seawall.simulator.faults import Fault
from seawall.simulator.ratelimit import Snapshot

Header = tuple[bytes, bytes]
_ALNUM = string.ascii_letters + string.digits
# Random bytes mapped onto 62 letters and digits; the slight bias of `% 62` is harmless for ids.
_TO_ALNUM = bytes(ord(_ALNUM[i % 62]) for i in range(256))
_ids = random.Random()  # ids need uniqueness, not secrecy; seeded from os.urandom


def static_headers(organization: str, project: str) -> tuple[Header, ...]:
    return (
        (b"openai-version", b"2020-10-01"),
        (b"openai-organization", organization.encode()),
        (b"openai-project", project.encode()),
        (b"access-control-expose-headers", b"X-Request-ID"),
        (b"x-content-type-options", b"nosniff"),
        (b"strict-transport-security", b"max-age=31536000; includeSubDomains; preload"),
        (b"cf-cache-status", b"DYNAMIC"),
        (b"server", b"cloudflare"),
    )


def new_request_id() -> str:
    return f"req_{_ids.getrandbits(128):032x}"


def new_completion_id() -> str:
    return "chatcmpl-" + _ids.randbytes(29).translate(_TO_ALNUM).decode()


def new_cf_ray() -> str:
    return f"{_ids.getrandbits(64):016x}-SJC"


def padding_pool(size: int = 64, seed: int = 0) -> tuple[bytes, ...]:
    """Values for the stream ``obfuscation`` field: random alphanumerics of 1 to 16 chars, made
    once per app so the hot path only indexes."""
    rng = random.Random(seed)
    return tuple("".join(rng.choices(_ALNUM, k=rng.randint(1, 16))).encode() for _ in range(size))


@functools.lru_cache(maxsize=4096)
def _reset_text(ms: int) -> bytes:
    return format_go_duration(ms / 1000).encode()


def ratelimit_headers(snap: Snapshot) -> list[Header]:
    """OpenAI rounds resets to milliseconds; a non-zero wait shows at least ``1ms``."""
    return [
        (b"x-ratelimit-limit-requests", b"%d" % snap.limit_requests),
        (b"x-ratelimit-limit-tokens", b"%d" % snap.limit_tokens),
        (b"x-ratelimit-remaining-requests", b"%d" % snap.remaining_requests),
        (b"x-ratelimit-remaining-tokens", b"%d" % snap.remaining_tokens),
        (b"x-ratelimit-reset-requests", _reset_text(ceil_ms(snap.reset_requests))),
        (b"x-ratelimit-reset-tokens", _reset_text(ceil_ms(snap.reset_tokens))),
    ]


def retry_headers(fault: Fault) -> list[Header]:
    out = []
    if fault.retry_after is not None:
        value = fault.retry_after
        out.append((b"retry-after", (b"%d" % value) if value == int(value) else str(value).encode()))
    if fault.retry_after_ms is not None:
        out.append((b"retry-after-ms", b"%d" % fault.retry_after_ms))
    if fault.x_should_retry is not None:
        out.append((b"x-should-retry", b"true" if fault.x_should_retry else b"false"))
    return out
