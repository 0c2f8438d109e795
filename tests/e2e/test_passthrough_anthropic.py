"""Same vendor in and out: the official anthropic SDK against Anthropic deployments (the
simulator playing api.anthropic.com). The request reaches the deployment as the client sent it,
byte for byte but for the model, with its anthropic-beta and anthropic-version; thinking blocks
with their signatures and the cache token counts come back, streamed and not; usage and cost
count the cache as Anthropic prices it."""

import base64
import json
import re

import anthropic
import pytest
from conftest import http, own_stack

SYSTEM_TEXT = "You review pull requests for a payments team. " * 160  # ~1,300 tokens: past the cache minimum
BETA = "interleaved-thinking-2025-05-14,context-management-2025-06-27"
TOOLS = [{"name": "get_diff", "description": "The diff of a pull request",
          "input_schema": {"type": "object", "properties": {"number": {"type": "integer"}}, "required": ["number"]}}]


def config(sim_port: int) -> str:
    def dep(provider: str, model: str, name: str, base: str = "/v1", keepalive_s: float = 15) -> str:
        return (f"      - provider: {provider}\n        base_url: http://127.0.0.1:{sim_port}{base}\n"
                f"        model: {model}\n        api_key_env: SIM_KEY\n        name: {name}\n"
                f"        timeouts: {{connect_s: 2, read_s: 30, keepalive_s: {keepalive_s}}}\n"
                f"        circuit: {{failures_to_open: 1000}}\n")

    return ("request_log:\n  flush_interval_s: 0.1\n"
            "models:\n"
            f"  - name: claude\n    deployments:\n{dep('anthropic', 'claude-sonnet-4-5', 'anth-sonnet')}"
            # the same name on both sides: not even the model's bytes change
            f"  - name: claude-sonnet-5-5\n    deployments:\n{dep('anthropic', 'claude-sonnet-5-5', 'anth-5-5')}"
            # a dated id keeps this route's fault rules apart from the plain one's
            f"  - name: claude-then-o4\n    deployments:\n{dep('anthropic', 'claude-haiku-4-5-20251001', 'anth-haiku')}"
            f"{dep('openai', 'o4-mini', 'openai-o4')}"
            f"  - name: gpt-4o-mini\n    deployments:\n{dep('openai', 'gpt-4o-mini', 'openai-mini')}"
            f"  - name: claude-thinker\n    deployments:\n"
            f"{dep('anthropic', 'claude-opus-4-1', 'anth-thinker', keepalive_s=0.3)}")


upstream, gw, sim, _ = own_stack("passthrough-anthropic", config)


class Sent:
    """The bytes and headers the SDK put on the wire, kept by an httpx event hook."""

    def __init__(self):
        self.requests = []

    def __call__(self, request):
        self.requests.append(request)

    @property
    def last(self):
        return self.requests[-1]


@pytest.fixture
def sent():
    return Sent()


@pytest.fixture
def claude(gw, sent):
    http_client = anthropic.DefaultHttpxClient(event_hooks={"request": [sent]})
    with anthropic.Anthropic(base_url=gw.url, api_key=gw.key, max_retries=0, timeout=30, http_client=http_client) as c:
        yield c


def received(sim, path: str = "/v1/messages") -> list[dict]:
    status, _, body = http("GET", sim.url + "/_sim/requests")
    assert status == 200
    return [r for r in json.loads(body)["requests"] if r["path"] == path]


def body_of(record: dict) -> bytes:
    return base64.b64decode(record["body_b64"])


def with_model(raw: bytes, model: str) -> bytes:
    """The client's bytes with only the top-level model value replaced (the gateway's splice)."""
    return re.sub(rb'"model"\s*:\s*"[^"]*"', b'"model":"' + model.encode() + b'"', raw, count=1)


def ask(claude, model: str, **extra):
    return claude.messages.with_raw_response.create(
        model=model, max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 2048},
        system=[{"type": "text", "text": SYSTEM_TEXT, "cache_control": {"type": "ephemeral"}}],
        tools=TOOLS, messages=[{"role": "user", "content": "Review PR 42."}],
        extra_headers={"anthropic-beta": BETA}, **extra)


def test_the_request_reaches_anthropic_byte_for_byte_with_its_beta_header(claude, sim, sent):
    reply = ask(claude, "claude-sonnet-5-5")
    assert reply.http_response.status_code == 200
    [got] = received(sim)
    assert body_of(got) == sent.last.content  # the very bytes the SDK sent: nothing added, nothing lost
    assert got["headers"]["anthropic-beta"] == BETA
    assert got["headers"]["anthropic-version"] == sent.last.headers["anthropic-version"]
    assert got["headers"]["x-api-key"] == "sk-sim-upstream"  # the deployment's key, never the caller's
    assert "x-stainless-lang" not in got["headers"] and "authorization" not in got["headers"]


def test_only_the_model_is_rewritten_when_the_route_names_another(claude, sim, sent):
    ask(claude, "claude")
    [got] = received(sim)
    assert body_of(got) == with_model(sent.last.content, "claude-sonnet-4-5")
    assert json.loads(body_of(got))["model"] == "claude-sonnet-4-5"


def test_thinking_with_its_signature_and_the_cache_counts_reach_the_client(claude, gw, sim):
    first = ask(claude, "claude")
    message = first.parse()
    thinking, *rest = message.content
    assert thinking.type == "thinking" and thinking.signature and thinking.thinking
    assert [b.type for b in rest] == ["text"]
    assert message.usage.cache_creation_input_tokens > 1000 and message.usage.cache_read_input_tokens == 0
    second = ask(claude, "claude").parse()
    assert second.usage.cache_read_input_tokens == message.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    # usage in the log counts every input token, the cache's included; cost at Anthropic's prices
    u = second.usage
    row = gw.log_row(first.http_response.headers["x-request-id"])
    assert row["model_served"] == "claude-sonnet-4-5-20250929" and row["deployment"] == "anth-sonnet"
    second_row = gw.log_row(ask(claude, "claude").http_response.headers["x-request-id"])
    assert second_row["prompt_tokens"] == u.input_tokens + u.cache_read_input_tokens
    expected = (u.input_tokens * 3 + u.cache_read_input_tokens * 0.3 + u.output_tokens * 15) / 1e6
    assert second_row["cost_usd"] == pytest.approx(expected)


def test_a_stream_passes_through_thinking_signature_and_cache_counts(claude, gw, sim):
    ask(claude, "claude")  # warms the cache
    with claude.messages.stream(
            model="claude", max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 2048},
            system=[{"type": "text", "text": SYSTEM_TEXT, "cache_control": {"type": "ephemeral"}}],
            tools=TOOLS, messages=[{"role": "user", "content": "Review PR 42."}],
            extra_headers={"anthropic-beta": BETA}) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
        request_id = stream.response.headers["x-request-id"]
    assert "thinking" in kinds and "signature" in kinds and kinds[-1] == "message_stop"
    assert final.content[0].type == "thinking" and final.content[0].signature
    assert final.usage.cache_read_input_tokens > 1000 and final.usage.output_tokens > 0
    row = gw.log_row(request_id)
    assert row["stream_end"] == "completed" and row["completion_tokens"] == final.usage.output_tokens
    assert row["prompt_tokens"] == final.usage.input_tokens + final.usage.cache_read_input_tokens


def test_a_streamed_reply_reaches_the_client_as_the_upstream_sent_it(gw, sim):
    body = {"model": "claude-sonnet-5-5", "max_tokens": 3000, "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": gw.key, "anthropic-version": "2023-06-01"}
    status, _, via_gateway = http("POST", gw.url + "/v1/messages", body, headers)
    assert status == 200
    events = [line for line in via_gateway.decode().split("\n\n") if line]
    names = [e.split("\n")[0] for e in events]
    assert names[0] == "event: message_start" and names[-1] == "event: message_stop"
    assert '"type":"signature_delta"' in via_gateway.decode() and "event: error" not in via_gateway.decode()


def test_a_signature_from_elsewhere_is_the_upstreams_to_refuse_and_comes_back_in_anthropics_envelope(claude, sim):
    history = [{"role": "user", "content": "hi"},
               {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "bm90LXNpZ25lZA=="},
                                                 {"type": "text", "text": "Hello"}]},
               {"role": "user", "content": "again"}]
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.create(model="claude", max_tokens=3000, messages=history,
                               thinking={"type": "enabled", "budget_tokens": 1024})
    assert "Invalid `signature`" in e.value.message
    assert e.value.body["error"]["category"] == "request.invalid" and e.value.body["request_id"]


def test_an_unknown_field_reaches_anthropic_whose_400_comes_back_explained(claude, sim, sent):
    with pytest.raises(anthropic.BadRequestError) as e:
        claude.messages.create(model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}],
                               extra_body={"shiny_new_field": {"on": True}})
    assert "shiny_new_field: Extra inputs are not permitted" in e.value.message
    assert e.value.body["error"]["hint"] and e.value.body["request_id"]
    [got] = received(sim)
    assert json.loads(body_of(got))["shiny_new_field"] == {"on": True}


def test_a_fallback_to_another_vendor_drops_signed_thinking_and_answers_in_anthropics_shape(claude, gw, sim):
    """The conversation carries a thinking block signed by Anthropic; Anthropic is down, o4-mini
    serves: the signature (valid at Anthropic only) is left out, thinking becomes reasoning_effort,
    and the client gets a Message its SDK parses."""
    signed = claude.messages.create(model="claude", max_tokens=3000, messages=[{"role": "user", "content": "hi"}],
                                    thinking={"type": "enabled", "budget_tokens": 1024})
    sim.set_faults([{"match": {"model": "claude-haiku-4-5-20251001"}, "fault": "status=503"}])
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [b.model_dump() for b in signed.content]},
               {"role": "user", "content": "again"}]
    raw = claude.messages.with_raw_response.create(model="claude-then-o4", max_tokens=3000, messages=history,
                                                   thinking={"type": "enabled", "budget_tokens": 1024})
    message = raw.parse()
    assert message.model.startswith("o4-mini") and message.content[0].type == "text" and message.content[0].text
    [to_openai] = received(sim, "/v1/chat/completions")
    openai_body = json.loads(body_of(to_openai))
    assert openai_body["reasoning_effort"] == "low" and b"signature" not in body_of(to_openai)
    row = gw.log_row(raw.http_response.headers["x-request-id"])
    assert [a["deployment"] for a in row["attempts_detail"]] == ["anth-haiku", "openai-o4"]


def test_a_stream_failing_before_its_first_content_falls_back_and_the_client_gets_one_parseable_stream(claude, sim):
    sim.set_faults([{"match": {"model": "claude-haiku-4-5-20251001"}, "fault": "stream_error=overloaded_error;after=2"}])
    with claude.messages.stream(model="claude-then-o4", max_tokens=200,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.model.startswith("o4-mini") and final.stop_reason in ("end_turn", "max_tokens")


def test_a_stream_cut_midway_ends_with_anthropics_error_event(gw, sim):
    sim.set_faults([{"match": {"model": "claude-sonnet-4-5"}, "fault": "cut_after=5"}])
    status, headers, raw = http("POST", gw.url + "/v1/messages", {
        "model": "claude", "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        {"x-api-key": gw.key, "anthropic-version": "2023-06-01"})
    events = [e for e in raw.decode().split("\n\n") if e]
    assert status == 200 and events[-1].startswith("event: error")
    error = json.loads(events[-1].split("data: ", 1)[1])
    assert error["type"] == "error" and error["error"]["category"] == "stream.interrupted"
    assert gw.log_row(headers["x-request-id"])["stream_end"] == "interrupted"


@pytest.mark.parametrize("body,param", [
    (b"{not json", None),
    (b'{"model": 5, "max_tokens": 5, "messages": []}', "model"),
    (b'{"model": "claude", "max_tokens": 5, "messages": [], "stream": "yes"}', "stream"),
    (b'{"model": "claude", "max_tokens": 5, "messages": "hi"}', "messages"),
    (b'{"model": "claude", "messages": []}', "max_tokens"),
])
def test_what_the_gateway_reads_is_still_checked_before_any_upstream_call(gw, sim, body, param):
    status, headers, raw = http("POST", gw.url + "/v1/messages", body,
                                {"x-api-key": gw.key, "content-type": "application/json"})
    payload = json.loads(raw)
    assert status == 400 and payload["type"] == "error" and payload["error"]["param"] == param
    assert received(sim) == []
    if param not in ("model", None):  # the log row names the model the body asked for, refused or not
        assert gw.log_row(headers["x-request-id"])["model_requested"] == "claude"


def test_count_tokens_is_answered_by_the_anthropic_deployment(claude, sim):
    counted = claude.messages.count_tokens(model="claude", system=SYSTEM_TEXT, tools=TOOLS,
                                           messages=[{"role": "user", "content": "Review PR 42."}])
    [got] = received(sim, "/v1/messages/count_tokens")
    assert json.loads(body_of(got))["model"] == "claude-sonnet-4-5"
    assert counted.input_tokens > 1000


def test_count_tokens_for_a_model_another_vendor_serves_is_counted_locally_and_says_so(claude, sim):
    raw = claude.messages.with_raw_response.count_tokens(
        model="gpt-4o-mini", system="Be brief.", messages=[{"role": "user", "content": "Say hello to the team"}])
    assert raw.parse().input_tokens > 5
    assert raw.headers["x-seawall-token-count"] == "exact:o200k_base"
    assert received(sim, "/v1/messages/count_tokens") == [] and received(sim, "/v1/chat/completions") == []


def test_the_model_list_comes_in_anthropics_shape_and_pages(claude, gw):
    names = [m.id for m in claude.models.list(limit=2)]  # the SDK follows has_more / last_id
    assert names == ["claude", "claude-sonnet-5-5", "claude-then-o4", "gpt-4o-mini", "claude-thinker"]
    page = claude.models.list(limit=2)
    assert page.has_more and page.first_id == "claude" and page.last_id == "claude-sonnet-5-5"
    assert page.data[0].type == "model" and page.data[0].created_at
    before = claude.models.list(before_id="claude-then-o4", limit=1)
    assert [m.id for m in before.data] == ["claude-sonnet-5-5"] and before.has_more
    assert claude.models.retrieve("claude").id == "claude"
    status, _, raw = http("GET", gw.url + "/v1/models?limit=0", headers={"x-api-key": gw.key,
                                                                         "anthropic-version": "2023-06-01"})
    assert status == 400 and json.loads(raw)["error"]["param"] == "limit"


def test_a_slow_first_event_is_bridged_by_pings_and_the_stream_then_passes_through(gw, sim):
    sim.set_faults([{"match": {"model": "claude-opus-4-1"}, "fault": "think_ms=1200"}])
    status, _, raw = http("POST", gw.url + "/v1/messages", {
        "model": "claude-thinker", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        {"x-api-key": gw.key, "anthropic-version": "2023-06-01"}, timeout=20)
    names = [line[7:] for line in raw.decode().splitlines() if line.startswith("event: ")]
    assert status == 200 and names[:2] == ["ping", "ping"]  # the gateway's, while the model thinks
    assert names[names.index("message_start"):][-1] == "message_stop" and "error" not in names
