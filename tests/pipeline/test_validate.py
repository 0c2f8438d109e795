"""The validate stage in process: config -> per-model targets, the checks in order, repairs that
leave the client's body alone, and counting off the event loop for large prompts."""

import asyncio
import contextlib
import threading

import pytest

from seawall.catalog import tokens
from seawall.config import ConfigError, parse_settings, resolve_secrets
from seawall.errors import SeawallError
from seawall.pipeline import validate as stage
from seawall.pipeline.route import Router
from seawall.pipeline.validate import Preflight
from seawall.providers.base import ApiRequest


def dep(model: str, **extra) -> dict:
    return {"provider": "simulator", "model": model, **extra}


def preflight(*models: dict, **server) -> Preflight:
    settings = parse_settings({"models": list(models), "server": server})
    return Preflight(settings.server, Router(resolve_secrets(settings, {}, "http://127.0.0.1:9")))


def chat(model: str, messages: list, **extra) -> ApiRequest:
    return ApiRequest("chat", model, {"model": model, "messages": messages, **extra})


def say(n: int) -> dict:
    return {"role": "user", "content": " ".join(["apple"] * n)}  # n + 1 (role) + 3 tokens on o200k


def test_targets_take_the_tightest_deployment():
    pf = preflight({"name": "m", "deployments": [dep("gpt-4.1-mini"), dep("gpt-4o-mini")]},
                   {"name": "mixed", "deployments": [dep("gpt-4o"), dep("claude-sonnet-4")]},
                   {"name": "local", "deployments": [dep("my-llama")]},
                   {"name": "local-sized", "catalog": {"context_window": 4096},
                    "deployments": [dep("my-llama", catalog={"tokenizer": "cl100k_base"})]})
    m = pf.targets["m"].info
    assert (m.context_window, m.max_output_tokens, m.tokenizer) == (128000, 16384, "o200k_base")
    mixed = pf.targets["mixed"].info
    assert mixed.tokenizer == "estimate"  # two tokenizers: count with the estimate
    assert pf.targets["local"].info is None
    sized = pf.targets["local-sized"].info
    assert (sized.context_window, sized.tokenizer) == (4096, "cl100k_base")


async def test_a_fitting_request_is_passed_as_is():
    pf = preflight({"name": "m", "deployments": [dep("gpt-4o-mini")]})
    req = chat("m", [say(10)], temperature=0.3)
    checked = await pf.check(req, 100)
    assert checked.request is req and checked.routed is req and checked.headers == []
    assert checked.prompt_tokens is None  # far under the window: not counted at all


async def test_trim_copies_the_body_and_says_how_many_went():
    pf = preflight({"name": "m", "context_policy": "trim", "catalog": {"context_window": 40},
                    "deployments": [dep("gpt-4o-mini")]})
    # 5 + 24 + 24 + 9 + 3 = 65 tokens; without message 1: 41, still over; without 1 and 2: 17
    messages = [{"role": "system", "content": "hi"}, say(20), say(20), say(5)]
    req = chat("m", messages)
    checked = await pf.check(req, 100)
    assert checked.request.body["messages"] == [messages[0], messages[3]]
    assert checked.headers == [(b"x-seawall-trimmed-messages", b"2")]
    assert checked.prompt_tokens == 17  # counted: admission can use it
    assert req.body["messages"] is messages and len(messages) == 4  # the client's body is untouched


async def test_truncate_output_sets_the_parameter_the_client_used():
    pf = preflight({"name": "m", "context_policy": "truncate_output", "catalog": {"context_window": 50},
                    "deployments": [dep("gpt-4o-mini")]})
    checked = await pf.check(chat("m", [say(20)], max_completion_tokens=40), 100)
    # 20 + 1 + 3 + 3 = 27 prompt tokens: 23 left
    assert checked.request.body["max_completion_tokens"] == 23 and "max_tokens" not in checked.request.body
    assert checked.headers == [(b"x-seawall-max-tokens", b"23")]


async def test_fallback_chains_to_a_model_that_fits():
    pf = preflight({"name": "a", "context_policy": "fallback", "fallback_model": "b",
                    "catalog": {"context_window": 20}, "deployments": [dep("gpt-4o-mini")]},
                   {"name": "b", "context_policy": "fallback", "fallback_model": "c",
                    "catalog": {"context_window": 40}, "deployments": [dep("gpt-4o-mini")]},
                   {"name": "c", "deployments": [dep("gpt-4o")]})
    checked = await pf.check(chat("a", [say(40)]), 100)  # 47 tokens: past a's 20 and b's 40
    assert (checked.request.model, checked.routed.model) == ("a", "c")
    assert checked.headers == [(b"x-seawall-fallback-model", b"c")]


async def test_fallback_to_a_model_that_is_too_small_too_rejects():
    pf = preflight({"name": "a", "context_policy": "fallback", "fallback_model": "b",
                    "catalog": {"context_window": 20}, "deployments": [dep("gpt-4o-mini")]},
                   {"name": "b", "catalog": {"context_window": 30}, "deployments": [dep("gpt-4o-mini")]})
    with pytest.raises(SeawallError) as e:
        await pf.check(chat("a", [say(30)]), 100)
    assert e.value.code == "context_length_exceeded" and "30 tokens" in e.value.message


async def test_embeddings_inputs_checked_against_the_window():
    pf = preflight({"name": "e", "deployments": [dep("text-embedding-3-small")]})
    req = ApiRequest("embeddings", "e", {"model": "e", "input": ["apple " * 9000]})
    with pytest.raises(SeawallError) as e:
        await pf.check(req, 60_000)
    assert e.value.code == "context_length_exceeded" and "8191" in e.value.message


async def test_requests_far_under_the_window_are_not_counted(monkeypatch):
    pf = preflight({"name": "m", "deployments": [dep("gpt-4o-mini")]})
    monkeypatch.setattr(stage, "prompt_of", None)  # would fail if called
    checked = await pf.check(chat("m", [say(2000)], max_tokens=16384), 12_000)
    assert checked.headers == []


async def test_large_prompts_are_counted_in_the_counting_thread(monkeypatch):
    pf = preflight({"name": "m", "catalog": {"context_window": 3000}, "deployments": [dep("gpt-4o-mini")]})
    calls = []
    counted = stage.prompt_of

    def prompt_of(req, tokenizer):
        calls.append((threading.current_thread().name.split("_")[0], tokenizer))
        return counted(req, tokenizer)

    await asyncio.to_thread(tokens.preload({"o200k_base"}).join)  # loaded: only size decides
    monkeypatch.setattr(stage, "prompt_of", prompt_of)
    small = chat("m", [say(500)])  # 3 KB against a 3000-token window: counted, inline
    await pf.check(small, 3000)
    assert calls == [("MainThread", "o200k_base")]
    big = chat("m", [say(2000)])  # 12 KB: counted in the one counting thread, off the event loop
    with contextlib.suppress(SeawallError):
        await pf.check(big, 12_000)
    assert calls[1] == ("seawall-count", "o200k_base")


async def test_past_max_count_bytes_a_prompt_is_estimated_not_counted(monkeypatch):
    pf = preflight({"name": "m", "catalog": {"context_window": 100_000}, "deployments": [dep("gpt-4o-mini")]})
    monkeypatch.setattr(tokens, "encoding", lambda name: pytest.fail("a prompt past MAX_COUNT_BYTES was tokenized"))
    text = "word " * (stage.MAX_COUNT_BYTES // 5 + 1000)
    body = chat("m", [{"role": "user", "content": text}])
    with pytest.raises(SeawallError) as e:
        await pf.check(body, len(text) + 100)
    assert e.value.code == "context_length_exceeded"
    # the text, "user" (1), the message's frame (3) and the reply's primer (3), each by bytes / 4
    assert e.value.values["prompt"] == -(-len(text) // tokens.LARGE_BYTES_PER_TOKEN) + 1 + 3 + 3


async def test_unknown_models_are_still_schema_checked():
    pf = preflight({"name": "local", "deployments": [dep("my-llama")]})
    with pytest.raises(SeawallError) as e:
        await pf.check(chat("local", [{"role": "bot", "content": "x"}]), 100)
    assert e.value.param == "messages[0].role"
    checked = await pf.check(chat("local", [say(10**5)]), 10**6)  # no window known: no fit check
    assert checked.headers == []


async def test_modalities_come_from_the_catalog():
    pf = preflight({"name": "text-only", "deployments": [dep("o3-mini")]})
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    with pytest.raises(SeawallError) as e:
        await pf.check(chat("text-only", [{"role": "user", "content": [image]}]), 100)
    assert (e.value.code, e.value.param) == ("modality_not_supported", "messages[0].content[0]")


async def test_per_model_limits_override_the_server_wide_ones():
    pf = preflight({"name": "strict", "request_limits": {"max_messages": 2}, "deployments": [dep("gpt-4o")]},
                   {"name": "default", "deployments": [dep("gpt-4o")]},
                   request_limits={"max_messages": 3})
    with pytest.raises(SeawallError) as e:
        await pf.check(chat("strict", [say(1)] * 3), 100)
    assert (e.value.code, e.value.status) == ("too_many_messages", 413)
    await pf.check(chat("default", [say(1)] * 3), 100)
    with pytest.raises(SeawallError):
        await pf.check(chat("default", [say(1)] * 4), 100)


CONFIG_ERRORS = [  # models, fragment of the ConfigError
    ([{"name": "a", "context_policy": "fallback", "deployments": [dep("x")]}], "fallback needs fallback_model"),
    ([{"name": "a", "context_policy": "fallback", "fallback_model": "bigg", "deployments": [dep("x")]},
      {"name": "big", "deployments": [dep("x")]}],
     "models.0.fallback_model: 'bigg' is not another configured model — did you mean 'big'?"),
    ([{"name": "a", "context_policy": "shrink", "deployments": [dep("x")]}], "models.0.context_policy"),
    ([{"name": "a", "catalog": {"context_windw": 10}, "deployments": [dep("x")]}],
     "models.0.catalog.context_windw: unknown field — did you mean 'context_window'?"),
    ([{"name": "a", "deployments": [dep("x", catalog={"tokenizer": "gpt2"})]}], "models.0.deployments.0.catalog.tokenizer"),
    ([{"name": "a", "catalog": {"context_window": 0}, "deployments": [dep("x")]}], "models.0.catalog.context_window"),
]


@pytest.mark.parametrize("models,fragment", CONFIG_ERRORS)
def test_config_errors_name_the_field(models, fragment):
    with pytest.raises(ConfigError) as e:
        parse_settings({"models": models})
    assert fragment in str(e.value)


# -- a body in its own vendor's shape (pass-through): counted as it is, never translated ---------------

def messages(model: str, turns: list, **extra) -> ApiRequest:
    body = {"model": model, "max_tokens": extra.pop("max_tokens", 100), "messages": turns, **extra}
    return ApiRequest("chat", model, body, dialect="anthropic", shape="anthropic", raw=b"{}")


def words(role: str, n: int) -> dict:
    return {"role": role, "content": [{"type": "text", "text": "apple " * n}]}  # 6n bytes: 2n estimated tokens


CLAUDE = {"name": "c", "catalog": {"context_window": 1000}, "deployments": [dep("claude-sonnet-4-5")]}


async def test_a_native_body_that_fits_passes_untouched_whatever_fields_it_carries():
    pf = preflight(CLAUDE)
    req = messages("c", [words("user", 10)], thinking={"type": "enabled", "budget_tokens": 2048},
                   context_management={"edits": []}, brand_new={"x": 1})
    checked = await pf.check(req, 300)
    assert checked.request is req and checked.request.raw == b"{}"


async def test_a_native_body_over_the_window_is_refused_naming_its_own_fields():
    pf = preflight(CLAUDE)
    with pytest.raises(SeawallError) as e:
        await pf.check(messages("c", [words("user", 1500)]), 3000)
    assert e.value.code == "context_length_exceeded" and e.value.param == "messages"
    with pytest.raises(SeawallError) as big:
        await pf.check(messages("c", [words("user", 5)], max_tokens=70000), 100)
    assert big.value.code == "output_too_large" and big.value.param == "max_tokens"


async def test_truncate_output_lowers_max_tokens_in_the_native_body():
    pf = preflight({**CLAUDE, "context_policy": "truncate_output"})
    checked = await pf.check(messages("c", [words("user", 300)], max_tokens=900), 2000)
    assert checked.request.body["max_tokens"] < 900 and checked.request.raw is None  # re-serialized upstream
    assert (b"x-seawall-max-tokens", str(checked.request.body["max_tokens"]).encode()) in checked.headers


async def test_trim_drops_whole_tool_exchanges_and_opens_with_a_user_turn():
    pf = preflight({**CLAUDE, "context_policy": "trim"})
    call = {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"q": "x" * 900}}]}
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "y" * 900}]}
    turns = [words("user", 600), call, result, words("assistant", 5), words("user", 5)]
    checked = await pf.check(messages("c", turns), 6000)
    kept = checked.request.body["messages"]
    assert kept[0]["role"] == "user" and all(m is not call and m is not result for m in kept)
    assert kept[-1] == turns[-1]


async def test_a_gemini_body_counts_its_contents_and_output_ceiling():
    pf = preflight({"name": "g", "catalog": {"context_window": 1000}, "deployments": [dep("gemini-2.5-flash")]})
    body = {"contents": [{"role": "user", "parts": [{"text": "apple " * 1500}]}],
            "generationConfig": {"maxOutputTokens": 50}}
    with pytest.raises(SeawallError) as e:
        await pf.check(ApiRequest("chat", "g", body, dialect="gemini", shape="gemini"), 9100)
    assert e.value.code == "context_length_exceeded" and e.value.param == "contents"
