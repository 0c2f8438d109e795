"""`seawall explain`: one failure in, what it is and what to check first out.

    read_failure (tools/failure.py)     the pasted bytes -> status, headers, body, or error text
    classify_failure / classify_client_error (decide/)   -> category, retry advice, wait, evidence
    checks_for (tools/checks.py)        -> what to check first, in order

`explain` is pure (the clock is an argument); `run` is the command: it reads the file or stdin and
prints. Whatever the input, the answer says what could and could not be told; bad input gives a
null category and the reason, never a traceback.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import orjson

from seawall.decide.bodies import (
    PROVIDERS,
    guess_provider,
    normal_provider,
    read_error_fields,
)
from seawall.decide.classify import ADVICE, Classification, classify_failure
from seawall.decide.client_errors import classify_client_error
from seawall.decide.echoes import key_problem, misrouted_path
from seawall.tools.checks import Facts, checks_for
from seawall.tools.failure import (
    FILTER_REASONS,
    MAX_BYTES,
    Failure,
    read_failure,
    read_stream,
    stop_reason,
)

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-oneapi-request-id", "apim-request-id", "x-ms-request-id",
                       "x-amzn-requestid")
_REQUEST_ID_TEXT = (re.compile(r"\b(req_[A-Za-z0-9]{8,})"),
                    re.compile(r"request[ _-]?id[\"']?\s*[:=]\s*[\"']?([\w\-]{6,})", re.IGNORECASE))
_KEY_HEADERS = ("x-api-key", "x-goog-api-key", "api-key", "mj-api-secret", "authorization")
_RETRY_WORDS = {"no": "no: the same request will fail again until something changes",
                "wait": "wait, then retry", "backoff": "retry with exponential backoff and jitter, bounded",
                "fallback": "fall back to another deployment or model; this one won't succeed soon"}


@dataclass(slots=True)
class Explanation:
    category: str | None
    retry: str | None
    wait_seconds: float | None
    provider: str | None
    code: str | None
    evidence: list[str]
    checks: list[str]
    request_id: str | None = None
    status: int | None = None
    input: str = ""  # which form the input was read as (http dump, body, stream, text, …)
    failed: bool | None = None  # False: the input shows a success; None: could not tell


@dataclass(slots=True)
class _Judged:
    found: Classification | None
    notes: list[str]
    body: object = None  # the error body that was judged (a stream's error event, not the whole stream)
    failed: bool | None = None


def explain(data: bytes, status: int | None = None, headers: dict[str, str] | None = None,
            provider: str | None = None, url: str | None = None, now: float = 0.0) -> Explanation:
    """Explain one failure. `headers` (lower-case names) add to or override the dump's."""
    failure = read_failure(data)
    notes = list(failure.notes)
    if status is not None and failure.status is not None and status != failure.status:
        notes.append(f"--status {status} overrides the dump's {failure.status}")
    status = status if status is not None else failure.status
    merged = {**failure.headers, **(headers or {})}
    stated = normal_provider(provider)
    if stated and stated not in PROVIDERS:
        notes.append(f"unknown provider {provider!r} (known: {', '.join(PROVIDERS)}); guessing from the reply")
        stated = None
    url = url or _url_of(failure)
    guessed, why = guess_provider(merged, read_error_fields(
        failure.body if failure.form not in ("text", "stream") else None), url)
    who = stated or guessed
    if guessed and not stated and why:
        notes.append(f"provider {guessed}: {why}")

    judged = _judge(failure, status, merged, who, now)
    found = judged.found
    if found is not None:
        found = _refined(found, failure, status, url, who)
        who = stated or found.provider or who
    fields = read_error_fields(judged.body)
    request_id = fields.request_id or _request_id(merged, failure)
    facts = Facts(who, fields.message if judged.body is not None else failure.text[:2000], url,
                  found.wait_s if found else None, request_id, fields.hint, _sent_key_note(failure, who))
    if found is None:
        return Explanation(None, None, None, who, None, judged.notes + notes,
                           checks_for(None, facts, judged.failed is False), request_id, status, failure.form,
                           judged.failed)
    evidence = list(found.evidence)
    if fields.message:
        evidence.append(f"message: {fields.message[:240]}")
    evidence += judged.notes + notes
    if found.wait_s is None and ADVICE[found.category] != "wait" and merged.get("retry-after"):
        evidence.append(f"the reply also sends Retry-After: {merged['retry-after']}")
    if merged.get("cf-ray"):
        evidence.append(f"cf-ray {merged['cf-ray']} (Cloudflare's id for this exchange)")
    return Explanation(found.category, found.retry, found.wait_s, who, found.provider_code, evidence,
                       checks_for(found.category, facts), request_id, status, failure.form, True)


def _judge(failure: Failure, status: int | None, headers: dict[str, str], provider: str | None,
           now: float) -> _Judged:
    if failure.form == "empty":
        return _Judged(None, ["the input is empty"])
    if failure.form == "binary":
        return _Judged(None, ["save the reply with `curl -i --compressed` and pass that"])
    is_stream = failure.form == "stream" or "event-stream" in headers.get("content-type", "") or (
        failure.form in ("http dump", "curl -v") and failure.body.lstrip().startswith((b"data:", b"event:")))
    if is_stream and failure.body and not (status and status >= 300):
        return _judge_stream(failure, status, headers, provider, now)
    if failure.form == "text":
        found = classify_client_error(failure.text, now, provider)
        if found is not None:
            return _Judged(found, ["read as the text of a client-side error"])
        page = read_error_fields(failure.body)
        if status or page.page_by:  # a reply body after all: "error code: 524" is Cloudflare's page
            cloudflare = int(page.code) if page.code.isdigit() and len(page.code) == 3 else 0
            return _Judged(classify_failure(status or cloudflare, headers, failure.body, now, provider), [],
                           failure.body)
        first = failure.text.strip().splitlines()[0][:120]
        return _Judged(None, [(f"not an HTTP dump, a JSON/HTML body, an SSE stream or a known client error: "
                              f"{first!r}"), "if this text is a reply body, pass its status with --status N"])
    if failure.truncated and not failure.body:
        return _Judged(classify_failure(status or 0, headers, {}, now, provider),
                       ["the body is missing (the dump was cut short): judged from the status and headers"])
    body_status = status or 0
    found = classify_failure(body_status, headers, failure.body, now, provider)
    notes = []
    if failure.form == "body" and status is None:
        notes.append("no HTTP status given (use --status N); judged from the body alone")
    if found is None and (200 <= body_status < 300 or not body_status):
        reason = _stop_reason_of(failure.body)
        if reason and reason.lower() in FILTER_REASONS:  # a 200 whose answer a filter withheld (§4.4)
            why = f"the reply stops with reason {reason}: a filter withheld the answer"
            return _Judged(Classification("request.content_filter", "no", None, reason, (why,), provider), notes)
    if found is None and 200 <= body_status < 300:
        return _Judged(None, notes + [f"HTTP {body_status} and the body reports no error"], failure.body, False)
    if found is None and read_error_fields(failure.body).shape == "midjourney-proxy":
        return _Judged(None, notes + ["midjourney-proxy reports no failure (submitted, queued or in progress)"],
                       failure.body, False)
    if found is None and not status:  # "{…" or "<…" may still be a client's message
        from_text = classify_client_error(failure.text, now, provider)
        if from_text is not None:
            return _Judged(from_text, ["read as the text of a client-side error"])
    if found is None:
        notes.append("the body names no error this classifier knows")
    return _Judged(found, notes, failure.body)


def _judge_stream(failure: Failure, status: int | None, headers: dict[str, str], provider: str | None,
                  now: float) -> _Judged:
    end = read_stream(failure.body)
    if end.outcome == "complete":
        return _Judged(None, [end.detail], None, False)
    if end.outcome in ("filtered", "interrupted"):
        category = "request.content_filter" if end.outcome == "filtered" else "stream.interrupted"
        return _Judged(Classification(category, ADVICE[category], None, None, (end.detail,), provider), [])
    found = classify_failure(0, headers, end.error, now, provider) or Classification(
        "upstream.server_error", "backoff", None, None, ("the error event names no code this classifier knows",),
        provider)
    at = f"at HTTP {status}" if status else "after the stream started"
    return _Judged(Classification(found.category, found.retry, found.wait_s, found.provider_code,
                                  (f"{end.detail} {at}: the status was already sent, so only the event tells",
                                   *found.evidence), found.provider), [], end.error)


def _stop_reason_of(body: bytes) -> str | None:
    try:
        reply = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return stop_reason(reply) if isinstance(reply, dict) else None


def _refined(found: Classification, failure: Failure, status: int | None, url: str | None,
             provider: str | None) -> Classification:
    """What only the pasted dump shows: the URL's path (a 404 from a base URL without /v1) and the
    key that was sent (a newline at its end, another platform's prefix)."""
    extra: tuple[str, str] | None = None
    if url and found.category in ("route.not_found", "model.not_found", "upstream.malformed") and (status in (
            404, 405, None) or found.category == "upstream.malformed"):
        problem = misrouted_path(urlsplit(url if "://" in url else "https://" + url).path)
        if problem:
            extra = ("route.base_url", f"the URL: {problem}")
    if found.category in ("auth.key_invalid", "auth.missing", "auth.malformed"):
        key = _sent_key(failure)
        if key is not None:
            extra = key_problem(key, provider) or extra
    if extra is None:
        return found
    category, why = extra
    return Classification(category, ADVICE[category], None, found.provider_code, (*found.evidence, why),
                          found.provider)


def _sent_key(failure: Failure) -> str | None:
    for name in _KEY_HEADERS:
        value = failure.request_headers.get(name)
        if value is not None:
            if name == "authorization":
                scheme, _, rest = value.partition(" ")
                return rest if scheme.lower() in ("bearer", "bot") else value
            return value
    return None


def _sent_key_note(failure: Failure, provider: str | None) -> str:
    key = _sent_key(failure)
    if key is None:
        return ""
    found = key_problem(key, provider)
    return found[1] if found else ""


def _url_of(failure: Failure) -> str | None:
    host = failure.request_headers.get("host")
    if host and failure.request_line:
        path = failure.request_line.partition(" ")[2]
        return f"https://{host}{path}"
    return None


def _request_id(headers: dict[str, str], failure: Failure) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        if headers.get(name):
            return headers[name]
    text = failure.text[:200_000]
    for pattern in _REQUEST_ID_TEXT:
        m = pattern.search(text)
        if m:
            return m.group(1)
    return None


# -- output ---------------------------------------------------------------------------------------

def to_json(e: Explanation) -> str:
    return json.dumps(asdict(e), ensure_ascii=False, indent=2)


def render(e: Explanation) -> str:
    nothing = "none: the input shows no failure" if e.failed is False else "unknown (could not tell; see evidence)"
    lines = [f"category    {e.category or nothing}"]
    if e.retry:
        wait = f" — wait {e.wait_seconds:g} s (the reply says so)" if e.wait_seconds is not None else ""
        lines.append(f"retry       {_RETRY_WORDS[e.retry]}{wait}")
    if e.provider or e.code:
        lines.append(f"provider    {e.provider or 'unknown'}" + (f" (code {e.code})" if e.code else ""))
    if e.request_id:
        lines.append(f"request id  {e.request_id}")
    lines.append("evidence")
    lines += [f"  - {item}" for item in e.evidence]
    lines.append("check first")
    lines += [f"  {n}. {check}" for n, check in enumerate(e.checks, 1)]
    return "\n".join(lines)


def parse_header_options(values: tuple[str, ...] | list[str]) -> tuple[dict[str, str], list[str]]:
    headers: dict[str, str] = {}
    bad: list[str] = []
    for value in values:
        name, sep, rest = value.partition(":")
        if not sep or not name.strip():
            bad.append(value)
            continue
        headers[name.strip().lower()] = rest.strip()
    return headers, bad


def run(source: str, status: int | None, header_options: tuple[str, ...], provider: str | None, url: str | None,
        as_json: bool) -> int:
    """The command: read FILE or stdin ('-'), explain, print. 0 whenever an answer was printed."""
    try:
        if source == "-":
            if sys.stdin.isatty():
                print("reading the failure from stdin (end with Ctrl-D)…", file=sys.stderr)
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with open(source, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
    except OSError as e:
        print(f"seawall explain: cannot read {source}: {e.strerror or e}", file=sys.stderr)
        return 2
    headers, bad = parse_header_options(header_options)
    try:
        result = explain(data, status, headers, provider, url, now=time.time())
    except Exception as e:  # noqa: BLE001 — a bug here must still leave the user an answer, not a traceback
        result = Explanation(None, None, None, None, None, [(f"seawall explain failed on this input ({e!r}); "
                                                             f"please report it with the input")],
                             checks_for(None, Facts()), None, status, "unread")
    if bad:
        result.evidence.append(f"ignored --header value(s) without 'Name: value': {', '.join(map(repr, bad))}")
    print(to_json(result) if as_json else render(result))
    return 0
