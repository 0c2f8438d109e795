"""Admit: may this request start now? Rate limits (requests and tokens per minute) and
concurrency, per key and per group, decided by decide/gcra.py in a limiter backend.

`Admission` reserves at entry (`__aenter__` yields the x-ratelimit-* headers to send) and at exit,
whatever the outcome (reply, error, stream end, client gone, cancellation), gives the
concurrency slots back and settles the token estimate with the real usage. With a Redis limiter
and shared quotas, the quota stage's hold is made in the admission's script call and settled in
its finish's (pipeline/quota.py: `QuotaHold.admit`), so a quota'd request costs Redis two round
trips, as a rate-limited one does.

Token estimate at admission: the request body's bytes / 4 (OpenAI's rule of thumb of ~4
characters per token; the JSON around the messages makes it an overestimate, which settlement
refunds) plus max_completion_tokens / max_tokens, or DEFAULT_COMPLETION_ESTIMATE when the
client sets neither.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from seawall.decide.gcra import NS
from seawall.dialects.shapes import output_limit
from seawall.errors import SeawallError
from seawall.limits.base import (
    LimiterUnavailable,
    Refused,
    RemoteLimiter,
    ScopeLimits,
    Window,
)
from seawall.limits.memory import MemoryLimiter
from seawall.pipeline.context import RequestContext

if TYPE_CHECKING:
    from seawall.pipeline.quota import QuotaHold

NOTHING = (0, 0.0)  # a quota settlement that charges nothing: the hold given back

_NO_HEADERS: dict[str, str] = {}
_NO_SCOPES: tuple[ScopeLimits, ...] = ()
# A typical chat reply's length, counted until the real usage settles it: a larger default
# would refuse small-tpm keys' requests that never set max_tokens.
DEFAULT_COMPLETION_ESTIMATE = 256
_MS = 1_000_000


class Admission:
    """One per request. A plain class: a generator-based context manager costs more per call."""

    __slots__ = ("body_bytes", "ctx", "estimate", "headers", "lease", "limiter", "quota", "scopes")

    def __init__(self, ctx: RequestContext, limiter: MemoryLimiter | RemoteLimiter, body_bytes: int,
                 quota: QuotaHold | None = None):
        """`quota`: the request's quota stage, whose hold a remote limiter folds into admission."""
        self.ctx, self.limiter, self.body_bytes, self.quota = ctx, limiter, body_bytes, quota
        self.scopes = _NO_SCOPES

    async def __aenter__(self) -> dict[str, str]:
        """Raise a SeawallError (rate_limit.*) to refuse."""
        scopes = self.ctx.principal.limits if self.ctx.principal is not None else _NO_SCOPES
        if not scopes:
            return _NO_HEADERS  # the fast path: a key without limits pays for this test only
        self.estimate = estimate_tokens(self.ctx, self.body_bytes)
        limiter = self.limiter
        if isinstance(limiter, RemoteLimiter):  # awaited only when the state is elsewhere (Redis)
            try:
                outcome = await (limiter.admit(scopes, self.estimate) if self.quota is None else
                                 self.quota.admit(limiter, scopes, self.estimate))
            except LimiterUnavailable as e:
                raise unavailable(e) from None
        else:
            outcome = limiter.admit(scopes, self.estimate, limiter.clock())
        if isinstance(outcome, Refused):
            self.ctx.limited_by = outcome.scope.scope
            raise refusal(outcome, self.estimate)
        self.scopes, self.lease = scopes, outcome.lease
        self.headers = limit_headers(outcome.requests, outcome.tokens)
        return self.headers

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if not self.scopes:
            return
        limiter = self.limiter
        if isinstance(limiter, RemoteLimiter):
            delta = used_tokens(self.ctx, self.body_bytes, self.estimate) - self.estimate
            quota = self.quota
            if quota is None or not quota.folded or quota.hold is None:
                await limiter.finish(self.scopes, self.lease, delta)
            else:  # shielded: a client leaving mid-settlement must not lose what its reply cost
                await asyncio.shield(quota.ledger.shared.finish_and_settle(self.scopes, self.lease, delta, quota.hold,
                                                                           *(quota.cost() or NOTHING)))
        else:
            limiter.release(self.scopes)
            limiter.settle(self.scopes, used_tokens(self.ctx, self.body_bytes, self.estimate) - self.estimate, limiter.clock())
        if isinstance(exc, SeawallError):  # an error reply of a limited key carries the headers too
            for name, value in self.headers.items():
                exc.headers.setdefault(name, value)


def estimate_tokens(ctx: RequestContext, body_bytes: int) -> int:
    return body_bytes // 4 + completion_estimate(ctx)


# Legacy completions' max_tokens defaults to 16 (OpenAI's API reference).
_DEFAULT_OUTPUT = {"chat": DEFAULT_COMPLETION_ESTIMATE, "responses": DEFAULT_COMPLETION_ESTIMATE, "completions": 16}


def completion_estimate(ctx: RequestContext) -> int:
    """The most the reply may cost: its output limit (max_completion_tokens, max_tokens,
    max_output_tokens), or the default; nothing for operations that generate no tokens."""
    req = ctx.request
    if req is None or req.operation not in _DEFAULT_OUTPUT:
        return 0
    return output_limit(req)[1] or _DEFAULT_OUTPUT[req.operation]


def used_tokens(ctx: RequestContext, body_bytes: int, estimate: int) -> int:
    """What the request really cost, by the one rule quotas use too (delivered_tokens)."""
    delivered = delivered_tokens(ctx, body_bytes // 4, estimate - body_bytes // 4)
    return 0 if delivered is None else delivered[0] + delivered[1]


def delivered_tokens(ctx: RequestContext, prompt: int, completion: int) -> tuple[int, int] | None:
    """(prompt, completion) tokens a finished request cost, given its estimates:

        reply or stream with usage   -> its usage
        stream cut short, no usage   -> the prompt estimate + one token per event delivered
                                        (OpenAI-style streams carry about one token per event)
        reply without usage          -> the estimate (the provider billed something)
        no reply at all              -> None: refused, failed or cancelled before an answer
    """
    if ctx.usage is not None:
        return ctx.usage.prompt_tokens, ctx.usage.completion_tokens
    if ctx.streamed:
        return prompt, ctx.chunks
    if ctx.status == 200:
        return prompt, completion
    return None


def _ceil(ns: int, unit: int) -> int:
    return -(-ns // unit)


def go_duration(ns: int) -> str:
    """Go's Duration.String() at millisecond resolution, rounded up, as OpenAI writes resets:
    120ms, 1s, 1.5s, 6m0s, 1h0m0s. Integer arithmetic: no float can round a wait down."""
    ms = _ceil(ns, _MS)
    if ms < 1000:
        return f"{ms}ms" if ms > 0 else "0s"
    s, ms = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    secs = f"{s}.{ms:03d}".rstrip("0") if ms else str(s)
    if h:
        return f"{h}h{m}m{secs}s"
    return f"{m}m{secs}s" if m else f"{secs}s"


def limit_headers(requests: Window | None, tokens: Window | None) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers (provider-errors.md §1.4); reset is when the bucket is full again."""
    out = {}
    if requests is not None:
        out["x-ratelimit-limit-requests"] = str(requests.limit)
        out["x-ratelimit-remaining-requests"] = str(requests.remaining)
        out["x-ratelimit-reset-requests"] = go_duration(requests.reset_ns)
    if tokens is not None:
        out["x-ratelimit-limit-tokens"] = str(tokens.limit)
        out["x-ratelimit-remaining-tokens"] = str(tokens.remaining)
        out["x-ratelimit-reset-tokens"] = go_duration(tokens.reset_ns)
    return out


def unavailable(e: LimiterUnavailable) -> SeawallError:
    """Redis down and limits.on_redis_error: closed: a 503 that says when to look again."""
    return SeawallError("limits_unavailable", {"seconds": e.retry_after_s},
                        headers={"retry-after": str(e.retry_after_s), "retry-after-ms": str(e.retry_after_s * 1000)})


_PER_SECOND = {"unit": "rps", "per": "second", "per_name": "requests per second (RPS)"}
_PER_MINUTE = {"unit": "rpm", "per": "minute", "per_name": "requests per minute (RPM)"}


def refusal(r: Refused, estimate: int) -> SeawallError:
    """The 429: which limit, its value and scope; when to come back (Retry-After in whole seconds,
    rounded up, and retry-after-ms, which OpenAI's SDKs prefer)."""
    values = {"scope": r.scope.scope, "id": r.scope.id, "limit": r.limit, "requested": estimate,
              # which requests limit refused: per second (rps) or per minute (rpm)
              **(_PER_SECOND if r.period_ns == NS else _PER_MINUTE)}
    headers = limit_headers(r.requests, r.tokens)
    if r.kind == "too_large":
        headers["x-should-retry"] = "false"  # the OpenAI SDKs read this before the status
    else:
        values["wait"] = go_duration(r.retry_after_ns)
        headers["retry-after"] = str(_ceil(r.retry_after_ns, NS))
        headers["retry-after-ms"] = str(_ceil(r.retry_after_ns, _MS))
    code = "rate_limit_request_too_large" if r.kind == "too_large" else f"rate_limit_{r.kind}"
    return SeawallError(code, values, headers=headers)
