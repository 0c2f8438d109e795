"""The PostgreSQL store: the store contract tests of test_sqlite.py run here against a real
PostgreSQL, plus what only several gateways on one database need (migrations under a lock, a
shared server secret, idempotent log batches, clear connection errors).

The server is the real one at 127.0.0.1:5432 (user postgres, trust auth), started with
pg_ctlcluster when nothing answers (never skipped). The session works in a database of its own,
made from `test`'s server and dropped at the end; each test gets the tables empty. Fixtures live
here, not in a conftest.py: e2e tests import helpers with `from conftest import …`, which a second
tests/*/conftest.py would shadow."""

import asyncio
import socket
import sqlite3

import click
import pytest
from pg_server import SERVER, ensure_postgres, fresh_database  # noqa: F401
from test_sqlite import (  # noqa: F401 - collected here too, with this module's `store`
    row,
    test_batches_across_insert_chunks_are_written_whole,
    test_key_fields_groups_and_meta_round_trip,
    test_rate_limits_round_trip,
    test_request_cost_round_trips_and_unknown_stays_null,
    test_request_log_round_trip_and_filters,
    test_revoke_by_name,
)

from seawall.cli import _database_options
from seawall.config import ConfigError, parse_settings
from seawall.keyring import hash_key, key_record, load_or_create_shared_secret, new_key
from seawall.store import sqlite as sqlite_store
from seawall.store.base import LogQuery
from seawall.store.postgres import (
    PostgresStore,
    StoreUnavailable,
    log_query,
    migrations,
    redact_url,
    status_clause,
)


@pytest.fixture(scope="session")
def postgres_url():
    """This session's database, migrated by the first store that opens it."""
    with fresh_database() as url:
        yield url


@pytest.fixture
def new_database():
    """A database of the test's own, for what must start from nothing (migrations, races)."""
    with fresh_database() as url:
        yield url


@pytest.fixture
async def store(postgres_url):
    """The session database's store, its tables emptied: each test starts from nothing."""
    s = PostgresStore(postgres_url)
    await s.open()
    async with s._db.acquire() as conn:
        tables = [r[0] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'")]
        await conn.execute(f"TRUNCATE {', '.join(tables)}")
    yield s
    await s.close()


async def test_gateways_starting_together_migrate_once(new_database):
    stores = [PostgresStore(new_database) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))  # without the advisory lock, CREATE TABLE races fail
    try:
        assert [await s.migrate() for s in stores] == [[]] * 4
        versions = [r[0] for r in await stores[0]._db.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [v for v, _ in migrations()]
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_schema_mirrors_sqlite(tmp_path, store):
    """Every migration both stores have gives the same tables and columns (types differ)."""
    shared = max(v for v, _ in migrations())
    lite = sqlite3.connect(tmp_path / "mirror.db")
    for version, sql in sqlite_store.migrations():
        if version <= shared:
            lite.executescript(sql)
    tables = [t for (t,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    in_sqlite = {t: {c[1] for c in lite.execute(f"PRAGMA table_info({t})")} for t in tables}
    rows = await store._db.fetch("SELECT table_name, column_name FROM information_schema.columns "
                                 "WHERE table_schema = 'public' AND table_name <> 'schema_migrations'")
    in_postgres: dict[str, set[str]] = {}
    for r in rows:
        in_postgres.setdefault(r["table_name"], set()).add(r["column_name"])
    assert in_postgres == in_sqlite


async def test_keys_are_stored_as_hashes_only(store):
    secret, key = b"s" * 32, new_key()
    await store.insert_key(key_record(secret, key, "ci", tenant="acme"))
    (k,) = await store.load_keys()
    assert k.key_hash == hash_key(secret, key) and k.tenant == "acme" and k.last4 == key[-4:]
    dump = "".join(await store._db.fetchval("SELECT string_agg(row_to_json(t)::text, '') FROM api_keys t") or "")
    assert key not in dump and key[10:] not in dump


async def test_json_fields_are_jsonb(store):
    await store.insert_key(key_record(b"s" * 32, new_key(), "svc", models=["gpt-4o*"], metadata={"team": "a"}))
    found = await store._db.fetchval("SELECT name FROM api_keys WHERE models ? 'gpt-4o*' AND metadata->>'team' = 'a'")
    assert found == "svc"


async def test_racing_claims_of_the_server_secret_agree(postgres_url, store):
    others = [PostgresStore(postgres_url) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in others))
    try:
        secrets = await asyncio.gather(*(load_or_create_shared_secret(s) for s in [store, *others] * 5))
        assert len(set(secrets)) == 1 and len(secrets[0]) == 32
        assert await store.get_meta("server_secret") == secrets[0].hex()
        assert await store.claim_meta("server_secret", "other") == secrets[0].hex()  # claimed once, kept
    finally:
        await asyncio.gather(*(s.close() for s in others))


async def test_a_retried_log_batch_is_written_once(store):
    batch = [row(f"req_{i}", 200, ts=1000.0 + i) for i in range(3)]
    await store.write_requests(batch)
    await store.write_requests([*batch, row("req_3", 500, ts=1004.0)])  # the writer retries a batch that committed
    assert [r.request_id for r in await store.query_requests(LogQuery())] == ["req_3", "req_2", "req_1", "req_0"]
    await store.write_requests([])


async def test_open_twice_is_one_pool(postgres_url):
    s = PostgresStore(postgres_url)
    await s.open()
    pool = s._db
    await s.open()  # the server opens it before the app, whose start-up opens it again
    assert s._db is pool
    await s.close()
    with pytest.raises(RuntimeError, match="not open"):
        await s.load_keys()


async def test_an_unreachable_server_is_named_without_its_password():
    port = free_port()  # just freed: connecting to it is refused
    with pytest.raises(StoreUnavailable) as e:
        await PostgresStore(f"postgresql://app:hunter2@127.0.0.1:{port}/gw").open()
    message = str(e.value)
    assert "hunter2" not in message and "postgresql://app:***@127.0.0.1" in message
    assert f"pg_isready -h 127.0.0.1 -p {port}" in message


async def test_a_missing_database_says_create_it(postgres_url):
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_db_x"
    with pytest.raises(StoreUnavailable, match=r"database 'no_such_db_x' does not exist — create it"):
        await PostgresStore(missing).open()


async def test_a_refused_login_names_the_user():
    with pytest.raises(StoreUnavailable, match=r'refused the login: role "nobody_here" does not exist'):
        await PostgresStore("postgresql://nobody_here@127.0.0.1:5432/test").open()


# -- pure ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url,shown", [
    ("postgresql://app:hunter2@db:5432/gw", "postgresql://app:***@db:5432/gw"),
    ("postgresql://app@db/gw", "postgresql://app@db/gw"),
    ("postgresql://db/gw?user=app&password=hunter2", "postgresql://db/gw?user=app&password=%2A%2A%2A"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


@pytest.mark.parametrize("status,sql", [
    ("ok", "status < 400"), ("error", "status >= 400"), ("5xx", "status >= 500 AND status < 600"),
    ("429", "status = 429"), ("4XX", "status >= 400 AND status < 500"),
])
def test_status_filters_are_literal_bounds(status, sql):
    assert status_clause(status) == sql


def test_status_filter_refuses_anything_else():
    for bad in ("bad", "4x", "'; DROP TABLE request_log; --"):
        with pytest.raises(ValueError, match="use a code"):
            status_clause(bad)


def test_log_query_numbers_its_parameters():
    sql, args = log_query(LogQuery(since=5.0, request_id="req_1", model="m", status="5xx", limit=7))
    assert sql.endswith("WHERE ts >= $1 AND request_id = $2 AND model_requested = $3 "
                        "AND status >= 500 AND status < 600 ORDER BY ts DESC, request_id DESC LIMIT $4")
    assert args == [5.0, "req_1", "m", 7]


def test_migrations_are_numbered_like_sqlite():
    ours = [v for v, _ in migrations()]
    assert ours == sorted(set(ours)) and ours[0] == 1
    assert set(ours) <= {v for v, _ in sqlite_store.migrations()}


# -- selecting the store ---------------------------------------------------------------------------

MODELS = [{"name": "m", "deployments": [{"provider": "simulator", "model": "m"}]}]


@pytest.mark.parametrize("url,problem", [
    ("mysql://db/x", "store.url: must start with postgresql:// (got mysql://)"),
    ("db.internal:5432/x", "store.url: must start with postgresql://"),
    ("postgresql://db:notaport/x", "store.url: not a valid URL"),
])
def test_config_names_a_malformed_store_url(url, problem):
    with pytest.raises(ConfigError) as e:
        parse_settings({"models": MODELS, "store": {"url": url}})
    assert e.value.problems[0].startswith(problem)


def test_database_url_comes_from_the_flag_then_the_environment_then_the_config():
    settings = parse_settings({"models": MODELS, "store": {"url": "postgresql://cfg/db"}})
    env = {"SEAWALL_DATABASE_URL": "postgresql://env/db"}
    assert _database_options("postgresql://flag/db", env, settings) == {
        "database_url": "postgresql://flag/db", "database_url_source": "--database-url"}
    assert _database_options(None, env, settings)["database_url_source"] == "SEAWALL_DATABASE_URL"
    assert _database_options(None, {}, settings) == {"database_url": "postgresql://cfg/db",
                                                     "database_url_source": "store.url"}
    assert _database_options(None, {}, parse_settings({"models": MODELS})) == {"database_url": None}
    with pytest.raises(click.ClickException, match="SEAWALL_DATABASE_URL: must start with postgresql://"):
        _database_options(None, {"SEAWALL_DATABASE_URL": "sqlite:///x"}, settings)


# -- helpers ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
