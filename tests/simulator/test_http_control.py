"""The /_sim control API and scripted faults, over real HTTP."""

from __future__ import annotations

import aiohttp
import openai
import pytest

from seawall.simulator.config import FaultRuleSpec, MatchSpec, RateLimits, SimulatorSettings

from .support import user


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kwargs):
    async with session.request(method, url, **kwargs) as response:
        return response.status, await response.json()


async def test_health_needs_no_key(base_url):
    async with aiohttp.ClientSession() as session:
        assert await _json(session, "GET", base_url + "/_sim/health") == (200, {"ok": True})


async def test_put_faults_every_nth_then_stats_and_reset(base_url, client):
    rules = [{"match": {"model": "gpt-4o*", "path": "/v1/chat/completions", "every_nth": 2},
              "fault": "retry_after=1;status=503"}]
    async with aiohttp.ClientSession() as session:
        status, shown = await _json(session, "PUT", base_url + "/_sim/faults", json=rules)
        assert status == 200
        assert shown == [{"match": {"model": "gpt-4o*", "path": "/v1/chat/completions", "every_nth": 2,
                                    "first_n": None, "probability": None},
                          "fault": "status=503;retry_after=1.0"}]
        assert (await _json(session, "GET", base_url + "/_sim/faults"))[1] == shown

        outcomes = []
        for _ in range(4):
            try:
                await client.chat.completions.create(model="gpt-4o-mini", messages=user())
                outcomes.append("ok")
            except openai.InternalServerError as exc:
                assert exc.response.headers["retry-after"] == "1"
                outcomes.append("503")
        assert outcomes == ["ok", "503", "ok", "503"]
        await client.chat.completions.create(model="o4-mini", messages=user())  # not selected by the glob

        stats = (await _json(session, "GET", base_url + "/_sim/stats"))[1]
        assert stats["requests"]["by_path"] == {"/v1/chat/completions": 5}
        assert stats["requests"]["by_outcome"] == {"ok": 3, "503": 2}
        assert stats["in_flight"] == 0

        assert await _json(session, "POST", base_url + "/_sim/reset") == (200, {"ok": True})
        stats = (await _json(session, "GET", base_url + "/_sim/stats"))[1]
        assert stats["requests"]["total"] == 0

        assert (await _json(session, "PUT", base_url + "/_sim/faults", json=[]))[1] == []
    await client.chat.completions.create(model="gpt-4o-mini", messages=user())


@pytest.mark.parametrize("body,fragment", [
    ([{"fault": "status=abc"}], "[0].fault: fault item 'status=abc'"),
    ([{"fault": "reset", "match": {"first_n": 0}}], "[0].match.first_n"),
    ({"fault": "reset"}, "Input should be a valid array"),
])
async def test_put_bad_rules_is_400_naming_the_field(base_url, body, fragment):
    async with aiohttp.ClientSession() as session:
        status, reply = await _json(session, "PUT", base_url + "/_sim/faults", json=body)
        assert status == 400 and fragment in reply["error"]["message"]
        assert (await _json(session, "GET", base_url + "/_sim/faults"))[1] == []


async def test_unknown_control_path(base_url):
    async with aiohttp.ClientSession() as session:
        status, reply = await _json(session, "GET", base_url + "/_sim/nope")
    assert status == 404 and reply["error"]["message"] == "Invalid URL (GET /_sim/nope)"


async def test_stats_count_routes_not_raw_paths(base_url, client):
    await client.models.retrieve("gpt-4o")
    await client.models.retrieve("o4-mini")
    for path in ("/a", "/b"):
        with pytest.raises(openai.NotFoundError):
            await client.get(path, cast_to=object)
    async with aiohttp.ClientSession() as session:
        stats = (await _json(session, "GET", base_url + "/_sim/stats"))[1]
    assert stats["requests"]["by_path"] == {"/v1/models/{model}": 2, "(unknown)": 2}
    assert stats["requests"]["by_outcome"] == {"ok": 2, "404": 2}


async def test_scripted_faults_from_settings_and_reset_restores_limits(start_simulator):
    settings = SimulatorSettings(
        rate_limits=RateLimits(rpm=1, tpm=100_000),
        faults=(FaultRuleSpec(match=MatchSpec(path="/v1/models", first_n=1), fault={"reset": True}),),
    )
    base = await start_simulator(settings)
    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="k", max_retries=0) as sdk:
        with pytest.raises(openai.APIConnectionError):
            await sdk.models.list()
        assert [m.id async for m in sdk.models.list()]  # first_n=1: only the first one
        await sdk.chat.completions.create(model="gpt-4o", messages=user())
        with pytest.raises(openai.RateLimitError):
            await sdk.chat.completions.create(model="gpt-4o", messages=user())
        async with aiohttp.ClientSession() as session:
            stats = (await _json(session, "GET", base + "/_sim/stats"))[1]
            assert stats["requests"]["by_outcome"] == {"fault:reset": 1, "ok": 2, "429": 1}
            await _json(session, "POST", base + "/_sim/reset")
        await sdk.chat.completions.create(model="gpt-4o", messages=user())
        with pytest.raises(openai.APIConnectionError):  # reset also restarts the script's counters
            await sdk.models.list()


async def test_header_overrides_script(base_url, client):
    async with aiohttp.ClientSession() as session:
        await _json(session, "PUT", base_url + "/_sim/faults", json=[{"fault": "status=500"}])
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="gpt-4o", messages=user())
    reply = await client.chat.completions.create(model="gpt-4o", messages=user(),
                                                 extra_headers={"x-sim-fault": ""})
    assert reply.choices
