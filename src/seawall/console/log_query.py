"""The request log's filters, pages and chart numbers as the admin API and the console read them.

Pure: a query string's values in, a LogQuery (or a SeawallError naming the parameter) out; a
page's cursor in and out; percentiles from the stores' latency histograms.

    since, until    epoch seconds, ISO 8601, or a duration back from now (15m, 2h, 7d)
    status          429, 4xx, 5xx, error, ok
    category        a taxonomy category (rate_limit.tokens) or its family (rate_limit)
    model, key, tenant, request_id
    limit           1..MAX_LIMIT (default DEFAULT_LIMIT)
    cursor          the previous page's next_cursor
"""

from __future__ import annotations

import base64
import datetime as dt
import re

import orjson

from seawall.errors import SeawallError, error
from seawall.store.base import LATENCY_BOUNDS_MS, LogQuery, StatsBucket

DEFAULT_LIMIT, MAX_LIMIT = 50, 200  # a page is bounded whatever the filter matches
MAX_BUCKETS = 240  # a chart's points; a window is cut into at most this many buckets
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_STATUS = re.compile(r"\d{3}|[1-5]xx|error|ok", re.IGNORECASE)
LOG_PARAMS = ("since", "until", "status", "category", "model", "key", "tenant", "request_id", "limit", "cursor")


def _invalid(param: str, got: str, expected: str) -> SeawallError:
    return error("admin_invalid_value", param=param, detail=f"{got[:60]!r} is not {expected}",
                 fix=f"Send {param} as {expected}.")


def parse_time(param: str, text: str, now: float) -> float:
    text = text.strip()
    m = _RELATIVE.fullmatch(text)
    if m:
        return now - float(m.group(1)) * _UNIT[m.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(param, text, "epoch seconds, an ISO 8601 time or a duration such as 15m, 2h, 7d") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def encode_cursor(ts: float, request_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ts, request_id])).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[float, str]:
    try:
        ts, request_id = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if isinstance(ts, (int, float)) and isinstance(request_id, str):
            return float(ts), request_id
    except (ValueError, TypeError, orjson.JSONDecodeError):
        pass
    raise _invalid("cursor", text, "the next_cursor of the previous page")


def log_query(params: dict[str, str], now: float, key_id: str | None = None) -> LogQuery:
    """The filters of one page. `key_id`: the key the `key` parameter names, resolved by the caller
    (or the signed-in owner's own key, which no parameter can widen)."""
    unknown = sorted(set(params) - set(LOG_PARAMS))
    if unknown:
        raise error("admin_unknown_field", param=unknown[0], known=", ".join(LOG_PARAMS))
    status = params.get("status") or None
    if status is not None and not _STATUS.fullmatch(status):
        raise _invalid("status", status, "a code (429), a class (4xx, 5xx), error or ok")
    text = params.get("limit") or str(DEFAULT_LIMIT)
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise _invalid("limit", text, f"a whole number from 1 to {MAX_LIMIT}")
    return LogQuery(since=parse_time("since", params["since"], now) if params.get("since") else None,
                    until=parse_time("until", params["until"], now) if params.get("until") else None,
                    status=status, category=params.get("category") or None, model=params.get("model") or None,
                    key_id=key_id, tenant=params.get("tenant") or None,
                    request_id=params.get("request_id") or None, limit=int(text),
                    before=decode_cursor(params["cursor"]) if params.get("cursor") else None)


def stats_window(params: dict[str, str], now: float) -> tuple[float, float, int]:
    """(since, until, bucket_s): the last hour by default, at most MAX_BUCKETS buckets."""
    since = parse_time("since", params.get("since") or "1h", now)
    until = parse_time("until", params["until"], now) if params.get("until") else now
    if until <= since:
        raise _invalid("until", params.get("until", ""), "a time after since")
    span = until - since
    if span > 31 * 86400:
        raise _invalid("since", params.get("since", ""), "at most 31 days back")
    default = max(60, int(span // 60))
    text = params.get("bucket_s") or str(default)
    if not text.isdigit() or int(text) < 1:
        raise _invalid("bucket_s", text, "a whole number of seconds")
    return since, until, max(int(text), int(span // MAX_BUCKETS) + 1)


def percentile(histogram: dict[int, int], q: float) -> float | None:
    """The upper bound (ms) of the bucket holding the q-th quantile; past the last bound, the
    last bound (the true value is larger: the chart says '>')."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = q * total, 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return float(LATENCY_BOUNDS_MS[min(index, len(LATENCY_BOUNDS_MS) - 1)])
    return float(LATENCY_BOUNDS_MS[-1])


def bucket_view(b: StatsBucket) -> dict:
    return {"start": b.start, "requests": b.requests, "errors": b.errors, "error_count": sum(b.errors.values()),
            "p50_ms": percentile(b.latency, 0.5), "p99_ms": percentile(b.latency, 0.99),
            "ttft_p50_ms": percentile(b.ttfb, 0.5), "ttft_p99_ms": percentile(b.ttfb, 0.99),
            "prompt_tokens": b.prompt_tokens, "completion_tokens": b.completion_tokens,
            "cost_usd": round(b.cost_usd, 10)}
