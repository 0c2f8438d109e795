"""Rate limits end to end: keys and groups with rpm / tpm / max_concurrency set through the CLI,
the official openai SDK as the client, the simulator upstream."""

import asyncio
import time

import openai
import pytest
from admin_cli import cli_json, new_key, run_cli, unique
from conftest import http

HI = [{"role": "user", "content": "hi"}]
LIMIT_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
                 "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens")


def sdk(gateway, key: str, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=retries, timeout=20)


def asdk(gateway, key: str, retries: int = 0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gateway.base_url, api_key=key, max_retries=retries, timeout=30)


def slow_streams(sim) -> None:
    """Streams of ~10 events 150 ms apart: long enough to hold a slot while the test looks."""
    sim.set_faults([{"match": {"model": "*"}, "fault": "interval_ms=150;tokens=10"}])


def test_rpm_admits_exactly_the_burst_then_a_429_the_sdk_understands(gateway, sim):
    made = new_key(gateway, "--rpm", "3")
    with sdk(gateway, made["key"]) as client:
        remaining = []
        for _ in range(3):
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
            assert raw.parse().choices[0].message.content
            assert raw.headers["x-ratelimit-limit-requests"] == "3"
            assert "x-ratelimit-limit-tokens" not in raw.headers  # no tpm set: no token headers
            remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
        assert remaining == [2, 1, 0]
        assert raw.headers["x-ratelimit-reset-requests"].endswith("s")  # a Go duration: 59.99s, 1m0s
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
    e = refused.value
    assert e.code == "rate_limit_requests" and e.type == "requests"
    assert e.body["category"] == "rate_limit.requests"
    assert "rpm=3" in e.body["hint"] and f"key {made['id']}" in e.body["hint"]
    wait_ms = int(e.response.headers["retry-after-ms"])
    assert 15_000 < wait_ms <= 20_000  # one request every 20 s, less the time the burst took
    assert e.response.headers["retry-after"] == str(-(-wait_ms // 1000))  # whole seconds, rounded up
    assert e.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_a_key_without_limits_gets_no_rate_limit_headers(client, sim):
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
    assert not [h for h in LIMIT_HEADERS if h in raw.headers]


async def test_the_sdk_honouring_retry_after_completes_every_request(gateway, sim):
    """60 rpm = a burst of 60, then one a second: 63 requests at once all complete, the last
    three only after the SDK waited out the gateway's Retry-After."""
    made = new_key(gateway, "--rpm", "60")
    started = time.monotonic()
    async with asdk(gateway, made["key"], retries=6) as client:
        replies = await asyncio.gather(*(client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=3)
                                         for _ in range(63)))
    assert len(replies) == 63 and all(r.choices[0].message.content for r in replies)
    assert time.monotonic() - started >= 2.5  # the 63rd fit only ~3 s after the burst


async def test_tokens_are_reserved_while_in_flight_and_settled_with_usage(gateway, sim):
    made = new_key(gateway, "--tpm", "1000")
    slow_streams(sim)
    async with asdk(gateway, made["key"]) as client:
        first = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=HI, max_tokens=700, stream=True)
        left = int(first.headers["x-ratelimit-remaining-tokens"])
        assert first.headers["x-ratelimit-limit-tokens"] == "1000" and 250 < left < 300  # 700 + the body / 4
        with pytest.raises(openai.RateLimitError) as refused:  # 700 more don't fit while the first runs
            await client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=700)
        assert refused.value.code == "rate_limit_tokens" and refused.value.body["category"] == "rate_limit.tokens"
        assert "tpm=1000" in refused.value.body["hint"]
        assert 20 <= int(refused.value.response.headers["retry-after"]) <= 30
        async for _ in first.parse():
            pass
        # The stream's usage (~20 tokens) replaced its 700+ estimate: the same request fits now.
        again = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI,
                                                                       max_tokens=700)
        assert again.parse().choices[0].message.content
        assert int(again.headers["x-ratelimit-remaining-tokens"]) >= 1000 - 100 - (1000 - left)
        with pytest.raises(openai.RateLimitError) as too_large:  # more than a minute's tokens: never fits
            await client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5000)
    assert too_large.value.code == "rate_limit_request_too_large"
    assert too_large.value.response.headers["x-should-retry"] == "false"


async def test_concurrency_limit_with_concurrent_streams_and_slots_given_back(gateway, sim):
    made = new_key(gateway, "--max-concurrency", "2")
    slow_streams(sim)
    async with asdk(gateway, made["key"]) as client:
        streams = [await client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
                   for _ in range(2)]
        with pytest.raises(openai.RateLimitError) as busy:
            await client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
        assert busy.value.code == "rate_limit_concurrency"
        assert busy.value.body["category"] == "rate_limit.concurrency"
        assert "max_concurrency=2" in busy.value.body["hint"]
        assert busy.value.response.headers["retry-after"] == "1"
        async for _ in streams[0]:  # one stream ends: its slot is back
            pass
        third = await admitted_stream(client)
        await third.close()  # a client that leaves mid-stream gives its slot back too
        await streams[1].close()
        both = [await admitted_stream(client) for _ in range(2)]
        for s in both:
            await s.close()


async def admitted_stream(client):
    """A stream, once a slot is free: the gateway frees a slot a moment after the client saw the
    end of a stream (or closed it), not before."""
    for _ in range(60):
        try:
            return await client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
        except openai.RateLimitError:
            await asyncio.sleep(0.05)
    pytest.fail("the slots of finished or closed streams were not given back")


def test_group_limits_apply_to_all_its_keys_together(gateway, sim):
    group = unique("limited")
    made = cli_json(gateway, "groups", "create", "--name", group, "--rpm", "2")
    assert made["rpm"] == 2
    keys = [new_key(gateway, "--group", group, "--rpm", "100") for _ in range(2)]
    for k in keys:
        with sdk(gateway, k["key"]) as client:
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI, max_tokens=3)
    # The most restrictive scope is the group's: its remaining count is what the client sees.
    assert (raw.headers["x-ratelimit-limit-requests"], raw.headers["x-ratelimit-remaining-requests"]) == ("2", "0")
    with sdk(gateway, keys[0]["key"]) as client, pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=3)
    assert f"group {group}" in refused.value.body["hint"] and "rpm=2" in refused.value.body["hint"]
    cli_json(gateway, "groups", "update", group, "--clear-limits")  # applies at once: a fresh, unlimited group
    with sdk(gateway, keys[0]["key"]) as client:
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI, max_tokens=3)
    assert raw.headers["x-ratelimit-limit-requests"] == "100"


def test_limits_through_the_cli_update_and_show(gateway):
    made = new_key(gateway)
    shown = cli_json(gateway, "keys", "update", made["id"], "--rpm", "10", "--tpm", "5000", "--max-concurrency", "3")
    assert (shown["rpm"], shown["tpm"], shown["max_concurrency"]) == (10, 5000, 3)
    listed = run_cli(gateway, "keys", "list")
    assert listed.returncode == 0 and "rpm=10,tpm=5000,max_concurrency=3" in listed.stdout
    cleared = cli_json(gateway, "keys", "update", made["id"], "--clear-limits", "--tpm", "100")
    assert (cleared["rpm"], cleared["tpm"], cleared["max_concurrency"]) == (None, 100, None)


BAD_LIMITS = [  # id, body, code, param
    ("zero rpm", {"rpm": 0}, "admin_invalid_value", "rpm"),
    ("negative tpm", {"tpm": -5}, "admin_invalid_value", "tpm"),
    ("fractional concurrency", {"max_concurrency": 1.5}, "invalid_field", "max_concurrency"),
    ("rpm as text", {"rpm": "10/m"}, "invalid_field", "rpm"),
    ("rpm as a boolean", {"rpm": True}, "invalid_field", "rpm"),
]


@pytest.mark.parametrize("path", ["/admin/keys", "/admin/groups"])
@pytest.mark.parametrize("body,code,param", [c[1:] for c in BAD_LIMITS], ids=[c[0] for c in BAD_LIMITS])
def test_limits_that_cannot_be_met_are_refused_naming_the_field(gateway, path, body, code, param):
    import json

    status, _, reply = http("POST", gateway.url + path, {"name": unique("bad"), **body},
                            {"authorization": f"Bearer {gateway.admin_key}"})
    err = json.loads(reply)["error"]
    assert (status, err["code"], err["param"]) == (400, code, param)
    assert param in err["message"]


def test_the_cli_refuses_a_limit_that_is_not_a_number(gateway):
    out = run_cli(gateway, "keys", "create", "--name", unique("bad"), "--rpm", "ten")
    assert out.returncode == 2 and "--rpm" in out.stderr
    out = run_cli(gateway, "keys", "create", "--name", unique("bad"), "--rpm", "0")
    assert out.returncode != 0 and "rpm" in out.stderr


def test_an_rps_refusal_names_the_per_second_limit(gateway, sim):
    made = new_key(gateway, "--rps", "1")
    with sdk(gateway, made["key"]) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
    assert "requests per second (RPS)" in refused.value.message and "rps=1" in refused.value.body["hint"]
    assert int(refused.value.response.headers["retry-after-ms"]) <= 1000


def test_tenant_limits_set_with_the_cli_hold_every_key_of_the_tenant(gateway, sim):
    tenant = unique("tenant")
    shown = cli_json(gateway, "tenants", "set", tenant, "--rpm", "2")
    assert shown["rpm"] == 2 and shown["effective"]["rpm"] == 2
    first, second = new_key(gateway, "--tenant", tenant), new_key(gateway, "--tenant", tenant)
    with sdk(gateway, first["key"]) as a, sdk(gateway, second["key"]) as b:
        a.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
        b.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
        with pytest.raises(openai.RateLimitError) as refused:
            a.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
    assert f"tenant {tenant}" in refused.value.body["hint"]
    assert tenant in [t["name"] for t in cli_json(gateway, "tenants", "list")]
    assert cli_json(gateway, "tenants", "show", tenant)["rpm"] == 2
