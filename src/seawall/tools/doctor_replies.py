"""`seawall doctor`'s judgements of what came back over HTTP: the model list, the model name, a
one-token completion, a short stream, rate-limit headers, the concurrency ramp and a Seawall
gateway's own view. Pure, like doctor_checks.py: replies in, a CheckResult out. Failures go
through the shared classifier and the checklist `explain` uses, so the two never disagree.
"""

from __future__ import annotations

import difflib
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from seawall.decide.bodies import read_error_fields
from seawall.decide.classify import Classification, classify_failure
from seawall.tools.checks import Facts, checks_for
from seawall.tools.doctor_checks import CheckResult, failed, passed, skipped, warned
from seawall.tools.failure import read_stream

# -- replies ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP exchange as the probe saw it; `failure` is (kind, detail) when no whole reply came."""

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    failure: tuple[str, str] | None = None
    redirects: tuple[str, ...] = ()
    elapsed_ms: float = 0.0

    def json(self) -> object:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None


# The probe's failure kinds -> taxonomy categories and what to do.
TRANSPORT = {
    "dns": ("network.dns", "Check that the host name resolves from this machine (nslookup), and its spelling."),
    "connect": ("network.connect", "Check host, port and firewall: is the server running and listening there?"),
    "proxy": ("network.proxy", "The proxy from HTTP(S)_PROXY refused or is unreachable: fix it or set NO_PROXY."),
    "tls": ("network.tls", "Check the certificate chain, a TLS-intercepting proxy's CA, the clock, http vs https."),
    "timeout": ("network.timeout", "No reply within --timeout: raise it, or check what holds the request."),
    "not_http": ("network.connect", ("Something listens there but does not speak HTTP: check the port, and "
                                     "http:// vs https://.")),
    "redirect_loop": ("route.base_url", "The base URL redirects in a loop: use the final API URL directly."),
    "redirects": ("route.base_url", "The base URL redirects too often: use the final API URL directly."),
    "cut": ("stream.interrupted", "The reply was cut before its end: check proxies and timeouts on the way."),
}


def classify_reply_of(reply: Reply, provider: str | None, now: float) -> Classification | None:
    """The shared classifier's verdict on a reply, None when it succeeded."""
    if reply.failure is not None and reply.status is None:
        category, _ = TRANSPORT[reply.failure[0]]
        return Classification(category, "no", None, None, (reply.failure[1],), provider)
    return classify_failure(reply.status or 0, reply.headers, reply.body, now, provider)


def fix_for(found: Classification, reply: Reply, provider: str | None, url: str) -> str:
    """What to do first, from the checklist `explain` uses (tools/checks.py), so both agree."""
    if reply.failure is not None and reply.status is None:
        return TRANSPORT[reply.failure[0]][1]
    fields = read_error_fields(reply.body)
    steps = checks_for(found.category, Facts(provider, fields.message, url, found.wait_s, fields.request_id or None,
                                             fields.hint))
    return steps[0] if steps else ""


def reply_evidence(name: str, reply: Reply, found: Classification) -> str:
    what = f"HTTP {reply.status}" if reply.status else (reply.failure[1] if reply.failure else "no reply")
    fields = read_error_fields(reply.body)
    parts = [what, f"category {found.category}"]
    if found.provider_code:
        parts.append(f"code {found.provider_code}")
    if fields.message:
        parts.append(f"message: {fields.message[:200]}")
    if reply.redirects:
        parts.append(f"after redirects via {' -> '.join(reply.redirects)}")
    rid = fields.request_id or reply.headers.get("x-request-id")
    if rid:
        parts.append(f"request id {rid}")
    return f"{name}: " + "; ".join(parts)


def judge_failure(name: str, label: str, reply: Reply, provider: str | None, url: str, now: float) -> CheckResult:
    found = classify_reply_of(reply, provider, now)
    assert found is not None
    return failed(name, found.category, reply_evidence(label, reply, found), fix_for(found, reply, provider, url))


def model_ids(body: object) -> list[str]:
    """Model ids of an OpenAI-style list ({"data": [{"id"}]}) or Gemini's ({"models": [{"name"}]})."""
    if not isinstance(body, dict):
        return []
    items = body.get("data") if isinstance(body.get("data"), list) else body.get("models")
    ids = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict):
            ident = item.get("id") or item.get("name")
            if isinstance(ident, str):
                ids.append(ident.removeprefix("models/"))
    return ids


def is_model_list(reply: Reply) -> bool:
    listed = reply.json()
    return reply.status == 200 and isinstance(listed, dict) and ("data" in listed or bool(model_ids(listed)))


def judge_models(reply: Reply, provider: str | None, url: str, now: float, retried_base: str | None = None
                 ) -> CheckResult:
    """`retried_base`: a corrected base URL that answers the list when this one does not."""
    if retried_base is not None:
        got = f"HTTP {reply.status}" if reply.status else (reply.failure[1] if reply.failure else "no reply")
        return failed("models", "route.base_url", f"GET {url}: {got}, no model list; with the base URL "
                      f"{retried_base} it answers the list: the checks below use that",
                      f"Set the base URL to {retried_base}.")
    if is_model_list(reply):
        ids = model_ids(reply.json())
        return passed("models", f"GET {url}: HTTP 200, {len(ids)} model{'' if len(ids) == 1 else 's'}"
                      + _redirected(reply))
    found = classify_reply_of(reply, provider, now)
    if found is None:  # a 200 that is no model list: a web page, or another API's
        found = Classification("upstream.malformed", "backoff", None, None, ("no model list",), provider)
    return failed("models", found.category, reply_evidence(f"GET {url}", reply, found),
                  fix_for(found, reply, provider, url))


def _redirected(reply: Reply) -> str:
    return f" (after redirects via {' -> '.join(reply.redirects)}; use the final URL)" if reply.redirects else ""


_NOT_CHAT = ("embed", "whisper", "tts", "dall-e", "moderation", "davinci", "babbage", "image", "audio")


def choose_model(ids: Sequence[str]) -> str | None:
    """A chat model to probe with when none was named: gpt-4o-mini if listed, else the first chat-looking id."""
    if "gpt-4o-mini" in ids:
        return "gpt-4o-mini"
    return next((i for i in ids if not any(word in i for word in _NOT_CHAT)), None)


def judge_model(model: str, ids: Sequence[str], named: bool) -> CheckResult:
    if model in ids:
        how = "listed" if named else "listed; no --model given, so the checks below use it"
        return passed("model", f"{model}: {how}")
    lowered = {i.lower(): i for i in ids}  # names are exact: a case slip is a typo too
    close = difflib.get_close_matches(model.lower(), list(lowered), n=3, cutoff=0.75)
    close = [lowered[c] for c in close]
    if close:
        return failed("model", "model.not_found", f"{model} is not in the model list; close: {', '.join(close)}",
                      f"Did you mean '{close[0]}'? Model names are exact.")
    shown = ", ".join(ids[:8]) + (" …" if len(ids) > 8 else "")
    return warned("model", "model.not_found", f"{model} is not in the list this key sees ({shown or 'empty'}); "
                  "a list may hide models the key may not use, so the completion below decides",
                  "Check the model name, and that this key may use it.")


def judge_completion(reply: Reply, model: str, provider: str | None, url: str, now: float) -> CheckResult:
    body = reply.json()
    # An answer in any of the three shapes: OpenAI's choices, Anthropic's content, Gemini's candidates.
    answered = isinstance(body, dict) and (body.get("choices") or body.get("candidates") or (
        body.get("type") == "message" and isinstance(body.get("content"), list)))
    if reply.status == 200 and answered:
        served = body.get("model") or body.get("modelVersion")
        return passed("completion", f"POST {url}: HTTP 200 in {reply.elapsed_ms:.0f} ms, one token of {model}"
                      + (f" (served as {served})" if served and served != model else ""))
    if reply.status == 200 and classify_reply_of(reply, provider, now) is None:
        found = Classification("upstream.malformed", "backoff", None, None, (), provider)
        return failed("completion", "upstream.malformed", f"POST {url}: HTTP 200 but no answer in the reply (no choices, content or "
                      "candidates)",
                      fix_for(found, reply, provider, url))
    return judge_failure("completion", f"POST {url}", reply, provider, url, now)


def judge_stream(reply: Reply, provider: str | None, url: str, now: float) -> CheckResult:
    label = f"POST {url} (stream)"
    if reply.status is None or reply.status >= 300:
        return judge_failure("stream", label, reply, provider, url, now)
    if "event-stream" not in reply.headers.get("content-type", ""):
        return warned("stream", "stream.interrupted", f"{label}: HTTP {reply.status} with content-type "
                      f"{reply.headers.get('content-type', 'absent')}, not an event stream",
                      "The endpoint (or a proxy) ignores stream: true; streaming clients will wait for the whole reply.")
    end = read_stream(reply.body)
    cut = f"; the connection: {reply.failure[1]}" if reply.failure else ""
    if end.outcome == "complete":
        return passed("stream", f"{label}: {end.events} events, {end.detail}")
    if end.outcome == "interrupted":
        return failed("stream", "stream.interrupted", f"{label}: {end.detail}{cut}",
                      " ".join(checks_for("stream.interrupted", Facts(provider, url=url))[:1]))
    if end.outcome == "filtered":
        return warned("stream", "request.content_filter", f"{label}: {end.detail}", "Rephrase the probe's prompt.")
    found = classify_failure(0, reply.headers, end.error, now, provider) or Classification(
        "stream.interrupted", "backoff", None, None, (), provider)
    fields = read_error_fields(end.error)
    steps = checks_for(found.category, Facts(provider, fields.message, url, found.wait_s, fields.request_id or None,
                                             fields.hint))
    return failed("stream", found.category, f"{label}: {end.detail}: {fields.message[:200]}", steps[0])


# -- limits ----------------------------------------------------------------------------------------

_LIMIT_HEADER = re.compile(r"^(x-ratelimit-|anthropic-ratelimit-|x-ratelimit$|ratelimit-|retry-after)")


def judge_rate_headers(replies: Sequence[Reply], gateway_limits: list | None) -> CheckResult:
    """`gateway_limits`: the limits a Seawall gateway reports for this key (None: not a Seawall)."""
    seen: dict[str, str] = {}
    for reply in replies:
        for name, value in reply.headers.items():
            if _LIMIT_HEADER.match(name):
                seen[name] = value
    if not seen:
        if gateway_limits == []:
            return passed("rate_limit_headers", "none sent: the gateway reports no limits for this key")
        if gateway_limits:
            return passed("rate_limit_headers", "none sent (no request was admitted); the gateway's own view "
                          "below names this key's limits")
        return warned("rate_limit_headers", None, "no x-ratelimit-* / anthropic-ratelimit-* headers in any reply",
                      "This endpoint does not publish its limits per reply: read them from its console, and "
                      "ramp up with --concurrency to find them.")
    shown = ", ".join(f"{k}={v}" for k, v in sorted(seen.items()))
    empty = sorted(k for k, v in seen.items() if "remaining" in k and v.strip() == "0")
    if empty and gateway_limits:  # the doctor paced itself by these limits (doctor_pace.py): spent on purpose
        return passed("rate_limit_headers", f"{shown}; at 0 after the doctor's own requests, paced by the key's "
                      "limits the gateway reports")
    if empty:
        return warned("rate_limit_headers", "rate_limit.unspecified", f"{shown}; exhausted now: {', '.join(empty)}",
                      "Wait for the reset the headers name before sending more.")
    return passed("rate_limit_headers", shown)


@dataclass(frozen=True, slots=True)
class Level:
    """One step of the concurrency ramp: `size` requests at once, and how each went."""

    size: int
    statuses: tuple[int | None, ...]
    latencies_ms: tuple[float, ...]
    refusal: Reply | None = None  # the first reply that was not a success


def ramp_sizes(concurrency: int) -> list[int]:
    """1, 2, 4 … up to concurrency, which is always the last step (seed 000: 1, then raise it)."""
    sizes, n = [], 1
    while n < concurrency:
        sizes.append(n)
        n *= 2
    return sizes + [concurrency]


# Latency counts as "growing" past both: 3x the single-request median and 250 ms more than it.
LATENCY_FACTOR, LATENCY_FLOOR_MS = 3.0, 250.0


def judge_ramp(levels: Sequence[Level], provider: str | None, url: str, now: float,
               stopped: tuple[int, str, str] | None = None) -> CheckResult:
    """`stopped`: (the step, why, category) when the key's own known limits ended the ramp before it
    (doctor_pace.py): the step was not sent, so no 429 is reported for it."""
    steps = []
    base = statistics.median(levels[0].latencies_ms) if levels and levels[0].latencies_ms else None
    slow_at = None
    for level in levels:
        ok = sum(1 for s in level.statuses if s == 200)
        p50 = statistics.median(level.latencies_ms) if level.latencies_ms else 0.0
        steps.append(f"{level.size} at once: {ok}/{len(level.statuses)} ok, p50 {p50:.0f} ms")
        if level.refusal is not None:
            reply = level.refusal
            found = classify_reply_of(reply, provider, now) or Classification(
                "upstream.server_error", "backoff", None, None, (), provider)
            clean = [lv.size for lv in levels if lv.refusal is None]
            sent = sum(lv.size for lv in levels)
            if not clean and found.category.startswith("rate_limit."):
                advice = ("The limit was already spent when the ramp began (by the checks above, or by other clients "
                          "of this key): wait Retry-After and rerun.")
            elif not clean:
                advice = "Even one request at a time is refused."
            elif found.category in ("rate_limit.concurrency", "capacity.queue_full"):
                advice = f"Keep concurrency at or below {clean[-1]} (it ran clean), and honour Retry-After."
            else:  # a per-minute budget: the count of requests matters, not only how many at once
                advice = (f"The ramp's {sent} requests met the limit at {level.size} at once; ran clean at "
                          f"{clean[-1]}: stay at or below {clean[-1]} at once, spread requests, honour Retry-After.")
            wait = reply.headers.get("retry-after")
            got = f"HTTP {reply.status}" if reply.status else (reply.failure[1] if reply.failure else "?")
            return failed("ramp", found.category, "; ".join(steps) + f" — first refused at {level.size} at once: "
                          f"{got} {found.category}" + (f", Retry-After {wait}" if wait else ""),
                          advice + " " + fix_for(found, reply, provider, url))
        if base is not None and slow_at is None and p50 > base * LATENCY_FACTOR and p50 - base > LATENCY_FLOOR_MS:
            slow_at = level.size
    if stopped is not None:
        size, why, category = stopped
        if not levels:
            return skipped("ramp", f"not run: {why}")
        return warned("ramp", category or "rate_limit.requests", "; ".join(steps) + f" — stopped before {size} at "
                      f"once: {why}", f"Send at most {levels[-1].size} at once with this key, within its limits; for "
                      "more, ask the gateway's admin to raise them.")
    if slow_at is not None:
        return warned("ramp", "rate_limit.concurrency", "; ".join(steps) + f" — latency grows from {slow_at} at once",
                      f"Requests queue past {slow_at} in flight: keep concurrency below it.")
    return passed("ramp", "; ".join(steps))


# -- a Seawall gateway's own view ------------------------------------------------------------------

SEAWALL_REQUEST_ID = re.compile(r"^req_[0-9a-f]{24}$")


def is_seawall(replies: Sequence[Reply]) -> bool:
    """Seawall's request ids are req_ + 24 hex digits (pipeline/context.py), and its errors carry hint + category."""
    return any(SEAWALL_REQUEST_ID.match(r.headers.get("x-request-id", "")) or read_error_fields(
        r.body).shape == "seawall" for r in replies if r.status is not None)


def judge_gateway_ready(reply: Reply, model: str | None) -> CheckResult:
    body = reply.json()
    if not isinstance(body, dict):
        return warned("gateway_ready", None, f"GET /readyz: HTTP {reply.status}, no JSON", "Check the gateway's log.")
    circuits = body.get("open_circuits") or {}
    log = body.get("request_log") or {}
    state = (f"/readyz: {body.get('status')}, {body.get('models')} models, request log "
             f"{log.get('pending', '?')} pending / {log.get('dropped', '?')} dropped")
    if reply.status != 200:
        return failed("gateway_ready", "upstream.unavailable", state, "The gateway is not ready: check its log.")
    if circuits:
        opened = ", ".join(f"{k} ({v.get('state')}, reopens in {v.get('reopens_in_s')} s)" for k, v in circuits.items())
        return warned("gateway_ready", "capacity.circuit_open", f"{state}; open circuits: {opened}",
                      "Those deployments are failing upstream (the provider, not your key): see `seawall logs "
                      "--status 5xx` on the gateway.")
    return passed("gateway_ready", state + "; no open circuits")


def quota_text(quota: object) -> str:
    if not isinstance(quota, dict) or not any(quota.values()):
        return "none"
    return ", ".join(f"{unit} {q['used']} of {q['limit']} used ({q['remaining']} left)"
                     for unit, q in quota.items() if isinstance(q, dict))


def spent_quota(quota: object) -> str | None:
    """'tokens' or 'usd' when that quota has nothing left, else None."""
    if isinstance(quota, dict):
        for unit, q in quota.items():
            if isinstance(q, dict) and q.get("remaining") is not None and q["remaining"] <= 0:
                return unit
    return None


def judge_gateway_key(reply: Reply, model: str | None) -> CheckResult:
    body = reply.json()
    if reply.status != 200 or not isinstance(body, dict):
        return warned("gateway_key", None, f"GET /v1/seawall/key: HTTP {reply.status}",
                      "This gateway predates the key endpoint, or refused the key (see the models check).")
    models = body.get("models") or []
    limits = body.get("limits") or []
    shown = "; ".join(f"{lim['scope']} {lim['id']}: " + ", ".join(f"{k} {lim[k]}" for k in ("rps", "rpm", "tpm",
                      "max_concurrency") if lim.get(k) is not None) for lim in limits) or "none"
    where = f"group {body.get('group')}" if body.get("group") else "no group"
    who = (f"key {body.get('name')} ({where}, tenant {body.get('tenant') or '-'}, expires "
           f"{body.get('expires_at') or 'never'}); models: {'all' if body.get('all_models') else ', '.join(models)}; "
           f"limits: {shown}; quota: {quota_text(body.get('quota'))}")
    spent = spent_quota(body.get("quota"))
    if spent:
        return failed("gateway_key", "quota.exhausted", f"{who}: the {spent} quota is spent",
                      f"Waiting won't help: ask the gateway's admin to raise it (seawall keys update "
                      f"{body.get('name')} --quota-{spent} N).")
    close = difflib.get_close_matches(model or "", models, n=1, cutoff=0.75)
    if model and model not in models and close:
        return warned("gateway_key", "model.not_found", f"{who}: {model} is not among them",
                      f"Did you mean '{close[0]}'?")
    if model and model not in models:
        return failed("gateway_key", "permission.model", f"{who}: {model} is not among them",
                      f"Use one of: {', '.join(models) or '(none)'}; or ask the gateway's admin to allow {model} "
                      "for this key or its group.")
    return passed("gateway_key", who)
