"""PostgreSQL store: what several gateways share (keys, groups, meta, the request log).

Same records and schema as the SQLite store (migrations/postgres mirrors migrations/sqlite), on
an asyncpg pool. Like SQLite, nothing on the request hot path calls it: the key cache reloads
every auth.refresh_interval_s and the request log arrives in batches, one statement per batch.

Migrations run at open() under an advisory lock, so gateways starting together against a fresh
database apply each migration once while the others wait. Connection failures at open() become a
StoreUnavailable whose message says what to check, never a driver traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import operator
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import orjson

from seawall.store.base import (
    CONVERSATION_COLUMNS,
    GROUP_COLUMNS,
    KEY_COLUMNS,
    POLICY_COLUMNS,
    USAGE_COLUMNS,
    GroupRecord,
    CaptureRecord,
    KeyRecord,
    LogQuery,
    RequestRecord,
    StatsBucket,
    TenantRecord,
    category_range,
    latency_bin_sql,
    policy_values,
    stats_buckets,
    read_migrations,
    with_policy,
)
from seawall.store.conversations import ConversationRecord

_TENANT_COLUMNS = tuple(f.name for f in dataclasses.fields(TenantRecord))
_LOG_COLUMNS = tuple(f.name for f in dataclasses.fields(RequestRecord))
_LOG_VALUES = operator.attrgetter(*_LOG_COLUMNS)  # the jsonb codec encodes attempts_detail as is

# pg_advisory_lock keys: any fixed bigints, the same in every gateway version. Advisory locks
# are per database, so gateways on other databases never wait on them.
_LOCKS = {"migrate": 0x5EA3A11_0001, "provision": 0x5EA3A11_0002}
# Writer, key-cache refresh and admin calls: a handful of connections is all one gateway uses.
# No floor: asyncpg restores a pool's minimum in the background and logs a traceback at every try
# while the database is down; opened on demand, the key cache's refresh keeps one warm anyway.
_POOL_MIN, _POOL_MAX = 0, 4
_CONNECT_TIMEOUT_S = 10.0


class StoreUnavailable(Exception):
    """The database can't be reached or used; the message says what to check (no password in it)."""


def migrations() -> list[tuple[int, str]]:
    return read_migrations("postgres")


class PostgresStore:
    def __init__(self, url: str):
        self.url = url
        self._pool: asyncpg.Pool | None = None

    @property
    def _db(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    async def open(self) -> None:
        """Connect and migrate. Idempotent: the server opens the store before building the app
        (to read the shared server secret and refuse a bad database with a clear message), and
        the app's start-up opens it again."""
        if self._pool is not None:
            return
        pool = None
        try:
            pool = await asyncpg.create_pool(self.url, min_size=_POOL_MIN, max_size=_POOL_MAX, init=_init_connection,
                                             timeout=_CONNECT_TIMEOUT_S)
            await pool.execute("SELECT 1")  # no floor means no connection yet: reach the server now
        except Exception as e:  # noqa: BLE001 - the one place driver errors become ours
            if pool is not None:
                pool.terminate()
            raise StoreUnavailable(explain_connect_error(e, self.url)) from None
        self._pool = pool
        try:
            await self.migrate()
        except asyncpg.PostgresError as e:
            await self.close()
            raise StoreUnavailable(f"PostgreSQL at {redact_url(self.url)} refused the schema migration: {e} — "
                                   "check that the user may create tables in this database") from None

    async def migrate(self) -> list[int]:
        async with self._db.acquire() as conn:
            return await _migrate(conn)

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Hold the database-wide lock `name` ("provision"): one gateway at a time runs the block."""
        async with self._db.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", _LOCKS[name])
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _LOCKS[name])

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    # -- keys -------------------------------------------------------------------------------------
    async def load_keys(self) -> list[KeyRecord]:
        rows = await self._db.fetch(f"SELECT {', '.join(KEY_COLUMNS + USAGE_COLUMNS + POLICY_COLUMNS)} FROM api_keys")
        at = len(KEY_COLUMNS) + len(USAGE_COLUMNS)
        return [with_policy(_key_from_row(r), r[at:]) for r in rows]

    async def add_usage(self, rows: list[tuple[str, int, float]]) -> None:
        sql = "UPDATE api_keys SET used_tokens = used_tokens + $2, used_usd = used_usd + $3 WHERE id = $1"
        async with self._db.acquire() as conn, conn.transaction():
            await conn.executemany(sql, rows)

    async def load_usage(self, key_ids: list[str]) -> dict[str, tuple[int, float]]:
        rows = await self._db.fetch("SELECT id, used_tokens, used_usd FROM api_keys WHERE id = ANY($1::text[])",
                                    key_ids)
        return {r[0]: (r[1], r[2]) for r in rows}

    async def insert_key(self, key: KeyRecord) -> None:
        await self._db.execute(_insert_sql("api_keys", KEY_COLUMNS + POLICY_COLUMNS), *_key_values(key),
                               *policy_values(key))

    async def update_key(self, key: KeyRecord) -> None:
        """Write every field of the key with this id (the hash and creation time never change)."""
        await self._db.execute(_update_sql("api_keys", KEY_COLUMNS + POLICY_COLUMNS), *_key_values(key),
                               *policy_values(key))

    async def revoke_keys_named(self, name: str, when: float) -> int:
        status = await self._db.execute(
            "UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL", when, name)
        return int(status.rsplit(" ", 1)[1])  # "UPDATE <count>"

    # -- groups and meta --------------------------------------------------------------------------
    async def load_groups(self) -> list[GroupRecord]:
        rows = await self._db.fetch(f"SELECT {', '.join(GROUP_COLUMNS + POLICY_COLUMNS)} FROM key_groups ORDER BY name")
        return [with_policy(GroupRecord(name=r[0], created_at=r[1], models=r[2], quota_tokens=r[3], quota_usd=r[4],
                                        metadata=r[5], updated_at=r[6], rpm=r[7], tpm=r[8], max_concurrency=r[9],
                                        rps=r[10]), r[len(GROUP_COLUMNS):]) for r in rows]

    async def insert_group(self, group: GroupRecord) -> None:
        await self._db.execute(_insert_sql("key_groups", GROUP_COLUMNS + POLICY_COLUMNS), *_group_values(group),
                               *policy_values(group))

    async def update_group(self, group: GroupRecord) -> None:
        await self._db.execute(_update_sql("key_groups", GROUP_COLUMNS + POLICY_COLUMNS), *_group_values(group),
                               *policy_values(group))

    async def load_tenants(self) -> list[TenantRecord]:
        rows = await self._db.fetch(f"SELECT {', '.join(_TENANT_COLUMNS)} FROM tenants ORDER BY name")
        return [TenantRecord(*r) for r in rows]

    async def put_tenant(self, tenant: TenantRecord) -> None:
        await self._db.execute(_insert_sql("tenants", _TENANT_COLUMNS) + " ON CONFLICT (name) DO UPDATE SET "
                               + ", ".join(f"{c} = excluded.{c}" for c in _TENANT_COLUMNS[1:]),
                               *dataclasses.astuple(tenant))

    async def get_meta(self, name: str) -> str | None:
        return await self._db.fetchval("SELECT value FROM meta WHERE key = $1", name)

    async def set_meta(self, name: str, value: str) -> None:
        await self._db.execute("INSERT INTO meta (key, value) VALUES ($1, $2) "
                               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", name, value)

    async def claim_meta(self, name: str, value: str) -> str:
        """Set `name` to `value` unless it has a value; return the value that holds. Gateways
        racing to claim it all get the first one committed."""
        async with self._db.acquire() as conn:
            won = await conn.fetchval("INSERT INTO meta (key, value) VALUES ($1, $2) "
                                      "ON CONFLICT (key) DO NOTHING RETURNING value", name, value)
            if won is not None:
                return won
            # A separate statement: ON CONFLICT waited for the other writer to commit, and under
            # READ COMMITTED only a new statement's snapshot is sure to see its row.
            return await conn.fetchval("SELECT value FROM meta WHERE key = $1", name)

    # -- request log ------------------------------------------------------------------------------
    async def write_requests(self, rows: list[RequestRecord]) -> None:
        if not rows:
            return
        # One pipelined executemany per batch in one transaction: a round trip per batch, not
        # per row. ON CONFLICT keeps a retried batch (the writer retries after a failure that
        # may have committed) from failing forever on its own rows, as INSERT OR REPLACE does
        # in SQLite.
        await self._db.executemany(_LOG_INSERT, [_LOG_VALUES(r) for r in rows])

    async def query_requests(self, query: LogQuery) -> list[RequestRecord]:
        sql, args = log_query(query)
        rows = await self._db.fetch(sql, *args)
        return [RequestRecord(**{**dict(r), "attempts_detail": r["attempts_detail"] or []}) for r in rows]

    # -- Responses conversations (store/conversations.py) -------------------------------------------
    async def save_conversations(self, rows: list[ConversationRecord]) -> None:
        await self._db.executemany(_CONVERSATION_INSERT, [
            (r.response_id, r.key_id, r.model, r.created_at, r.expires_at, r.input_start, r.output_start, r.items,
             r.response, r.tenant, r.grp) for r in rows])

    async def load_conversation(self, response_id: str, now: float) -> ConversationRecord | None:
        row = await self._db.fetchrow(f"SELECT {', '.join(CONVERSATION_COLUMNS)} FROM response_conversations "
                                      "WHERE response_id = $1 AND expires_at > $2", response_id, now)
        return ConversationRecord(**dict(row)) if row is not None else None

    async def delete_conversation(self, response_id: str) -> bool:
        status = await self._db.execute("DELETE FROM response_conversations WHERE response_id = $1", response_id)
        return status != "DELETE 0"

    async def purge_conversations(self, now: float) -> int:
        status = await self._db.execute("DELETE FROM response_conversations WHERE expires_at <= $1", now)
        return int(status.rsplit(" ", 1)[1])

    async def request_stats(self, since: float, until: float, bucket_s: int,
                            key_id: str | None = None) -> list[StatsBucket]:
        """As the SQLite store's: three grouped scans, a few hundred rows back."""
        where = "ts >= $1 AND ts < $2" + (" AND key_id = $3" if key_id else "")
        args = [since, until, *([key_id] if key_id else [])]
        bucket = f"floor((ts - $1) / {int(bucket_s)})::bigint"
        async with self._db.acquire() as conn:
            counts = await conn.fetch(f"SELECT {bucket}, category, count(*), sum(prompt_tokens), "
                                      f"sum(completion_tokens), sum(cost_usd) FROM request_log WHERE {where} "
                                      f"GROUP BY 1, 2", *args)
            latency = await conn.fetch(f"SELECT {bucket}, {latency_bin_sql('latency_ms')}, count(*) "
                                       f"FROM request_log WHERE {where} GROUP BY 1, 2", *args)
            ttfb = await conn.fetch(f"SELECT {bucket}, {latency_bin_sql('ttfb_ms')}, count(*) FROM request_log "
                                    f"WHERE {where} AND streamed AND ttfb_ms IS NOT NULL GROUP BY 1, 2", *args)
        return stats_buckets(since, bucket_s, counts, latency, ttfb)

    # -- captures ---------------------------------------------------------------------------------
    async def write_captures(self, rows: list[CaptureRecord]) -> None:
        await self._db.executemany(
            "INSERT INTO request_captures (request_id, ts, key_id, data) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (request_id) DO UPDATE SET ts = excluded.ts, key_id = excluded.key_id, data = excluded.data",
            [(r.request_id, r.ts, r.key_id, r.data) for r in rows])

    async def get_capture(self, request_id: str) -> CaptureRecord | None:
        row = await self._db.fetchrow(
            "SELECT request_id, ts, key_id, data FROM request_captures WHERE request_id = $1", request_id)
        return CaptureRecord(*row) if row else None

    async def prune_captures(self, before: float) -> int:
        status = await self._db.execute("DELETE FROM request_captures WHERE ts < $1", before)
        return int(status.rsplit(" ", 1)[1])  # "DELETE <count>"


# -- SQL ------------------------------------------------------------------------------------------

@functools.cache
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    params = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({params})"


@functools.cache
def _update_sql(table: str, columns: tuple[str, ...]) -> str:
    """UPDATE every column but the first, matched on the first ($1)."""
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns[1:], start=2))
    return f"UPDATE {table} SET {sets} WHERE {columns[0]} = $1"


_LOG_INSERT = (_insert_sql("request_log", _LOG_COLUMNS) + " ON CONFLICT (request_id) DO UPDATE SET "
               + ", ".join(f"{c} = excluded.{c}" for c in _LOG_COLUMNS[1:]))


_CONVERSATION_INSERT = (_insert_sql("response_conversations", CONVERSATION_COLUMNS)
                        + " ON CONFLICT (response_id) DO UPDATE SET "
                        + ", ".join(f"{c} = excluded.{c}" for c in CONVERSATION_COLUMNS[1:]))


def _key_values(key: KeyRecord) -> tuple:
    return (key.id, key.name, key.key_hash, key.key_prefix, key.last4, key.created_at, key.tenant, key.group,
            key.enabled, key.expires_at, key.revoked_at, key.metadata, key.models, key.ip_allowlist,
            key.quota_tokens, key.quota_usd, key.updated_at, key.rpm, key.tpm, key.max_concurrency, key.rps)


def _key_from_row(r: asyncpg.Record) -> KeyRecord:
    return KeyRecord(id=r[0], name=r[1], key_hash=r[2], key_prefix=r[3], last4=r[4], created_at=r[5], tenant=r[6],
                     group=r[7], enabled=r[8], expires_at=r[9], revoked_at=r[10], metadata=r[11], models=r[12],
                     ip_allowlist=r[13], quota_tokens=r[14], quota_usd=r[15], updated_at=r[16], rpm=r[17],
                     tpm=r[18], max_concurrency=r[19], rps=r[20], used_tokens=r[21], used_usd=r[22])


def _group_values(g: GroupRecord) -> tuple:
    return (g.name, g.created_at, g.models, g.quota_tokens, g.quota_usd, g.metadata, g.updated_at, g.rpm, g.tpm,
            g.max_concurrency, g.rps)


def log_query(query: LogQuery) -> tuple[str, list]:
    where, args = [], []

    def param(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    for column, op, value in (("ts", ">=", query.since), ("ts", "<", query.until), ("request_id", "=", query.request_id),
                              ("model_requested", "=", query.model), ("key_id", "=", query.key_id),
                              ("tenant", "=", query.tenant)):
        if value is not None and value != "":
            where.append(f"{column} {op} {param(value)}")
    if query.category:
        low, high = category_range(query.category)
        where.append(f"category = {param(low)}" if high is None else f"category >= {param(low)} AND category < {param(high)}")
    if query.status:
        where.append(status_clause(query.status))
    if query.before is not None:
        ts, rid = param(query.before[0]), param(query.before[1])
        where.append(f"ts <= {ts} AND (ts < {ts} OR request_id < {rid})")  # a range the time index serves
    sql = f"SELECT {', '.join(_LOG_COLUMNS)} FROM request_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return f"{sql} ORDER BY ts DESC, request_id DESC LIMIT {param(query.limit)}", args


def status_clause(status: str) -> str:
    """The status filter as SQL. Bounds are written as literals (they are parsed integers, never
    the caller's text) so the planner can prove `status >= 400` and use the partial errors index."""
    s = status.lower()
    if s == "ok":
        return "status < 400"
    if s == "error":
        return "status >= 400"
    if len(s) == 3 and s[0].isdigit() and s[1:] == "xx":
        low = int(s[0]) * 100
        return f"status >= {low} AND status < {low + 100}"
    if s.isdigit():
        return f"status = {int(s)}"
    raise ValueError(f"status filter {status!r}: use a code (429), a class (4xx, 5xx), 'error' or 'ok'")


# -- connections ----------------------------------------------------------------------------------

async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns read and write Python lists and dicts directly (orjson both ways).
    await conn.set_type_codec("jsonb", schema="pg_catalog", encoder=lambda v: orjson.dumps(v).decode(),
                              decoder=orjson.loads)


async def _migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply the migrations this database has not seen, each in its own transaction, holding the
    advisory lock so that a second gateway starting now waits, then finds them applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCKS["migrate"])
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                           "(version integer PRIMARY KEY, applied_at double precision NOT NULL)")
        done = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for version, sql in migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2)", version, time.time())
            applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCKS["migrate"])


def redact_url(url: str) -> str:
    """The URL fit for a message or a log: no password, in the user part or the query."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
        query = urlencode([(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)])
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<the database URL, which could not be parsed>"


def explain_connect_error(exc: BaseException, url: str) -> str:
    """What went wrong connecting to `url`, and what to check first."""
    where = redact_url(url)
    parts = _safe_split(url)
    host, port = (parts.hostname or "localhost", parts.port or 5432) if parts else ("localhost", 5432)
    database = (parts.path.lstrip("/") if parts else "") or "(the user's name)"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return (f"PostgreSQL at {where}: database {database!r} does not exist — create it "
                f"(createdb -h {host} -p {port} {database}) or fix the database name in the URL")
    if isinstance(exc, (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
        return (f"PostgreSQL at {where} refused the login: {exc} — check the user and password in the URL "
                "(or PGPASSWORD) and the server's pg_hba.conf")
    if isinstance(exc, (OSError, TimeoutError)):
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return (f"cannot connect to PostgreSQL at {where} ({reason}) — check that the server is running and "
                f"listening on {host}:{port} (pg_isready -h {host} -p {port}) and that the host and port are right")
    if isinstance(exc, (ValueError, OverflowError, asyncpg.ClientConfigurationError)):
        return f"the database URL {where} is not valid ({exc}) — write it as postgresql://user:password@host:5432/db"
    return f"PostgreSQL at {where} could not be used: {type(exc).__name__}: {exc}"


def _safe_split(url: str):
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
        return parts
    except ValueError:
        return None
