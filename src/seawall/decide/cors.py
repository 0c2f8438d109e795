"""CORS decisions: which headers an answer carries for a browser's Origin.

Browser chat apps and extensions call gateways directly. Every answer, errors included, carries
the CORS headers for an allowed origin; otherwise the browser hides the real error behind
"Failed to fetch".
"""

from __future__ import annotations

# Headers a browser script may read: the request ID for support, and the rate-limit headers it
# needs to back off.
_EXPOSE = (b"x-request-id, retry-after, retry-after-ms, x-should-retry, x-ratelimit-limit-requests, "
           b"x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, "
           b"x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens")
_METHODS = b"GET, POST, OPTIONS"
_DEFAULT_ALLOWED_HEADERS = b"authorization, content-type, x-api-key, openai-organization, openai-project"


def origin_allowed(origin: str, allowed: list[str]) -> bool:
    return "*" in allowed or origin.rstrip("/") in allowed


def cors_headers(origin: str | None, allowed: list[str]) -> list[tuple[bytes, bytes]]:
    if not origin or not allowed or not origin_allowed(origin, allowed):
        return []
    if "*" in allowed:
        return [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", _EXPOSE)]
    return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"origin"),
            (b"access-control-expose-headers", _EXPOSE)]


def preflight_headers(origin: str, allowed: list[str], requested_headers: str | None) -> list[tuple[bytes, bytes]]:
    """Headers for an allowed origin's OPTIONS preflight (the caller checked origin_allowed)."""
    asked = requested_headers.encode("latin-1") if requested_headers else _DEFAULT_ALLOWED_HEADERS
    return cors_headers(origin, allowed) + [(b"access-control-allow-methods", _METHODS),
                                            (b"access-control-allow-headers", asked),
                                            (b"access-control-max-age", b"600")]
