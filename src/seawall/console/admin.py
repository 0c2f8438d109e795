"""The admin API: JSON under /admin/… for keys and groups, authenticated by the admin key.

    GET   /admin/keys                   list (every key, with its state)
    POST  /admin/keys                   create: the new key is in this reply and nowhere else, ever
    GET   /admin/keys/{id|name}         show
    PATCH /admin/keys/{id|name}         update the fields sent
    POST  /admin/keys/{id|name}/revoke  revoke: refused at once here, within auth.refresh_interval_s elsewhere
    POST  /admin/keys/{id|name}/rotate  revoke, and issue a new key with the same settings
    GET   /admin/groups   POST /admin/groups   GET|PATCH /admin/groups/{name}
    GET   /admin/tenants  GET|PUT /admin/tenants/{name}   a tenant's limits (PUT replaces them all)
    GET   /admin/alerts                 firing alerts and recent changes (shape: observe/alerts.py)
    GET   /admin/deployments[/{name}]   POST …/{name}/test|disable|enable   (console/deployments.py)
    GET   /admin/requests[/{id}[/bundle]]  POST /admin/requests/{id}/replay  GET /admin/stats
                                        the request log, paged; captures, bundles, replay (console/support.py)

Keys, groups and tenants take `rps`, `rpm`, `tpm` and `max_concurrency` (whole numbers >= 1, or
null); a key is held to its own limits, its group's and its tenant's (pipeline/admit.py). A
tenant exists by being named on keys; its record only holds limits, which combine with the config
file's limits.tenants (the lower wins) as pipeline/auth.py compiles them.

Keys and groups also take pre-flight settings: `context_policy` (reject | trim | truncate_output
| fallback, the last to the model's own fallback_model), `max_messages`, `max_images`,
`max_image_bytes` and `max_body_bytes`, each null for the next level's: the key's, else its
group's, else the model's, else the server's (decide/key_policy.py).

Every write reloads this instance's key cache before answering, so the caller's next request
already sees it. A wrong or missing admin key gets the same 401 as any other: nothing says
whether a key, a group or even a route exists before the admin key is right.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hmac
import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

import orjson

from seawall.console import fields
from seawall.console.deployments import DeploymentsAdmin
from seawall.decide.key_policy import POLICY_FIELDS
from seawall.decide.keys import bearer_token, key_state
from seawall.errors import SeawallError, error
from seawall.keyring import hash_key, key_record, new_key
from seawall.limits.base import Limits
from seawall.observe.alerts import AlertMonitor, disabled_view
from seawall.observe.incident import Incident
from seawall.pipeline.auth import Authenticator, stored_limits, tenant_values
from seawall.pipeline.context import RequestContext
from seawall.pipeline.egress import send_error, send_json
from seawall.pipeline.ingress import load_json, read_body
from seawall.store.base import GroupRecord, KeyRecord, Store, TenantRecord, store_name, store_outage

log = logging.getLogger("seawall.admin")

if TYPE_CHECKING:
    from seawall.console.support import Support

ADMIN_HASH_META = "admin_key_hash"
STORE_TIMEOUT_S = 10.0  # asyncpg's connect timeout is the same: a reachable database answers well within it
RETRY_AFTER_S = 5
_MAX_BODY = 64 * 1024  # a key or group is a few hundred bytes; metadata has room, not megabytes


class AdminConsole:
    def __init__(self, store: Store, secret: bytes, auth: Authenticator, body_timeout_s: float,
                 alerts: AlertMonitor | None = None, deployments: DeploymentsAdmin | None = None):
        self._store, self._secret, self._auth, self._timeout = store, secret, auth, body_timeout_s
        self._alerts, self.deployments = alerts, deployments
        self._admin_hash: str | None = None
        self._from_store = True  # the hash in the store, not SEAWALL_ADMIN_KEY's
        self._read_at = 0.0  # monotonic time the store's hash was last read
        self.support: Support | None = None  # the request log's routes; app.py sets it
        self._incident = Incident(log, "admin API")

    async def load(self, admin_key: str | None) -> None:
        """The admin key from the environment wins; else the hash made at first start."""
        if admin_key:
            self._admin_hash, self._from_store = hash_key(self._secret, admin_key), False
        else:
            self._admin_hash, self._read_at = await self._store.get_meta(ADMIN_HASH_META), time.monotonic()

    async def handle(self, ctx: RequestContext, receive, send, query: bytes = b"") -> None:
        try:
            await self._authorize(ctx.headers.get("authorization"))

            async def body() -> object:
                return await self._json(ctx, receive)

            try:
                async with asyncio.timeout(STORE_TIMEOUT_S):  # a frozen database must not hang the caller
                    status, payload = await self.call(ctx.method, ctx.path, body, query_params(query))
            except Exception as e:
                if isinstance(e, SeawallError) or not store_outage(e):
                    raise
                raise self._store_down(e) from None
        except SeawallError as e:
            await send_error(send, ctx, e, [])
            return
        self._incident.succeeded()
        await send_json(send, ctx, status, orjson.dumps(payload), [(b"cache-control", b"no-store")])

    def _store_down(self, e: BaseException) -> SeawallError:
        """503 naming the store, logged once per incident (the API keeps serving from its caches)."""
        store, where = store_name(self._store)
        self._incident.failed("%s at %s does not answer; admin requests get 503 until it does", store, where)
        return SeawallError("store_unavailable", {"store": store, "where": where},
                            headers={"retry-after": str(RETRY_AFTER_S)})

    async def _authorize(self, header: str | None) -> None:
        token, problem = bearer_token(header)
        if problem is None and await self.admits(token):
            return
        raise error("admin_unauthorized")

    async def admits(self, token: str | None) -> bool:
        """Is this the admin key? `seawall admin reset-key` may have written a new hash: on a
        mismatch read it again, at most once a second (a flood of wrong keys costs one store read
        a second, not one each)."""
        if self.is_admin_key(token):
            return True
        if self._from_store and time.monotonic() - self._read_at >= 1.0:
            self._read_at = time.monotonic()
            try:
                async with asyncio.timeout(STORE_TIMEOUT_S):
                    await self.load(None)
            except Exception as e:  # noqa: BLE001 - the store is down: the hash held is all there is
                if not store_outage(e):
                    raise
                return False
            return self.is_admin_key(token)
        return False

    def is_admin_key(self, token: str | None) -> bool:
        given = hash_key(self._secret, token) if token else ""
        # compare_digest on equal-length hex digests: no timing hint about the stored hash.
        return self._admin_hash is not None and hmac.compare_digest(given, self._admin_hash)

    async def call(self, method: str, path: str, body, params: dict[str, str] | None = None) -> tuple[int, object]:
        """One admin route, authorized already: from HTTP (handle) or from the console's pages.
        `body` is awaited for the JSON body only by the routes that take one."""
        parts = [unquote(p) for p in path.strip("/").split("/")[1:]]
        if self.support is not None:
            answered = await self.support.route(method, parts, params or {}, body)
            if answered is not None:
                return answered
        return await self._route(method, path, parts, body)

    async def _route(self, method: str, path: str, parts: list[str], body) -> tuple[int, object]:
        if parts == ["keys"]:
            if method == "GET":
                return 200, {"object": "list", "data": [self._view(k) for k in await self._store.load_keys()]}
            if method == "POST":
                return await self._create_key(await body())
        elif len(parts) == 2 and parts[0] == "keys":
            if method == "GET":
                return 200, self._view(await self._find_key(parts[1]))
            if method == "PATCH":
                return await self._update_key(await self._find_key(parts[1]), await body())
        elif len(parts) == 3 and parts[0] == "keys" and parts[2] in ("revoke", "rotate") and method == "POST":
            key = await self._find_key(parts[1])
            return await (self._revoke_key(key) if parts[2] == "revoke" else self._rotate_key(key))
        elif parts == ["groups"]:
            if method == "GET":
                return 200, {"object": "list", "data": [group_view(g) for g in await self._store.load_groups()]}
            if method == "POST":
                return await self._create_group(await body())
        elif len(parts) == 2 and parts[0] == "groups":
            if method == "GET":
                return 200, group_view(await self._find_group(parts[1]))
            if method == "PATCH":
                return await self._update_group(await self._find_group(parts[1]), await body())
        elif parts == ["tenants"] and method == "GET":
            return 200, {"object": "list", "data": await self._tenants()}
        elif len(parts) == 2 and parts[0] == "tenants":
            if method == "GET":
                return 200, await self._find_tenant(parts[1])
            if method == "PUT":
                return await self._put_tenant(parts[1], await body())
        # -- alerts (observe/alerts.py) --
        elif parts == ["alerts"] and method == "GET":
            return 200, self._alerts.view() if self._alerts is not None else disabled_view()
        elif parts[:1] == ["deployments"] and self.deployments is not None:
            return await self.deployments.route(parts[1:], method, body)
        raise error("route_not_found", method=method, path=path,
                    hint="Admin routes: /admin/keys, /admin/keys/{id}, /admin/keys/{id}/revoke|rotate, "
                         "/admin/groups, /admin/groups/{name}, /admin/tenants, /admin/tenants/{name}, /admin/alerts, "
                         "/admin/deployments, /admin/requests, /admin/requests/{id}, "
                         "/admin/requests/{id}/bundle|replay, /admin/stats "
                         "(GET, POST, PATCH, PUT as listed in docs/console.md).")

    async def _json(self, ctx: RequestContext, receive) -> object:
        try:
            async with asyncio.timeout(self._timeout):
                body = await read_body(receive, ctx.headers, _MAX_BODY)
        except TimeoutError:
            raise error("body_timeout", seconds=f"{self._timeout:g}") from None
        if not body.strip():
            raise error("empty_body")
        try:
            return load_json(body)
        except orjson.JSONDecodeError as e:
            raise error("invalid_json", detail=str(e)) from None

    # -- keys ------------------------------------------------------------------------------------
    async def _find_key(self, ref: str) -> KeyRecord:
        """By id, else by name: the live key of that name, else its latest revoked one."""
        keys = await self._store.load_keys()
        by_id = [k for k in keys if k.id == ref]
        named = sorted((k for k in keys if k.name == ref), key=lambda k: (k.revoked_at is None, k.created_at))
        found = by_id or named
        if not found:
            raise error("admin_not_found", thing="key", ref=ref, fix="seawall keys list shows every key's id and name.")
        return found[-1]

    async def _check_names(self, values: dict, keys: list[KeyRecord] | None, current_id: str | None) -> None:
        if "name" in values and keys is not None and any(
                k.name == values["name"] and k.revoked_at is None and k.id != current_id for k in keys):
            raise error("duplicate_name", param="name", thing="key", name=values["name"])
        if values.get("group") is not None and values["group"] not in {g.name for g in await self._store.load_groups()}:
            raise error("unknown_group", param="group", group=values["group"])

    async def _create_key(self, body: object) -> tuple[int, dict]:
        now = time.time()
        values = fields.read(body, fields.key_readers(now), ("name",), "POST /admin/keys")
        await self._check_names(values, await self._store.load_keys(), None)
        secret_key = new_key()
        record = key_record(self._secret, secret_key, **values)
        await self._store.insert_key(record)
        await self._auth.load()
        return 201, {"key": secret_key, **self._view(record)}

    async def _update_key(self, key: KeyRecord, body: object) -> tuple[int, dict]:
        values = fields.read(body, fields.key_readers(time.time()), (), "PATCH /admin/keys/{id}")
        await self._check_names(values, await self._store.load_keys(), key.id)
        updated = dataclasses.replace(key, **values, updated_at=time.time())
        await self._store.update_key(updated)
        await self._auth.load()
        return 200, self._view(updated)

    async def _revoke_key(self, key: KeyRecord) -> tuple[int, dict]:
        if key.revoked_at is None:
            key = dataclasses.replace(key, revoked_at=time.time(), updated_at=time.time())
            await self._store.update_key(key)
            await self._auth.load()  # this instance refuses the key from the next request on
        return 200, self._view(key)

    async def _rotate_key(self, key: KeyRecord) -> tuple[int, dict]:
        """A new key with the old one's settings; the old one is revoked (not deleted), so a client
        still sending it is told 'revoked' rather than 'unknown key'."""
        if key.revoked_at is not None:
            raise error("admin_invalid_value", param="key", detail=f"{key.id} is already revoked",
                        fix="Create a new key instead (seawall keys create).")
        now = time.time()
        await self._store.update_key(dataclasses.replace(key, revoked_at=now, updated_at=now))
        secret_key = new_key()
        record = key_record(self._secret, secret_key, key.name, tenant=key.tenant, group=key.group,
                            enabled=key.enabled, expires_at=key.expires_at, metadata=key.metadata, models=key.models,
                            ip_allowlist=key.ip_allowlist, quota_tokens=key.quota_tokens, quota_usd=key.quota_usd,
                            rpm=key.rpm, tpm=key.tpm, max_concurrency=key.max_concurrency, rps=key.rps,
                            **{f: getattr(key, f) for f in POLICY_FIELDS})
        await self._store.insert_key(record)
        if self._auth.quotas is not None and self._auth.quotas.shared is not None:
            await self._auth.quotas.shared.refresh()  # every gateway's spending so far, from Redis
        spent = self._spent(key)  # the new key carries the old one's spending: rotating is no top-up
        if any(spent):
            await self._store.add_usage([(record.id, *spent)])
            record.used_tokens, record.used_usd = spent
        await self._auth.load()
        return 200, {"key": secret_key, "replaces": key.id, **self._view(record)}

    def _spent(self, key: KeyRecord) -> tuple[int, float]:
        """What the key has spent: the live ledger's total (charges not yet written included)."""
        quotas = self._auth.quotas
        balance = quotas.balance(key.id) if quotas is not None else None
        if balance is None:
            return key.used_tokens, key.used_usd
        return balance.used_tokens, balance.used_usd

    def _view(self, k: KeyRecord) -> dict:
        return key_view(k, *self._spent(k))

    # -- groups ----------------------------------------------------------------------------------
    async def _find_group(self, name: str) -> GroupRecord:
        for g in await self._store.load_groups():
            if g.name == name:
                return g
        raise error("admin_not_found", thing="group", ref=name, fix="seawall groups list shows the groups.")

    async def _create_group(self, body: object) -> tuple[int, dict]:
        values = fields.read(body, fields.GROUP_READERS, ("name",), "POST /admin/groups")
        if any(g.name == values["name"] for g in await self._store.load_groups()):
            raise error("duplicate_name", param="name", thing="group", name=values["name"])
        group = GroupRecord(created_at=time.time(), **values)
        await self._store.insert_group(group)
        await self._auth.load()
        return 201, group_view(group)

    async def _update_group(self, group: GroupRecord, body: object) -> tuple[int, dict]:
        values = fields.read(body, fields.GROUP_READERS, (), "PATCH /admin/groups/{name}")
        if values.get("name", group.name) != group.name:  # keys refer to groups by name
            raise error("admin_invalid_value", param="name", detail="a group can't be renamed",
                        fix="Create a group with the new name and move the keys to it.")
        updated = dataclasses.replace(group, **values, updated_at=time.time())
        await self._store.update_group(updated)
        await self._auth.load()  # a narrower group applies to its keys at once
        return 200, group_view(updated)

    # -- tenants ---------------------------------------------------------------------------------
    async def _tenants(self) -> list[dict]:
        """Every tenant something knows: a key names it, it has stored limits, or the config sets some."""
        stored = {t.name: t for t in await self._store.load_tenants()}
        named = {k.tenant for k in await self._store.load_keys() if k.tenant is not None}
        return [self._tenant_view(name, stored.get(name))
                for name in sorted(named | set(stored) | set(self._auth.configured.tenants))]

    async def _find_tenant(self, name: str) -> dict:
        for view in await self._tenants():
            if view["name"] == name:
                return view
        raise error("admin_not_found", thing="tenant", ref=name,
                    fix="A tenant is named by its keys (seawall keys create --tenant NAME); "
                        "PUT /admin/tenants/NAME sets its limits.")

    async def _put_tenant(self, name: str, body: object) -> tuple[int, dict]:
        """Replace the tenant's stored limits: a field left out is null (no limit) afterwards."""
        fields.name("name", name)
        values = fields.read(body, fields.TENANT_READERS, (), "PUT /admin/tenants/{name}")
        record = TenantRecord(name=name, updated_at=time.time(), **values)
        await self._store.put_tenant(record)
        await self._auth.load()  # the tenant's keys are held to the new limits from the next request
        return 200, self._tenant_view(name, record)

    def _tenant_view(self, name: str, record: TenantRecord | None) -> dict:
        configured = self._auth.configured
        stored = {name: stored_limits(record)} if record is not None else {}
        return tenant_view(name, record, configured.tenants.get(name), tenant_values(name, stored, configured))


def query_params(query: bytes) -> dict[str, str]:
    """A query string's parameters, the last of a repeated name winning."""
    return dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else {}


def tenant_view(name: str, record: TenantRecord | None, configured: Limits | None, effective: Limits) -> dict:
    """The tenant's stored limits at the top level (what PUT sets), the config file's, and what its
    keys are held to (the lower of the two, then the config's defaults)."""
    own = record if record is not None else TenantRecord(name=name, updated_at=0.0)
    return {"object": "tenant", "name": name, "rps": own.rps, "rpm": own.rpm, "tpm": own.tpm,
            "max_concurrency": own.max_concurrency,
            "configured": None if configured is None else configured._asdict(), "effective": effective._asdict(),
            "updated_at": _iso(record.updated_at) if record is not None else None}


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def key_view(k: KeyRecord, used_tokens: int = 0, used_usd: float = 0.0) -> dict:
    """A key as the admin API shows it: never the hash, only the prefix and last four. `used_*`:
    spent against the quota (the key's own, or its group's default)."""
    problem = key_state(k.enabled, k.revoked_at, k.expires_at, time.time())
    state = "active" if problem is None else problem.code.removeprefix("key_")
    return {"object": "key", "id": k.id, "name": k.name, "display": f"{k.key_prefix}…{k.last4}", "state": state,
            "tenant": k.tenant, "group": k.group, "models": k.models, "ip_allowlist": k.ip_allowlist,
            "enabled": k.enabled, "expires_at": _iso(k.expires_at), "revoked_at": _iso(k.revoked_at),
            "quota_tokens": k.quota_tokens, "quota_usd": k.quota_usd, "rps": k.rps, "rpm": k.rpm, "tpm": k.tpm,
            "max_concurrency": k.max_concurrency, "metadata": k.metadata, **_policy_view(k),
            "used_tokens": used_tokens, "used_usd": round(used_usd, 10),
            "created_at": _iso(k.created_at), "updated_at": _iso(k.updated_at)}


def group_view(g: GroupRecord) -> dict:
    return {"object": "group", "name": g.name, "models": g.models, "quota_tokens": g.quota_tokens,
            "quota_usd": g.quota_usd, "rps": g.rps, "rpm": g.rpm, "tpm": g.tpm, "max_concurrency": g.max_concurrency,
            "metadata": g.metadata, **_policy_view(g), "created_at": _iso(g.created_at),
            "updated_at": _iso(g.updated_at)}


def _policy_view(record: KeyRecord | GroupRecord) -> dict:
    """context_policy and the size limits set here (null: the group's, else the model's)."""
    return {f: getattr(record, f) for f in POLICY_FIELDS}
