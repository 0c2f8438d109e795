"""CORS decisions: whether a browser page's Origin may call the gateway, and the headers its
answers carry.

Browser chat apps and extensions call gateways directly. A browser shows a script nothing of an
answer without `Access-Control-Allow-Origin`, only "TypeError: Failed to fetch", whatever went
wrong. So every answer to a page carries the header for its origin, errors included, and an
origin that is not allowed is refused *readably*: its preflight passes, and the request itself
gets a JSON 403 (network.cors) naming the origin and the setting, without being served. The
refusal is the gateway's, not the browser's: nothing runs for a page the gateway does not allow.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# Headers a browser script may read: the request ID for support, and the rate-limit headers it
# needs to back off.
_EXPOSE = (b"x-request-id, retry-after, retry-after-ms, x-should-retry, x-ratelimit-limit-requests, "
           b"x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, "
           b"x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens")
_METHODS = b"GET, POST, OPTIONS"
_DEFAULT_ALLOWED_HEADERS = b"authorization, content-type, x-api-key, openai-organization, openai-project"
# Marks an answer to an origin that is not allowed: a passed preflight does not mean allowed here
# (`seawall doctor --origin` reads it).
REFUSED_HEADER = "x-seawall-cors"
_REFUSED = (REFUSED_HEADER.encode(), b"refused")


def origin_allowed(origin: str, allowed: list[str], host: str | None = None) -> bool:
    """A listed origin, any origin under '*', or the gateway's own (same-origin calls send an
    Origin too, but are not cross-origin)."""
    origin = origin.rstrip("/")
    return "*" in allowed or origin in allowed or (host is not None and urlsplit(origin).netloc == host)


def cors_headers(origin: str | None, allowed: list[str], refused: bool = False) -> list[tuple[bytes, bytes]]:
    """For any answer to a page: its origin may read the answer, a refusal included."""
    if not origin:
        return []
    if "*" in allowed:
        return [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", _EXPOSE)]
    headers = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"origin"),
               (b"access-control-expose-headers", _EXPOSE)]
    return headers + [_REFUSED] if refused else headers


def preflight_headers(origin: str, allowed: list[str], requested_headers: str | None,
                      refused: bool = False) -> list[tuple[bytes, bytes]]:
    """An OPTIONS preflight's answer. A refused origin's passes too, so that the browser sends the
    request and its script can read the 403 that says why."""
    asked = requested_headers.encode("latin-1") if requested_headers else _DEFAULT_ALLOWED_HEADERS
    return cors_headers(origin, allowed, refused) + [(b"access-control-allow-methods", _METHODS),
                                                     (b"access-control-allow-headers", asked),
                                                     (b"access-control-max-age", b"600")]
