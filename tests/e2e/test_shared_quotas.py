"""Quotas and deployment caps shared through Redis, end to end: two `seawall serve` processes on one
SQLite store, one Redis (a redis-server of each test's own) and one simulator. A key's token quota
spread across both is never spent past what its holds allow; a deployment's `max_concurrency: 4`
holds in total (the simulator counts its own requests in flight); a gateway killed with SIGKILL
gives its slots and holds back within limits.lease_s; Redis down follows limits.on_redis_error."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3

import pytest
from conftest import http
from test_redis_limits import create_key, redis_server, sharing_pair, wait_until_known  # noqa: F401
from test_upstream_faults import wait_until

HI = [{"role": "user", "content": "hi"}]
MAX_TOKENS = 20
LEASE_S = 2


def shared_config(sim_port: int, policy: str = "open") -> str:
    deployment = (f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
                  "        model: gpt-4o-mini\n        api_key_env: SIM_KEY\n")
    return ("auth:\n  refresh_interval_s: 0.2\nrequest_log:\n  flush_interval_s: 0.1\n"
            f"limits:\n  redis_timeout_ms: 2000\n  lease_s: {LEASE_S}\n  on_redis_error: {policy}\n"
            "models:\n  - name: gpt-4o-mini\n    deployments:\n" + deployment +
            "  - name: capped\n    deployments:\n" + deployment +
            "        name: sim-capped\n        max_concurrency: 4\n        max_queue: 100\n"
            "        max_queue_wait_s: 60\n        circuit: {failures_to_open: 1000}\n"
            "  - name: paced\n    deployments:\n" + deployment +
            "        name: sim-paced\n        rpm: 6\n        max_queue_wait_s: 1\n")


@pytest.fixture
def pair(tmp_path_factory, sim, redis_server):
    yield from sharing_pair(tmp_path_factory, shared_config(sim.port), redis_server.url, ("quota-a", "quota-b"))


@pytest.fixture
def closed_pair(tmp_path_factory, sim, redis_server):
    yield from sharing_pair(tmp_path_factory, shared_config(sim.port, "closed"), redis_server.url,
                            ("closed-a", "closed-b"))


def estimate(model: str = "gpt-4o-mini", max_tokens: int = MAX_TOKENS) -> int:
    """What a request holds (pipeline/admit.py estimate_tokens): its body's bytes / 4 + max_tokens,
    the body as conftest.http sends it."""
    return len(json.dumps({"model": model, "messages": HI, "max_tokens": max_tokens}).encode()) // 4 + max_tokens


ESTIMATE = estimate()


async def chat(gateway, key: str, model: str = "gpt-4o-mini", max_tokens: int = MAX_TOKENS) -> dict:
    """One request: its status, its reply's usage or its error's code (status None: the
    connection broke, as it does for the clients of a killed gateway)."""
    payload = {"model": model, "messages": HI, "max_tokens": max_tokens}
    try:
        status, _, raw = await asyncio.to_thread(http, "POST", gateway.base_url + "/chat/completions", payload,
                                                 {"authorization": f"Bearer {key}"}, 90)
    except OSError:
        return {"status": None, "usage": None, "code": None}
    reply = json.loads(raw)
    return {"status": status, "usage": reply.get("usage"), "code": (reply.get("error") or {}).get("code")}


def stored_tokens(gateway, key_id: str) -> int:
    """What the store holds for the key (SQLite, read directly: the gateways are stopped)."""
    with sqlite3.connect(os.path.join(gateway.data_dir, "seawall.db")) as db:
        return db.execute("SELECT used_tokens FROM api_keys WHERE id = ?", (key_id,)).fetchone()[0]


async def test_a_quota_spread_across_two_gateways_is_never_overspent(pair, sim):
    """Waves of 20 requests at once, 10 through each gateway, until a whole wave is refused. The
    guarantee: every admitted request held its estimate first, and the estimates held at once
    never exceed what is left, so what the upstream reports spent stays within the quota whenever
    each reply costs at most its estimate (past it, by at most the sum of the replies' excess over
    their estimates, which the ledger does not charge). Without the shared balance each gateway
    would admit against its own copy: up to twice the quota."""
    a, b = pair
    quota = 20 * ESTIMATE + ESTIMATE // 2
    made = create_key(a, quota_tokens=quota)
    wait_until_known(b, made["key"])
    replies: list[dict] = []
    for _ in range(10):
        wave = await asyncio.gather(*(chat(g, made["key"]) for g in pair * 10))
        replies += wave
        if all(r["status"] == 429 for r in wave):
            break
    served = [r["usage"]["total_tokens"] for r in replies if r["status"] == 200]
    refused = [r for r in replies if r["status"] != 200]
    assert refused and all(r["status"] == 429 and r["code"] == "insufficient_quota" for r in refused)
    assert max(served) <= ESTIMATE  # the precondition of the exact bound below
    assert sum(served) <= quota  # the upstream never spent past the quota, across both gateways
    assert quota - sum(served) < ESTIMATE  # and it refused only once no estimate fitted any more
    assert sim.stats()["requests"]["total"] == len(served)  # a refused request never went upstream
    for g in pair:  # a clean stop writes each gateway's unwritten charges
        g.proc.stop()
    assert stored_tokens(a, made["id"]) == sum(served)  # each charge written once, by the gateway that made it


async def test_a_top_up_through_one_gateway_reaches_the_other(pair, sim):
    """The quota travels with each hold, as the answering gateway knows it: the one that took the
    admin call at once, the other with its next key-cache refresh (auth.refresh_interval_s)."""
    a, b = pair
    made = create_key(a, quota_tokens=ESTIMATE)
    wait_until_known(b, made["key"])
    assert (await chat(b, made["key"]))["status"] == 200
    assert [(await chat(g, made["key"]))["code"] for g in pair] == ["insufficient_quota"] * 2
    status, _, raw = http("PATCH", f"{a.url}/admin/keys/{made['id']}", {"quota_tokens": 10 * ESTIMATE},
                          {"authorization": f"Bearer {a.admin_key}"})
    assert status == 200, raw
    assert (await chat(a, made["key"]))["status"] == 200
    assert await asyncio.to_thread(wait_until, lambda: http(
        "POST", b.base_url + "/chat/completions", {"model": "gpt-4o-mini", "messages": HI, "max_tokens": MAX_TOKENS},
        {"authorization": f"Bearer {made['key']}"})[0] == 200)


async def test_with_a_rate_limit_the_quota_refuses_in_the_admission_and_spends_no_rate(pair, sim):
    """A key with rpm 3 and a quota of one estimate, on both gateways: the hold is made in the
    admission's script call. Its refusals say insufficient_quota (not a rate limit), carry the
    rate-limit headers, and spend no request of the 3: once topped up, the key still has 2."""
    a, b = pair
    made = create_key(a, rpm=3, quota_tokens=ESTIMATE)
    wait_until_known(b, made["key"])
    assert (await chat(a, made["key"]))["status"] == 200
    body = {"model": "gpt-4o-mini", "messages": HI, "max_tokens": MAX_TOKENS}
    for g in (b, a, b, a):  # four refusals: more than the rpm's 2 left, had they spent it
        status, headers, raw = await asyncio.to_thread(http, "POST", g.base_url + "/chat/completions", body,
                                                       {"authorization": f"Bearer {made['key']}"})
        assert (status, json.loads(raw)["error"]["code"]) == (429, "insufficient_quota")
        assert headers["x-ratelimit-limit-requests"] == "3" and headers["x-ratelimit-remaining-requests"] == "1"
    status, _, raw = http("PATCH", f"{a.url}/admin/keys/{made['id']}", {"quota_tokens": 10 * ESTIMATE},
                          {"authorization": f"Bearer {a.admin_key}"})
    assert status == 200, raw
    assert [(await chat(a, made["key"]))["status"] for _ in range(2)] == [200, 200]
    assert (await chat(a, made["key"]))["code"] == "rate_limit_requests"
    assert sim.stats()["requests"]["total"] == 3


async def test_a_usd_quota_is_priced_and_held_in_the_admission_too(pair, sim):
    """The price is the model's as the client named it, known before pre-flight: a USD quota
    folds into the admission as a token quota does, and its refusals spend no request either."""
    a, b = pair
    made = create_key(a, rpm=1, quota_usd=1e-9)
    wait_until_known(b, made["key"])
    assert [(await chat(g, made["key"]))["code"] for g in pair * 2] == ["insufficient_quota"] * 4
    status, _, raw = http("PATCH", f"{a.url}/admin/keys/{made['id']}", {"quota_usd": 10.0},
                          {"authorization": f"Bearer {a.admin_key}"})
    assert status == 200, raw
    assert (await chat(a, made["key"]))["status"] == 200  # the one request of the rpm, unspent until now
    assert (await chat(a, made["key"]))["code"] == "rate_limit_requests"


async def test_max_concurrency_4_holds_in_total_across_two_gateways(pair, sim):
    sim.set_faults([{"match": {"model": "gpt-4o-mini"}, "fault": "latency_ms=400"}])
    outcomes = await asyncio.gather(*(chat(g, g.key, "capped") for g in pair * 8))
    assert [o["status"] for o in outcomes] == [200] * 16  # the rest queued, none refused
    stats = sim.stats()
    assert stats["requests"]["total"] == 16
    assert stats["peak_in_flight"] == 4  # never more upstream at once than the cap, and the cap was used


async def test_a_deployments_rpm_holds_in_total_across_two_gateways(pair, sim):
    """rpm 6: a burst of 6 in all, then one every 10 s, longer than the 1 s these may wait."""
    outcomes = await asyncio.gather(*(chat(g, g.key, "paced") for g in pair * 6))
    assert sorted(o["status"] for o in outcomes) == [200] * 6 + [503] * 6
    assert {o["code"] for o in outcomes if o["status"] == 503} == {"queue_full"}
    assert sim.stats()["requests"]["total"] == 6


async def test_a_killed_gateways_slots_and_holds_free_themselves(pair, sim):
    """Gateway A holds all 4 slots and 4 of a quota's 5 estimates with requests the upstream keeps
    for a minute, and is killed with SIGKILL: it never gives them back. B's request that needs 2
    estimates is refused while they are held, and served once A's leases expire
    (limits.lease_s, 2 s here); it takes one of A's dead slots too."""
    a, b = pair
    one = estimate("capped")
    made = create_key(a, quota_tokens=5 * one)
    wait_until_known(b, made["key"])
    sim.set_faults([{"match": {"model": "gpt-4o-mini"}, "fault": "latency_ms=60000"}])
    held = [asyncio.ensure_future(chat(a, made["key"], "capped")) for _ in range(4)]
    assert await asyncio.to_thread(wait_until, lambda: sim.stats()["in_flight"] == 4)
    double = one + MAX_TOKENS  # max_tokens for an estimate of about two: more than the one left
    assert one < estimate("capped", double) <= 5 * one
    refused = await chat(b, made["key"], "capped", double)
    assert (refused["status"], refused["code"]) == (429, "insufficient_quota")
    a.proc.stop(signal.SIGKILL)
    assert [(await t)["status"] for t in held] == [None] * 4  # A's clients lose what A held
    sim.set_faults([])
    outcome = await chat(b, made["key"], "capped", double)
    while outcome["code"] == "insufficient_quota":  # until A's holds expire; then it waits for a slot
        await asyncio.sleep(0.1)
        outcome = await chat(b, made["key"], "capped", double)
    assert outcome["status"] == 200, outcome
    assert "not answering" not in b.proc.output()


async def test_redis_down_closed_refuses_quota_and_capped_requests_with_503(closed_pair, sim, redis_server):
    a, b = closed_pair
    made = create_key(a, quota_tokens=100_000)
    wait_until_known(b, made["key"])
    assert (await chat(b, made["key"]))["status"] == 200
    redis_server.stop()
    for g in closed_pair:
        quota_d = await chat(g, made["key"])
        assert (quota_d["status"], quota_d["code"]) == (503, "limits_unavailable")
        capped = await chat(g, g.key, "capped")  # the bootstrap key has no quota; the deployment a cap
        assert (capped["status"], capped["code"]) == (503, "limits_unavailable")
        assert (await chat(g, g.key))["status"] == 200  # nothing shared to count: served


async def test_redis_down_open_serves_from_each_gateways_share(pair, sim, redis_server):
    a, b = pair
    made = create_key(a, quota_tokens=100_000)
    wait_until_known(b, made["key"])
    assert (await chat(b, made["key"]))["status"] == 200
    redis_server.stop()
    for g in pair:
        assert (await chat(g, made["key"]))["status"] == 200
        assert (await chat(g, g.key, "capped"))["status"] == 200
    assert all("not answering" in g.proc.output() for g in pair)
