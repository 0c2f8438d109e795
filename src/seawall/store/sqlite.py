"""SQLite store (WAL), the embedded default.

All SQL runs on one dedicated thread that owns the connection; each store operation is one
function run there, so the event loop never waits on the disk and pays one round trip per
operation. By hand rather than aiosqlite because aiosqlite makes every statement its own round
trip through the event loop: under saturation the request log then fell behind (measured: ~900
rows/s of backlog at 2,600 requests/s, growing memory), while one call per batch keeps up with
room to spare.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import orjson

from seawall.store.base import (
    GROUP_COLUMNS,
    KEY_COLUMNS,
    POLICY_COLUMNS,
    CONVERSATION_COLUMNS,
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

T = TypeVar("T")

_TENANT_COLUMNS = tuple(f.name for f in dataclasses.fields(TenantRecord))
_LOG_COLUMNS = tuple(f.name for f in dataclasses.fields(RequestRecord))
_DETAIL, _STREAMED = _LOG_COLUMNS.index("attempts_detail"), _LOG_COLUMNS.index("streamed")
_LOG_VALUES = operator.attrgetter(*_LOG_COLUMNS)  # dataclasses.astuple deep-copies: 5x slower
# Rows per INSERT statement. executemany() takes the GIL back once per row, and on a saturated
# event loop each of those waits up to the interpreter's 5 ms switch interval; a multi-row
# INSERT binds a whole chunk in one call and inserts it with the GIL released. Batches are cut
# into a fixed set of statement sizes, so a handful of prepared statements serve every batch (one
# per distinct size would pile up in memory). At most 100 rows: binding a 500-row statement held
# the GIL ~1.8 ms against ~0.2 ms, which is how long a request arriving meanwhile waits for the
# event loop (the same cost per row within 10 %, the commit dominating).
_SIZES = (100, 20, 5, 1)


def _null(value: None) -> None:
    return value


# sqlite3 binds int, float and str directly but sends every other value, None included, through
# its adapter lookup, which on a miss probes `__adapt__` and `__conform__` and builds and drops an
# AttributeError for each (~1,200 instructions per NULL; a request's log row has about a dozen).
# A registered adapter is a dictionary hit instead. None stays None: nothing else changes.
sqlite3.register_adapter(type(None), _null)


# The writer thread's niceness: its batches (the request log's inserts, a few ms of CPU each)
# yield a core to the event loop instead of taking turns with it. On a busy or pinned core the
# scheduler otherwise runs them in slices of milliseconds while a request waits: measured, one
# request at a time, p99 2.3-3.3 ms against 1.1 ms with the log's writes deferred.
WRITER_NICENESS = 10


def yield_the_cpu() -> None:
    """Lower this thread's scheduling priority below the process's (Linux: per thread); elsewhere, leave it."""
    try:
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, min(os.getpriority(os.PRIO_PROCESS, me) + WRITER_NICENESS, 19))
    except (AttributeError, OSError):
        pass


def _chunks(count: int) -> list[int]:
    """Statement sizes that add up to count, largest first: 137 -> [100, 20, 5, 5, 5, 1, 1]."""
    out = []
    for size in _SIZES:
        n, count = divmod(count, size)
        out += [size] * n
    return out


@functools.cache
def _insert_sql(rows: int) -> str:
    one = "(" + ", ".join("?" * len(_LOG_COLUMNS)) + ")"
    return f"INSERT OR REPLACE INTO request_log ({', '.join(_LOG_COLUMNS)}) VALUES " + ", ".join([one] * rows)


def migrations() -> list[tuple[int, str]]:
    return read_migrations("sqlite")


class SQLiteStore:
    def __init__(self, path: str):
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None or self._thread is None:
            raise RuntimeError("store is not open")
        db = self._db
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, db)

    async def open(self) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seawall-sqlite",
                                          initializer=yield_the_cpu)
        loop = asyncio.get_running_loop()
        self._db = await loop.run_in_executor(self._thread, _connect, self.path)
        await self.migrate()

    async def migrate(self) -> list[int]:
        return await self._run(_migrate)

    async def close(self) -> None:
        if self._db is not None:
            await self._run(lambda db: db.close())
            self._db = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None

    # -- keys -------------------------------------------------------------------------------------
    async def load_keys(self) -> list[KeyRecord]:
        sql = f"SELECT {', '.join(KEY_COLUMNS + USAGE_COLUMNS + POLICY_COLUMNS)} FROM api_keys"
        rows = await self._run(lambda db: db.execute(sql).fetchall())
        at = len(KEY_COLUMNS) + len(USAGE_COLUMNS)
        return [with_policy(_key_from_row(r), r[at:]) for r in rows]

    async def insert_key(self, key: KeyRecord) -> None:
        columns = KEY_COLUMNS + POLICY_COLUMNS
        sql = f"INSERT INTO api_keys ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        await self._run(lambda db: _commit(db, sql, _key_values(key) + policy_values(key)))

    async def update_key(self, key: KeyRecord) -> None:
        """Write every field of the key with this id (the hash and creation time never change)."""
        columns = KEY_COLUMNS[1:] + POLICY_COLUMNS
        sql = f"UPDATE api_keys SET {', '.join(c + ' = ?' for c in columns)} WHERE id = ?"
        await self._run(lambda db: _commit(db, sql, (*_key_values(key)[1:], *policy_values(key), key.id)))

    async def revoke_keys_named(self, name: str, when: float) -> int:
        sql = "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"
        return await self._run(lambda db: _commit(db, sql, (when, name)))

    async def add_usage(self, rows: list[tuple[str, int, float]]) -> None:
        sql = "UPDATE api_keys SET used_tokens = used_tokens + ?, used_usd = used_usd + ? WHERE id = ?"
        args = [(tokens, usd, key_id) for key_id, tokens, usd in rows]
        await self._run(lambda db: _commit_many(db, sql, args))

    async def load_usage(self, key_ids: list[str]) -> dict[str, tuple[int, float]]:
        def read(db: sqlite3.Connection) -> dict[str, tuple[int, float]]:
            out = {}
            for start in range(0, len(key_ids), 500):  # SQLite's bound-variable limit
                part = key_ids[start:start + 500]
                sql = f"SELECT id, used_tokens, used_usd FROM api_keys WHERE id IN ({', '.join('?' * len(part))})"
                out.update((r[0], (r[1], r[2])) for r in db.execute(sql, part))
            return out
        return await self._run(read)

    # -- groups and meta --------------------------------------------------------------------------
    async def load_groups(self) -> list[GroupRecord]:
        sql = f"SELECT {', '.join(GROUP_COLUMNS + POLICY_COLUMNS)} FROM key_groups ORDER BY name"
        rows = await self._run(lambda db: db.execute(sql).fetchall())
        return [with_policy(GroupRecord(name=r[0], created_at=r[1], models=orjson.loads(r[2]), quota_tokens=r[3],
                                        quota_usd=r[4], metadata=orjson.loads(r[5]), updated_at=r[6], rpm=r[7],
                                        tpm=r[8], max_concurrency=r[9], rps=r[10]), r[len(GROUP_COLUMNS):])
                for r in rows]

    async def insert_group(self, group: GroupRecord) -> None:
        columns = GROUP_COLUMNS + POLICY_COLUMNS
        sql = f"INSERT INTO key_groups ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        await self._run(lambda db: _commit(db, sql, _group_values(group) + policy_values(group)))

    async def update_group(self, group: GroupRecord) -> None:
        columns = GROUP_COLUMNS[1:] + POLICY_COLUMNS
        sql = f"UPDATE key_groups SET {', '.join(c + ' = ?' for c in columns)} WHERE name = ?"
        await self._run(lambda db: _commit(db, sql, (*_group_values(group)[1:], *policy_values(group), group.name)))

    async def load_tenants(self) -> list[TenantRecord]:
        sql = f"SELECT {', '.join(_TENANT_COLUMNS)} FROM tenants ORDER BY name"
        rows = await self._run(lambda db: db.execute(sql).fetchall())
        return [TenantRecord(*r) for r in rows]

    async def put_tenant(self, tenant: TenantRecord) -> None:
        sql = (f"INSERT OR REPLACE INTO tenants ({', '.join(_TENANT_COLUMNS)}) "
               f"VALUES ({', '.join('?' for _ in _TENANT_COLUMNS)})")
        await self._run(lambda db: _commit(db, sql, dataclasses.astuple(tenant)))

    async def get_meta(self, name: str) -> str | None:
        row = await self._run(lambda db: db.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone())
        return row[0] if row else None

    async def set_meta(self, name: str, value: str) -> None:
        sql = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        await self._run(lambda db: _commit(db, sql, (name, value)))

    # -- request log ------------------------------------------------------------------------------
    async def write_requests(self, rows: list[RequestRecord]) -> None:
        params: list = []
        for r in rows:
            row = list(_LOG_VALUES(r))
            row[_DETAIL] = orjson.dumps(row[_DETAIL]).decode()
            row[_STREAMED] = int(row[_STREAMED])
            params.extend(row)
        await self._run(lambda db: _insert_log(db, params, len(rows)))

    async def query_requests(self, query: LogQuery) -> list[RequestRecord]:
        rows = await self._run(lambda db: _query_log(db, query))
        out = []
        for row in rows:
            rec = dict(zip(_LOG_COLUMNS, row))
            rec["attempts_detail"] = orjson.loads(rec["attempts_detail"] or "[]")
            rec["streamed"] = bool(rec["streamed"])
            out.append(RequestRecord(**rec))
        return out


    # -- Responses conversations (store/conversations.py) -------------------------------------------
    async def save_conversations(self, rows: list[ConversationRecord]) -> None:
        sql = (f"INSERT OR REPLACE INTO response_conversations ({', '.join(CONVERSATION_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(CONVERSATION_COLUMNS))})")
        args = [(r.response_id, r.key_id, r.model, r.created_at, r.expires_at, r.input_start, r.output_start,
                 orjson.dumps(r.items).decode(), orjson.dumps(r.response).decode() if r.response is not None else None,
                 r.tenant, r.grp)
                for r in rows]
        await self._run(lambda db: _commit_many(db, sql, args))

    async def load_conversation(self, response_id: str, now: float) -> ConversationRecord | None:
        sql = (f"SELECT {', '.join(CONVERSATION_COLUMNS)} FROM response_conversations "
               "WHERE response_id = ? AND expires_at > ?")
        row = await self._run(lambda db: db.execute(sql, (response_id, now)).fetchone())
        if row is None:
            return None
        return ConversationRecord(*row[:5], items=orjson.loads(row[7]), input_start=row[5], output_start=row[6],
                                  response=orjson.loads(row[8]) if row[8] is not None else None, tenant=row[9],
                                  grp=row[10])

    async def delete_conversation(self, response_id: str) -> bool:
        sql = "DELETE FROM response_conversations WHERE response_id = ?"
        return await self._run(lambda db: _commit(db, sql, (response_id,))) > 0

    async def purge_conversations(self, now: float) -> int:
        sql = "DELETE FROM response_conversations WHERE expires_at <= ?"
        return await self._run(lambda db: _commit(db, sql, (now,)))

    async def request_stats(self, since: float, until: float, bucket_s: int,
                            key_id: str | None = None) -> list[StatsBucket]:
        return await self._run(lambda db: _stats(db, since, until, int(bucket_s), key_id))

    # -- captures ---------------------------------------------------------------------------------
    async def write_captures(self, rows: list[CaptureRecord]) -> None:
        sql = "INSERT OR REPLACE INTO request_captures (request_id, ts, key_id, data) VALUES (?, ?, ?, ?)"
        args = [(r.request_id, r.ts, r.key_id, r.data) for r in rows]
        await self._run(lambda db: _commit_many(db, sql, args))

    async def get_capture(self, request_id: str) -> CaptureRecord | None:
        sql = "SELECT request_id, ts, key_id, data FROM request_captures WHERE request_id = ?"
        row = await self._run(lambda db: db.execute(sql, (request_id,)).fetchone())
        return CaptureRecord(*row) if row else None

    async def prune_captures(self, before: float) -> int:
        return await self._run(lambda db: _commit(db, "DELETE FROM request_captures WHERE ts < ?", (before,)))


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def _key_values(key: KeyRecord) -> tuple:
    return (key.id, key.name, key.key_hash, key.key_prefix, key.last4, key.created_at, key.tenant, key.group,
            int(key.enabled), key.expires_at, key.revoked_at, _json(key.metadata), _json(key.models),
            _json(key.ip_allowlist), key.quota_tokens, key.quota_usd, key.updated_at, key.rpm, key.tpm,
            key.max_concurrency, key.rps)


def _key_from_row(r: tuple) -> KeyRecord:
    return KeyRecord(id=r[0], name=r[1], key_hash=r[2], key_prefix=r[3], last4=r[4], created_at=r[5], tenant=r[6],
                     group=r[7], enabled=bool(r[8]), expires_at=r[9], revoked_at=r[10],
                     metadata=orjson.loads(r[11] or "{}"), models=orjson.loads(r[12] or "[]"),
                     ip_allowlist=orjson.loads(r[13] or "[]"), quota_tokens=r[14], quota_usd=r[15], updated_at=r[16],
                     rpm=r[17], tpm=r[18], max_concurrency=r[19], rps=r[20], used_tokens=r[21], used_usd=r[22])


def _group_values(g: GroupRecord) -> tuple:
    return (g.name, g.created_at, _json(g.models), g.quota_tokens, g.quota_usd, _json(g.metadata), g.updated_at,
            g.rpm, g.tpm, g.max_concurrency, g.rps)


# -- on the store's thread ------------------------------------------------------------------------

def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)  # explicit transactions
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across application crashes
    db.execute("PRAGMA busy_timeout=5000")
    db.execute("PRAGMA cache_size=-8000")  # 8 MB; time-ordered request IDs make log inserts appends
    return db


def _migrate(db: sqlite3.Connection) -> list[int]:
    """Apply the migrations this database has not seen, each in its own transaction."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
    applied = []
    for version, sql in migrations():
        if version not in done:
            db.executescript(f"BEGIN;\n{sql}\nINSERT INTO schema_migrations VALUES ({version}, {time.time()});\nCOMMIT;")
            applied.append(version)
    return applied


def _commit(db: sqlite3.Connection, sql: str, args: tuple) -> int:
    with db:
        return db.execute(sql, args).rowcount


def _commit_many(db: sqlite3.Connection, sql: str, args: list[tuple]) -> None:
    with db:
        db.executemany(sql, args)


def _insert_log(db: sqlite3.Connection, params: list, count: int) -> None:
    width = len(_LOG_COLUMNS)
    db.execute("BEGIN")
    try:
        start = 0
        for n in _chunks(count):
            db.execute(_insert_sql(n), params[start * width:(start + n) * width])
            start += n
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


# A range filter (a category family, a status class) matching at least this many rows is served
# by walking the time index newest first, which stops at a page's worth of matches; fewer, by
# its own index and a sort of what it matched. SQLite's planner can't tell the two apart (it
# has no statistics of the log): on a million matching rows the sort took 2.5 s, the walk 3 ms.
_DENSE = 2000


def _query_log(db: sqlite3.Connection, query: LogQuery) -> list[tuple]:
    dense = False
    ranged = [(c, a) for c, a in _range_filters(query)]
    if ranged:
        probe = " AND ".join(c for c, _ in ranged)
        args = [v for _, a in ranged for v in a]
        dense = db.execute(f"SELECT count(*) FROM (SELECT 1 FROM request_log WHERE {probe} LIMIT {_DENSE})",
                           args).fetchone()[0] >= _DENSE
    sql, args = _log_query(query, dense)
    return db.execute(sql, args).fetchall()


def _range_filters(query: LogQuery) -> list[tuple[str, list]]:
    out = []
    if query.category and category_range(query.category)[1] is not None:
        low, high = category_range(query.category)
        out.append(("category >= ? AND category < ?", [low, high]))
    if query.status and not query.status.isdigit():
        out.append(_status_clause(query.status))
    return out


def _log_query(query: LogQuery, dense: bool = False) -> tuple[str, list]:
    where, args = _filters(query, dense)
    if query.before is not None:
        # ts <= first: a range the time index serves (an OR of the two cases would not be)
        where.append("ts <= ? AND (ts < ? OR request_id < ?)")
        args += [query.before[0], query.before[0], query.before[1]]
    sql = f"SELECT {', '.join(_LOG_COLUMNS)} FROM request_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY ts DESC, request_id DESC LIMIT ?", [*args, query.limit]


def _filters(query: LogQuery, dense: bool = False) -> tuple[list[str], list]:
    """WHERE terms; `dense`: the category and status terms written so no index serves them
    (SQLite's unary +), leaving the time index to order the scan."""
    where, args = [], []
    plus = "+" if dense else ""
    for column, op, value in (("ts", ">=", query.since), ("ts", "<", query.until), ("request_id", "=", query.request_id),
                              ("model_requested", "=", query.model), ("key_id", "=", query.key_id),
                              ("tenant", "=", query.tenant)):
        if value is not None and value != "":
            where.append(f"{column} {op} ?")
            args.append(value)
    if query.category:
        low, high = category_range(query.category)
        where.append(f"{plus}category = ?" if high is None else f"{plus}category >= ? AND {plus}category < ?")
        args += [low] if high is None else [low, high]
    if query.status:
        clause, more = _status_clause(query.status)
        where.append(clause.replace("status", plus + "status"))
        args += more
    return where, args


def _stats(db: sqlite3.Connection, since: float, until: float, bucket_s: int, key_id: str | None
           ) -> list[StatsBucket]:
    """Three grouped scans of the window (counts and sums by category, latency and time-to-first-
    byte histograms): a chart costs a few hundred rows, whatever the traffic."""
    where, args = "ts >= ? AND ts < ?" + (" AND key_id = ?" if key_id else ""), [since, until, *([key_id] if key_id else [])]
    bucket = f"CAST((ts - {float(since)!r}) / {bucket_s} AS INTEGER)"
    counts = db.execute(f"SELECT {bucket}, category, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), "
                        f"SUM(cost_usd) FROM request_log WHERE {where} GROUP BY 1, 2", args).fetchall()
    latency = db.execute(f"SELECT {bucket}, {latency_bin_sql('latency_ms')}, COUNT(*) FROM request_log "
                         f"WHERE {where} GROUP BY 1, 2", args).fetchall()
    ttfb = db.execute(f"SELECT {bucket}, {latency_bin_sql('ttfb_ms')}, COUNT(*) FROM request_log "
                      f"WHERE {where} AND streamed = 1 AND ttfb_ms IS NOT NULL GROUP BY 1, 2", args).fetchall()
    return stats_buckets(since, bucket_s, counts, latency, ttfb)


def _status_clause(status: str) -> tuple[str, list]:
    s = status.lower()
    if s == "ok":
        return "status < 400", []
    if s == "error":
        return "status >= 400", []
    if len(s) == 3 and s[0].isdigit() and s[1:] == "xx":
        low = int(s[0]) * 100
        return "status >= ? AND status < ?", [low, low + 100]
    if s.isdigit():
        return "status = ?", [int(s)]
    raise ValueError(f"status filter {status!r}: use a code (429), a class (4xx, 5xx), 'error' or 'ok'")
