"""Rate-limit settings: where limits are counted (this process or a shared Redis), what to do
when Redis fails, and limits kept in the config file."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    field_validator,
)

from seawall.config.base import _Strict


class RateLimits(_Strict):
    """One scope's rate limits in the config file; a field left out (or null) sets no limit here."""

    rps: int | None = None  # requests per second
    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # tokens per minute
    max_concurrency: int | None = None  # requests in flight at once

    @field_validator("rps", "rpm", "tpm", "max_concurrency", mode="before")
    @classmethod
    def _whole_and_positive(cls, v: object) -> object:
        # Before pydantic's own coercion: "10/s", 2.5 or true would otherwise read as a number or
        # fail with a message that doesn't say which form is wanted.
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, int):  # pydantic reports only ValueError by field
            raise ValueError(f"must be a whole number such as 60 (the unit is in the field's name: rps, rpm, "  # noqa: TRY004
                             f"tpm), got {v!r}")
        if v <= 0:
            raise ValueError(f"must be > 0, got {v} (leave the field out for no limit; to stop a key, disable it)")
        return v


class LimitDefaults(_Strict):
    """Limits for every key / every tenant that doesn't set that limit itself (field by field)."""

    key: RateLimits = Field(default_factory=RateLimits)
    tenant: RateLimits = Field(default_factory=RateLimits)


class LimitSettings(_Strict):
    """Where rate limits are counted: in this process (no redis_url) or in a Redis shared by
    every gateway process pointing at it."""

    redis_url: str | None = None  # redis://, rediss:// (TLS) or unix://; --redis and SEAWALL_REDIS_URL override
    # Redis down or slower than redis_timeout_ms: "open" admits without counting (and without
    # x-ratelimit-* headers), "closed" refuses with 503 limits_unavailable and Retry-After. Per
    # scope too: {default: open, tenant: closed} refuses a request only if a limit of a closed
    # scope applies to it (a tenant's paid budget kept strict, keys' convenience limits not).
    on_redis_error: Literal["open", "closed"] | dict[Literal["default", "key", "group", "tenant"],
                                                     Literal["open", "closed"]] = "open"

    def fails_closed(self, scope: str) -> bool:
        policy = self.on_redis_error
        if isinstance(policy, str):
            return policy == "closed"
        return policy.get(scope, policy.get("default", "open")) == "closed"  # type: ignore[arg-type]
    # 50 ms: a loopback or same-zone Redis answers in well under 1 ms; past this it is down or
    # overloaded, and no request should wait longer on it.
    redis_timeout_ms: float = Field(50.0, gt=0)
    # How many gateways share the limits, for each one's share while Redis is down (limits/share.py);
    # None: learned from the gateways' presence in Redis while it answered.
    instances: int | None = Field(None, ge=1)
    # How long a crashed gateway's concurrency slots and quota holds stay taken in Redis (a live
    # gateway renews its own every third of it).
    lease_s: float = Field(30.0, ge=1)
    # Limits kept in the config file (pipeline/auth.py applies them when the key cache loads):
    # tenants', groups' and keys' (by key name) combine with those stored through the admin API
    # field by field, the lower winning, so neither source can loosen the other.
    defaults: LimitDefaults = Field(default_factory=LimitDefaults)
    tenants: dict[str, RateLimits] = Field(default_factory=dict)
    groups: dict[str, RateLimits] = Field(default_factory=dict)
    keys: dict[str, RateLimits] = Field(default_factory=dict)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("redis", "rediss", "unix") or (parts.scheme != "unix" and not parts.hostname):
            raise ValueError(f"must be a Redis URL such as redis://127.0.0.1:6379/0 (or rediss://, unix://), "
                             f"got {redact_url(v)!r}")
        return v


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{host}").geturl()
