"""Fixtures shared by the in-process tests (e2e/ has its own, for real processes)."""

import pytest

from seawall.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path):
    """A real SQLite store, migrated, in a fresh directory."""
    s = SQLiteStore(str(tmp_path / "seawall.db"))
    await s.open()
    yield s
    await s.close()
