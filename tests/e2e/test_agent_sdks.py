"""Agent frameworks that speak only the Responses API, through the gateway, with an Anthropic
deployment serving the model (translated both ways): the Vercel AI SDK's default model
(`createOpenAI(...)(model)`: generateText, streamText, a tool loop, a second turn sending the first
answer back as an item_reference) and OpenAI's Agents SDK (a run with one tool)."""

from __future__ import annotations

import asyncio
import base64
import json
import pathlib
import subprocess

import pytest
from conftest import http, own_stack
from system_tools import require, require_path

NODE_DIR = pathlib.Path(__file__).resolve().parents[1] / "node"


def config(port: int) -> str:
    return ("request_log:\n  flush_interval_s: 0.1\nmodels:\n  - name: assistant\n    deployments:\n"
            f"      - provider: anthropic\n        base_url: http://127.0.0.1:{port}/v1\n"
            "        model: claude-sonnet-4-5\n        api_key_env: SIM_KEY\n        name: claude-dep\n")


upstream, gw, sim, client = own_stack("agents", config)


@pytest.fixture(scope="module")
def node() -> str:
    path = require("node", "apt-get install -y nodejs npm")
    require_path(str(NODE_DIR / "node_modules" / "@ai-sdk" / "openai"), "the Node SDKs",
                 f"npm ci --prefix {NODE_DIR}")
    return path


def test_the_vercel_ai_sdks_default_model(node, gw, sim):
    out = subprocess.run([node, str(NODE_DIR / "responses_sdks.mjs"), gw.url, gw.key, "assistant"],
                         capture_output=True, text=True, timeout=120, cwd=NODE_DIR, check=False)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["generateText"]["text"] and got["generateText"]["finishReason"] == "stop", got
    assert got["generateText"]["outputTokens"] > 0
    assert got["streamText"]["text"] and got["streamText"]["finishReason"] == "stop", got
    assert got["tools"]["toolCalls"] == ["get_weather"] and got["tools"]["steps"] == 2 and got["tools"]["text"], got
    assert got["conversation"]["text"] and got["conversation"]["referenced"], got
    rows = [r for r in gw.logs() if r["path"] == "/v1/responses"]
    assert rows and all(r["deployment"] == "claude-dep" and r["status"] == 200 for r in rows)


def test_an_openai_agents_run_with_one_tool(gw, sim):
    from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
    from openai import AsyncOpenAI

    set_tracing_disabled(True)  # its traces would go to OpenAI's own API
    asked = []

    @function_tool  # strict by default: the schema is enforced by Messages' strict tools too
    def get_weather(city: str) -> str:
        """The weather in a city."""
        asked.append(city)
        return f"clear skies in {city}"

    async def run():
        client = AsyncOpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0)
        agent = Agent(name="Forecaster", instructions="Answer with the weather.", tools=[get_weather],
                      model=OpenAIResponsesModel(model="assistant", openai_client=client),
                      model_settings=ModelSettings(tool_choice="required"))
        return await Runner.run(agent, "What's the weather in Oslo?")

    result = asyncio.run(run())
    assert asked and result.final_output
    kinds = [item.type for item in result.new_items]
    assert kinds[:2] == ["tool_call_item", "tool_call_output_item"] and kinds[-1] == "message_output_item"


def sent_to_claude(sim) -> list[dict]:
    recorded = json.loads(http("GET", sim.url + "/_sim/requests")[2])["requests"]
    return [json.loads(base64.b64decode(r["body_b64"])) for r in recorded if r["path"] == "/v1/messages"]


def test_a_strict_tool_and_a_json_schema_keep_their_constraint_at_claude(gw, sim, client):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
              "required": ["city", "days"], "additionalProperties": False}
    called = client.responses.create(model="assistant", input="weather in Oslo?", tool_choice="required", tools=[
        {"type": "function", "name": "get_weather", "strict": True, "parameters": schema}])
    call = next(item for item in called.output if item.type == "function_call")
    assert call.name == "get_weather" and set(json.loads(call.arguments)) == {"city"}  # the string fields, filled
    assert sent_to_claude(sim)[-1]["tools"][0]["strict"] is True

    answer = client.responses.create(model="assistant", input="a forecast as JSON", text={"format": {
        "type": "json_schema", "name": "forecast", "schema": schema, "strict": True}})
    assert set(json.loads(answer.output_text)) == {"city", "days"}
    assert sent_to_claude(sim)[-1]["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


def test_json_mode_without_a_schema_is_named_in_the_responses_terms(gw, sim, client):
    import openai

    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="assistant", input="hi", text={"format": {"type": "json_object"}})
    assert e.value.body["param"] == "text.format" and "claude-dep" in e.value.message
