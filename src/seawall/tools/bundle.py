"""Support bundle: one redacted JSON file with what a provider's support asks for about one request
(the request as sent upstream, every attempt's status, headers, timings and how a stream ended,
the time in UTC and the network path), plus the explain verdict and the gateway's version and
config digest, so a ticket needs no back-and-forth.

`assemble` is pure: the gateway gathers the parts (console/support.py) and passes them in; the
whole text goes through the redactor once more at the end, so a secret that slipped into any
part (a header, an error message, the config) can't leave in it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict

import orjson

from seawall.config import ModelRoute, Settings
from seawall.decide.redact import SECRET_HEADERS, Redactor
from seawall.store.base import RequestRecord
from seawall.tools.explain import Explanation, explain

FORMAT = "seawall.bundle/1"


def utc(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def relevant_models(settings: Settings, model: str | None) -> list[ModelRoute]:
    """The requested model's route and every route it may fall back to (context and runtime)."""
    by_name = {m.name: m for m in settings.models}
    out: list[ModelRoute] = []
    todo = [model] if model in by_name else []
    while todo:
        route = by_name.get(todo.pop(0))
        if route is None or route in out:
            continue
        out.append(route)
        todo += [*route.fallbacks, *([route.fallback_model] if route.fallback_model else [])]
    return out


def config_excerpt(routes: list[ModelRoute]) -> tuple[list[dict], str]:
    """The routes as the config sets them (a deployment's extra headers with credential names
    blanked) and their SHA-256 digest, so support can tell two bundles' configs apart."""
    excerpt = []
    for route in routes:
        data = route.model_dump(mode="json", exclude_none=True)
        for dep in data.get("deployments", []):
            dep["headers"] = {k: "[redacted]" if k.lower() in SECRET_HEADERS else v
                              for k, v in (dep.get("headers") or {}).items()}
        excerpt.append(data)
    digest = hashlib.sha256(orjson.dumps(excerpt, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return excerpt, digest


def verdict(row: RequestRecord, capture: dict | None, provider: str | None) -> Explanation | None:
    """`seawall explain` on what failed: the last attempt's error reply, else a stream's tail,
    else the reply the client got. None for a success without a capture."""
    if capture is None:
        return None
    for attempt in reversed(capture.get("attempts") or []):
        body = (attempt.get("reply") or {}).get("body")
        if body and attempt.get("status"):
            headers = dict(attempt["reply"].get("headers") or [])
            return explain(body["text"].encode(), attempt["status"], headers, provider)
    stream = capture.get("stream")
    if stream and stream.get("end") != "completed":
        text = "\n\n".join(stream.get("events") or []) + "\n\n"
        return explain(text.encode(), 200, {"content-type": "text/event-stream"}, provider)
    reply = capture.get("reply") or {}
    if reply.get("body") and (reply.get("status") or 0) >= 400:
        return explain(reply["body"]["text"].encode(), reply["status"], dict(reply.get("headers") or []), provider)
    return None


def assemble(row: RequestRecord, capture: dict | None, verdict_: Explanation | None, version: str,
             excerpt: list[dict], digest: str, network: list[dict], now: float, redactor: Redactor) -> dict:
    attempts = []
    captured = {i: a for i, a in enumerate((capture or {}).get("attempts") or [])}
    for i, logged in enumerate(row.attempts_detail):
        seen = captured.get(i, {})
        attempts.append({**logged, "sent": seen.get("request"), "reply_headers": (seen.get("reply") or {}).get("headers"),
                         "reply_body": (seen.get("reply") or {}).get("body")})
    last_sent = next((a["sent"] for a in reversed(attempts) if a.get("sent")), None)
    stream = (capture or {}).get("stream")
    bundle = {
        "format": FORMAT,
        "generated_at": utc(now),
        "request": {"request_id": row.request_id, "time_utc": utc(row.ts), "method": row.method, "path": row.path,
                    "dialect": row.dialect, "model_requested": row.model_requested, "model_served": row.model_served,
                    "deployment": row.deployment, "status": row.status, "category": row.category,
                    "error_code": row.error_code, "latency_ms": row.latency_ms, "ttfb_ms": row.ttfb_ms,
                    "streamed": row.streamed, "stream_end": row.stream_end, "tokens_in": row.prompt_tokens,
                    "tokens_out": row.completion_tokens, "upstream_request_id": row.upstream_request_id},
        "request_as_sent_upstream": last_sent,
        "client_request": (capture or {}).get("request"),
        "reply_to_client": (capture or {}).get("reply"),
        "attempts": attempts,
        "stream": None if stream is None else {"end": stream.get("end"), "last_event": stream.get("last_event"),
                                               "last_upstream_event": stream.get("last_upstream_event"),
                                               "upstream_last_chunk": stream.get("upstream_last_chunk"),
                                               "tail": stream.get("events")},
        "explain": None if verdict_ is None else asdict(verdict_),
        "gateway": {"version": version, "config_digest": f"sha256:{digest}", "config": excerpt},
        "network": network,
        "captured": capture is not None,
    }
    if capture is None:
        bundle["note"] = ("No bodies were captured for this request (request_log.capture is off, or it succeeded "
                          "under capture: failed, or its capture passed capture_retention_days).")
    # Once more over the whole text: whatever part a secret slipped into, it leaves redacted.
    return orjson.loads(redactor.text(orjson.dumps(bundle).decode()))
