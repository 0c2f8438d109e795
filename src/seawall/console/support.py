"""The support path behind the admin API and the console: the request log page by page, one
request with its captured bodies, chart statistics, support bundles, replays, and deployments'
health with a "test now" probe.

    GET  /admin/requests?since&until&status&category&model&key&tenant&request_id&limit&cursor
    GET  /admin/requests/{id}            the row, its attempts and its capture (redacted)
    GET  /admin/requests/{id}/bundle     the support bundle (tools/bundle.py)
    POST /admin/requests/{id}/replay     {"deployment"?: name, "model"?: name}: sent again, compared
    GET  /admin/stats?since&until&bucket_s&key   requests, errors by category, p50/p99, TTFT, tokens, cost

Every list is a page (console/log_query.py: at most 200 rows, keyset cursors). A key's owner
(console sessions signed in with an sk-sw- key) sees only that key's rows: every lookup goes
through decide/ownership.py, and another key's request is the same 404 as an unknown one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from seawall import __version__
from seawall.config import ResolvedDeployment, Settings
from seawall.console import log_query
from seawall.decide.classify import classify_reply, classify_transport
from seawall.decide.ownership import ADMIN, Viewer, found
from seawall.decide.redact import SECRET_HEADERS, Redactor
from seawall.dialects import DIALECTS
from seawall.errors import CATALOG, CHECK_FIRST, SeawallError, error
from seawall.pipeline.attempt import Retrier
from seawall.pipeline.auth import Authenticator
from seawall.providers.base import ApiRequest
from seawall.providers.registry import adapter_for
from seawall.providers.transport import Transport, UpstreamFailure
from seawall.store.base import KeyRecord, RequestRecord, StatsBucket, Store
from seawall.tools import bundle as bundles
from seawall.tools.replay import Outcome, answer_start, compare

_PROBE_BODY_LIMIT = 1024 * 1024  # a probe or a replay straight to a deployment reads at most this much


@dataclass(slots=True)
class Internal:
    """What the gateway's pipeline answered a request sent from inside (app.py: replay)."""

    request_id: str
    status: int
    category: str | None
    body: str
    streamed: bool
    stream_end: str | None
    latency_ms: float
    ttfb_ms: float | None
    via: str  # as whom it was sent


# (request row, body, operation, model, headers) -> the pipeline's answer (app.py: Gateway.replay)
RunInternal = Callable[[RequestRecord, bytes, str | None, str | None, dict[str, str]], Awaitable[Internal]]


class Support:
    def __init__(self, store: Store, auth: Authenticator, settings: Settings,
                 routes: dict[str, list[ResolvedDeployment]], transport: Transport, retrier: Retrier,
                 redactor: Redactor, run_internal: RunInternal | None = None):
        self.store, self.auth, self.settings, self.routes = store, auth, settings, routes
        self.transport, self.retrier, self.redactor, self.run_internal = transport, retrier, redactor, run_internal
        self.deployments: dict[str, ResolvedDeployment] = {}
        for targets in routes.values():
            for t in targets:
                self.deployments.setdefault(t.label, t)

    # -- the admin API -----------------------------------------------------------------------------
    async def route(self, method: str, parts: list[str], params: dict[str, str], body: Callable[[], Awaitable[object]]
                    ) -> tuple[int, object] | None:
        """The answer to an admin route under /admin/requests or /admin/stats; None: not ours."""
        if parts == ["requests"] and method == "GET":
            return 200, await self.list_requests(params, ADMIN)
        if parts == ["stats"] and method == "GET":
            return 200, await self.stats(params, ADMIN)
        if len(parts) == 2 and parts[0] == "requests" and method == "GET":
            return 200, await self.request(parts[1], ADMIN)
        if len(parts) == 3 and parts[0] == "requests" and parts[2] == "bundle" and method == "GET":
            return 200, await self.bundle(parts[1])
        if len(parts) == 3 and parts[0] == "requests" and parts[2] == "replay" and method == "POST":
            options = await body()
            if not isinstance(options, dict) or set(options) - {"deployment", "model"}:
                raise error("admin_unknown_field", param="body", known="deployment, model")
            return 200, await self.replay(parts[1], options.get("deployment"), options.get("model"))
        return None

    # -- the log -----------------------------------------------------------------------------------
    async def list_requests(self, params: dict[str, str], viewer: Viewer) -> dict:
        now = time.time()
        key_id = viewer.key_id if not viewer.is_admin else (await self.key_id(params["key"]) if params.get("key")
                                                            else None)
        query = log_query.log_query({k: v for k, v in params.items() if k != "key" or viewer.is_admin}, now, key_id)
        query = dataclasses.replace(query, limit=query.limit + 1)  # one more: is there a next page?
        rows = await self.store.query_requests(query)
        more = len(rows) == query.limit
        rows = rows[:query.limit - 1]
        last = rows[-1] if rows else None
        return {"object": "list", "data": [row_view(r) for r in rows], "has_more": more,
                "next_cursor": log_query.encode_cursor(last.ts, last.request_id) if more and last else None}

    async def key_id(self, ref: str) -> str:
        """A key's id from its id or name (the live key of that name, else its latest)."""
        keys = await self.store.load_keys()
        chosen = pick_key(keys, ref)
        if chosen is None:
            raise error("admin_not_found", thing="key", ref=ref, fix="seawall keys list shows every key's id and name.")
        return chosen.id

    async def find(self, request_id: str, viewer: Viewer) -> RequestRecord:
        rows = await self.store.query_requests(log_query.LogQuery(request_id=request_id, limit=1))
        row = rows[0] if rows else None
        if not found(row, row.key_id if row else None, viewer):
            raise error("request_not_found", request_id=request_id)
        return row

    async def capture(self, request_id: str) -> dict | None:
        record = await self.store.get_capture(request_id)
        return orjson.loads(record.data) if record is not None else None

    async def request(self, request_id: str, viewer: Viewer) -> dict:
        row = await self.find(request_id, viewer)
        capture = await self.capture(request_id)
        shown = capture if viewer.is_admin or capture is None else owners_part(capture)
        return {**row_view(row), "hint": hint_of(row, capture), "capture": shown}

    async def stats(self, params: dict[str, str], viewer: Viewer) -> dict:
        since, until, bucket_s = log_query.stats_window(params, time.time())
        key_id = viewer.key_id if not viewer.is_admin else (await self.key_id(params["key"]) if params.get("key")
                                                            else None)
        found = {round((b.start - since) / bucket_s): b for b in await self.store.request_stats(since, until, bucket_s,
                                                                                               key_id)}
        count = int((until - since) // bucket_s) + 1  # empty buckets too: a chart's x is time
        return {"object": "stats", "since": since, "until": until, "bucket_s": bucket_s,
                "buckets": [log_query.bucket_view(found.get(i) or StatsBucket(start=since + i * bucket_s))
                            for i in range(count)]}

    # -- bundles -----------------------------------------------------------------------------------
    async def bundle(self, request_id: str) -> dict:
        row = await self.find(request_id, ADMIN)
        capture = await self.capture(request_id)
        models = bundles.relevant_models(self.settings, row.model_requested)
        excerpt, digest = bundles.config_excerpt(models)
        labels = list(dict.fromkeys(a.get("deployment") for a in row.attempts_detail if a.get("deployment")))
        network = []
        for label in labels:
            target = self.deployments.get(label)
            if target is not None:
                path = await self.transport.describe(target.base_url, label)
                network.append({"deployment": label, "provider": target.spec.provider, **path})
        provider = self.deployments[labels[-1]].spec.provider if labels and labels[-1] in self.deployments else None
        verdict = bundles.verdict(row, capture, provider)
        return bundles.assemble(row, capture, verdict, __version__, excerpt, digest, network, time.time(),
                                self.redactor)

    # -- replay ------------------------------------------------------------------------------------
    async def replay(self, request_id: str, deployment: str | None, model: str | None) -> dict:
        row = await self.find(request_id, ADMIN)
        capture = await self.capture(request_id)
        sent = (capture or {}).get("request", {}).get("body")
        if not sent:
            raise error("replay_not_captured", request_id=request_id)
        if sent["truncated"]:
            raise error("replay_truncated", request_id=request_id, cap=len(sent["text"].encode()), size=sent["bytes"])
        body = sent["text"].encode()
        if model is not None:
            body = with_model(body, model)
        original = Outcome(row.request_id, row.status, row.category,
                           answer_start(_reply_text(capture), row.streamed), row.latency_ms, row.ttfb_ms,
                           row.stream_end, "original")
        if deployment is not None:
            target = self.deployments.get(deployment)
            if target is None:
                raise error("unknown_deployment", name=deployment, known=", ".join(sorted(self.deployments)))
            replayed = await self.direct(target, body, row)
        else:
            headers = {name: value for name, value in capture["request"]["headers"]
                       if name not in SECRET_HEADERS and name not in ("content-length", "host")}
            done = await self.run_internal(row, body, row.operation, model, headers)
            replayed = Outcome(done.request_id, done.status, done.category, answer_start(done.body, done.streamed),
                               done.latency_ms, done.ttfb_ms, done.stream_end, done.via)
        return compare(original, replayed)

    async def direct(self, target: ResolvedDeployment, body: bytes, row: RequestRecord) -> Outcome:
        """One exchange with one deployment, bypassing routing, limits, gates and retries: what the
        upstream itself says now. The body is read in the client's dialect, as the pipeline reads it."""
        dialect = DIALECTS.get(row.dialect or "openai", DIALECTS["openai"])
        path_model = row.path.rsplit("/", 1)[-1] if row.dialect == "gemini" else None
        operation = row.operation if row.operation in ("chat", "embeddings") else "chat"
        req = dialect.parse(operation, body, {"content-type": "application/json"}, path_model)
        req.model = target.route
        return await self.exchange(target, req, f"deployment {target.label}")

    async def exchange(self, target: ResolvedDeployment, req: ApiRequest, via: str) -> Outcome:
        adapter = adapter_for(target.spec.adapter_name)
        started = time.perf_counter()
        ttfb = None
        try:
            response = await self.transport.open(adapter.build_request(req, target, False), target.spec.timeouts,
                                                 target.label)
            ttfb = (time.perf_counter() - started) * 1000
            end = None
            if req.stream and "event-stream" in response.content_type and response.status < 300:
                raw, end = await _read_stream(response, adapter.stream_decoder())
            else:
                raw = await response.read()
        except UpstreamFailure as f:
            cls = classify_transport(f.kind, f.detail)
            return Outcome(None, None, cls.category, f.detail, round((time.perf_counter() - started) * 1000, 2),
                           ttfb, None, via)
        except SeawallError as e:  # the body can't be sent to this deployment (a field it can't express)
            return Outcome(None, e.status, e.category, e.message, 0.0, None, None, via)
        category = classify_reply(response.status, response.headers, raw).category if response.status >= 300 else None
        if end is not None and end != "completed":
            category = f"stream.{end}"
        text = raw[:_PROBE_BODY_LIMIT].decode("utf-8", "replace")
        return Outcome(response.headers.get("x-request-id") or response.headers.get("request-id"), response.status,
                       category, answer_start(text, req.stream), round((time.perf_counter() - started) * 1000, 2),
                       round(ttfb, 2) if ttfb is not None else None, end, via)


async def _read_stream(response, decoder) -> tuple[bytes, str]:
    """A stream's bytes (at most _PROBE_BODY_LIMIT, within 60 s) and how it ended: completed (its
    terminal event came), interrupted (cut, or closed without it) or stalled (silent too long)."""
    chunks, size, end = [], 0, "interrupted"
    try:
        async with asyncio.timeout(60):
            while (data := await response.next_chunk()) and size < _PROBE_BODY_LIMIT:
                chunks.append(data)
                size += len(data)
                if any(e.terminal for e in decoder.feed(data)):
                    end = "completed"
    except UpstreamFailure as f:
        end = "stalled" if f.kind == "timeout" else "interrupted"
    except TimeoutError:
        end = "stalled"
    response.close()
    return b"".join(chunks), end


def owners_part(capture: dict) -> dict:
    """What a key's owner sees of its own request: what it sent and what it got. The upstream
    side (deployments' URLs, the headers and bytes they sent) is the operator's."""
    stream = capture.get("stream")
    return {"request": capture.get("request"), "reply": capture.get("reply"), "attempts": [],
            "stream": None if stream is None else {k: stream.get(k) for k in ("end", "complete", "events", "last_event")}}


def pick_key(keys: list[KeyRecord], ref: str) -> KeyRecord | None:
    by_id = [k for k in keys if k.id == ref]
    named = sorted((k for k in keys if k.name == ref), key=lambda k: (k.revoked_at is None, k.created_at))
    chosen = by_id or named
    return chosen[-1] if chosen else None


def with_model(body: bytes, model: str) -> bytes:
    """The captured body asking for another model (a Gemini body names none: its path does)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if isinstance(data, dict) and "model" in data:
        data["model"] = model
        return orjson.dumps(data)
    return body


def _reply_text(capture: dict | None) -> str | None:
    if capture is None:
        return None
    stream = capture.get("stream")
    if stream:
        return "\n\n".join(stream.get("events") or [])
    body = (capture.get("reply") or {}).get("body")
    return body["text"] if body else None


def row_view(r: RequestRecord) -> dict:
    return {"object": "request", **dataclasses.asdict(r), "time": _iso(r.ts)}


def hint_of(row: RequestRecord, capture: dict | None) -> str | None:
    """What to check first: the hint the client was sent (in the captured error), else the
    catalog's for the code, else the taxonomy's for the category."""
    reply = ((capture or {}).get("reply") or {}).get("body")
    if reply:
        try:
            err = orjson.loads(reply["text"]).get("error")
            if isinstance(err, dict) and err.get("hint"):
                return str(err["hint"])
        except (orjson.JSONDecodeError, AttributeError):
            pass
    kind = CATALOG.get(row.error_code or "")
    if kind is not None and "{" not in kind.hint:
        return kind.hint
    return CHECK_FIRST.get(row.category or "")


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
