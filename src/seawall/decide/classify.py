"""classify: an upstream reply or transport failure -> a taxonomy category, retry advice, the wait.

Pure: status, headers and body in, a Classification out; no I/O, no clock. The attempt loop, the
request log, `seawall explain` and `seawall doctor` all use it. Rules are read in order and the
order matters (shared/reference/provider-errors.md §0): quota before rate limit, context length
before a generic 400, and the body before the status (a 429 is not always a rate limit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Mapping

import orjson

# Retry advice per category, as in shared/reference/error-taxonomy.md.
ADVICE: dict[str, str] = {
    "auth.missing": "no", "auth.malformed": "no", "auth.key_whitespace": "no",
    "auth.wrong_platform": "no", "auth.key_invalid": "no", "auth.key_revoked": "no",
    "auth.key_expired": "no", "auth.org_mismatch": "no",
    "permission.model": "fallback", "permission.ip": "no", "permission.region": "no",
    "permission.service_disabled": "no", "permission.channel": "no", "permission.policy": "no",
    "permission.key_disabled": "no",
    "route.base_url": "no", "route.not_found": "no", "model.not_found": "fallback",
    "rate_limit.requests": "wait", "rate_limit.tokens": "wait", "rate_limit.concurrency": "wait",
    "rate_limit.unspecified": "wait", "rate_limit.request_too_large": "no",
    "quota.exhausted": "no",
    "request.invalid": "no", "request.context_length": "no", "request.too_large": "no",
    "request.content_filter": "no",
    "upstream.server_error": "backoff", "upstream.bad_gateway": "backoff",
    "upstream.unavailable": "backoff", "upstream.overloaded": "backoff",
    "upstream.timeout": "backoff", "upstream.malformed": "backoff",
    "network.dns": "backoff", "network.connect": "backoff", "network.tls": "no",
    "network.proxy": "no", "network.cors": "no", "network.timeout": "backoff",
    "stream.interrupted": "backoff", "stream.stalled": "backoff",
    "capacity.queue_full": "wait", "capacity.circuit_open": "wait",
}


@dataclass(frozen=True, slots=True)
class Classification:
    category: str
    retry: str  # no | wait | backoff | fallback
    wait_s: float | None = None  # the wait the reply names, if any
    provider_code: str | None = None  # the provider's own code, kept as evidence
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorFields:
    """The error fields every dialect has in some form, normalised for the rules."""

    message: str = ""
    type: str = ""
    code: str = ""
    status_name: str = ""  # Google's canonical status (RESOURCE_EXHAUSTED, …)
    is_html: bool = False
    is_empty: bool = False
    parsed: bool = False


def read_error_fields(body: bytes | str | dict | None) -> ErrorFields:
    """Find message/type/code in an OpenAI, Azure, Anthropic, Google or gateway error body."""
    if body is None or body == b"" or body == "":
        return ErrorFields(is_empty=True)
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        head = text.lstrip()[:200].lower()
        if head.startswith(("<!doctype html", "<html", "<head", "<body")) or "<html" in head:
            return ErrorFields(message=_html_title(text), is_html=True)
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError:
            return ErrorFields(message=text[:300])
    if isinstance(body, list) and body and isinstance(body[0], dict):  # Gemini's streamed JSON array
        body = body[0]
    if not isinstance(body, dict):
        return ErrorFields(message=str(body)[:300])
    err = body.get("error")
    if isinstance(err, dict):
        code = err.get("code")
        status_name = err.get("status") if isinstance(err.get("status"), str) else ""
        return ErrorFields(message=str(err.get("message") or ""), type=str(err.get("type") or ""),
                           code="" if code is None else str(code), status_name=status_name, parsed=True)
    if isinstance(err, str):  # {"error": "..."} from some gateways
        return ErrorFields(message=err, parsed=True)
    return ErrorFields(message=str(body.get("message") or body.get("detail") or ""),
                       code=str(body.get("code") or ""), parsed=True)


def _html_title(text: str) -> str:
    m = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
    return (m.group(1).strip() if m else "HTML page")[:200]


def classify_reply(status: int, headers: Mapping[str, str], body: bytes | str | dict | None,
                   now: float = 0.0) -> Classification:
    """Classify an upstream HTTP error reply. `headers` keys are lower-case; `now` (epoch seconds)
    turns an HTTP-date Retry-After into a wait."""
    f = read_error_fields(body)
    category, why = _category(status, f)
    code = f.code or f.type or f.status_name or None
    evidence = [f"HTTP {status}"]
    if code:
        evidence.append(f"code {code}")
    if why:
        evidence.append(why)
    wait = retry_wait(headers, status, now) if ADVICE[category] == "wait" else None
    return Classification(category, ADVICE[category], wait, code, tuple(evidence))


def _category(status: int, f: ErrorFields) -> tuple[str, str]:
    msg = f.message.lower()
    if (f.is_html or f.is_empty) and status >= 400:
        source = "an HTML page" if f.is_html else "an empty body"
        why = f"{source}: a proxy or CDN answered, not the provider"
        if status == 502:
            return "upstream.bad_gateway", why
        if status in (504, 524, 408):
            return "upstream.timeout", why
        if status == 413:
            return "request.too_large", why
        if status < 500 and f.is_empty:
            return _by_status(status), "an empty body"
        return "upstream.malformed", why
    if f.type == "insufficient_quota" or f.code in ("insufficient_quota", "credit_balance_exhausted"):
        return "quota.exhausted", "the provider's quota or balance is spent"
    if "request too large" in msg and "per min" in msg:
        return "rate_limit.request_too_large", "one request needs more tokens than the per-minute limit"
    if f.code == "context_length_exceeded" or "maximum context length" in msg:
        return "request.context_length", "prompt + max_tokens exceed the context window"
    if f.code == "content_filter":
        return "request.content_filter", "the provider's content filter"
    if status == 429:
        if f.type == "tokens" or "(tpm)" in msg or "token rate limit" in msg:
            return "rate_limit.tokens", "tokens-per-minute limit"
        if f.type == "requests" or "(rpm)" in msg or "call rate limit" in msg:
            return "rate_limit.requests", "requests-per-minute limit"
        if "concurrency" in f.code:
            return "rate_limit.concurrency", "too many requests in flight"
        return "rate_limit.unspecified", ""
    if status == 401:
        if "didn't provide an api key" in msg:
            return "auth.missing", ""
        if f.code in ("mismatched_organization", "mismatched_project"):
            return "auth.org_mismatch", ""
        if "ip not authorized" in msg:
            return "permission.ip", ""
        return "auth.key_invalid", ""
    if status == 403:
        if f.code == "unsupported_country_region_territory" or "country, region" in msg:
            return "permission.region", ""
        if "model" in msg and "access" in msg:
            return "permission.model", ""
        return "permission.policy", ""
    if status == 404:
        if f.code in ("model_not_found", "DeploymentNotFound") or "model" in msg and "not exist" in msg:
            return "model.not_found", ""
        if msg.startswith("invalid url"):
            return "route.not_found", ""
    if status == 503 and "overloaded" in msg:
        return "upstream.overloaded", ""
    return _by_status(status), ""


def _by_status(status: int) -> str:
    return {400: "request.invalid", 401: "auth.key_invalid", 403: "permission.policy",
            404: "route.not_found", 408: "upstream.timeout", 413: "request.too_large",
            422: "request.invalid", 429: "rate_limit.unspecified", 500: "upstream.server_error",
            502: "upstream.bad_gateway", 503: "upstream.unavailable", 504: "upstream.timeout",
            524: "upstream.timeout", 529: "upstream.overloaded"}.get(
        status, "upstream.server_error" if status >= 500 else "request.invalid")


# -- waits ----------------------------------------------------------------------------------------

_GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")


def parse_go_duration(text: str) -> float | None:
    """OpenAI's x-ratelimit-reset-* values ('6m0s', '1.146s', '120ms', '1h2m3s') in seconds."""
    m = _GO_DURATION.match(text.strip())
    if not m or not any(m.groups()):
        return None
    h, mi, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s + ms / 1000


def retry_wait(headers: Mapping[str, str], status: int, now: float) -> float | None:
    """The wait a reply names, in the order the official SDKs read it (provider-errors.md §7.1)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra:
        try:
            return max(float(ra), 0.0)
        except ValueError:
            try:
                return max(parsedate_to_datetime(ra).timestamp() - now, 0.0)
            except (TypeError, ValueError):
                pass
    if status == 429:
        resets = [parse_go_duration(headers[h]) for h in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
                  if h in headers]
        resets = [r for r in resets if r is not None]
        if resets:
            return min(resets)
    return None


def classify_transport(kind: str, detail: str) -> Classification:
    """A failure with no HTTP reply: kind is one of dns, connect, tls, timeout, reset, proxy."""
    category = {"dns": "network.dns", "connect": "network.connect", "tls": "network.tls",
                "timeout": "upstream.timeout", "reset": "network.connect", "proxy": "network.proxy"}[kind]
    return Classification(category, ADVICE[category], None, None, (detail,))
