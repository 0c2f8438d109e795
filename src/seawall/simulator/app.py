"""The simulator's ASGI app: routing, the order in which faults and checks apply, lifespan.

For a provider endpoint the order is what a client would meet on the real path:

1. the fault: the ``x-sim-fault`` header, else the first scripted rule that fires;
2. latency (settings ``latency_ms`` + the fault's);
3. connection and edge faults, before the provider sees anything: ``reset``, ``hang``, ``html``;
4. the API key (missing: 401; not in ``api_keys``: 401 ``invalid_api_key``);
5. an injected ``status`` / ``error`` reply in the fault's dialect;
6. request validation (400 / 404, OpenAI's wording), then the rate limits (429);
7. the reply, with body and stream faults (``malformed``, ``cut_after``, ``stall_after``,
   ``stream_error``, ``interval_ms``).

Unknown paths get OpenAI's ``Invalid URL`` 404 with no checks at all; ``/_sim/`` is the
control API (``control.py``). Beyond chat, embeddings and models, OpenAI's endpoints (Responses,
legacy completions, images, audio, moderations, files, batches) are routes.py's table, one
module per family; every request but the control API's is recorded (recorder.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import math
import time
from typing import Any


from seawall.simulator import control, routes, wire
from seawall.simulator.chat import cached_prefix, plan_chat, render_events, render_reply
from seawall.simulator.config import ModelSpec, SimulatorSettings
from seawall.simulator.dialects import (
    ErrorContext,
    UnknownVariant,
    anthropic,
    azure,
    gemini,
    midjourney,
    render_fault,
)
from seawall.simulator.dialects import openai as oai
from seawall.simulator.duration import ceil_ms
from seawall.simulator.embeddings import plan_embeddings, render_embeddings
from seawall.simulator.exchange import Exchange, take_fault
from seawall.simulator.headers import new_completion_id
from seawall.simulator.host import UNPARSABLE, parse_json
from seawall.simulator.state import SimState

_MODEL_PREFIX = "/v1/models/"


def build_app(settings: SimulatorSettings) -> Simulator:
    """The ASGI 3 app for ``settings``; it handles ``http`` and ``lifespan`` scopes."""
    return Simulator(settings)


def _provider_route(scope: dict[str, Any], path: str) -> tuple[Any, str] | None:
    """Other providers' endpoints, known by their paths (Gemini's, Azure OpenAI's)."""
    found = gemini.parse_path(path)
    if found is not None:
        version, model, method = found
        return functools.partial(gemini.handle, scope=scope, version=version, model=model, method=method), gemini.ROUTE
    deployment = azure.parse_path(path)
    if deployment is not None:
        return functools.partial(azure.handle, scope=scope, deployment=deployment), azure.ROUTE
    return None


class Simulator:
    def __init__(self, settings: SimulatorSettings) -> None:
        self.state = SimState(settings)
        self.tasks = midjourney.TaskBoard()  # midjourney-proxy's tasks, read off the clock
        self._routes = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("GET", "/v1/models"): self._models,
            ("POST", anthropic.PATH): anthropic.serve_messages,
            ("POST", anthropic.COUNT_PATH): anthropic.serve_count_tokens,
        }

    async def __call__(self, scope: dict[str, Any], receive: wire.Receive, send: wire.Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    @staticmethod
    async def _lifespan(receive: wire.Receive, send: wire.Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict[str, Any], receive: wire.Receive, send: wire.Send) -> None:
        path = scope["path"]
        if path.startswith("/_sim/"):
            await control.handle(self.state, scope["method"], path, receive, send, scope.get("query_string", b""))
            return
        recording = self.state.recorder.tap(scope, receive)
        if recording is not None:
            receive = recording.receive
        azure_v1 = azure.v1_scope(scope)  # recorded as it came, answered as OpenAI's
        if azure_v1 is not None:
            scope, path = azure_v1, azure_v1["path"]
        # Anthropic's routes answer with Anthropic's ids and headers and read its key header.
        exchange_type = anthropic.AnthropicExchange if path in anthropic.PATHS else Exchange
        exchange = exchange_type(self.state, scope, receive, send)
        handler, route = self._routes.get((exchange.method, path)), path
        if handler is None and exchange.method == "GET" and path.startswith(_MODEL_PREFIX):
            handler, route = self._model, _MODEL_PREFIX + "{model}"
        if handler is None:
            found = routes.find(exchange.method, path)
            if found is not None:
                handler, route = functools.partial(found[0], self), found[1]
        if handler is None and exchange.method == "POST":
            handler, route = _provider_route(scope, path) or (None, path)
        if handler is None and path.startswith(midjourney.PREFIX):
            handler, route = midjourney.route(scope, exchange.method, path, self.tasks) or (None, path)
        stats = self.state.stats
        # Counted by route, so a client probing random paths cannot grow the counters.
        stats.begin(route if handler is not None else "(unknown)")
        try:
            if handler is None:
                await exchange.reply_error(oai.invalid_url(exchange.method, path))
            else:
                await handler(exchange)
        except asyncio.CancelledError:
            exchange.outcome = "disconnected"
            raise
        except wire.ConnectionCut:
            raise
        except Exception:
            exchange.outcome = "error"
            raise
        finally:
            stats.end(exchange.outcome)
            if recording is not None:
                recording.status = exchange.outcome

    # --- the shared front half: fault, latency, edge faults, key, injected status ----------

    def _context(self, exchange: Exchange, model_name: str | None) -> ErrorContext:
        spec = exchange.model
        limits = self.state.limits_for(spec)
        fault = exchange.fault
        retry_after = fault.retry_after
        if retry_after is None and fault.retry_after_ms is not None:
            retry_after = fault.retry_after_ms / 1000
        key = (exchange.authorization or "").partition(" ")[2].strip()
        return ErrorContext(
            request_id=exchange.request_id, organization=self.state.settings.organization,
            project=self.state.settings.project, model=spec.id if spec else (model_name or ""),
            method=exchange.method, path=exchange.path, key=key, rpm=limits.rpm, tpm=limits.tpm,
            context_window=spec.context_window if spec else 128_000, retry_after=retry_after, now=time.time(),
        )

    def _key_problem(self, exchange: Exchange) -> oai.ApiError | None:
        scheme, _, key = (exchange.authorization or "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return oai.missing_key()
        allowed = self.state.settings.api_keys
        if allowed is not None and key not in allowed:
            return oai.invalid_key(key)
        return None

    async def admit(self, exchange: Exchange, model_name: str | None) -> bool:
        """Steps 1-5 of the module docstring. False when the exchange has been answered."""
        if model_name is not None:
            exchange.model = self.state.catalog.find(model_name)
        if not await take_fault(exchange, model_name, oai.sim_fault_invalid):
            return False
        fault = exchange.fault
        problem = self._key_problem(exchange)
        if problem is not None:
            await exchange.reply_error(problem)
            return False
        if fault.status is not None or fault.error is not None:
            try:
                reply = render_fault(fault.dialect, fault.status, fault.error, self._context(exchange, model_name))
            except UnknownVariant as exc:
                await exchange.reply_error(oai.sim_fault_invalid(str(exc)))
                return False
            await exchange.reply_error(reply)
            return False
        return True

    async def charge(self, exchange: Exchange, spec: ModelSpec, cost: int) -> bool:
        """Step 6's rate limits. False when the exchange has been answered with a 429."""
        state = self.state
        verdict = state.limiter.admit(spec.id, cost, state.limits_for(spec), time.monotonic())
        if verdict.allowed:
            return True
        assert verdict.kind is not None
        error = oai.rate_limited(verdict.kind, spec.id, self._context(exchange, spec.id), verdict.limit,
                                 verdict.used, verdict.requested, verdict.wait)
        headers: tuple[tuple[bytes, bytes], ...] = ()
        if verdict.kind != "request_too_large":  # waiting cannot help that one
            headers = ((b"retry-after", b"%d" % max(1, math.ceil(verdict.wait))),
                       (b"retry-after-ms", b"%d" % ceil_ms(verdict.wait)))
        await exchange.reply_error(error.reply(headers))
        return False

    def stream_interval(self, exchange: Exchange) -> float:
        """Seconds between stream events: the fault's ``interval_ms``, else the settings'."""
        interval_ms = exchange.fault.interval_ms
        return (interval_ms if interval_ms is not None else self.state.settings.stream_interval_ms) / 1000

    # --- endpoints ---------------------------------------------------------------------------

    async def _chat(self, exchange: Exchange) -> None:
        body, model_name = parse_json(await wire.read_body(exchange.receive))
        if not await self.admit(exchange, model_name):
            return
        catalog = self.state.catalog
        plan = oai.unparsable_json() if body is UNPARSABLE else plan_chat(body, catalog, exchange.fault.tokens)
        if isinstance(plan, oai.ApiError):
            await exchange.reply_error(plan)
            return
        plan = dataclasses.replace(plan, cached_tokens=cached_prefix(self.state.prompt_cache, body, plan.model.id))
        if not await self.charge(exchange, plan.model, plan.cost):
            return
        completion_id, created = new_completion_id(), int(time.time())
        if plan.stream:
            await exchange.stream(render_events(plan, completion_id, created, self.state.padding),
                                  self.stream_interval(exchange))
        else:
            await exchange.reply(render_reply(plan, completion_id, created))

    async def _embeddings(self, exchange: Exchange) -> None:
        body, model_name = parse_json(await wire.read_body(exchange.receive))
        if not await self.admit(exchange, model_name):
            return
        plan = oai.unparsable_json() if body is UNPARSABLE else plan_embeddings(body, self.state.catalog)
        if isinstance(plan, oai.ApiError):
            await exchange.reply_error(plan)
            return
        if not await self.charge(exchange, plan.model, plan.prompt_tokens):
            return
        await exchange.reply(render_embeddings(plan))

    async def _models(self, exchange: Exchange) -> None:
        await wire.read_body(exchange.receive)
        if await self.admit(exchange, None):
            await exchange.reply(self.state.catalog.list_body)

    async def _model(self, exchange: Exchange) -> None:
        await wire.read_body(exchange.receive)
        name = exchange.path[len(_MODEL_PREFIX):]
        if not await self.admit(exchange, name):
            return
        body = self.state.catalog.model_body(name)
        if body is None:
            await exchange.reply_error(oai.model_not_found(name))
        else:
            await exchange.reply(body)
