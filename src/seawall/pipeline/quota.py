"""Quota stage: hold the request's estimated cost against its key's balance before any upstream
call, then settle what it really cost, whatever the outcome (admit.delivered_tokens: the same
rule the rate limits settle by); nothing reached the client: the hold is released.

A plain class with __enter__/__exit__: nothing here awaits, which is what makes the hold atomic.
"""

from __future__ import annotations

from collections.abc import Callable

from seawall.decide.quota import Shortfall
from seawall.errors import SeawallError
from seawall.limits.quota import Hold, QuotaLedger
from seawall.pipeline.admit import delivered_tokens
from seawall.pipeline.context import RequestContext

# USD per token (input, output) for a configured model name; None when the gateway knows no price
# (the catalog's, or the config's catalog override: see pipeline/validate.py).
PriceOf = Callable[[str], "tuple[float, float] | None"]


def no_prices(model: str) -> None:
    return None


class QuotaHold:
    __slots__ = ("completion", "ctx", "hold", "ledger", "price_of", "prompt")

    def __init__(self, ctx: RequestContext, ledger: QuotaLedger, prompt_tokens: int, completion_tokens: int,
                 price_of: PriceOf = no_prices):
        self.ctx, self.ledger, self.price_of = ctx, ledger, price_of
        self.prompt, self.completion = prompt_tokens, completion_tokens
        self.hold: Hold | None = None

    def __enter__(self) -> QuotaHold:
        """Raise insufficient_quota (429, no Retry-After) when the estimate doesn't fit."""
        p = self.ctx.principal
        if p is None or p.key_id not in self.ledger.balances:
            return self  # the fast path: a key without a quota pays for one dict lookup
        balance = self.ledger.balances[p.key_id]
        usd = 0.0
        model = self.ctx.request.model if self.ctx.request is not None else ""
        if balance.limit_usd is not None:
            price = self.price_of(model)
            if price is None:
                raise SeawallError("quota_price_unknown", {"model": model})
            usd = self.prompt * price[0] + self.completion * price[1]
        outcome = self.ledger.hold(p.key_id, self.prompt + self.completion, usd)
        if isinstance(outcome, Shortfall):
            raise insufficient_quota(outcome, p.name, balance.source(outcome.unit))
        self.hold = outcome
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self.hold is None:
            return
        tokens = self.delivered()
        if tokens is None:
            self.ledger.release(self.hold)
            return
        prompt, completion = tokens
        usd = 0.0
        if self.hold.balance.limit_usd is not None:  # priced as the model asked for, as the hold was
            price = self.price_of(self.ctx.request.model if self.ctx.request else "") or (0.0, 0.0)
            usd = prompt * price[0] + completion * price[1]
        self.ledger.settle(self.hold, prompt + completion, usd)

    def delivered(self) -> tuple[int, int] | None:
        return delivered_tokens(self.ctx, self.prompt, self.completion)


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
