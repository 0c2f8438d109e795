"""POST /v1/responses through the gateway with the official openai SDK: passed through to an
OpenAI-compatible deployment (its id remembered, so previous_response_id, retrieval, deletion and
input items go back there), translated for Anthropic, Gemini and a chat-only deployment (the
conversation kept by the gateway), streams that break ending with response.failed, usage into
the log and the quota."""

import json
import uuid

import openai
import pytest
from admin_cli import new_key
from conftest import http, own_stack, start_gateway

TOOLS = [{"type": "function", "name": "get_weather", "description": "The weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


CHAT_ONLY = "        responses: false\n"


def config(port: int) -> str:
    def dep(provider: str, base: str, model: str, extra: str = "") -> str:
        return (f"      - provider: {provider}\n        base_url: {base}\n        model: {model}\n"
                f"        api_key_env: SIM_KEY\n        name: {provider}-{model}{extra and '-chat-only'}\n"
                f"        timeouts: {{connect_s: 2, read_s: 10}}\n"
                f"        circuit: {{failures_to_open: 1000, take_out_refused: false}}\n{extra}")

    base = f"http://127.0.0.1:{port}"
    return ("request_log:\n  flush_interval_s: 0.1\nresponses:\n  flush_interval_s: 0.1\n"
            f"models:\n  - name: gpt-4o-mini\n    deployments:\n{dep('openai', base + '/v1', 'gpt-4o-mini')}"
            f"  - name: claude-sonnet-4-5\n    deployments:\n{dep('anthropic', base + '/v1', 'claude-sonnet-4-5')}"
            f"  - name: gemini-2.5-flash\n    deployments:\n{dep('gemini', base + '/v1beta', 'gemini-2.5-flash')}"
            f"  - name: chat-only\n    deployments:\n{dep('openai', base + '/v1', 'gpt-4o', CHAT_ONLY)}"
            f"  - name: o4-mini\n    deployments:\n{dep('openai', base + '/v1', 'o4-mini')}"
            f"  - name: azure-gpt\n    deployments:\n{dep('azure', base, 'gpt-4o-mini')}"
            f"  - name: mixed\n    deployments:\n{dep('openai', base + '/v1', 'gpt-4.1-mini')}"
            f"{dep('anthropic', base + '/v1', 'claude-haiku-4-5')}")


upstream, gw, sim, client = own_stack("responses", config)
TRANSLATED = ["claude-sonnet-4-5", "gemini-2.5-flash", "chat-only"]


def seen(sim, path: str) -> list[dict]:
    status, _, body = http("GET", sim.url + "/_sim/requests")
    assert status == 200
    return [r for r in json.loads(body)["requests"] if r["path"] == path]


def test_passed_through_to_an_openai_deployment_as_the_client_sent_it(gw, sim, client):
    reply = client.responses.create(model="gpt-4o-mini", input="Say hello", instructions="Be brief.",
                                    metadata={"who": "test"}, extra_body={"prompt_cache_key": "k-1"})
    assert reply.object == "response" and reply.status == "completed" and reply.output_text
    sent = seen(sim, "/v1/responses")
    assert len(sent) == 1 and sent[0]["headers"]["authorization"] == "Bearer sk-sim-upstream"
    assert json.loads(sent[0]["body"]) == {"model": "gpt-4o-mini", "input": "Say hello",
                                           "instructions": "Be brief.", "metadata": {"who": "test"},
                                           "prompt_cache_key": "k-1"}
    row = gw.log_row(reply._request_id)
    assert row["dialect"] == "responses" and row["operation"] == "responses"
    assert row["prompt_tokens"] == reply.usage.input_tokens and row["completion_tokens"] == reply.usage.output_tokens
    assert row["deployment"] == "openai-gpt-4o-mini" and row["cost_usd"] > 0


def test_a_passed_through_response_is_continued_retrieved_listed_and_deleted_at_its_deployment(gw, sim, client):
    first = client.responses.create(model="gpt-4o-mini", input="My name is Ada.")
    second = client.responses.create(model="gpt-4o-mini", input="What is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.status == "completed"
    assert client.responses.retrieve(first.id).id == first.id
    items = client.responses.input_items.list(second.id)
    assert [i.type for i in items.data] == ["message"]
    assert client.responses.delete(first.id) is None
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    assert {r["method"] + " " + r["path"] for r in json.loads(http("GET", sim.url + "/_sim/requests")[2])
            ["requests"]} >= {f"GET /v1/responses/{first.id}", f"DELETE /v1/responses/{first.id}",
                              f"GET /v1/responses/{second.id}/input_items"}


def test_another_key_cannot_see_or_continue_a_response(gw, sim, client):
    made = client.responses.create(model="gpt-4o-mini", input="secret")
    other = key_client(gw)
    with pytest.raises(openai.NotFoundError) as e:
        other.responses.retrieve(made.id)
    assert e.value.body["code"] == "response_not_found"
    before = len(seen(sim, "/v1/responses"))
    with pytest.raises(openai.NotFoundError) as e:
        other.responses.create(model="gpt-4o-mini", input="more", previous_response_id=made.id)
    assert e.value.body["code"] == "previous_response_not_found" and e.value.body["param"] == "previous_response_id"
    assert len(seen(sim, "/v1/responses")) == before  # nothing sent upstream


@pytest.mark.parametrize("model", TRANSLATED)
def test_translated_for_a_deployment_without_the_responses_api(gw, sim, client, model):
    reply = client.responses.create(model=model, input="Say hello", instructions="Be brief.", max_output_tokens=50)
    assert reply.object == "response" and reply.status == "completed" and reply.output_text
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert seen(sim, "/v1/responses") == []  # no deployment was asked for the Responses API
    row = gw.log_row(reply._request_id)
    assert row["dialect"] == "responses" and row["operation"] == "chat" and row["prompt_tokens"] > 0


@pytest.mark.parametrize("model", ["gpt-4o-mini", *TRANSLATED])
def test_streamed_as_typed_events(gw, sim, client, model):
    with client.responses.stream(model=model, input="Tell me a story") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and final.output_text and final.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["gpt-4o-mini", *TRANSLATED])
def test_a_function_tool_round_trip_with_previous_response_id(gw, sim, client, model):
    first = client.responses.create(model=model, input="What's the weather in Oslo?", tools=TOOLS,
                                    tool_choice="required")
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls and calls[0].name == "get_weather"
    second = client.responses.create(model=model, previous_response_id=first.id, tools=TOOLS, input=[
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"sky": "sunny"}'}])
    assert second.status == "completed" and second.output_text
    assert second.previous_response_id == first.id


@pytest.mark.parametrize("model", TRANSLATED)
def test_a_translated_response_is_kept_retrieved_listed_and_deleted_by_the_gateway(gw, client, model):
    made = client.responses.create(model=model, input=[{"role": "user", "content": "Remember 42."}])
    again = client.responses.retrieve(made.id)
    assert again.id == made.id and again.output_text == made.output_text
    items = client.responses.input_items.list(made.id)
    assert [i.type for i in items.data] == ["message"] and items.data[0].id
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.cancel(made.id)
    assert e.value.body["code"] == "response_not_cancellable"
    client.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)


@pytest.fixture(scope="module")
def tenant_gw(tmp_path_factory, upstream):
    gateway = start_gateway(tmp_path_factory, "server:\n  share_within: tenant\n" + config(upstream.port),
                            "responses-tenant")
    yield gateway
    gateway.proc.stop()


def test_share_within_tenant_lets_a_tenants_keys_continue_a_translated_response_and_no_one_else(tenant_gw, sim):
    def as_key(*tenant: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=tenant_gw.base_url, api_key=new_key(tenant_gw, *tenant)["key"], max_retries=0)

    acme, acme_too, globex = as_key("--tenant", "acme"), as_key("--tenant", "acme"), as_key("--tenant", "globex")
    made = acme.responses.create(model="claude-sonnet-4-5", input="Remember 42.")
    more = acme_too.responses.create(model="claude-sonnet-4-5", input="Which number?", previous_response_id=made.id)
    assert more.status == "completed" and more.previous_response_id == made.id
    assert acme_too.responses.retrieve(made.id).output_text == made.output_text
    unknown = "resp_" + uuid.uuid4().hex

    def refusals(response_id: str) -> list[dict]:
        found = []
        for call in (lambda: globex.responses.retrieve(response_id),
                     lambda: globex.responses.input_items.list(response_id),
                     lambda: globex.responses.create(model="claude-sonnet-4-5", input="?",
                                                     previous_response_id=response_id)):
            with pytest.raises(openai.NotFoundError) as e:
                call()
            body = {k: v for k, v in e.value.body.items() if k != "request_id"}
            found.append(json.loads(json.dumps(body).replace(response_id, "ID")))
        return found

    assert refusals(made.id) == refusals(unknown)  # another tenant's key: the same 404 as an unknown id
    acme_too.responses.delete(made.id)  # the rule that lets it continue one lets it delete one
    with pytest.raises(openai.NotFoundError):
        acme.responses.retrieve(made.id)


def test_a_previous_response_id_the_gateway_never_saw_is_refused_before_any_upstream(gw, sim, client):
    for model in ("gpt-4o-mini", "claude-sonnet-4-5"):
        with pytest.raises(openai.NotFoundError) as e:
            client.responses.create(model=model, input="hi", previous_response_id="resp_never_seen")
        assert e.value.body["code"] == "previous_response_not_found"
        assert "resp_never_seen" in e.value.message and e.value.body["request_id"]
    assert seen(sim, "/v1/messages") == [] and seen(sim, "/v1/responses") == []


@pytest.mark.parametrize("item, param", [
    ({"type": "web_search_call", "id": "ws_1", "status": "completed"}, "input[0].type"),
    ({"type": "item_reference", "id": "msg_1"}, "input[0].id"),
    ({"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}, "input[0].content[0].file_id"),
])
def test_input_items_a_translated_target_cannot_express_are_named_and_nothing_is_sent(gw, sim, client, item, param):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="claude-sonnet-4-5", input=[item])
    assert e.value.body["param"] == param and e.value.body["code"] == "unsupported_parameter"
    assert seen(sim, "/v1/messages") == []


@pytest.mark.parametrize("model", TRANSLATED)
def test_an_item_reference_to_a_translated_responses_item_is_resolved_by_the_gateway(gw, sim, client, model):
    first = client.responses.create(model=model, input="Say hello")
    item = first.output[0]
    second = client.responses.create(model=model, input=[{"role": "user", "content": "Say hello"},
                                                         {"type": "item_reference", "id": item.id},
                                                         {"role": "user", "content": "Again, please"}])
    assert second.status == "completed"
    assert [i.type for i in client.responses.input_items.list(second.id, order="asc").data] == \
        ["message", "message", "message"]
    other = key_client(gw)
    with pytest.raises(openai.BadRequestError) as e:  # another key's item is as unknown as any
        other.responses.create(model=model, input=[{"type": "item_reference", "id": item.id}])
    assert e.value.body["param"] == "input[0].id"


def key_client(gw) -> openai.OpenAI:
    status, _, body = http("POST", gw.url + "/admin/keys", {"name": f"other-{uuid.uuid4().hex[:12]}"},
                           {"authorization": f"Bearer {gw.admin_key}"})
    assert status == 201, body
    return openai.OpenAI(base_url=gw.base_url, api_key=json.loads(body)["key"], max_retries=0)


def test_a_built_in_tool_for_a_translated_target_is_named(gw, sim, client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="gemini-2.5-flash", input="news?", tools=[{"type": "web_search"}])
    assert e.value.body["param"] == "tools[0].type"


@pytest.mark.parametrize("model, path, fault", [
    ("gpt-4o-mini", "/v1/responses", "stream_error=server_error;after=3"),
    ("gpt-4o-mini", "/v1/responses", "stream_error=server_error;after=3;stream_error_as=error"),
    ("claude-sonnet-4-5", "/v1/messages", "stream_error=overloaded_error;after=8"),
    ("gpt-4o", "/v1/chat/completions", "stream_error=server_error;after=3"),
    ("gpt-4o-mini", "/v1/responses", "cut_after=4"),
    ("claude-sonnet-4-5", "/v1/messages", "cut_after=4"),
])
def test_a_stream_that_breaks_ends_with_response_failed(gw, sim, client, model, path, fault):
    sim.set_faults([{"match": {"model": model, "path": path}, "fault": fault}])
    name = "chat-only" if model == "gpt-4o" else model
    with client.responses.stream(model=name, input="Tell me a story") as stream:
        events = list(stream)
        with pytest.raises(RuntimeError, match="response.completed"):
            stream.get_final_response()
    kinds = [e.type for e in events]
    assert "response.completed" not in kinds and kinds[0] == "response.created"
    assert kinds[-1] == "response.failed" or kinds[-1] == "error" and "stream_error_as=error" in fault
    if kinds[-1] == "response.failed":
        assert events[-1].response.id == events[0].response.id and events[-1].response.status == "failed"
        assert events[-1].response.error.code == "server_error"


def test_a_cut_passed_through_stream_is_ended_by_the_gateway_with_the_id_it_announced(gw, sim, client):
    sim.set_faults([{"match": {"model": "gpt-4o-mini", "path": "/v1/responses"}, "fault": "cut_after=4"}])
    with client.responses.stream(model="gpt-4o-mini", input="Tell me a story") as stream:
        events = list(stream)
    assert [e.type for e in events][-2:] == ["error", "response.failed"]
    assert events[-1].response.id == events[0].response.id
    assert "ended before it was complete" in events[-2].message
    assert events[-2].sequence_number == events[-3].sequence_number + 1


@pytest.mark.parametrize("model, path", [("claude-sonnet-4-5", "/v1/messages"), ("gpt-4o-mini", "/v1/responses")])
def test_a_429_before_the_first_event_is_the_clients_429_with_retry_after(gw, sim, client, model, path):
    sim.set_faults([{"match": {"model": model, "path": path}, "fault": "status=429;retry_after=7"}])
    with pytest.raises(openai.RateLimitError) as e:
        client.responses.create(model=model, input="hi")
    assert e.value.response.headers["retry-after"] == "7" and e.value.body["request_id"]


@pytest.mark.parametrize("stream", [False, True])
def test_an_overloaded_openai_deployment_falls_back_to_claude_translated(gw, sim, client, stream):
    sim.set_faults([{"match": {"model": "gpt-4.1-mini", "path": "/v1/responses"}, "fault": "status=503"}])
    if stream:
        with client.responses.stream(model="mixed", input="Say hello") as events:
            reply = events.get_final_response()
        request_id = None
    else:
        reply = client.responses.create(model="mixed", input="Say hello")
        request_id = reply._request_id
    assert reply.status == "completed" and reply.output_text and reply.model.startswith("claude-haiku-4-5")
    assert len(seen(sim, "/v1/responses")) == 1 and len(seen(sim, "/v1/messages")) == 1
    if request_id:
        row = gw.log_row(request_id)
        assert [a["deployment"] for a in row["attempts_detail"]] == ["openai-gpt-4.1-mini",
                                                                     "anthropic-claude-haiku-4-5"]
    again = client.responses.create(model="mixed", input="Again", previous_response_id=reply.id)
    assert again.status == "completed"  # the conversation is the gateway's: translated for every deployment,
    assert len(seen(sim, "/v1/chat/completions")) == 1  # so the OpenAI one gets it as chat completions
    assert len(seen(sim, "/v1/responses")) == 1


def test_passed_through_to_an_azure_deployment_on_its_v1_api(gw, sim, client):
    first = client.responses.create(model="azure-gpt", input="My name is Ada.")
    with client.responses.stream(model="azure-gpt", input="And mine?", previous_response_id=first.id) as events:
        second = events.get_final_response()
    assert second.previous_response_id == first.id and client.responses.retrieve(first.id).id == first.id
    sent = seen(sim, "/openai/v1/responses")
    assert len(sent) == 2 and all(r["headers"]["api-key"] == "sk-sim-upstream" and "authorization" not in r["headers"]
                                  for r in sent)
    assert json.loads(sent[1]["body"])["previous_response_id"] == first.id
    assert seen(sim, f"/openai/v1/responses/{first.id}")


def test_a_passed_through_response_continues_with_another_model_of_its_upstream_only(gw, sim, client):
    first = client.responses.create(model="gpt-4o-mini", input="My name is Ada.")
    other = client.responses.create(model="o4-mini", input="What is it?", previous_response_id=first.id)
    assert other.previous_response_id == first.id and json.loads(seen(sim, "/v1/responses")[-1]["body"])["model"] \
        == "o4-mini"
    before = len(seen(sim, "/v1/messages"))
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="claude-sonnet-4-5", input="And now?", previous_response_id=first.id)
    assert e.value.body["code"] == "previous_response_elsewhere" and "gpt-4o-mini" in e.value.message
    assert len(seen(sim, "/v1/messages")) == before
