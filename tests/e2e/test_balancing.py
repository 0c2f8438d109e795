"""Balancing among a model's healthy deployments (weighted, least in flight) and model-level
fallbacks, end to end: a simulator and a gateway of this module's own, every deployment on its
own simulator model id so the reply's `model` and the request log tell them apart."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from conftest import http, own_stack
from test_upstream_faults import wait_until

HI = [{"role": "user", "content": "hi"}]
FALLBACK_HEADER = "x-seawall-fallback-model"

SIM_CONFIG = """\
stream_interval_ms: 0
models: [lb-heavy, lb-light, lb-slow, lb-fast, lb-open, lb-spare, lb-down-1, lb-down-2, fb-a1, fb-a2, fb-guarded, fb-small,
         fb-roomy, {id: fb-backup, reports_as: fb-backup-2025-01-01}]
"""


def deployment(port: int, model: str, failures_to_open: int = 1000, **extra: object) -> str:
    fields = "".join(f"        {k}: {v}\n" for k, v in extra.items())
    return (f"      - provider: openai\n        base_url: http://127.0.0.1:{port}/v1\n        model: {model}\n"
            f"        api_key_env: SIM_KEY\n        name: sim-{model}\n"
            f"        circuit: {{failures_to_open: {failures_to_open}, cooldown_s: 60}}\n{fields}")


def route(name: str, *deployments: str, **extra: object) -> str:
    fields = "".join(f"    {k}: {v}\n" for k, v in extra.items())
    return f"  - name: {name}\n{fields}    deployments:\n" + "".join(deployments)


def balancing_config(port: int) -> str:
    return ("request_log:\n  flush_interval_s: 0.1\nmodels:\n"
            + route("weighted", deployment(port, "lb-heavy", weight=3), deployment(port, "lb-light", weight=1),
                    balance="weighted")
            # the slow one first: in config order (ordered) it would take every request
            + route("least-busy", deployment(port, "lb-slow"), deployment(port, "lb-fast"),
                    balance="least_in_flight")
            + route("weighted-open", deployment(port, "lb-open", failures_to_open=1, weight=9),
                    deployment(port, "lb-spare"), balance="weighted")
            + route("weighted-down", deployment(port, "lb-down-1", failures_to_open=1),
                    deployment(port, "lb-down-2", failures_to_open=1), balance="weighted")
            + route("primary", deployment(port, "fb-a1"), deployment(port, "fb-a2"), fallbacks="[backup]")
            + route("guarded", deployment(port, "fb-guarded"), fallbacks="[backup]")
            # pre-flight sends a long prompt to roomy (context fallback); roomy fails over to backup
            + route("small", deployment(port, "fb-small"), context_policy="fallback", fallback_model="roomy",
                    catalog="{context_window: 64, tokenizer: estimate}")
            + route("roomy", deployment(port, "fb-roomy"), fallbacks="[backup]",
                    catalog="{context_window: 100000, tokenizer: estimate}")
            + route("backup", deployment(port, "fb-backup")))


upstream, gw, sim, client = own_stack("lb", balancing_config, SIM_CONFIG)


def rule(fault: str, model: str) -> dict:
    return {"match": {"model": model}, "fault": fault}


def in_flight(gw, label: str) -> int:
    status, _, raw = http("GET", gw.url + "/readyz")
    assert status == 200, raw
    return json.loads(raw)["deployments"].get(label, {"in_flight": 0})["in_flight"]


# -- balancing --------------------------------------------------------------------------------------

def test_weighted_three_to_one_splits_requests_about_three_to_one(client, sim):
    counts = Counter(client.chat.completions.create(model="weighted", messages=HI).model for _ in range(200))
    assert set(counts) == {"lb-heavy", "lb-light"}
    # Binomial(200, 0.75): mean 150, standard deviation ~6.1; ±30 is ~5 sigma.
    assert 120 <= counts["lb-heavy"] <= 180 and counts["lb-heavy"] + counts["lb-light"] == 200
    assert sim.stats()["requests"]["by_outcome"] == {"ok": 200}  # each request called upstream once


async def test_least_in_flight_sends_most_requests_to_the_fast_deployment(gw, sim):
    sim.set_faults([rule("latency_ms=400", "lb-slow")])
    async with openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=30) as c:
        async def worker() -> list[str]:
            return [(await c.chat.completions.create(model="least-busy", messages=HI)).model for _ in range(10)]

        counts = Counter(m for models in await asyncio.gather(*(worker() for _ in range(6))) for m in models)
    assert counts["lb-slow"] + counts["lb-fast"] == 60
    # In config order every request would go to lb-slow, and evenly weighted half of them; by
    # load, a request goes there only while it holds no more than lb-fast, which clears its
    # requests in milliseconds (measured: lb-fast served 47-53 of the 60 over five runs).
    assert counts["lb-fast"] >= 40, counts


def test_least_in_flight_avoids_the_busy_deployment_while_it_is_busy(gw, client, sim):
    sim.set_faults([rule("latency_ms=1500", "lb-slow")])
    with ThreadPoolExecutor(1) as pool:
        # both idle: the tie goes to the config's first, the slow one, which then holds it
        busy = pool.submit(client.chat.completions.create, model="least-busy", messages=HI)
        assert wait_until(lambda: in_flight(gw, "sim-lb-slow") == 1)
        during = Counter(client.chat.completions.create(model="least-busy", messages=HI).model for _ in range(20))
        assert busy.result().model == "lb-slow"
    assert during == {"lb-fast": 20}


def test_weighted_skips_a_deployment_whose_circuit_is_open(gw, client, sim):
    sim.set_faults([rule("status=503", "lb-open")])
    for _ in range(30):  # weight 9 of 10: the first few requests open its circuit (threshold 1)
        client.chat.completions.create(model="weighted-open", messages=HI)
    upstream_before = sim.stats()["requests"]["by_outcome"].get("503", 0)
    assert upstream_before == 1  # it failed once, opened, and was never tried again
    raws = [client.chat.completions.with_raw_response.create(model="weighted-open", messages=HI) for _ in range(20)]
    assert {r.parse().model for r in raws} == {"lb-spare"}
    row = gw.log_row(raws[-1].headers["x-request-id"])
    assert [a["deployment"] for a in row["attempts_detail"]] == ["sim-lb-spare"]


def test_weighted_with_every_circuit_open_answers_circuit_open_at_once(client, sim):
    sim.set_faults([rule("status=503", "lb-down-*")])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="weighted-down", messages=HI)  # both fail: both circuits open
    assert sim.stats()["requests"]["by_outcome"] == {"503": 2}
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="weighted-down", messages=HI)
    # the cooldown (60 s) is past the wait the gateway allows: 503 with Retry-After, no upstream call
    assert e.value.code == "circuit_open" and e.value.body["category"] == "capacity.circuit_open"
    assert 50 <= int(e.value.response.headers["retry-after"]) <= 60
    assert sim.stats()["requests"]["by_outcome"] == {"503": 2}


# -- model-level fallbacks --------------------------------------------------------------------------

def test_every_deployment_503_falls_back_to_the_next_model(gw, client, sim):
    sim.set_faults([rule("status=503", "fb-a*")])
    raw = client.chat.completions.with_raw_response.create(model="primary", messages=HI)
    reply = raw.parse()
    assert reply.choices[0].message.content
    assert reply.model == "fb-backup-2025-01-01"  # honest: what the upstream that served reported
    assert raw.headers[FALLBACK_HEADER] == "backup"
    row = gw.log_row(raw.headers["x-request-id"])
    assert [(a["deployment"], a["status"]) for a in row["attempts_detail"]] == [
        ("sim-fb-a1", 503), ("sim-fb-a2", 503), ("sim-fb-backup", 200)]
    assert row["attempts_detail"][0]["category"].startswith("upstream.")
    assert row["model_requested"] == "primary" and row["model_served"] == "fb-backup-2025-01-01"
    assert row["deployment"] == "sim-fb-backup" and row["status"] == 200


def test_a_stream_falls_back_to_the_next_model_before_its_first_byte(gw, client, sim):
    sim.set_faults([rule("status=503", "fb-a*")])
    with client.chat.completions.with_streaming_response.create(model="primary", messages=HI, stream=True) as r:
        assert r.headers[FALLBACK_HEADER] == "backup"
        chunks = [c for c in r.parse() if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[0].model == "fb-backup-2025-01-01"


def test_the_model_itself_serving_says_no_fallback(client, sim):
    raw = client.chat.completions.with_raw_response.create(model="primary", messages=HI)
    assert raw.parse().model == "fb-a1" and FALLBACK_HEADER not in raw.headers


def test_a_request_error_does_not_fall_back_to_another_model(gw, client, sim):
    sim.set_faults([rule("status=400", "fb-guarded")])
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="guarded", messages=HI)
    assert e.value.body["category"].startswith("request.")
    assert FALLBACK_HEADER not in e.value.response.headers
    row = gw.log_row(e.value.response.headers["x-request-id"])
    assert [a["deployment"] for a in row["attempts_detail"]] == ["sim-fb-guarded"]
    assert row["status"] == 400 and row["model_served"] is None
    assert sim.stats()["requests"]["by_outcome"] == {"400": 1}  # backup was never called


def test_when_the_fallback_model_fails_too_the_client_gets_the_last_error_with_every_attempt_logged(
        gw, client, sim):
    sim.set_faults([rule("status=503", "fb-a*"), rule("status=503", "fb-backup")])
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="primary", messages=HI)
    assert e.value.body["category"].startswith("upstream.") and e.value.response.headers["retry-after"]
    row = gw.log_row(e.value.response.headers["x-request-id"])
    deployments = [a["deployment"] for a in row["attempts_detail"]]
    assert deployments[:3] == ["sim-fb-a1", "sim-fb-a2", "sim-fb-backup"]
    assert deployments[3:] in ([], ["sim-fb-backup"])  # at most one retry of the last, within its budget


def test_a_context_fallback_that_fails_over_names_the_model_that_served(gw, client, sim):
    sim.set_faults([rule("status=503", "fb-roomy")])
    long = [{"role": "user", "content": "tell me about the sea " * 40}]  # past small's 64-token window
    raw = client.chat.completions.with_raw_response.create(model="small", messages=long)
    assert raw.parse().model == "fb-backup-2025-01-01"
    assert raw.headers[FALLBACK_HEADER] == "backup"  # one header: the model that served, not roomy
    row = gw.log_row(raw.headers["x-request-id"])
    assert [a["deployment"] for a in row["attempts_detail"]] == ["sim-fb-roomy", "sim-fb-backup"]
    assert row["model_requested"] == "small"
