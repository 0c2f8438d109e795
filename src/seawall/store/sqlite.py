"""SQLite store (WAL), the embedded default. aiosqlite runs the sqlite3 calls on its own thread,
so the event loop never waits on the disk."""

from __future__ import annotations

import dataclasses
import functools
import operator
import os
import time
from importlib import resources

import aiosqlite
import orjson

from seawall.store.base import KeyRecord, LogQuery, RequestRecord

_KEY_COLUMNS = ("id", "name", "key_hash", "key_prefix", "last4", "created_at", "tenant", "grp", "enabled",
                "expires_at", "revoked_at", "metadata")
_LOG_COLUMNS = tuple(f.name for f in dataclasses.fields(RequestRecord))
_DETAIL, _STREAMED = _LOG_COLUMNS.index("attempts_detail"), _LOG_COLUMNS.index("streamed")
_LOG_VALUES = operator.attrgetter(*_LOG_COLUMNS)  # dataclasses.astuple deep-copies: 5x slower
# Rows per INSERT statement. executemany() hands the GIL back and forth once per row, and on a
# busy event loop every handoff waits for the loop thread: measured, logging cost ~25 % of the
# gateway's throughput that way. A multi-row INSERT binds a whole chunk in one call and inserts
# it with the GIL released (5 us/row, one handoff per chunk). 64 x 23 parameters stays well under
# SQLite's 32766-variable limit.
_CHUNK = 64


@functools.cache
def _insert_sql(rows: int) -> str:
    one = "(" + ", ".join("?" * len(_LOG_COLUMNS)) + ")"
    return f"INSERT OR REPLACE INTO request_log ({', '.join(_LOG_COLUMNS)}) VALUES " + ", ".join([one] * rows)


def migrations() -> list[tuple[int, str]]:
    """(version, sql) pairs shipped with the package, in order. Files are named NNN_what.sql."""
    folder = resources.files("seawall.store").joinpath("migrations", "sqlite")
    found = sorted((int(p.name.split("_", 1)[0]), p.read_text(encoding="utf-8"))
                   for p in folder.iterdir() if p.name.endswith(".sql"))
    return found


class SQLiteStore:
    def __init__(self, path: str):
        self.path = path
        self._db: aiosqlite.Connection | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def open(self) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
        await self._db.execute("PRAGMA busy_timeout=5000")
        await self._db.execute("PRAGMA cache_size=-32000")  # 32 MB: the log's indexes stay in memory
        await self.migrate()

    async def migrate(self) -> list[int]:
        """Apply the migrations this database has not seen, each in its own transaction."""
        await self.db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                              "applied_at REAL NOT NULL)")
        async with self.db.execute("SELECT version FROM schema_migrations") as cur:
            done = {row[0] for row in await cur.fetchall()}
        applied = []
        for version, sql in migrations():
            if version in done:
                continue
            await self.db.executescript("BEGIN;\n" + sql + f"\nINSERT INTO schema_migrations VALUES "
                                        f"({version}, {time.time()});\nCOMMIT;")
            applied.append(version)
        return applied

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    # -- keys -------------------------------------------------------------------------------------
    async def load_keys(self) -> list[KeyRecord]:
        async with self.db.execute(f"SELECT {', '.join(_KEY_COLUMNS)} FROM api_keys") as cur:
            rows = await cur.fetchall()
        return [KeyRecord(id=r[0], name=r[1], key_hash=r[2], key_prefix=r[3], last4=r[4], created_at=r[5],
                          tenant=r[6], group=r[7], enabled=bool(r[8]), expires_at=r[9], revoked_at=r[10],
                          metadata=orjson.loads(r[11] or "{}")) for r in rows]

    async def insert_key(self, key: KeyRecord) -> None:
        await self.db.execute(
            f"INSERT INTO api_keys ({', '.join(_KEY_COLUMNS)}) VALUES ({', '.join('?' for _ in _KEY_COLUMNS)})",
            (key.id, key.name, key.key_hash, key.key_prefix, key.last4, key.created_at, key.tenant, key.group,
             int(key.enabled), key.expires_at, key.revoked_at, orjson.dumps(key.metadata).decode()))
        await self.db.commit()

    async def revoke_keys_named(self, name: str, when: float) -> int:
        cur = await self.db.execute("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                                    (when, name))
        await self.db.commit()
        return cur.rowcount

    # -- request log ------------------------------------------------------------------------------
    async def write_requests(self, rows: list[RequestRecord]) -> None:
        width = len(_LOG_COLUMNS)
        params: list = []
        for r in rows:
            row = list(_LOG_VALUES(r))
            row[_DETAIL] = orjson.dumps(row[_DETAIL]).decode()
            row[_STREAMED] = int(row[_STREAMED])
            params.extend(row)
        for start in range(0, len(rows), _CHUNK):
            n = min(_CHUNK, len(rows) - start)
            await self.db.execute(_insert_sql(n), params[start * width:(start + n) * width])
        await self.db.commit()

    async def query_requests(self, query: LogQuery) -> list[RequestRecord]:
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
        sql += " ORDER BY ts DESC LIMIT ?"
        async with self.db.execute(sql, (*args, query.limit)) as cur:
            rows = await cur.fetchall()
        out = []
        for row in rows:
            rec = dict(zip(_LOG_COLUMNS, row))
            rec["attempts_detail"] = orjson.loads(rec["attempts_detail"] or "[]")
            rec["streamed"] = bool(rec["streamed"])
            out.append(RequestRecord(**rec))
        return out


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
