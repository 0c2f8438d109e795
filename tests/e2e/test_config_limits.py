"""Per-second limits and limits kept in the config file, end to end: a gateway process of this
module's own whose config sets defaults, a group's and a key's (by name) limits; keys and groups
made with the CLI (`--rps`); the official openai SDK as the client, the simulator upstream."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from admin_cli import cli_json, new_key, unique
from conftest import http, start_gateway

HI = [{"role": "user", "content": "hi"}]
DEFAULT_KEY_RPM = 600
CONFIG_GROUP, CONFIG_KEY = "cfg-free", "ci-bot"


def limits_config(sim_port: int) -> str:
    return ("request_log:\n  flush_interval_s: 0.1\n"
            "models:\n  - name: gpt-4o-mini\n    deployments:\n      - provider: openai\n"
            f"        base_url: http://127.0.0.1:{sim_port}/v1\n        model: gpt-4o-mini\n"
            "        api_key_env: SIM_KEY\n"
            "limits:\n"
            f"  defaults: {{key: {{rpm: {DEFAULT_KEY_RPM}}}}}\n"
            f"  groups: {{{CONFIG_GROUP}: {{rpm: 2}}}}\n"
            f"  keys: {{{CONFIG_KEY}: {{rps: 1}}}}\n")


@pytest.fixture(scope="module")
def limits_gateway(tmp_path_factory, simulator):
    gw = start_gateway(tmp_path_factory, limits_config(simulator.port), name="limits-gateway")
    yield gw
    gw.proc.stop()


def sdk(gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20)


def chat(client: openai.OpenAI):
    return client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI, max_tokens=5)


def burst_refusal(gateway, key: str, n: int = 6) -> openai.RateLimitError:
    """`n` requests at once; the first refusal among them. At once, so that a per-second limit
    refuses however slow the machine: with rps r, all n pass only if they spread over n / r s."""
    async def send() -> list:
        async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20) as client:
            return await asyncio.gather(*(client.chat.completions.create(model="gpt-4o-mini", messages=HI,
                                                                         max_tokens=5) for _ in range(n)),
                                        return_exceptions=True)

    outcomes = asyncio.run(send())
    refused = [o for o in outcomes if isinstance(o, openai.RateLimitError)]
    assert refused and all(isinstance(o, openai.RateLimitError) or o.choices for o in outcomes), outcomes
    return refused[0]


def test_rps_from_the_cli_admits_its_burst_then_a_429_to_retry_within_the_second(limits_gateway, sim):
    made = new_key(limits_gateway, "--rps", "2")
    shown = cli_json(limits_gateway, "keys", "show", made["id"])
    assert shown["rps"] == 2 and shown["rpm"] is None
    with sdk(limits_gateway, made["key"]) as client:
        first = chat(client)
        # Two requests windows apply (the key's rps 2 and the default rpm 600): the headers
        # describe the one with the least room, the second.
        assert (first.headers["x-ratelimit-limit-requests"], first.headers["x-ratelimit-remaining-requests"]) == \
               ("2", "1")
    e = burst_refusal(limits_gateway, made["key"])
    assert e.code == "rate_limit_requests" and f"key {made['id']}" in e.body["hint"]
    assert 0 < int(e.response.headers["retry-after-ms"]) <= 500  # one request every 500 ms
    assert e.response.headers["retry-after"] == "1"
    cleared = cli_json(limits_gateway, "keys", "update", made["id"], "--clear-limits")
    assert cleared["rps"] is None
    with sdk(limits_gateway, made["key"]) as client:  # only the config's default is left
        assert chat(client).headers["x-ratelimit-limit-requests"] == str(DEFAULT_KEY_RPM)


def test_a_group_rps_from_the_cli_is_shared_by_its_keys(limits_gateway, sim):
    group = unique("team")
    made = cli_json(limits_gateway, "groups", "create", "--name", group, "--rps", "1")
    assert made["rps"] == 1
    a, b = new_key(limits_gateway, "--group", group), new_key(limits_gateway, "--group", group)
    with sdk(limits_gateway, a["key"]) as client:
        chat(client)
    refused = burst_refusal(limits_gateway, b["key"], 3)
    assert f"(group {group})" in refused.body["hint"] and refused.code == "rate_limit_requests"
    assert cli_json(limits_gateway, "groups", "update", group, "--rps", "50")["rps"] == 50


def test_a_config_group_limit_tightens_the_stored_one(limits_gateway, sim):
    cli_json(limits_gateway, "groups", "create", "--name", CONFIG_GROUP, "--rpm", "100")
    made = new_key(limits_gateway, "--group", CONFIG_GROUP)
    with sdk(limits_gateway, made["key"]) as client:
        chat(client)
        chat(client)
        with pytest.raises(openai.RateLimitError) as refused:
            chat(client)
    hint = refused.value.body["hint"]
    assert f"(group {CONFIG_GROUP})" in hint and "rpm=2" in hint  # the config's 2, not the stored 100


def test_a_key_named_in_the_config_gets_its_limits_on_top_of_its_own(limits_gateway, sim):
    made = cli_json(limits_gateway, "keys", "create", "--name", CONFIG_KEY, "--rpm", "100")
    with sdk(limits_gateway, made["key"]) as client:
        assert chat(client).headers["x-ratelimit-limit-requests"] == "1"  # the config's rps 1
    refused = burst_refusal(limits_gateway, made["key"], 3)
    assert refused.code == "rate_limit_requests" and f"key {made['id']}" in refused.body["hint"]


def test_a_key_without_limits_of_its_own_takes_the_default(limits_gateway, sim):
    made = new_key(limits_gateway)
    with sdk(limits_gateway, made["key"]) as client:
        raw = chat(client)
    assert raw.headers["x-ratelimit-limit-requests"] == str(DEFAULT_KEY_RPM)


@pytest.mark.parametrize(("value", "code"), [(0, "admin_invalid_value"), (-3, "admin_invalid_value"),
                                             ("5/s", "invalid_field"), (1.5, "invalid_field")])
def test_the_admin_api_refuses_an_rps_that_cant_be_met_naming_the_field(limits_gateway, value, code):
    status, _, reply = http("POST", limits_gateway.url + "/admin/keys", {"name": unique("bad"), "rps": value},
                            {"authorization": f"Bearer {limits_gateway.admin_key}"})
    error = json.loads(reply)["error"]
    assert (status, error["code"], error["param"]) == (400, code, "rps"), error
