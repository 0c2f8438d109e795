"""An OpenAI client served by an Anthropic deployment: the official openai SDK against the gateway,
the simulator playing api.anthropic.com (its /v1/messages route), over real HTTP."""

import openai
import pytest
from conftest import start_gateway

HI = [{"role": "user", "content": "hi"}]


def anthropic_config(sim_port: int) -> str:
    def dep(provider: str, model: str, name: str, keepalive_s: float = 15) -> str:
        return (f"      - provider: {provider}\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
                f"        model: {model}\n        api_key_env: SIM_KEY\n        name: {name}\n"
                f"        timeouts: {{connect_s: 2, read_s: 30, keepalive_s: {keepalive_s}}}\n"
                f"        circuit: {{failures_to_open: 1000, take_out_refused: false}}\n")

    return ("request_log:\n  flush_interval_s: 0.1\n"
            "models:\n"
            f"  - name: claude\n    deployments:\n{dep('anthropic', 'claude-sonnet-4-5', 'anth-sonnet')}"
            # dated ids keep this route's fault rules apart from the plain one's
            f"  - name: claude-then-gpt\n    deployments:\n"
            f"{dep('anthropic', 'claude-haiku-4-5-20251001', 'anth-haiku')}"
            f"{dep('openai', 'gpt-4o-mini', 'openai-backup')}"
            f"  - name: claude-thinker\n    deployments:\n"
            f"{dep('anthropic', 'claude-opus-4-1', 'anth-thinker', keepalive_s=0.2)}")


@pytest.fixture(scope="module")
def anthropic_gateway(tmp_path_factory, simulator):
    gw = start_gateway(tmp_path_factory, anthropic_config(simulator.port), name="anthropic-gateway")
    yield gw
    gw.proc.stop()


@pytest.fixture
def oai(anthropic_gateway):
    with openai.OpenAI(base_url=anthropic_gateway.base_url, api_key=anthropic_gateway.key, max_retries=0,
                       timeout=20) as c:
        yield c


def rule(fault: str, model: str) -> dict:
    return {"match": {"model": model}, "fault": fault}


def test_a_completion_comes_back_in_openai_shape_with_honest_model_and_usage(oai, anthropic_gateway, sim):
    raw = oai.chat.completions.with_raw_response.create(
        model="claude", max_tokens=200,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}])
    reply = raw.parse()
    assert reply.object == "chat.completion"
    assert reply.model == "claude-sonnet-4-5-20250929"  # what Anthropic reported, not the route name
    assert reply.choices[0].finish_reason == "stop" and reply.choices[0].message.content
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    row = anthropic_gateway.log_row(raw.headers["x-request-id"])
    assert row["deployment"] == "anth-sonnet" and row["model_served"] == "claude-sonnet-4-5-20250929"
    assert row["completion_tokens"] == reply.usage.completion_tokens


def test_a_stream_comes_back_as_openai_chunks_with_usage_when_asked(oai, anthropic_gateway, sim):
    chunks = list(oai.chat.completions.create(model="claude", messages=HI, stream=True,
                                              stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert {c.model for c in chunks} == {"claude-sonnet-4-5-20250929"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(
        [c for c in chunks if c.choices and c.choices[0].delta.content])


def test_a_stream_without_include_usage_has_no_usage_chunk_but_is_still_settled(oai, anthropic_gateway, sim):
    with oai.chat.completions.with_streaming_response.create(model="claude", messages=HI, stream=True) as raw:
        request_id = raw.headers["x-request-id"]
        chunks = list(raw.parse())
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    row = anthropic_gateway.log_row(request_id)
    assert row["stream_end"] == "completed" and row["completion_tokens"] > 0 and row["prompt_tokens"] > 0


def test_tool_calls_round_trip_through_tool_use_blocks(oai, sim):
    tools = [{"type": "function", "function": {"name": "search", "description": "Search the web",
                                               "parameters": {"type": "object", "properties": {
                                                   "query": {"type": "string"}}, "required": ["query"]}}}]
    first = oai.chat.completions.create(model="claude", messages=HI, tools=tools, tool_choice="required")
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "search" and call.function.arguments == '{"query":"gateways"}'
    # The tool result goes back as a tool_result the simulator checks against the tool_use id.
    second = oai.chat.completions.create(model="claude", tools=tools, messages=[
        *HI, first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "3 results"}])
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content


def test_a_parameter_anthropic_cannot_express_is_a_400_naming_it(oai, sim):
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model="claude", messages=HI, n=2)
    assert e.value.param == "n" and e.value.code == "unsupported_parameter"
    assert "anth-sonnet" in e.value.message and e.value.body["request_id"] and e.value.body["hint"]


def test_529_overloaded_from_the_anthropic_deployment_falls_back(oai, anthropic_gateway, sim):
    sim.set_faults([rule("status=529", "claude-haiku-4-5-20251001")])
    raw = oai.chat.completions.with_raw_response.create(model="claude-then-gpt", messages=HI)
    assert raw.parse().model.startswith("gpt-4o-mini")  # honest: the fallback served
    row = anthropic_gateway.log_row(raw.headers["x-request-id"])
    assert [a["deployment"] for a in row["attempts_detail"]] == ["anth-haiku", "openai-backup"]
    assert row["attempts_detail"][0]["status"] == 529
    assert row["attempts_detail"][0]["category"] == "upstream.overloaded"


def test_anthropic_429_is_handed_to_the_openai_sdk_as_a_rate_limit(oai, sim):
    sim.set_faults([rule("status=429;retry_after=30", "claude-sonnet-4-5")])
    with pytest.raises(openai.RateLimitError) as e:
        oai.chat.completions.create(model="claude", messages=HI)
    assert e.value.response.headers["retry-after"] == "30"
    assert e.value.body["category"].startswith("rate_limit.") and e.value.type == "rate_limit_error"


def test_an_in_stream_error_after_the_first_token_raises_in_the_openai_sdk(oai, anthropic_gateway, sim):
    # after=4: message_start, content_block_start, ping and one text delta, then `event: error`
    sim.set_faults([rule("stream_error=overloaded_error;after=4", "claude-sonnet-4-5")])
    received = []
    with oai.chat.completions.with_streaming_response.create(model="claude", messages=HI, stream=True) as raw:
        request_id = raw.headers["x-request-id"]
        with pytest.raises(openai.APIError) as e:
            for chunk in raw.parse():
                received.append(chunk.choices[0].delta.content or "")
    assert "".join(received).strip()  # the first token did arrive
    assert "Overloaded" in e.value.message
    row = anthropic_gateway.log_row(request_id)
    assert row["stream_end"] == "upstream_error" and row["category"] == "upstream.overloaded"


def test_an_overloaded_stream_before_its_first_token_falls_back(oai, anthropic_gateway, sim):
    # after=2: message_start and content_block_start, then `event: error` with nothing relayed yet
    sim.set_faults([rule("stream_error=overloaded_error;after=2", "claude-haiku-4-5-20251001")])
    with oai.chat.completions.with_streaming_response.create(model="claude-then-gpt", messages=HI,
                                                             stream=True) as raw:
        request_id = raw.headers["x-request-id"]
        chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert {c.model for c in chunks} == {"gpt-4o-mini-2024-07-18"}  # one consistent stream, from the fallback
    row = anthropic_gateway.log_row(request_id)
    assert [a["deployment"] for a in row["attempts_detail"]] == ["anth-haiku", "openai-backup"]
    assert row["stream_end"] == "completed"


def test_a_stream_cut_mid_way_raises_instead_of_ending_short(oai, sim):
    sim.set_faults([rule("cut_after=6", "claude-sonnet-4-5")])
    with pytest.raises(openai.APIError) as e:
        for _ in oai.chat.completions.create(model="claude", messages=HI, stream=True):
            pass
    assert "ended before it was complete" in e.value.message


def test_a_slow_first_token_is_kept_alive_and_then_relayed(oai, anthropic_gateway, sim):
    # headers at once, then silence past keepalive_s before message_start: the gateway commits
    # and keeps the client's connection alive until the stream comes
    sim.set_faults([rule("think_ms=600", "claude-opus-4-1")])
    with oai.chat.completions.with_streaming_response.create(model="claude-thinker", messages=HI,
                                                             stream=True) as raw:
        request_id = raw.headers["x-request-id"]
        chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert anthropic_gateway.log_row(request_id)["stream_end"] == "completed"
