"""Quota stage: hold the request's estimated cost against its key's balance before any upstream
call, then settle what it really cost, whatever the outcome (admit.delivered_tokens: the same
rule the rate limits settle by); nothing reached the client: the hold is released.

A plain class. In one process nothing here awaits, which is what makes the hold atomic; with a
shared Redis (limits/quota_redis.py) the hold and the settlement are each one atomic script call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from seawall.decide.quota import Shortfall
from seawall.errors import SeawallError
from seawall.limits.base import Admitted, LimiterUnavailable, Refused, RemoteLimiter, ScopeLimits
from seawall.limits.quota import Hold, QuotaLedger
from seawall.pipeline.admit import NOTHING, completion_estimate, delivered_tokens, limit_headers, unavailable
from seawall.pipeline.context import RequestContext
from seawall.providers.base import ApiRequest, Usage
from seawall.providers.openai import IMAGE_OPERATIONS, image_kind


@dataclass(frozen=True, slots=True)
class Price:
    """USD per token. Prompt-cache reads and writes are priced apart, as the providers bill them:
    Anthropic writes at 1.25x the input price (5-minute TTL) and reads at 0.1x; OpenAI and Gemini
    read cached input at a discount and bill no writes (catalog/models.yaml has each model's).
    Images, transcribed audio and speech are billed per unit (USD per image of a kind, per second,
    per character)."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    image: Mapping[str, float] | None = None  # "[quality ]size" or "default" -> USD per image
    audio_second: float = 0.0
    character: float = 0.0


# The price of a configured model name; None when the gateway knows no price (the catalog's, or
# the config's catalog override: see pipeline/validate.py).
PriceOf = Callable[[str], "Price | None"]


def no_prices(model: str) -> None:
    return None


class QuotaHold:
    """The estimate is admission's (admit.py: body bytes / 4 + max tokens), worked out only for a
    key that has a quota. With Redis limits and shared quotas the hold is folded into the
    admission's script call and the settlement into its finish (`admit`, Admission): one round
    trip each instead of two; this stage then only marks where the request is priced."""

    __slots__ = ("body_bytes", "ctx", "folded", "hold", "ledger", "price_of", "prompt")

    def __init__(self, ctx: RequestContext, ledger: QuotaLedger, body_bytes: int, price_of: PriceOf = no_prices):
        self.ctx, self.ledger, self.price_of, self.body_bytes = ctx, ledger, price_of, body_bytes
        self.hold: Hold | None = None
        self.folded = False

    async def __aenter__(self) -> QuotaHold:
        """Raise insufficient_quota (429, no Retry-After) when the estimate doesn't fit."""
        if self.folded:
            return self  # held with the admission
        wanted = self.wanted()
        if wanted is None:
            return self  # the fast path: a key without a quota pays for one dict lookup
        shared = self.ledger.shared
        if shared is None:
            outcome = self.ledger.hold(*wanted)
        else:
            try:
                outcome = await shared.hold(*wanted)
            except LimiterUnavailable as e:
                raise unavailable(e) from None
        self.take(outcome)
        return self

    async def admit(self, limiter: RemoteLimiter, scopes: tuple[ScopeLimits, ...], estimate: int) -> Admitted | Refused:
        """The limiter's admission with this hold folded in, when the quota is shared (else the
        admission alone, and the hold waits for this stage). Raises insufficient_quota, carrying
        the rate-limit headers, when the limits admit and the quota doesn't (nothing spent)."""
        shared = self.ledger.shared
        wanted = self.wanted() if shared is not None and shared.limiter is limiter else None
        if wanted is None:
            return await limiter.admit(scopes, estimate)
        outcome, held = await shared.admit_and_hold(scopes, estimate, *wanted)
        if isinstance(outcome, Admitted):
            self.folded = True
            try:
                self.take(held)
            except SeawallError as e:
                for name, value in limit_headers(outcome.requests, outcome.tokens).items():
                    e.headers.setdefault(name, value)
                raise
        return outcome

    def wanted(self) -> tuple[str, int, float] | None:
        """(key id, tokens, USD) to hold; None for a key without a quota. Raises
        quota_price_unknown for a USD quota on a model the gateway has no price for."""
        p = self.ctx.principal
        if p is None or p.key_id not in self.ledger.balances:
            return None
        balance = self.ledger.balances[p.key_id]
        self.prompt, completion = self.body_bytes // 4, completion_estimate(self.ctx)
        usd = 0.0
        if balance.limit_usd is not None:  # the model asked for is known from the parse: no pre-flight needed
            price = self.price_of(self._model())
            if price is None:
                raise SeawallError("quota_price_unknown", {"model": self._model()})
            usd = priced(price, self.prompt, completion, **unit_estimate(self.ctx.request))
        return p.key_id, self.prompt + completion, usd

    def take(self, outcome: Hold | Shortfall | None) -> None:
        if isinstance(outcome, Shortfall):
            p = self.ctx.principal
            raise insufficient_quota(outcome, p.name, self.ledger.balances[p.key_id].source(outcome.unit))
        self.hold = outcome

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self.hold is None or self.folded:
            return  # a folded hold is settled with the admission's finish
        shared = self.ledger.shared
        cost = self.cost()
        if shared is not None:  # shielded: a client leaving mid-settlement must not lose what its reply cost
            await asyncio.shield(shared.settle(self.hold, *(cost or NOTHING)))
        elif cost is None:
            self.ledger.release(self.hold)
        else:
            self.ledger.settle(self.hold, *cost)

    def cost(self) -> tuple[int, float] | None:
        """What the request cost in tokens and USD (admit.delivered_tokens' rule); None when
        nothing reached the client, and the hold is only given back."""
        # the completion estimate as pre-flight left it (a held max_tokens it lowered charges the lower)
        tokens = delivered_tokens(self.ctx, self.prompt, completion_estimate(self.ctx))
        if tokens is None:
            return None
        usd = 0.0
        price = self.price_of(self._model()) if self.hold.balance.limit_usd is not None else None
        if price is not None:  # priced as the model asked for, as the hold was
            usage = self.ctx.usage
            usd = usage_cost(price, usage) if usage is not None else \
                priced(price, *tokens, **unit_estimate(self.ctx.request))
        return tokens[0] + tokens[1], usd

    def _model(self) -> str:
        return self.ctx.request.model if self.ctx.request is not None else ""




# An upload's seconds of audio, before its transcription says: 16 kB a second, a 128 kbit/s MP3's
# rate (a WAV's is higher, so the estimate errs high for it, and the reply's usage settles it).
AUDIO_BYTES_PER_SECOND = 16_000


def unit_estimate(req: ApiRequest | None) -> dict:
    """What a request will be billed per unit, before its reply says: the images it asks for,
    the characters to speak, the seconds of audio its upload may hold."""
    if req is None:
        return {}
    if req.operation in IMAGE_OPERATIONS:
        n = req.body.get("n")
        count = int(n) if isinstance(n, int) or isinstance(n, str) and n.isdigit() else 1
        return {"images": count, "image_kind": image_kind(req.body)}
    if req.operation == "speech" and isinstance(req.body.get("input"), str):
        return {"characters": len(req.body["input"])}
    if req.operation in ("transcriptions", "translations") and req.upload is not None:
        declared = req.upload.content_length()
        return {"seconds": (declared or 0) / AUDIO_BYTES_PER_SECOND}
    return {}


def priced(price: Price, prompt: int, completion: int, cache_read: int = 0, cache_write: int = 0,
           images: int = 0, image_kind: str = "", seconds: float = 0.0, characters: int = 0) -> float:
    """USD at a price: the quota's and the request log's one rule. `prompt` counts every input
    token; `cache_read` and `cache_write` say how many of them the cache served or took, at their
    own prices; images, seconds of audio and characters are priced per unit."""
    fresh = max(prompt - cache_read - cache_write, 0)
    usd = (fresh * price.input + cache_read * price.cache_read + cache_write * price.cache_write
           + completion * price.output)
    if images and price.image:
        usd += images * image_price(price.image, image_kind)
    return usd + seconds * price.audio_second + characters * price.character


def image_price(prices: Mapping[str, float], kind: str) -> float:
    """USD for one image of `kind` ("hd 1024x1792"): its own price, its size's, the default, or
    else the dearest listed (an unknown kind is never billed below what it may cost)."""
    for key in (kind, kind.rpartition(" ")[2], "default"):
        if key in prices:
            return prices[key]
    return max(prices.values())


def usage_cost(price: Price, usage: Usage) -> float:
    return priced(price, usage.prompt_tokens, usage.completion_tokens, usage.cache_read_tokens,
                  usage.cache_write_tokens, usage.images, usage.image_kind, usage.audio_seconds, usage.characters)


def insufficient_quota(s: Shortfall, key_name: str, source: str) -> SeawallError:
    """429 that no client should retry: no Retry-After, and x-should-retry: false, which the
    OpenAI SDKs read before the status."""
    fmt = (lambda v: f"{int(v):,}") if s.unit == "tokens" else (lambda v: f"${v:,.4f}")
    unit = "tokens" if s.unit == "tokens" else "usd"
    held = f" (+{fmt(s.held)} held by requests in flight)" if s.held else ""
    smaller = ("nothing is left." if s.spent else
               "or send a smaller request (a lower max_tokens, a shorter prompt).")
    values = {"unit": unit, "what": "token" if unit == "tokens" else "USD", "used": fmt(s.used), "limit": fmt(s.limit), "held": held, "wanted": fmt(s.wanted),
              "source": source, "key": key_name, "smaller": smaller}
    return SeawallError("insufficient_quota", values, headers={"x-should-retry": "false"})
