"""Circuit breakers: a deployment that keeps failing is skipped until its cooldown is over."""

import json
import time

import openai
import pytest

from conftest import http

HI = [{"role": "user", "content": "hi"}]


def upstream_calls(sim) -> int:
    return sum(sim.stats()["requests"]["by_outcome"].values())


def test_an_open_circuit_answers_503_at_once_without_calling_upstream(client, gateway, sim):
    sim.set_faults([{"match": {"model": "gpt-4o-mini-2024-07-18"}, "fault": "status=503"}])
    with pytest.raises(openai.InternalServerError) as first:
        client.chat.completions.create(model="fragile", messages=HI)  # tried, retried: 2 failures open it
    assert first.value.body["category"].startswith("upstream.")
    before, started = upstream_calls(sim), time.monotonic()
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="fragile", messages=HI)
    assert time.monotonic() - started < 1 and upstream_calls(sim) == before
    assert e.value.status_code == 503 and e.value.code == "circuit_open"
    assert e.value.body["category"] == "capacity.circuit_open"
    assert 25 <= int(e.value.response.headers["retry-after"]) <= 30
    status, _, raw = http("GET", gateway.url + "/readyz")
    circuit = json.loads(raw)["open_circuits"]["sim-fragile"]
    assert status == 200 and circuit["state"] == "open" and 20 < circuit["reopens_in_s"] <= 30


def test_an_open_circuit_is_skipped_for_the_next_deployment(client, gateway, sim):
    sim.set_faults([{"match": {"model": "gpt-4.1-mini-2025-04-14"}, "fault": "status=503"}])
    first = client.chat.completions.with_raw_response.create(model="fragile-pair", messages=HI)
    row = gateway.log_row(first.headers["x-request-id"])
    assert [a["deployment"] for a in row["attempts_detail"]] == ["sim-fragile-a", "sim-steady"]
    second = client.chat.completions.with_raw_response.create(model="fragile-pair", messages=HI)
    row = gateway.log_row(second.headers["x-request-id"])
    assert [a["deployment"] for a in row["attempts_detail"]] == ["sim-steady"]  # no call to the open one


def test_when_every_circuit_is_open_a_short_cooldown_is_waited_out(client, gateway, sim):
    sim.set_faults([{"match": {"model": "gpt-4.1-nano-2025-04-14", "first_n": 1}, "fault": "status=503"}])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="blip", messages=HI)  # opens (threshold 1)
    started = time.monotonic()
    reply = client.chat.completions.create(model="blip", messages=HI)  # waits ~1 s, probes, closes
    assert reply.choices[0].message.content and 0.5 <= time.monotonic() - started < 3
    assert client.chat.completions.create(model="blip", messages=HI).choices[0].message.content
