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
    KeyRecord,
    LogQuery,
    RequestRecord,
    TenantRecord,
    policy_values,
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
# INSERT binds a whole chunk in one call and inserts it with the GIL released (5 us/row).
# Batches are cut into a fixed set of statement sizes, so a handful of prepared statements serve
# every batch (one per distinct size would pile up in memory); 500 x 23 parameters stays under
# SQLite's 32766-variable limit.
_SIZES = (500, 100, 20, 5, 1)


def _null(value: None) -> None:
    return value


# sqlite3 binds int, float and str directly but sends every other value, None included, through
# its adapter lookup, which on a miss probes `__adapt__` and `__conform__` and builds and drops an
# AttributeError for each (~1,200 instructions per NULL; a request's log row has about a dozen).
# A registered adapter is a dictionary hit instead. None stays None: nothing else changes.
sqlite3.register_adapter(type(None), _null)


def _chunks(count: int) -> list[int]:
    """Statement sizes that add up to count, largest first: 537 -> [500, 20, 5, 5, 5, 1, 1]."""
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
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seawall-sqlite")
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
        sql, args = _log_query(query)
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
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
                 orjson.dumps(r.items).decode(), orjson.dumps(r.response).decode() if r.response is not None else None)
                for r in rows]
        await self._run(lambda db: _commit_many(db, sql, args))

    async def load_conversation(self, response_id: str, key_id: str, now: float) -> ConversationRecord | None:
        sql = (f"SELECT {', '.join(CONVERSATION_COLUMNS)} FROM response_conversations "
               "WHERE response_id = ? AND key_id = ? AND expires_at > ?")
        row = await self._run(lambda db: db.execute(sql, (response_id, key_id, now)).fetchone())
        if row is None:
            return None
        return ConversationRecord(*row[:5], items=orjson.loads(row[7]), input_start=row[5], output_start=row[6],
                                  response=orjson.loads(row[8]) if row[8] is not None else None)

    async def delete_conversation(self, response_id: str, key_id: str) -> bool:
        sql = "DELETE FROM response_conversations WHERE response_id = ? AND key_id = ?"
        return await self._run(lambda db: _commit(db, sql, (response_id, key_id))) > 0

    async def purge_conversations(self, now: float) -> int:
        sql = "DELETE FROM response_conversations WHERE expires_at <= ?"
        return await self._run(lambda db: _commit(db, sql, (now,)))


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


def _log_query(query: LogQuery) -> tuple[str, list]:
    where, args = [], []
    if query.since is not None:
        where.append("ts >= ?")
        args.append(query.since)
    if query.request_id:
        where.append("request_id = ?")
        args.append(query.request_id)
    if query.model:
        where.append("model_requested = ?")
        args.append(query.model)
    if query.status:
        clause, more = _status_clause(query.status)
        where.append(clause)
        args += more
    sql = f"SELECT {', '.join(_LOG_COLUMNS)} FROM request_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY ts DESC LIMIT ?", [*args, query.limit]


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
