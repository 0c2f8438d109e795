"""Fixtures shared by the in-process tests (e2e/ has its own, for real processes)."""

import os

import pytest

from seawall.store.sqlite import SQLiteStore

# Every gateway a test starts serves its console on a free port (it prints which): many gateways
# run at once here, and the default console.port (8101) can be held by one of them only.
os.environ.setdefault("SEAWALL_CONSOLE_PORT", "0")


@pytest.fixture
async def store(tmp_path):
    """A real SQLite store, migrated, in a fresh directory."""
    s = SQLiteStore(str(tmp_path / "seawall.db"))
    await s.open()
    yield s
    await s.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    """A fresh database of either kind: SQLite in a temp dir, or a new database on the real
    PostgreSQL (tests/pg_server.py; it runs its own event loop, so this fixture is sync)."""
    if request.param == "sqlite":
        yield str(tmp_path / "seawall.db")
        return
    from pg_server import fresh_database

    with fresh_database() as url:
        yield url


@pytest.fixture
async def any_store(store_url):
    """The store over `store_url`, opened (migrated): store tests run against both kinds."""
    from seawall.store.postgres import PostgresStore

    s = PostgresStore(store_url) if store_url.startswith("postgresql://") else SQLiteStore(store_url)
    await s.open()
    yield s
    await s.close()
