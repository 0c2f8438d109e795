"""Tenant isolation end to end: a gateway process whose config file limits two tenants; one
tenant floods and gets its own 429s naming its tenant, while the other tenant's steady stream,
sent at the same time through the same gateway, all succeeds. B's latency alone and during the
flood is printed (run with -s to see it), not asserted: the test VM's timing is not a contract.
The flood comes from a process of its own, so B's client measures the gateway, not the flooder.

Keys are made through the CLI with --tenant; the tenants' limits come only from the config. The
last test runs two gateway processes on one Redis: a tenant's budget is one across them."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
import time

import aiohttp
import pytest
from admin_cli import cli_json, new_key, unique
from conftest import http, start_gateway
from flooding import BODY, FLOOD_CONCURRENCY, FLOOD_REQUESTS, call, flood_process
from test_redis_limits import RedisServer, start_sharing, wait_until_known
from test_redis_limits import config as redis_config

A_RPM = 30  # tenant acme: the flooder
B_RPM = 600  # tenant globex: room for its steady stream, so only isolation is in question
STEADY_REQUESTS, STEADY_CONCURRENCY = 50, 2
HOOLI_RPM = 50  # a configured tenant for the admin API test alone


def isolation_config(sim_port: int) -> str:
    return ("request_log:\n  flush_interval_s: 0.1\n"
            "models:\n  - name: gpt-4o-mini\n    deployments:\n      - provider: openai\n"
            f"        base_url: http://127.0.0.1:{sim_port}/v1\n        model: gpt-4o-mini\n"
            "        api_key_env: SIM_KEY\n"
            f"limits:\n  tenants:\n    acme: {{rpm: {A_RPM}}}\n    globex: {{rpm: {B_RPM}}}\n"
            f"    hooli: {{rpm: {HOOLI_RPM}, tpm: 100000}}\n")


@pytest.fixture(scope="module")
def tenant_gateway(tmp_path_factory, simulator):
    gw = start_gateway(tmp_path_factory, isolation_config(simulator.port), name="tenant-gateway")
    yield gw
    gw.proc.stop()


async def steady(url: str, key: str) -> list[tuple[int, dict, float]]:
    """STEADY_REQUESTS at STEADY_CONCURRENCY, each worker sending its next when its last returns."""
    left = iter(range(STEADY_REQUESTS))
    out: list[tuple[int, dict, float]] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in left:
            out.append(await call(session, url, key))

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(STEADY_CONCURRENCY)))
    return out


def latency_ms(results: list[tuple[int, dict, float]]) -> tuple[float, float]:
    """(p50, p99) in ms."""
    cuts = statistics.quantiles([r[2] * 1000 for r in results], n=100, method="inclusive")
    return cuts[49], cuts[98]


async def test_a_flooding_tenant_gets_its_own_429s_while_another_tenants_stream_all_succeeds(tenant_gateway, sim):
    url = tenant_gateway.base_url + "/chat/completions"
    flooder = new_key(tenant_gateway, "--tenant", "acme")
    flooder_too = new_key(tenant_gateway, "--tenant", "acme")  # a second key of the same tenant
    steady_key = new_key(tenant_gateway, "--tenant", "globex")

    alone = await steady(url, steady_key["key"])

    spawn = multiprocessing.get_context("spawn")
    started, stop, results = spawn.Event(), spawn.Event(), spawn.Queue()
    flooding = spawn.Process(target=flood_process, args=(url, flooder["key"], started, stop, results))
    began = time.monotonic()
    flooding.start()
    try:
        # The flood is under way (its first FLOOD_CONCURRENCY replies are in); then B, meanwhile.
        assert await asyncio.to_thread(started.wait, 60), "the flood never started"
        during = await steady(url, steady_key["key"])
    finally:
        stop.set()
    try:
        flooded = await asyncio.to_thread(results.get, True, 60)
    finally:
        flooding.join(10)
        if flooding.is_alive():
            flooding.kill()
    lasted = time.monotonic() - began

    admitted = [r for r in flooded if r[0] == 200]
    refused = [r for r in flooded if r[0] == 429]
    p50_alone, p99_alone = latency_ms(alone)
    p50_during, p99_during = latency_ms(during)
    print(f"\ntenant acme (rpm {A_RPM}) flood: {len(flooded)} requests at concurrency {FLOOD_CONCURRENCY} "
          f"in {lasted:.2f} s: {len(admitted)} admitted, {len(refused)} refused (429)"
          f"\ntenant globex, {STEADY_REQUESTS} requests at concurrency {STEADY_CONCURRENCY}: "
          f"alone p50 {p50_alone:.1f} ms, p99 {p99_alone:.1f} ms; "
          f"during the flood p50 {p50_during:.1f} ms, p99 {p99_during:.1f} ms")

    # B: every request of its stream succeeded, alone and during the flood.
    assert [r[0] for r in alone + during] == [200] * (2 * STEADY_REQUESTS), [r[1] for r in alone + during
                                                                              if r[0] != 200][:3]
    # A: the flood is held to the tenant's rpm (a burst of A_RPM, then one every 60 / A_RPM s)…
    assert len(flooded) >= FLOOD_REQUESTS and len(admitted) + len(refused) == len(flooded)
    assert A_RPM <= len(admitted) <= A_RPM + lasted * A_RPM / 60 + 1
    # …and every refusal names the tenant's limit, with a wait to honour.
    for status, body, _ in refused:
        error = body["error"]
        assert error["code"] == "rate_limit_requests" and error["category"] == "rate_limit.requests"
        assert "(tenant acme)" in error["hint"] and f"rpm={A_RPM}" in error["hint"]
        assert error["request_id"]
    # The tenant's budget is the tenant's, not the key's: its other key is refused as well now.
    async with aiohttp.ClientSession() as session:
        status, body, _ = await call(session, url, flooder_too["key"])
    assert status == 429 and "(tenant acme)" in body["error"]["hint"]


async def test_keys_without_a_tenant_and_other_tenants_are_not_limited_by_a_tenants_config(tenant_gateway, sim):
    """Only keys of a configured tenant carry its scope: a key of an unlisted tenant gets no
    x-ratelimit-* headers (no limits at all), a listed tenant's key gets its tenant's."""
    url = tenant_gateway.base_url + "/chat/completions"
    unlisted = new_key(tenant_gateway, "--tenant", "initech")
    listed = new_key(tenant_gateway, "--tenant", "globex")
    async with aiohttp.ClientSession() as session:
        for made, expected in ((unlisted, None), (listed, str(B_RPM))):
            async with session.post(url, json=BODY, headers={"authorization": f"Bearer {made['key']}"}) as r:
                assert r.status == 200
                assert r.headers.get("x-ratelimit-limit-requests") == expected



# -- the admin API: GET|PUT /admin/tenants/{name} ----------------------------------------------------
def admin(gateway, method: str, path: str, body: object = None) -> tuple[int, dict]:
    status, _, reply = http(method, gateway.url + path, body, {"authorization": f"Bearer {gateway.admin_key}"})
    return status, json.loads(reply)


def test_tenant_limits_set_through_the_admin_api_hold_all_its_keys_at_once(tenant_gateway, sim):
    keys = [new_key(tenant_gateway, "--tenant", "umbrella")["key"] for _ in range(2)]
    status, view = admin(tenant_gateway, "GET", "/admin/tenants/umbrella")
    assert status == 200 and view["rpm"] is None and view["configured"] is None
    assert view["effective"] == {"rps": None, "rpm": None, "tpm": None, "max_concurrency": None}
    status, view = admin(tenant_gateway, "PUT", "/admin/tenants/umbrella", {"rpm": 2})
    assert status == 200 and view["rpm"] == 2 and view["effective"]["rpm"] == 2 and view["updated_at"]
    url = tenant_gateway.base_url + "/chat/completions"
    statuses, hints = [], []
    for key in (keys[0], keys[1], keys[0]):  # the two keys spend one budget of 2
        status, _, reply = http("POST", url, BODY, {"authorization": f"Bearer {key}"})
        statuses.append(status)
        hints.append(json.loads(reply).get("error", {}).get("hint"))
    assert statuses == [200, 200, 429] and "(tenant umbrella)" in hints[2] and "rpm=2" in hints[2]
    status, view = admin(tenant_gateway, "PUT", "/admin/tenants/umbrella", {})  # PUT replaces: no limits
    assert status == 200 and view["effective"]["rpm"] is None
    assert http("POST", url, BODY, {"authorization": f"Bearer {keys[1]}"})[0] == 200


def test_a_configured_tenants_stored_limits_combine_with_the_configs_the_lower_winning(tenant_gateway):
    status, view = admin(tenant_gateway, "PUT", "/admin/tenants/hooli", {"rpm": 1000, "max_concurrency": 4})
    assert status == 200
    assert view["configured"] == {"rps": None, "rpm": HOOLI_RPM, "tpm": 100000, "max_concurrency": None}
    assert view["effective"] == {"rps": None, "rpm": HOOLI_RPM, "tpm": 100000, "max_concurrency": 4}
    status, view = admin(tenant_gateway, "PUT", "/admin/tenants/hooli", {"rpm": 5, "rps": 1})
    assert view["effective"] == {"rps": 1, "rpm": 5, "tpm": 100000, "max_concurrency": None}
    assert admin(tenant_gateway, "PUT", "/admin/tenants/wayne", {"rpm": 7})[0] == 200  # stored only, not configured
    status, listed = admin(tenant_gateway, "GET", "/admin/tenants")
    names = [t["name"] for t in listed["data"]]
    assert {"acme", "globex", "hooli", "wayne"} <= set(names) and names == sorted(names)


@pytest.mark.parametrize(("body", "code", "param"), [
    ({"rpm": 0}, "admin_invalid_value", "rpm"), ({"rps": -1}, "admin_invalid_value", "rps"),
    ({"tpm": "1M"}, "invalid_field", "tpm"), ({"max_concurrency": 2.5}, "invalid_field", "max_concurrency"),
    ({"requests_per_minute": 5}, "admin_unknown_field", "requests_per_minute"),
])
def test_the_admin_api_refuses_tenant_limits_that_cant_be_met_naming_the_field(tenant_gateway, body, code, param):
    status, reply = admin(tenant_gateway, "PUT", "/admin/tenants/umbrella", body)
    assert (status, reply["error"]["code"], reply["error"]["param"]) == (400, code, param), reply


def test_an_unknown_tenant_is_a_404_that_says_how_tenants_come_to_be(tenant_gateway):
    status, reply = admin(tenant_gateway, "GET", "/admin/tenants/nobody-names-this")
    assert status == 404 and reply["error"]["code"] == "admin_not_found" and "--tenant" in reply["error"]["hint"]


# -- two gateways, one Redis: a tenant's budget is one across them ----------------------------------
@pytest.fixture
def redis_pair(tmp_path_factory, sim):
    """Two gateway processes sharing a store, a Redis of their own and the simulator; tenant acme
    limited to SHARED_RPM by their (identical) config files."""
    server = RedisServer().start()
    data_dir = str(tmp_path_factory.mktemp("tenant-shared-store") / "data")
    # The generous timeout of test_redis_limits.py: one shared count is the question here, not
    # how fast a loaded VM answers (past the timeout an admission would be admitted uncounted).
    cfg = redis_config(sim.port, f"limits:\n  redis_timeout_ms: 2000\n  tenants:\n    acme: {{rpm: {SHARED_RPM}}}\n")
    started = []
    try:
        for name in ("tenant-gateway-a", "tenant-gateway-b"):
            started.append(start_sharing(tmp_path_factory, name, cfg, data_dir, server.url))
        yield tuple(started)
    finally:
        for gw in started:
            gw.proc.stop()
        server.stop()


SHARED_RPM = 10


async def test_two_gateways_sharing_redis_hold_a_tenant_to_one_budget(redis_pair):
    """30 requests at once, 15 through each gateway with a different key of tenant acme: the
    tenant's 10 pass in all (plus what refills while they run), not 10 per gateway or per key."""
    a, b = redis_pair
    keys = [cli_json(a, "keys", "create", "--name", unique("acme"), "--tenant", "acme")["key"] for _ in range(2)]
    for key in keys:
        wait_until_known(b, key)
    began = time.monotonic()
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(call(session, gw.base_url + "/chat/completions", key)
                                         for gw, key in ((a, keys[0]), (b, keys[1])) for _ in range(15)))
    lasted = time.monotonic() - began
    admitted = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 429]
    print(f"\ntwo gateways, one Redis, tenant acme rpm {SHARED_RPM}: {len(admitted)} of 30 admitted "
          f"in {lasted:.2f} s, {len(refused)} refused")
    assert len(admitted) + len(refused) == 30
    assert SHARED_RPM <= len(admitted) <= SHARED_RPM + lasted * SHARED_RPM / 60 + 1
    assert all("(tenant acme)" in r[1]["error"]["hint"] for r in refused)
