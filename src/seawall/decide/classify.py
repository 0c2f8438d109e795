"""classify: an upstream reply or transport failure -> a taxonomy category, retry advice, the wait.

Pure: status, headers and body in, a Classification out; no I/O, no clock. The attempt loop, the
request log, `seawall explain` and `seawall doctor` all use it. Rules are read in order and the
order matters (docs/reference/provider-errors.md §0): quota before rate limit, context length
before a generic 400, and the body before the status (a 429 is not always a rate limit).

    decide/bodies.py       any provider's error body -> ErrorFields; whose dialect it is
    decide/reply_rules.py  the ordered rules: ErrorFields + status + headers -> category
    decide/classify.py     the entry points, retry advice and the wait the reply names
    decide/client_errors.py  the text of a client-side failure (SDK exception, browser, OS) -> category
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from seawall.decide.bodies import (
    ErrorFields,
    guess_provider,
    implied_status,
    normal_provider,
    read_error_fields,
)
from seawall.decide.reply_rules import Reply, first_match

# Retry advice per category, as in docs/reference/error-taxonomy.md.
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
    "gateway.internal": "backoff",  # the gateway's own failure (errors.py internal_error)
}


@dataclass(frozen=True, slots=True)
class Classification:
    category: str
    retry: str  # no | wait | backoff | fallback
    wait_s: float | None = None  # the wait the reply names, if any
    provider_code: str | None = None  # the provider's own code, kept as evidence
    evidence: tuple[str, ...] = ()
    provider: str | None = None  # who wrote the reply: stated by the caller or guessed from it


def classify_reply(status: int, headers: Mapping[str, str], body: bytes | str | dict | None,
                   now: float = 0.0, provider: str | None = None) -> Classification:
    """Classify an upstream HTTP error reply. `headers` keys are lower-case; `now` (epoch seconds)
    turns an HTTP-date Retry-After into a wait; `provider` settles shapes two providers share
    (guessed from the reply when not given)."""
    found = classify_failure(status, headers, body, now, provider)
    if found is not None:
        return found
    category = _by_status(status)  # a 2xx the gateway still calls a failure
    return Classification(category, ADVICE[category], None, None, (f"HTTP {status}",), normal_provider(provider))


def classify_failure(status: int, headers: Mapping[str, str], body: bytes | str | dict | list | None,
                     now: float = 0.0, provider: str | None = None) -> Classification | None:
    """Like classify_reply, but None when the reply is not a failure (a 2xx whose body reports no
    error). `status` 0 means unknown: the body's own codes then imply it (an SDK message, a
    pasted body, an in-stream error event at HTTP 200)."""
    f = read_error_fields(body)
    provider = normal_provider(provider) or guess_provider(headers, f)[0]
    if 200 <= status < 300 and not (f.failed or f.is_html or f.page_by or (f.is_empty and status != 204)):
        return None
    effective = status if status >= 300 or f.is_html or f.is_empty else implied_status(f) or status
    wait = named_wait(headers, f, effective, now)
    found = first_match(Reply(effective, headers, f, provider, wait))
    if found is None:
        if not effective:
            return None
        found = _by_status(effective), ""
    category, why = found
    code = own_code(f)
    evidence = [f"HTTP {status}"] if status else []
    if effective != status:
        evidence.append(f"the body implies HTTP {effective}")
    if code:
        evidence.append(f"code {code}")
    if why:
        evidence.append(why)
    advice = ADVICE[category]
    return Classification(category, advice, wait if advice == "wait" else None, code or None, tuple(evidence),
                          provider)


def own_code(f: ErrorFields) -> str:
    """The provider's own code, the one its docs and support know: Gemini's ErrorInfo reason or
    canonical status (its `code` is only the HTTP status), Anthropic's spend-cap code or type."""
    if f.shape == "gemini":
        return (f.reasons[0] if f.reasons else "") or f.status_name or f.code
    if f.shape == "anthropic":
        return f.detail_code or f.type or f.code
    if f.shape == "midjourney-proxy" and f.status_name:
        return f.status_name
    return f.code or f.type or f.status_name or f.detail_code


def status_category(status: int) -> str:
    """The category a bare HTTP status implies, before any body is read."""
    return _by_status(status)


def _by_status(status: int) -> str:
    return {400: "request.invalid", 401: "auth.key_invalid", 403: "permission.policy",
            404: "route.not_found", 408: "upstream.timeout", 413: "request.too_large",
            422: "request.invalid", 429: "rate_limit.unspecified", 500: "upstream.server_error",
            502: "upstream.bad_gateway", 503: "upstream.unavailable", 504: "upstream.timeout",
            524: "upstream.timeout", 529: "upstream.overloaded", 402: "quota.exhausted", 407: "network.proxy"}.get(
        status, "upstream.server_error" if status >= 500 else "route.base_url" if 300 <= status < 400
        else "request.invalid")


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


# "Please try again in 20s." (OpenAI, §1.2), "Please retry in 38.2s." (Gemini, §4.2),
# "Please retry after 60 seconds." (Azure, §2).
_WAIT_IN_MESSAGE = re.compile(r"(?:try again|retry) (?:in|after) (\d[\d.hms]*)(?: ?(seconds?|secs?|minutes?|milliseconds?))?",
                              re.IGNORECASE)
_UNIT = {"sec": 1.0, "second": 1.0, "minute": 60.0, "millisecond": 0.001}


def wait_in_message(message: str) -> float | None:
    m = _WAIT_IN_MESSAGE.search(message)
    if not m:
        return None
    number, unit = m.group(1).rstrip("."), m.group(2)
    if unit:
        try:
            return float(number) * _UNIT[unit.lower().rstrip("s") if unit.lower() != "secs" else "sec"]
        except (ValueError, KeyError):
            return None
    return parse_go_duration(number)


def named_wait(headers: Mapping[str, str], f: ErrorFields, status: int, now: float) -> float | None:
    wait = _named_wait(headers, f, status, now)
    return wait if wait is not None and math.isfinite(wait) else None


def _named_wait(headers: Mapping[str, str], f: ErrorFields, status: int, now: float) -> float | None:
    """The wait a reply names, whichever way its provider names it, most precise first:
    retry-after-ms (OpenAI/Azure, §1.4), the body's own wait (Gemini RetryInfo.retryDelay, Discord
    retry_after, §4.2/§6.3), Retry-After (seconds or HTTP date), the message ("try again in 20s"),
    Discord's X-RateLimit-Reset-After, then the reset of an exhausted bucket (Anthropic RFC 3339
    timestamps, §3.4; OpenAI Go durations, which say when the bucket is full again, §1.4)."""
    ms = _seconds(headers.get("retry-after-ms"), 1000.0)
    if ms is not None:
        return ms
    if f.wait_s is not None:
        return f.wait_s
    if headers.get("retry-after"):
        after = retry_wait({"retry-after": headers["retry-after"]}, status, now)
        if after is not None:
            return after
    said = wait_in_message(f.message[:8192])
    if said is not None:
        return said
    reset_after = _seconds(headers.get("x-ratelimit-reset-after"), 1.0)
    if reset_after is not None:
        return reset_after
    resets = [_until(headers.get(f"anthropic-ratelimit-{bucket}-reset"), now)
              for bucket in ("requests", "tokens", "input-tokens", "output-tokens")
              if headers.get(f"anthropic-ratelimit-{bucket}-remaining") == "0"]
    resets = [r for r in resets if r is not None]
    if resets:
        return max(resets)
    return retry_wait({k: v for k, v in headers.items() if k.startswith("x-ratelimit-reset-")}, status, now)


def _seconds(value: str | None, per_second: float) -> float | None:
    try:
        return max(float(value) / per_second, 0.0) if value else None
    except ValueError:
        return None


def _until(stamp: str | None, now: float) -> float | None:
    if not stamp:
        return None
    try:
        when = dt.datetime.fromisoformat(stamp)  # 3.11+ reads the trailing Z
    except ValueError:
        return None
    return max(when.timestamp() - now, 0.0) if when.tzinfo else None


def classify_transport(kind: str, detail: str) -> Classification:
    """A failure with no usable HTTP reply: kind is one of dns, connect, tls, timeout, reset,
    proxy, malformed (a reply the client won't read) or pool (the gateway's own pool was full)."""
    category = {"dns": "network.dns", "connect": "network.connect", "tls": "network.tls",
                "timeout": "upstream.timeout", "reset": "network.connect", "proxy": "network.proxy",
                "malformed": "upstream.malformed", "pool": "capacity.queue_full"}[kind]
    return Classification(category, ADVICE[category], None, None, (detail,))
