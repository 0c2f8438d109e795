"""Auth: the Authorization header -> a Principal, from an in-memory cache (no store round trip).

The cache maps a keyed hash of the key (keyring.hash_key) -> Principal. A dict lookup on a keyed hash needs no
constant-time comparison: the attacker controls the key, not the hash, and can't learn hash
bytes from lookup timing without the secret. The cache is reloaded from the store every
`refresh_interval_s`, which bounds how long a change made by another instance takes to apply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from seawall.config import LimitSettings, RateLimits
from seawall.decide.access import parse_cidr, permitted_models
from seawall.decide.key_policy import KeyPolicy, compile_policy, stored_policy
from seawall.decide.keys import diagnose_key, key_state, mask_key
from seawall.dialects import OPENAI
from seawall.dialects.base import ClientDialect
from seawall.errors import SeawallError, error
from seawall.keyring import DEMO_KEY_NAME, hash_key
from seawall.limits.base import (
    NO_LIMITS,
    Limits,
    ScopeLimits,
    scope_limits,
    stricter,
    with_defaults,
)
from seawall.limits.quota import QuotaLedger
from seawall.observe.incident import Incident
from seawall.pipeline.context import Principal
from seawall.store.base import GroupRecord, KeyRecord, Store, TenantRecord

log = logging.getLogger("seawall.auth")


class Authenticator:
    def __init__(self, store: Store, secret: bytes, refresh_interval_s: float, model_names: Iterable[str] = (),
                 quotas: QuotaLedger | None = None, limits: LimitSettings | None = None):
        self._store, self._secret, self._interval = store, secret, refresh_interval_s
        self.configured = configured_limits(limits)  # limits.* of the config file
        self.quotas = quotas  # told which keys have a quota at every load
        self._catalog = frozenset(model_names)
        # Loads run one at a time, so a load that began before an admin write can't finish after
        # the write's own reload and put the old keys back (a revocation would be undone for up
        # to refresh_interval_s).
        self._loading = asyncio.Lock()
        self._by_hash: dict[str, Principal] = {}
        self._inactive: dict[str, KeyRecord] = {}  # known keys that may not call: to say why
        self._task: asyncio.Task | None = None

    async def load(self) -> None:
        async with self._loading:
            keys, groups = await self._store.load_keys(), await self._store.load_groups()
            tenants = await self._store.load_tenants()
            self._by_hash, self._inactive = split_keys(keys, time.time(), groups, self._catalog, self.configured,
                                                       tenants)
            if self.quotas is not None:
                self.quotas.configure(keys, groups)

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="key-cache-refresh")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def _refresh_forever(self) -> None:
        incident = Incident(log, "key cache")
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.load()
            except Exception:  # noqa: BLE001 - any store failure: keep serving from the cache, say it once
                incident.failed("reloading keys failed; serving from the cached set until the store answers")
            else:
                incident.succeeded()

    def principal(self, key_id: str) -> Principal | None:
        """The live key with this id, as requests see it (a scan: for the console and replay only)."""
        return next((p for p in self._by_hash.values() if p.key_id == key_id), None)

    @property
    def catalog(self) -> frozenset[str]:
        return self._catalog

    def authenticate(self, headers: dict[str, str], dialect: ClientDialect = OPENAI) -> Principal:
        """The key from where the caller's dialect sends it (OpenAI: Authorization: Bearer;
        Anthropic: x-api-key; Gemini: x-goog-api-key), looked up in the cache."""
        token, problem = dialect.credential(headers)
        if problem is not None:
            raise SeawallError(problem.code, {"detail": problem.detail, "how": dialect.key_how})
        digest = hash_key(self._secret, token)
        principal = self._by_hash.get(digest)
        if principal is not None:
            if principal.expires_at is None or principal.expires_at > time.time():
                return principal
            self._inactive[digest] = _expired(principal)
        inactive = self._inactive.get(digest)
        if inactive is not None:
            state = key_state(inactive.enabled, inactive.revoked_at, inactive.expires_at, time.time())
            if state is not None:
                code = "demo_key_replaced" if state.code == "key_revoked" and inactive.name == DEMO_KEY_NAME \
                    else state.code
                raise SeawallError(code, {"masked": mask_key(token), "when": state.detail})
        # Only a key that failed the lookup is worth diagnosing (a clean key is looked up first,
        # so the common path pays for one keyed hash and one dict lookup).
        shape = diagnose_key(token)
        if shape is not None:
            raise SeawallError(shape.code, {"detail": shape.detail, "platform": shape.platform})
        raise error("invalid_api_key", masked=mask_key(token))


@dataclass(frozen=True, slots=True)
class ConfiguredLimits:
    """The config file's limits section as plain values: what the key cache combines with the
    limits stored through the admin API (split_keys)."""

    key_default: Limits = NO_LIMITS
    tenant_default: Limits = NO_LIMITS
    tenants: dict[str, Limits] = field(default_factory=dict)
    groups: dict[str, Limits] = field(default_factory=dict)
    keys: dict[str, Limits] = field(default_factory=dict)  # by key name


NO_CONFIG = ConfiguredLimits()


def configured_limits(settings: LimitSettings | None) -> ConfiguredLimits:
    if settings is None:
        return NO_CONFIG

    def values(r: RateLimits) -> Limits:
        return Limits(r.rps, r.rpm, r.tpm, r.max_concurrency)

    def each(section: dict[str, RateLimits]) -> dict[str, Limits]:
        return {name: values(r) for name, r in section.items()}

    return ConfiguredLimits(values(settings.defaults.key), values(settings.defaults.tenant),
                            each(settings.tenants), each(settings.groups), each(settings.keys))


def stored_limits(record: KeyRecord | GroupRecord | TenantRecord) -> Limits:
    return Limits(record.rps, record.rpm, record.tpm, record.max_concurrency)


def tenant_values(name: str, stored: dict[str, Limits], configured: ConfiguredLimits) -> Limits:
    """A tenant's limits: the admin API's and the config file's, the lower winning, then the
    config's defaults for what neither sets."""
    return with_defaults(stricter(stored.get(name, NO_LIMITS), configured.tenants.get(name, NO_LIMITS)),
                         configured.tenant_default)


def split_keys(keys: list[KeyRecord], now: float, groups: list[GroupRecord] = (),
               catalog: frozenset[str] = frozenset(), configured: ConfiguredLimits = NO_CONFIG,
               tenants: list[TenantRecord] = (),
               ) -> tuple[dict[str, Principal], dict[str, KeyRecord]]:
    """hash -> Principal for keys that may call now; hash -> record for the others (revoked,
    expired, disabled), kept so a refusal can say which."""
    group_models = {g.name: g.models for g in groups}
    # One ScopeLimits per group (per tenant), shared by its keys' Principals: its buckets are one.
    group_limits = {g.name: scope_limits("group", g.name, **stricter(
        stored_limits(g), configured.groups.get(g.name, NO_LIMITS))._asdict()) for g in groups}
    stored_tenants = {t.name: stored_limits(t) for t in tenants}
    group_policies = {g.name: stored_policy(g) for g in groups}
    tenant_limits: dict[str, ScopeLimits | None] = {}
    active: dict[str, Principal] = {}
    inactive: dict[str, KeyRecord] = {}
    for k in keys:
        if key_state(k.enabled, k.revoked_at, k.expires_at, now) is None:
            if k.tenant is not None and k.tenant not in tenant_limits:
                tenant_limits[k.tenant] = scope_limits("tenant", k.tenant, **tenant_values(
                    k.tenant, stored_tenants, configured)._asdict())
            active[k.key_hash] = principal_for(k, group_models, catalog, group_limits, tenant_limits, configured,
                                               group_policies)
        else:
            inactive[k.key_hash] = k
    return active, inactive


# No client connects from the unspecified address: an allowlist of only this admits nobody.
_NOBODY = parse_cidr("0.0.0.0/32")


def principal_for(k: KeyRecord, group_models: dict[str, list[str]], catalog: frozenset[str],
                  group_limits: dict[str, ScopeLimits | None] | None = None,
                  tenant_limits: dict[str, ScopeLimits | None] | None = None,
                  configured: ConfiguredLimits = NO_CONFIG,
                  group_policies: dict[str, KeyPolicy] | None = None) -> Principal:
    if k.group is not None and k.group not in group_models:
        models: frozenset[str] | None = frozenset()  # a group the store no longer has: fail closed
    else:
        models = permitted_models(k.models, group_models.get(k.group) if k.group else None, catalog)
    networks = []
    for cidr in k.ip_allowlist:
        try:
            networks.append(parse_cidr(cidr))
        except ValueError:  # the admin API refuses these; a hand-edited row must not open the key
            log.warning("key %s: ignoring invalid allowlist entry %r", k.id, cidr)
    if k.ip_allowlist and not networks:
        networks.append(_NOBODY)  # entries listed but none valid: closed, not open to every address
    # A key is held to its own limits, its group's and its tenant's, all at once.
    own = scope_limits("key", k.id, **with_defaults(
        stricter(stored_limits(k), configured.keys.get(k.name, NO_LIMITS)), configured.key_default)._asdict())
    inherited = (group_limits or {}).get(k.group) if k.group else None
    tenant = (tenant_limits or {}).get(k.tenant) if k.tenant else None
    limits = tuple(s for s in (own, inherited, tenant) if s is not None)
    # Context policy and size limits: the key's own, else its group's (decide/key_policy.py).
    policy = compile_policy(stored_policy(k), (group_policies or {}).get(k.group) if k.group else None)
    return Principal(k.id, k.name, k.tenant, k.group, k.expires_at, models=models, catalog=catalog,
                     networks=tuple(networks), limits=limits, request_policy=policy)


def _expired(p: Principal) -> KeyRecord:
    return KeyRecord(id=p.key_id, name=p.name, key_hash="", key_prefix="", last4="", created_at=0.0,
                     expires_at=p.expires_at)
