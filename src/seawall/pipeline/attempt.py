"""Attempt: call the deployments in order until one answers, recording every attempt; after a
failure, decide/retry.py says whether to fall back, retry (after the provider's wait or a
jittered backoff, within the deadline and the deployment's retry budget) or give up.

This is the boundary where upstream outcomes (HTTP errors, transport failures, unreadable
replies) become catalog errors. A stream is committed only once its first event has arrived, so
a deployment that fails before that can still be replaced by the next one.

Each candidate decides how the request reaches it: a deployment of the client's own vendor gets
the client's body (pass-through), any other the canonical translation, made at most once per
request (twice if the chain mixes strict and lossy models). A candidate that can't express the
request is not tried: the next one may be of the client's vendor; when none is left, the
client hears the refusal (a 400 naming the field) unless an upstream failed first.
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from seawall.config import ResolvedDeployment
from seawall.decide.balance import Standing, choose
from seawall.decide.breaker import CLOSED, Breaker, BreakerPolicy, after, may_try, reopens_in
from seawall.decide.classify import ADVICE, Classification, classify_reply, classify_transport, read_error_fields
from seawall.decide.retry import Failure, Fallback, GiveUp, RetryBudget, RetryPolicy, next_attempt
from seawall.decide.timeouts import fired_values
from seawall.errors import CHECK_FIRST, SeawallError
from seawall.pipeline.context import RequestContext
from seawall.pipeline.gate import DeploymentGates, GateRefused, Ticket
from seawall.pipeline.health import DeploymentHealth
from seawall.pipeline.route import passes_through
from seawall.providers.base import ApiRequest, AttemptRecord, MalformedReply, Reply, StreamDecoder, StreamEvent, Usage
from seawall.providers.registry import adapter_for

# The client dialect's translation to the canonical form (dialects/base.py ClientDialect.translate).
Translate = Callable[[ApiRequest, bool], ApiRequest]
from seawall.providers.transport import Transport, UpstreamFailure, UpstreamResponse

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "apim-request-id")


@dataclass(slots=True)
class Completed:
    reply: Reply
    target: ResolvedDeployment


@dataclass(slots=True)
class Streaming:
    target: ResolvedDeployment
    response: UpstreamResponse
    decoder: StreamDecoder
    first: list[StreamEvent]  # events read before committing; empty when the first is slow to come
    release: Callable[[], None] = lambda: None  # the deployment gate's slot: egress calls it when the stream ends
    shape: str = "openai"  # the events' dialect: the vendor's own (pass-through) or canonical
    raw: bytes = b""  # the upstream bytes `first` was decoded from, as received (a captured stream's last chunk)


@dataclass(slots=True)
class Relaying:
    """A reply relayed as bytes, as they arrive (audio, a transcript): not JSON or SSE the
    gateway reads. `usage` reads what it was billed from its content type and first bytes."""

    target: ResolvedDeployment
    response: UpstreamResponse
    usage: Callable[[str, bytes], Usage | None]
    release: Callable[[], None] = lambda: None


# Operations whose replies are relayed as bytes (providers' read_relayed says what they cost).
RELAYED = frozenset({"speech", "transcriptions", "translations"})


class Retrier:
    """Retry policy and one retry budget per deployment, shared by every request of the gateway
    (decide/retry.py decides; this holds the state and the clock)."""

    def __init__(self, policy: RetryPolicy | None = None):
        self.policy = policy or RetryPolicy()
        self._budgets: dict[str, RetryBudget] = {}
        self.breakers: dict[str, Breaker] = {}
        self._breaker_policies: dict[str, BreakerPolicy] = {}  # per deployment, like its breaker
        # Deployments that refused the stream_options the gateway adds to learn a stream's usage
        # (strict OpenAI-compatible servers reject unknown fields): asked no more.
        self.refuses_stream_options: set[str] = set()
        self.gates = DeploymentGates()  # concurrency, rate and learned limits per deployment
        self.health = DeploymentHealth()  # out of rotation: a refused key, a spent account (decide/health.py)
        self.instances: Callable[[], int] = lambda: 1  # gateways sharing the upstreams (limits/sharing.py)
        # With other gateways (cluster/circuits.py): told of each breaker's change of state, and
        # asked whether this gateway may be the one to probe a half-open circuit. None: alone.
        self.share: Callable[[str, Breaker], None] | None = None
        self.claim: Callable[[str, Breaker], Awaitable[bool]] | None = None

    def set_breaker(self, label: str, b: Breaker) -> None:
        if self.share is not None and b.state != self.breakers.get(label, CLOSED).state:
            self.share(label, b)
        self.breakers[label] = b

    def open_circuits(self, now: float) -> dict[str, dict]:
        """Deployments being skipped or probed, for /readyz: is it the gateway or the provider?"""
        return {label: {"state": b.state, "reopens_in_s": round(reopens_in(b, now), 1)}
                for label, b in self.breakers.items() if b.state != "closed"}

    def arrange(self, plan: list[list[ResolvedDeployment]]) -> list[ResolvedDeployment]:
        """The request's candidates: each model's deployments in its balance's order (decide/
        balance.py), the model's first, then its fallbacks'. One model, ordered: as configured."""
        if len(plan) == 1 and balance_of(plan[0][0]) == "ordered":
            return plan[0]  # the common case reads no state
        now, rand = time.monotonic(), random.random()
        out: list[ResolvedDeployment] = []
        for deployments in plan:
            balance = balance_of(deployments[0])
            if balance != "ordered" and len(deployments) > 1:
                standings = [Standing(d.spec.weight, self._may_try(d, now) and d.label not in self.health.out,
                                      self.gates.load(d.label)) for d in deployments]
                deployments = [deployments[i] for i in choose(balance, standings, rand)]
            # a deployment a fallback model shares (same label: same upstream) failed already
            out += [d for d in deployments if all(d.label != o.label for o in out)]
        return out

    def _may_try(self, target: ResolvedDeployment, now: float) -> bool:
        """Would its breaker let a request through now (a probe included)? Records nothing."""
        b = self.breakers.get(target.label)
        return b is None or b.state == "closed" or may_try(b, now, self.breaker_policy(target))[0]

    def breaker_policy(self, target: ResolvedDeployment) -> BreakerPolicy:
        """Its circuit settings as the breaker's policy, built once (per request, hashing the
        frozen settings to look it up cost more than the breaker's decision)."""
        found = self._breaker_policies.get(target.label)
        if found is None:
            c = target.spec.circuit
            found = self._breaker_policies[target.label] = BreakerPolicy(c.failures_to_open, c.cooldown_s,
                                                                         c.max_cooldown_s)
        return found

    def budget(self, deployment: str) -> RetryBudget:
        found = self._budgets.get(deployment)
        if found is None:
            found = self._budgets[deployment] = RetryBudget()
        return found


async def attempt(ctx: RequestContext, req: ApiRequest, candidates: list[ResolvedDeployment],
                  transport: Transport, retrier: Retrier,
                  translate: Translate | None = None) -> Completed | Streaming | Relaying:
    history: list[Failure] = []
    last_error: SeawallError | None = None
    refusal: SeawallError | None = None  # the latest candidate that can't express the request
    translations: dict[bool, ApiRequest] = {}
    waited_for_circuit = False
    i = 0
    while True:
        if i == len(candidates):  # every deployment left was skipped (open circuit, out of rotation) or can't express it
            if last_error is not None:
                raise with_retry_after(last_error, candidates, retrier)
            if refusal is not None:
                raise refusal
            circuits = [retrier.breakers[d.label] for d in candidates if d.label not in retrier.health.out]
            if not circuits:
                raise out_of_rotation(req.model, candidates, retrier.health)
            wait = min(reopens_in(b, time.monotonic()) for b in circuits)
            if waited_for_circuit or wait > retrier.policy.circuit_wait_s or \
                    ctx.elapsed_ms() / 1000 + wait > retrier.policy.deadline_s:
                raise circuit_open(req.model, wait)
            waited_for_circuit = True  # the first circuit to reopen is near: wait for it, once
            # a hair past it: asyncio's timers may fire up to the clock's resolution early
            await asyncio.sleep(wait + 0.01)
            i = 0
            continue
        target = candidates[i]
        if target.label in retrier.health.out:  # a refused key or a spent account: probes bring it back
            i += 1
            continue
        try:
            sent, native = prepared(req, target, translate, translations)
        except SeawallError as refused:  # no counterpart at this vendor: the next one may have it
            refusal = refused
            ctx.attempts.append(AttemptRecord(target.label, category=refused.category,
                                              detail=f"not tried: {refused.message}"))
            i += 1
            continue
        now = time.monotonic()
        policy = retrier.breaker_policy(target)
        allowed, state = may_try(retrier.breakers.get(target.label, CLOSED), now, policy)
        if allowed and state.state == "half_open" and retrier.claim is not None:  # one probe among the gateways
            allowed = await retrier.claim(target.label, state)
        if allowed:
            retrier.set_breaker(target.label, state)
        else:
            retrier.breakers[target.label] = state  # another gateway's probe: wait for its outcome
        if not allowed:
            i += 1
            continue
        queued_at = time.perf_counter()
        try:  # wait for the deployment's gate within the request's deadline, or fall back
            ticket = await retrier.gates.enter(target, ctx, req, retrier.policy.deadline_s - ctx.elapsed_ms() / 1000)
        except GateRefused as refused:
            last_error = refused.error
            ctx.attempts.append(AttemptRecord(target.label, category=refused.error.category, detail=refused.detail,
                                              latency_ms=round((time.perf_counter() - queued_at) * 1000, 2)))
            i += 1
            continue
        budget = retrier.budget(target.label)
        if not any(f.deployment == i for f in history):  # a retry is not a new request
            budget.record_request(now)
        record = AttemptRecord(target.label)
        ctx.attempts.append(record)
        started = time.perf_counter()
        outcome = None
        try:
            outcome = await _one(ctx, sent, native, target, transport, record,
                                 target.label not in retrier.refuses_stream_options, ticket)
            retrier.set_breaker(target.label, after(retrier.breakers[target.label], None, time.monotonic(), policy))
            if isinstance(outcome, (Streaming, Relaying)):  # the slot is held until the stream ends
                outcome.release = functools.partial(ticket.release_stream, ctx)
            else:
                ticket.release(outcome.reply.usage, delivered=True)
            return outcome
        except _StreamOptionsRefused:
            retrier.refuses_stream_options.add(target.label)
            record.category = "request.invalid"
            record.detail = "the upstream refused stream_options; asking again without it"
        except _Failed as failed:
            ticket.release()  # before any backoff sleep: a retry enters the gate again
            last_error = failed.error
            record.category, record.detail = failed.error.category, failed.detail
            retrier.health.failed(target, failed.error.category, failed.detail, record.status, ctx.request_id)
            retrier.set_breaker(target.label, after(retrier.breakers[target.label], failed.error.category,
                                                    time.monotonic(), policy, failed.wait_s))
            history.append(Failure(i, failed.error.category, failed.wait_s))
            if not sent.replayable:  # an upload whose body went (in part): it can't be sent again
                raise with_retry_after(failed.error, candidates, retrier) from None
            allowed = budget.allows(now, retrier.instances())
            decision = next_attempt(history, len(candidates) - 1 - i, retrier.policy, allowed,
                                    ctx.elapsed_ms() / 1000, random.random())
            if isinstance(decision, GiveUp):
                raise with_retry_after(failed.error, candidates, retrier) from None
            if isinstance(decision, Fallback):
                i += 1
            elif retrier.breakers[target.label].state != "closed":
                i += 1  # this failure opened the circuit: no retry against it
            else:
                budget.record_retry(now)
                record.detail += f"; retrying in {decision.wait_s:.3g} s"
                await asyncio.sleep(decision.wait_s)
        finally:
            record.latency_ms = round((time.perf_counter() - started) * 1000, 2)
            if ctx.trace is not None:
                ctx.trace.attempt_ended(record, outcome)
            if not isinstance(outcome, (Streaming, Relaying)):  # idempotent: failures, cancellation (the client left)
                ticket.release()


def prepared(req: ApiRequest, target: ResolvedDeployment, translate: Translate | None,
             translations: dict[bool, ApiRequest]) -> tuple[ApiRequest, bool]:
    """The request as this deployment gets it, and whether that is the client's own (pass-through)."""
    if passes_through(target, req.operation, req.shape):
        return req, True
    if translate is None:
        return req, False
    lossy = target.model_route is not None and target.model_route.translation == "lossy"
    found = translations.get(lossy)
    if found is None:
        found = translations[lossy] = translate(req, lossy)
    return found, False


def balance_of(target: ResolvedDeployment) -> str:
    return target.model_route.balance if target.model_route is not None else "ordered"


def with_retry_after(err: SeawallError, candidates: list[ResolvedDeployment], retrier: Retrier) -> SeawallError:
    """A retryable 5xx the upstream gave no wait for still tells the client when to come back:
    when the first open circuit reopens, else in a second, so SDKs back off instead of hammering."""
    if err.status < 500 or "retry-after" in err.headers or ADVICE.get(err.category, "no") == "no":
        return err
    now = time.monotonic()
    waits = [reopens_in(b, now) for d in candidates if (b := retrier.breakers.get(d.label)) and b.state != "closed"]
    wait = max(1.0, min(waits)) if waits else 1.0
    err.headers["retry-after"] = str(math.ceil(wait))
    err.headers["retry-after-ms"] = str(int(wait * 1000))
    return err


def out_of_rotation(model: str, candidates: list[ResolvedDeployment], health: DeploymentHealth) -> SeawallError:
    """Every deployment of the model is out of rotation: say why (the first's refusal) and when
    the next probe may bring one back."""
    states = [(d, health.get(d.label)) for d in candidates]
    first, h = states[0]
    probes = [s.next_probe for _, s in states if s.by == "gateway"]
    wait = max(1, math.ceil(min(probes) - time.time())) if probes else 60
    why = h.detail if h.by == "operator" else f"{h.category}: {h.detail}"
    return SeawallError("deployments_out", {"model": model, "deployment": first.label, "by": h.by, "why": why,
                                            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(h.since))},
                        headers={"retry-after": str(wait)},
                        category_override=h.category if h.category else "capacity.circuit_open")


def circuit_open(model: str, wait_s: float) -> SeawallError:
    seconds = max(1, math.ceil(wait_s))
    return SeawallError("circuit_open", {"model": model, "seconds": seconds},
                        headers={"retry-after": str(seconds), "retry-after-ms": str(int(wait_s * 1000))})


class _Failed(Exception):
    def __init__(self, error: SeawallError, detail: str, wait_s: float | None = None):
        self.error, self.detail, self.wait_s = error, detail, wait_s


class _StreamOptionsRefused(Exception):
    """The upstream rejected the stream_options the gateway added (not the client's request)."""


async def _one(ctx: RequestContext, req: ApiRequest, native: bool, target: ResolvedDeployment,
               transport: Transport, record: AttemptRecord, ask_usage: bool,
               ticket: Ticket) -> Completed | Streaming | Relaying:
    adapter = adapter_for(target.spec.adapter_name)
    upstream = record.request = (adapter.build_native(req, target, ask_usage) if native
                                 else adapter.build_request(req, target, ask_usage))
    if ctx.trace is not None:  # the attempt's span, and its traceparent in the upstream request
        ctx.trace.attempt_began(ctx, target, upstream)
    try:
        response = await transport.open(upstream, target.spec.timeouts, target.label)
    except UpstreamFailure as f:
        record.proxy = f.proxy
        raise _Failed(transport_error(target, f), f.detail) from None
    record.status, record.proxy, record.reply_headers = response.status, response.proxy, response.headers
    ticket.learn(response.headers)  # x-ratelimit-remaining-* 0: hold the deployment until the reset
    record.upstream_request_id = next((response.headers[h] for h in _REQUEST_ID_HEADERS
                                       if h in response.headers), None)
    if response.status >= 300:
        body = record.reply_body = await _read(response, target)
        if (ask_usage and req.stream and response.status == 400 and b"stream_options" in body
                and "stream_options" not in req.body):
            raise _StreamOptionsRefused()
        cls = classify_reply(response.status, response.headers, body, now=time.time())
        err = upstream_error(target, response.status, adapter.read_error(response.status, body), cls, body)
        raise _Failed(err, f"HTTP {response.status}: {err.message[:300]}", cls.wait_s)  # the log keeps its words
    if req.operation in RELAYED:
        return Relaying(target, response, functools.partial(adapter.read_relayed, req))
    if not req.stream:
        body = await _read(response, target)
        try:
            return Completed(adapter.read_native_reply(req, body) if native else adapter.read_reply(req, body), target)
        except MalformedReply as e:
            raise _Failed(malformed(target, str(e)), str(e)) from None
    if "event-stream" not in response.content_type:
        body = await _read(response, target)
        detail = f"a stream was asked for, the reply is {response.content_type or 'untyped'}: {body[:100]!r}"
        raise _Failed(malformed(target, detail), detail)
    streaming = await _first_events(ctx, target, response,
                                    adapter.native_stream_decoder(req) if native else adapter.stream_decoder())
    streaming.shape = req.shape if native else "openai"
    return streaming


async def _read(response: UpstreamResponse, target: ResolvedDeployment) -> bytes:
    try:
        return await response.read()
    except UpstreamFailure as f:
        raise _Failed(transport_error(target, f), f.detail) from None


async def _first_events(ctx: RequestContext, target: ResolvedDeployment, response: UpstreamResponse,
                        decoder: StreamDecoder) -> Streaming:
    """Read until the first event, so a deployment that fails before it can still be replaced.
    If none has come within keepalive_s (a model thinking), commit with no event yet: egress then
    keeps the client's connection alive until it comes. One timer, not a task per stream: the
    timer cancels the read, which the transport allows without losing data; no timer at all when
    the first event came in with the headers."""
    try:
        data = response.buffered()
        events = decoder.feed(data) if data else []
        if not events:
            found = await _wait_for_first(ctx, target, response, decoder)
            if found is None:  # thinking: commit without an event
                return Streaming(target, response, decoder, [])
            events, data = found
    except UpstreamFailure as f:
        response.close()
        raise _Failed(transport_error(target, f), f.detail) from None
    except MalformedReply as e:
        response.close()
        raise _Failed(malformed(target, str(e)), str(e)) from None
    except BaseException:  # cancelled (the client left): the half-read reply's connection can't be reused
        response.close()
        raise
    if not events:
        response.close()
        detail = "the stream closed before its first event"
        raise _Failed(SeawallError("stream_interrupted", {"deployment": target.label, "detail": detail}), detail)
    first_error = events[0].error
    if first_error is not None:  # failed before any content: another deployment may do
        response.close()
        message = str(first_error.get("message") or "an error event")
        raise _Failed(SeawallError("stream_interrupted", {"deployment": target.label, "detail": message}), message)
    response.start_idle_timeout()  # first_byte_s is met: read_s bounds the silences from here
    return Streaming(target, response, decoder, events, raw=data)


async def _wait_for_first(ctx: RequestContext, target: ResolvedDeployment, response: UpstreamResponse,
                          decoder: StreamDecoder) -> tuple[list[StreamEvent], bytes] | None:
    """The first events and the chunk they came in; [] if the stream ended before any; None if
    keepalive_s passed first."""
    task = asyncio.current_task()
    slow: list[bool] = []

    def thinking() -> None:
        slow.append(True)
        task.cancel()

    timer = asyncio.get_running_loop().call_later(target.spec.timeouts.keepalive_s, thinking)
    try:
        while data := await response.next_chunk():
            events = decoder.feed(data)
            if events:
                return events, data
        return [], b""
    except asyncio.CancelledError:
        if not slow or ctx.client_gone:
            raise
        task.uncancel()
        return None
    finally:
        timer.cancel()


# -- upstream outcome -> catalog error --------------------------------------------------------------

def transport_error(target: ResolvedDeployment, failure: UpstreamFailure) -> SeawallError:
    cls = classify_transport(failure.kind, failure.detail)
    values = {"deployment": target.label, "detail": failure.detail}
    if failure.kind == "timeout":
        return timeout_error(target, failure)
    if failure.kind == "proxy":
        return SeawallError("upstream_proxy_failed", {**values, "proxy": failure.proxy, "setting": failure.setting})
    if failure.kind == "pool":
        return SeawallError("upstream_pool_full", values, headers={"retry-after": "1"})
    if failure.kind == "malformed":
        return malformed(target, failure.detail)
    return SeawallError("upstream_unreachable", values, category_override=cls.category)


def timeout_error(target: ResolvedDeployment, failure: UpstreamFailure) -> SeawallError:
    """One of the gateway's own limits fired before the reply was committed: named, with its value
    and where to change it (upstream.timeout, so the attempt loop falls back or retries)."""
    limit = failure.limit or "first_byte_s"
    seconds = failure.seconds if failure.seconds is not None else target.spec.timeouts.first_byte_limit_s
    return SeawallError("gateway_timeout", fired_values(limit, seconds, target.route, target.label))


def malformed(target: ResolvedDeployment, detail: str) -> SeawallError:
    return SeawallError("upstream_malformed", {"deployment": target.label, "detail": detail})


def upstream_error(target: ResolvedDeployment, status: int, body, cls: Classification, raw: bytes) -> SeawallError:
    """An upstream's error reply, shown to the client with its own status, message and code, plus
    what to check first. An upstream 401 or 403 is about the gateway's provider key or account,
    never the client's Seawall key, so it becomes a 502 that says whose credentials to check
    (passed through, the client's SDK would raise AuthenticationError about the wrong key)."""
    if cls.category.startswith("auth."):
        return SeawallError("upstream_auth_failed", {"deployment": target.label, "message": body.message},
                            category_override=cls.category, provider_code=body.code)
    if status in (401, 403):
        check = CHECK_FIRST.get(cls.category, "its permissions, region and balance").rstrip(".")
        return SeawallError("upstream_refused", {"deployment": target.label, "message": body.message,
                                                 "check": check[0].lower() + check[1:]},
                            category_override=cls.category, provider_code=body.code)
    fields = read_error_fields(raw)
    message = body.message
    if fields.is_html or fields.is_empty:
        what = f"an HTML page ({fields.message})" if fields.is_html else "an empty body"
        message = (f"The upstream {target.label} answered HTTP {status} with {what}: "
                   f"a proxy or CDN answered, not the provider.")
    headers: dict[str, str] = {}
    if cls.wait_s is not None:
        headers["retry-after"] = str(max(1, math.ceil(cls.wait_s)))
        headers["retry-after-ms"] = str(int(cls.wait_s * 1000))
    if ADVICE[cls.category] == "no" and (status == 429 or status >= 500):
        headers["x-should-retry"] = "false"  # SDKs retry 429/5xx by status; this one won't succeed
    return SeawallError("upstream_error", {"message": message, "hint": CHECK_FIRST.get(cls.category, "")},
                        param=body.param, headers=headers, status_override=status if 400 <= status <= 599 else 502,
                        type_override=body.type or ("upstream_error" if status >= 500 else "invalid_request_error"),
                        category_override=cls.category, provider_code=body.code)
