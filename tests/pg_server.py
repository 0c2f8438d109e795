"""The real PostgreSQL server the store tests use: 127.0.0.1:5432, user postgres, trust auth,
started with pg_ctlcluster when nothing answers (never skipped). A plain module, not a conftest:
e2e tests import helpers with `from conftest import …`, which a second conftest.py would shadow."""

import asyncio
import contextlib
import os
import subprocess
import time
import uuid

import asyncpg

SERVER = "postgresql://postgres@127.0.0.1:5432"
ADMIN_URL = f"{SERVER}/test"


async def _reachable() -> bool:
    try:
        conn = await asyncpg.connect(ADMIN_URL, timeout=2)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def ensure_postgres() -> None:
    if asyncio.run(_reachable()):
        return
    version = min(os.listdir("/etc/postgresql"))
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False)
    deadline = time.monotonic() + 30
    while not asyncio.run(_reachable()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL did not come up at {ADMIN_URL} after pg_ctlcluster start")
        time.sleep(0.2)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(prefix: str = "seawall_test"):
    """A new, empty database's URL; dropped (its connections closed) on exit."""
    ensure_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{SERVER}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
