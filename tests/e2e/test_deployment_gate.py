"""Upstream protection end to end: per-deployment concurrency caps with a bounded queue, the
operator's rpm, and limits learned from the upstream's x-ratelimit-* headers, against a
simulator of this module's own (its peak_in_flight counter judges the cap)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from conftest import http, own_stack
from test_upstream_faults import wait_until

HI = [{"role": "user", "content": "hi"}]

SIM_CONFIG = """\
stream_interval_ms: 0
models: [gpt-4o-mini, capped-model, tiny-model, paced-model, slot-model,
         {id: limited-model, rpm: 2}, {id: limited-solo, rpm: 2}, {id: claude-limited, rpm: 2}]
"""


def deployment(port: int, model: str, name: str, provider: str = "openai", **limits: object) -> str:
    extra = "".join(f"        {k}: {v}\n" for k, v in limits.items())
    return (f"      - provider: {provider}\n        base_url: http://127.0.0.1:{port}/v1\n        model: {model}\n"
            f"        api_key_env: SIM_KEY\n        name: {name}\n"
            f"        circuit: {{failures_to_open: 1000, take_out_refused: false}}\n{extra}")


def gate_config(port: int) -> str:
    def route(name: str, *deployments: str) -> str:
        return f"  - name: {name}\n    deployments:\n" + "".join(deployments)

    return ("request_log:\n  flush_interval_s: 0.1\nmodels:\n"
            + route("capped", deployment(port, "capped-model", "sim-capped", max_concurrency=2, max_queue=20,
                                         max_queue_wait_s=20))
            + route("tiny", deployment(port, "tiny-model", "sim-tiny", max_concurrency=1, max_queue=1,
                                       max_queue_wait_s=10))
            + route("paced", deployment(port, "paced-model", "sim-paced", rpm=30, max_queue_wait_s=5))
            + route("one-slot", deployment(port, "slot-model", "sim-slot", max_concurrency=1, max_queue=5,
                                           max_queue_wait_s=30))
            # the simulator allows limited-model 2 requests a minute and says so in x-ratelimit-*
            + route("learned", deployment(port, "limited-model", "sim-limited"),
                    deployment(port, "gpt-4o-mini", "sim-spare"))
            + route("learned-solo", deployment(port, "limited-solo", "sim-limited-solo"))
            # the same through Anthropic's dialect: anthropic-ratelimit-requests-remaining / -reset (RFC 3339)
            + route("learned-anthropic", deployment(port, "claude-limited", "anth-limited", "anthropic"),
                    deployment(port, "gpt-4o-mini", "sim-spare-2")))


upstream, gw, sim, client = own_stack("gate", gate_config, SIM_CONFIG)


def rule(fault: str, model: str) -> dict:
    return {"match": {"model": model}, "fault": fault}


def gate(gw, label: str) -> dict:
    """The deployment's line in /readyz: in_flight, queued, max_concurrency, held_for_s."""
    status, _, raw = http("GET", gw.url + "/readyz")
    assert status == 200, raw
    return json.loads(raw)["deployments"].get(label, {"in_flight": 0, "queued": 0})


async def test_a_concurrency_cap_of_two_holds_the_upstream_to_two_at_once_and_queues_the_rest(gw, sim):
    sim.set_faults([rule("latency_ms=300", "capped-model")])

    async with openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=30) as c:
        async def one(i: int) -> str:
            if i % 2:  # half of them streams: a stream's slot is released when the stream ends
                stream = await c.chat.completions.create(model="capped", messages=HI, stream=True)
                return "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
            reply = await c.chat.completions.create(model="capped", messages=HI)
            return reply.choices[0].message.content

        answers = await asyncio.gather(*(one(i) for i in range(10)))

    assert all(answers)
    stats = sim.stats()
    assert stats["requests"]["by_outcome"] == {"ok": 10}
    assert stats["peak_in_flight"] == 2  # never more than the cap, and the cap was used
    assert gate(gw, "sim-capped") == {"in_flight": 0, "queued": 0, "max_concurrency": 2, "held_for_s": 0.0}


def test_a_full_queue_answers_a_fast_503_queue_full_with_retry_after(gw, sim, client):
    sim.set_faults([rule("latency_ms=3000", "tiny-model")])
    with ThreadPoolExecutor(2) as pool:
        slow = [pool.submit(client.chat.completions.create, model="tiny", messages=HI) for _ in range(2)]
        assert wait_until(lambda: gate(gw, "sim-tiny")["queued"] == 1)  # one upstream, one waiting
        with pytest.raises(openai.InternalServerError) as e:
            client.chat.completions.create(model="tiny", messages=HI)
        # answered while the slot's holder is still upstream: the refusal did not wait for it
        assert sim.stats()["in_flight"] == 1
        assert all(f.result().choices[0].message.content for f in slow)  # the queued one got its turn
    err = e.value
    assert err.status_code == 503 and err.code == "queue_full" and err.type == "server_error"
    assert err.body["category"] == "capacity.queue_full" and err.body["request_id"].startswith("req_")
    assert "sim-tiny already has 1 requests waiting (max_queue 1)" in err.message
    assert "max_concurrency" in err.body["hint"]
    assert int(err.response.headers["retry-after"]) >= 1 and int(err.response.headers["retry-after-ms"]) >= 1
    assert sim.stats()["requests"]["total"] == 2  # the refused request never reached the upstream
    row = gw.log_row(err.response.headers["x-request-id"])
    assert row["status"] == 503 and row["category"] == "capacity.queue_full"


async def test_the_operators_rpm_queues_requests_within_their_wait_and_refuses_the_rest(gw, sim):
    # rpm 30: a burst of 30, then one every 2 s; max_queue_wait_s 5: the 31st (2 s) and 32nd (4 s)
    # wait their turn, the 33rd (6 s) is refused at once, and the upstream never answers 429
    async with openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=30) as c:
        outcomes = await asyncio.gather(*(c.chat.completions.create(model="paced", messages=HI) for _ in range(33)),
                                        return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1, refused
    assert isinstance(refused[0], openai.InternalServerError) and refused[0].code == "queue_full"
    assert "rate limit" in refused[0].message
    assert 5 < int(refused[0].response.headers["retry-after"]) <= 6
    assert sim.stats()["requests"]["by_outcome"] == {"ok": 32}


@pytest.mark.parametrize("model,limited,spare", [("learned", "sim-limited", "sim-spare"),
                                                  ("learned-anthropic", "anth-limited", "sim-spare-2")],
                         ids=["openai x-ratelimit", "anthropic-ratelimit"])
def test_a_reply_saying_no_requests_remain_holds_the_deployment_and_the_next_one_serves(gw, sim, client, model,
                                                                                         limited, spare):
    replies = [client.chat.completions.with_raw_response.create(model=model, messages=HI, max_tokens=50)
               for _ in range(5)]
    rows = [gw.log_row(r.headers["x-request-id"]) for r in replies]
    assert [row["deployment"] for row in rows] == [limited] * 2 + [spare] * 3
    assert "429" not in sim.stats()["requests"]["by_outcome"]  # the limit was honoured, not provoked
    held = rows[2]["attempts_detail"]
    assert [a["deployment"] for a in held] == [limited, spare]
    assert held[0]["category"] == "capacity.queue_full" and held[0]["status"] is None
    assert "rate limit" in held[0]["detail"]
    assert 50 < gate(gw, limited)["held_for_s"] <= 60  # until the reset the simulator named


def test_a_held_deployment_with_no_fallback_answers_503_with_the_reset_as_retry_after(gw, sim, client):
    for _ in range(2):
        client.chat.completions.create(model="learned-solo", messages=HI)
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="learned-solo", messages=HI)
    assert e.value.status_code == 503 and e.value.code == "queue_full"
    assert 50 < int(e.value.response.headers["retry-after"]) <= 60
    assert sim.stats()["requests"]["by_outcome"] == {"ok": 2}  # no third call, so no upstream 429


def test_queued_requests_go_upstream_in_the_order_they_came(gw, sim, client):
    sim.set_faults([rule("latency_ms=1000", "slot-model")])
    finished: list[int] = []
    with ThreadPoolExecutor(4) as pool:
        for i in range(4):
            future = pool.submit(client.chat.completions.create, model="one-slot", messages=HI)
            future.add_done_callback(lambda f, i=i: finished.append(i))
            # the next one is sent only once this one is upstream (i == 0) or queued behind the others
            assert wait_until(lambda i=i: gate(gw, "sim-slot") | {"held_for_s": 0.0}
                              == {"in_flight": 1, "queued": i, "max_concurrency": 1, "held_for_s": 0.0})
        assert not finished  # all four were in the gate together: one upstream, three queued
    assert finished == [0, 1, 2, 3]  # one slot, FIFO: served in the order they came
    assert sim.stats()["peak_in_flight"] == 1


def test_a_client_leaving_while_queued_gives_up_its_place(gw, sim, client):
    sim.set_faults([rule("latency_ms=3000", "slot-model")])
    with ThreadPoolExecutor(1) as pool:
        holder = pool.submit(client.chat.completions.create, model="one-slot", messages=HI)
        assert wait_until(lambda: gate(gw, "sim-slot")["in_flight"] == 1)
        with (openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=0.5) as impatient,
              pytest.raises(openai.APITimeoutError)):
            impatient.chat.completions.create(model="one-slot", messages=HI)
        assert wait_until(lambda: gate(gw, "sim-slot")["queued"] == 0)
        assert gate(gw, "sim-slot")["in_flight"] == 1 and sim.stats()["in_flight"] == 1
        assert holder.result().choices[0].message.content
    assert wait_until(lambda: gate(gw, "sim-slot")["in_flight"] == 0)
    assert sim.stats()["requests"]["total"] == 1  # the one that left never reached the upstream


def test_a_client_leaving_mid_stream_gives_its_slot_back(gw, sim, client):
    sim.set_faults([rule("interval_ms=200", "slot-model")])
    stream = client.chat.completions.create(model="one-slot", messages=HI, max_tokens=200, stream=True)
    next(iter(stream))
    assert gate(gw, "sim-slot")["in_flight"] == 1
    stream.close()
    assert wait_until(lambda: gate(gw, "sim-slot")["in_flight"] == 0)
    sim.set_faults([])
    # with the slot leaked, this one would queue behind a request that never ends
    assert client.chat.completions.create(model="one-slot", messages=HI).choices[0].message.content
    assert gate(gw, "sim-slot") == {"in_flight": 0, "queued": 0, "max_concurrency": 1, "held_for_s": 0.0}


@pytest.mark.parametrize("field,value,says", [
    ("max_concurrency", 0, "max_concurrency: Input should be greater than 0"),
    ("rpm", -5, "rpm: Input should be greater than 0"),
    ("tpm", "200k", "tpm: Input should be a valid integer"),
    ("max_queue_wait_s", 0, "max_queue_wait_s: Input should be greater than 0"),
])
def test_limits_that_cannot_be_met_fail_the_config_check_naming_the_field(tmp_path, field, value, says):
    cfg = tmp_path / "seawall.yaml"
    cfg.write_text(f"models:\n  - name: m\n    deployments:\n      - provider: simulator\n        model: gpt-4o-mini\n"
                   f"        {field}: {value}\n")
    out = subprocess.run([sys.executable, "-m", "seawall", "config", "check", str(cfg)], capture_output=True,
                         text=True, timeout=30, check=False)
    assert out.returncode != 0
    assert f"models.0.deployments.0.{says}" in out.stdout + out.stderr
