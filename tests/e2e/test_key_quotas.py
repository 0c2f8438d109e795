"""Quotas end to end: a key's token quota is held at admission, settled with the real usage and
released on failure, exactly, under 200 concurrent requests; a spent quota is a 429 that no SDK
retries."""

import asyncio
import json

import aiohttp
import openai
import pytest
from admin_cli import cli_json, new_key, unique
from conftest import http

HI = [{"role": "user", "content": "hi"}]


def body_for(max_tokens: int, model: str = "gpt-4o-mini", stream: bool = False) -> bytes:
    """A fixed body, so the gateway's estimate is known: len(body) // 4 + max_tokens."""
    return json.dumps({"model": model, "messages": HI, "max_tokens": max_tokens, "stream": stream}).encode()


def estimate(body: bytes, max_tokens: int) -> int:
    return len(body) // 4 + max_tokens


def call(gateway, key: str, body: bytes) -> tuple[int, dict, dict]:
    status, headers, raw = http("POST", gateway.base_url + "/chat/completions", body,
                                {"authorization": f"Bearer {key}", "content-type": "application/json"})
    return status, headers, json.loads(raw)


def used(gateway, key_id: str) -> int:
    return cli_json(gateway, "keys", "show", key_id)["used_tokens"]


def exact_fit_body(remaining: int) -> tuple[bytes, int]:
    """A body whose estimate is exactly `remaining` (max_tokens absorbs the difference)."""
    for max_tokens in range(max(remaining - 40, 1), remaining):
        body = body_for(max_tokens)
        if estimate(body, max_tokens) == remaining:
            return body, max_tokens
    raise AssertionError(f"no body estimates exactly {remaining}")


def test_a_spent_quota_is_a_429_the_sdk_does_not_retry(gateway, sim):
    made = new_key(gateway, "--quota-tokens", "120")
    spent = 0
    with openai.OpenAI(base_url=gateway.base_url, api_key=made["key"], max_retries=3, timeout=20) as client:
        with pytest.raises(openai.RateLimitError) as refused:
            for _ in range(20):
                reply = client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
                spent += reply.usage.total_tokens
    e = refused.value
    assert e.code == "insufficient_quota" and e.type == "insufficient_quota"
    assert e.body["category"] == "quota.exhausted"
    assert "token quota" in e.message and "of 120 used" in e.message and "Waiting won't help" in e.message
    assert "--quota-tokens" in e.body["hint"] and made["name"] in e.body["hint"]
    assert "retry-after" not in e.response.headers and "retry-after-ms" not in e.response.headers
    assert e.response.headers["x-should-retry"] == "false"
    assert e.body["request_id"] == e.response.headers["x-request-id"]
    assert used(gateway, made["id"]) == spent  # exactly what the replies said they cost
    refusals = gateway.logs("--status", "429", "--since", "1h")
    assert len([r for r in refusals if r["key_id"] == made["id"]]) == 1  # the SDK did not retry it


async def test_200_concurrent_requests_on_one_key_spend_the_quota_exactly(gateway, sim):
    body = body_for(5)
    # 60 can hold at once; settling frees room for more, but not for all 200 (their real cost is
    # more than the quota), so some are refused however the requests interleave.
    quota = 60 * estimate(body, 5)
    made = new_key(gateway, "--quota-tokens", str(quota))
    headers = {"authorization": f"Bearer {made['key']}", "content-type": "application/json"}

    async def one(session: aiohttp.ClientSession) -> tuple[int, dict]:
        async with session.post(gateway.base_url + "/chat/completions", data=body, headers=headers) as r:
            return r.status, await r.json()

    # Upstream answers take 500 ms, so the requests overlap: about 60 hold at once, the rest are refused.
    sim.set_faults([{"match": {"model": "*"}, "fault": "latency_ms=500"}])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60),
                                     connector=aiohttp.TCPConnector(limit=0)) as session:
        results = await asyncio.gather(*(one(session) for _ in range(200)))
    sim.reset()
    ok = [b for s, b in results if s == 200]
    refused = [b for s, b in results if s != 200]
    assert all(b["error"]["code"] == "insufficient_quota" for b in refused), {b["error"]["code"] for b in refused}
    assert len(ok) + len(refused) == 200 and len(ok) >= 60 and refused
    assert 200 * ok[0]["usage"]["total_tokens"] > quota  # the premise of "not all 200 fit"
    spent = sum(b["usage"]["total_tokens"] for b in ok)
    assert used(gateway, made["id"]) == spent <= quota

    # No hold leaked: a request whose estimate is exactly what is left is admitted; one token more is not.
    remaining = quota - spent
    fits, max_tokens = exact_fit_body(remaining)
    status, _, over = call(gateway, made["key"], body_for(max_tokens + 1))
    assert status == 429 and over["error"]["code"] == "insufficient_quota"
    status, _, reply = call(gateway, made["key"], fits)
    assert status == 200, reply
    assert used(gateway, made["id"]) == spent + reply["usage"]["total_tokens"]


def test_a_failed_request_charges_nothing(gateway, sim):
    made = new_key(gateway, "--quota-tokens", "400")
    fits, max_tokens = exact_fit_body(400)
    dead = fits.replace(b'"gpt-4o-mini"', b'"all-down"')
    status, _, failed = call(gateway, made["key"], dead)
    assert status >= 500, failed
    sim.set_faults([{"match": {"model": "*"}, "fault": "status=400"}])
    status, _, refused = call(gateway, made["key"], fits)
    assert status == 400, refused
    sim.reset()
    assert used(gateway, made["id"]) == 0
    status, _, reply = call(gateway, made["key"], fits)  # the whole quota is still there to hold
    assert status == 200, reply
    assert used(gateway, made["id"]) == reply["usage"]["total_tokens"]


def test_a_stream_cut_short_is_charged_for_what_was_delivered(gateway, sim):
    made = new_key(gateway, "--quota-tokens", "100000")
    sim.set_faults([{"match": {"model": "*"}, "fault": "cut_after=4"}])
    body = body_for(50, stream=True)
    status, _, raw = http("POST", gateway.base_url + "/chat/completions", body,
                          {"authorization": f"Bearer {made['key']}", "content-type": "application/json"})
    assert status == 200
    events = [json.loads(line[6:]) for line in raw.decode().splitlines()
              if line.startswith("data: ") and line != "data: [DONE]"]
    delivered = [e for e in events if "choices" in e]
    assert events[-1]["error"]["code"] == "stream_interrupted" and delivered
    # No usage reached the gateway: the prompt's estimate plus one token per chunk delivered.
    assert used(gateway, made["id"]) == len(body) // 4 + len(delivered)


def test_a_complete_stream_is_charged_its_reported_usage(gateway, sim):
    made = new_key(gateway, "--quota-tokens", "100000")
    with openai.OpenAI(base_url=gateway.base_url, api_key=made["key"], max_retries=0, timeout=20) as client:
        chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=20, stream=True,
                                                     stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    assert usage is not None and used(gateway, made["id"]) == usage.total_tokens


def test_a_group_default_quota_applies_to_its_keys(gateway, sim):
    group = cli_json(gateway, "groups", "create", "--name", unique("quota-team"), "--quota-tokens", "1")
    made = new_key(gateway, "--group", group["name"])
    status, _, refused = call(gateway, made["key"], body_for(5))
    assert status == 429 and refused["error"]["code"] == "insufficient_quota"
    assert f"the default of group {group['name']}" in refused["error"]["hint"]


def test_a_usd_quota_is_charged_at_the_catalogs_price(gateway, sim):
    made = new_key(gateway, "--quota-usd", "0.001")
    status, _, reply = call(gateway, made["key"], body_for(5))
    assert status == 200
    usage = reply["usage"]
    expected = usage["prompt_tokens"] * 0.15e-6 + usage["completion_tokens"] * 0.60e-6  # gpt-4o-mini's price
    shown = cli_json(gateway, "keys", "show", made["id"])
    assert shown["used_usd"] == pytest.approx(expected, abs=1e-9) and shown["used_tokens"] == usage["total_tokens"]
    tiny = new_key(gateway, "--quota-usd", "0.000001")  # less than one small request's estimate
    status, _, refused = call(gateway, tiny["key"], body_for(5))
    assert status == 429 and "USD quota" in refused["error"]["message"]
