"""The Responses API (``POST /v1/responses``): validate like OpenAI, plan the reply, render it.

Pure, like chat.py: ``plan_responses`` turns the parsed body (and the stored conversation its
``previous_response_id`` names, looked up through ``earlier``) into a ``ResponsesPlan`` or the
``ApiError`` OpenAI sends; ``response_object`` / ``render_events`` turn a plan into the
``response`` object or the typed SSE events (``event: response.created`` … ``response.completed``,
each with its ``sequence_number``).

The model's choice, deterministic as everywhere in the simulator: with function tools it calls
one when ``tool_choice`` is ``required`` or names it, or (``auto``) when the last user message
names a function tool; after a tool's output it answers in text. ``text.format`` ``json_schema``
answers a JSON object of the schema's shape; reasoning models spend hidden reasoning tokens
first (a ``reasoning`` output item) out of ``max_output_tokens``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from seawall.simulator.catalog import Catalog
from seawall.simulator.chat import CHAT_KINDS, json_pieces, value_for
from seawall.simulator.config import ModelSpec
from seawall.simulator.dialects import openai as oai
from seawall.simulator.responses_input import ReadInput, new_call_id, new_id, read_input
from seawall.simulator.text import (
    REPLY_PRIMER_TOKENS,
    TOKENS_PER_MESSAGE,
    compose,
    count_tokens,
    reasoning_tokens,
    seed_of,
)

# CreateResponse's properties (the published spec), and the few newer ones the SDK sends.
KNOWN_FIELDS = frozenset({
    "background", "context_management", "conversation", "include", "input", "instructions", "max_output_tokens",
    "max_tool_calls", "metadata", "model", "moderation", "parallel_tool_calls", "previous_response_id", "prompt",
    "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "reasoning", "safety_identifier",
    "service_tier", "store", "stream", "stream_options", "temperature", "text", "tool_choice", "tools",
    "top_logprobs", "top_p", "truncation", "user", "access_programs", "background_options", "image",
})
NOT_PLAYED = ("conversation", "prompt")  # server-side objects the simulator keeps none of
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
FORMATS = ("text", "json_object", "json_schema")
MIN_OUTPUT_TOKENS = 16  # the Responses API refuses a smaller max_output_tokens


@dataclass(frozen=True, slots=True)
class ResponsesPlan:
    model: ModelSpec
    body: dict  # the request, for the settings a response echoes
    stream: bool
    store: bool
    background: bool
    input_items: tuple[dict, ...]
    earlier: tuple[dict, ...]  # the previous response's conversation
    pieces: tuple[str, ...]  # the visible text, one token (or JSON slice) each
    call: dict | None  # {"name", "arguments"} when the model calls a function instead
    incomplete: bool  # cut at max_output_tokens
    input_tokens: int
    reasoning_tokens: int
    output_tokens: int

    @property
    def cost(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class ResponseIds:
    """The ids and time one response is rendered with (random: made by the caller)."""

    response: str
    message: str
    call: str
    call_id: str
    reasoning: str
    created_at: int

    @classmethod
    def new(cls, now: float) -> ResponseIds:
        return cls(new_id("resp_"), new_id("msg_"), new_id("fc_"), new_call_id(), new_id("rs_"), int(now))


def unknown_parameter(name: str) -> oai.ApiError:  # [rec: the Responses API's wording]
    return oai.ApiError(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")


def previous_not_found(response_id: str) -> oai.ApiError:  # [rec]
    return oai.ApiError(404, f"Previous response with id '{response_id}' not found.", param="previous_response_id",
                        code="previous_response_not_found")


def context_exceeded() -> oai.ApiError:  # [rec: the Responses API's wording]
    return oai.ApiError(400, "Your input exceeds the context window of this model. Please adjust your input and try "
                             "again.", param="input", code="context_length_exceeded")


# --- checks ------------------------------------------------------------------------------------

def _check_tools(tools: Any) -> list[dict] | oai.ApiError:
    if tools is None:
        return []
    if not isinstance(tools, list):
        return oai.invalid_type("tools", "an array", tools)
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            return oai.invalid_type(f"tools[{i}]", "an object", tool)
        if "type" not in tool:
            return oai.missing_parameter(f"tools[{i}].type")
        if tool["type"] == "function":
            if not isinstance(tool.get("name"), str):
                return oai.missing_parameter(f"tools[{i}].name")
            if tool.get("parameters") is not None and not isinstance(tool["parameters"], dict):
                return oai.invalid_type(f"tools[{i}].parameters", "an object", tool["parameters"])
    return tools


def _check_tool_choice(choice: Any, tools: list[dict]) -> oai.ApiError | None:
    if choice is None or choice in ("none", "auto", "required"):
        return None
    if isinstance(choice, str):
        return oai.invalid_value("tool_choice", choice, ("none", "auto", "required"))
    if not isinstance(choice, dict):
        return oai.invalid_type("tool_choice", "a string or an object", choice)
    if choice.get("type") == "function" and not any(t.get("name") == choice.get("name") for t in tools):
        return oai.ApiError(400, "Tool choice 'function' not found in 'tools' parameter.", param="tool_choice")
    return None


def _check_format(text: Any) -> dict | oai.ApiError:
    if text is None:
        return {"type": "text"}
    if not isinstance(text, dict):
        return oai.invalid_type("text", "an object", text)
    fmt = text.get("format") or {"type": "text"}
    if not isinstance(fmt, dict):
        return oai.invalid_type("text.format", "an object", fmt)
    if fmt.get("type") not in FORMATS:
        return oai.invalid_value("text.format.type", fmt.get("type"), FORMATS)
    if fmt["type"] == "json_schema":
        for name in ("name", "schema"):
            if name not in fmt:
                return oai.missing_parameter(f"text.format.{name}")
    return fmt


def _check_scalars(body: dict, spec: ModelSpec) -> oai.ApiError | int | None:
    """Booleans, limits and reasoning; returns max_output_tokens (None when not given)."""
    for name in ("stream", "store", "background", "parallel_tool_calls"):
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            return oai.invalid_type(name, "a boolean", value)
    limit = body.get("max_output_tokens")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int):
            return oai.invalid_type("max_output_tokens", "an integer", limit)
        if limit < MIN_OUTPUT_TOKENS:
            return oai.integer_out_of_range("max_output_tokens", limit, MIN_OUTPUT_TOKENS, None)
        if limit > spec.max_output:
            return oai.too_many_tokens("max_output_tokens", limit, spec.max_output)
    reasoning = body.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            return oai.invalid_type("reasoning", "an object", reasoning)
        effort = reasoning.get("effort")
        if effort is not None:
            if effort not in EFFORTS:
                return oai.invalid_value("reasoning.effort", effort, EFFORTS)
            if spec.kind != "reasoning":  # [rec: what gpt-4o answers]
                return oai.ApiError(400, "Unsupported parameter: 'reasoning.effort' is not supported with this "
                                         "model.", param="reasoning.effort", code="unsupported_parameter")
    if body.get("background") and body.get("store") is False:  # [unverified wording]
        return oai.ApiError(400, "Background mode requires 'store' to be true.", param="background")
    return limit


# --- the model's choice --------------------------------------------------------------------------

def _function_to_call(body: dict, tools: list[dict], read: ReadInput) -> dict | None:
    functions = [t for t in tools if t.get("type") == "function"]
    choice = body.get("tool_choice") or "auto"
    if not functions or choice == "none" or read.ends_on_tool_output:
        return None
    if isinstance(choice, dict):
        chosen = next((t for t in functions if t["name"] == choice.get("name")), None)
    else:
        named = [t for t in functions if t["name"] in read.last_user_text]
        chosen = (named or functions)[0] if choice == "required" else (named[0] if named else None)
    if chosen is None:
        return None
    arguments = value_for(chosen.get("parameters") or {"type": "object"})
    return {"name": chosen["name"], "arguments": orjson.dumps(arguments).decode()}


def _json_pieces(fmt: dict, seed: int) -> tuple[str, ...]:
    if fmt["type"] == "json_schema":
        return json_pieces(value_for(fmt.get("schema")))
    return json_pieces({"answer": "".join(compose(seed)).strip()})


def plan_responses(body: Any, catalog: Catalog, earlier: Callable[[str], tuple[dict, ...] | None],
                   reply_tokens: int | None = None) -> ResponsesPlan | oai.ApiError:
    """``earlier(id)``: the stored conversation of a previous response, None when unknown."""
    if not isinstance(body, dict):
        return oai.unparsable_json()
    model_name = body.get("model")
    if model_name is None:
        return oai.missing_parameter("model")
    if not isinstance(model_name, str):
        return oai.invalid_type("model", "a string", model_name)
    for name in body:
        if name not in KNOWN_FIELDS:
            return unknown_parameter(name)
    for name in NOT_PLAYED:
        if body.get(name) is not None:
            return oai.ApiError(400, f"The simulator does not play '{name}' objects.", param=name)
    spec = catalog.find(model_name)
    if spec is None:
        return oai.model_not_found(model_name)
    if spec.kind not in CHAT_KINDS:  # [unverified wording]
        return oai.ApiError(400, f"The model '{model_name}' is not supported with the Responses API.",
                            param="model", code="unsupported_model")
    limit = _check_scalars(body, spec)
    if isinstance(limit, oai.ApiError):
        return limit
    tools = _check_tools(body.get("tools"))
    if isinstance(tools, oai.ApiError):
        return tools
    problem = _check_tool_choice(body.get("tool_choice"), tools)
    if problem:
        return problem
    fmt = _check_format(body.get("text"))
    if isinstance(fmt, oai.ApiError):
        return fmt
    previous = body.get("previous_response_id")
    prior: tuple[dict, ...] = ()
    if previous is not None:
        if not isinstance(previous, str):
            return oai.invalid_type("previous_response_id", "a string", previous)
        found = earlier(previous)
        if found is None:
            return previous_not_found(previous)
        prior = found
    if "input" not in body:
        return oai.missing_parameter("input")
    read = read_input(body["input"], prior)
    if isinstance(read, oai.ApiError):
        return read

    instructions = body.get("instructions")
    texts = ([instructions] if isinstance(instructions, str) else []) + list(read.texts)
    input_tokens = sum(count_tokens(t) + TOKENS_PER_MESSAGE for t in texts) + REPLY_PRIMER_TOKENS
    budget = limit if limit is not None else spec.max_output
    if input_tokens + (limit or 0) > spec.context_window:
        return context_exceeded()
    seed = seed_of("\n".join(texts))
    hidden = min(reasoning_tokens(seed), budget) if spec.kind == "reasoning" else 0
    visible = budget - hidden
    call = _function_to_call(body, tools, read)
    if call is not None:
        pieces: tuple[str, ...] = ()
    elif fmt["type"] != "text":
        pieces = _json_pieces(fmt, seed)
    else:
        pieces = compose(seed, None if reply_tokens is None else min(reply_tokens, visible + 1))
    incomplete = len(pieces) > visible
    if incomplete:
        pieces = pieces[:visible]
    output_tokens = hidden + (count_tokens(call["arguments"]) + 10 if call else len(pieces))
    return ResponsesPlan(spec, body, body.get("stream") is True, body.get("store") is not False,
                         body.get("background") is True, read.items, prior, pieces, call, incomplete,
                         input_tokens, hidden, output_tokens)


# --- plan -> response object and events ---------------------------------------------------------------

def usage(plan: ResponsesPlan) -> dict:
    return {"input_tokens": plan.input_tokens, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": plan.output_tokens, "output_tokens_details": {"reasoning_tokens": plan.reasoning_tokens},
            "total_tokens": plan.input_tokens + plan.output_tokens}


def _tool_echo(tool: dict) -> dict:
    if tool.get("type") != "function":
        return tool
    return {"type": "function", "name": tool["name"], "description": tool.get("description"),
            "parameters": tool.get("parameters"), "strict": tool.get("strict", True)}


def output_items(plan: ResponsesPlan, ids: ResponseIds) -> list[dict]:
    items: list[dict] = []
    if plan.reasoning_tokens:
        items.append({"id": ids.reasoning, "type": "reasoning", "summary": []})
    if plan.call is not None:
        items.append({"id": ids.call, "type": "function_call", "status": "completed",
                      "arguments": plan.call["arguments"], "call_id": ids.call_id, "name": plan.call["name"]})
    else:
        items.append({"id": ids.message, "type": "message", "status": "incomplete" if plan.incomplete else "completed",
                      "content": [_text_part("".join(plan.pieces))], "role": "assistant"})
    return items


def _text_part(text: str) -> dict:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def final_status(plan: ResponsesPlan) -> str:
    return "incomplete" if plan.incomplete else "completed"


def response_object(plan: ResponsesPlan, ids: ResponseIds, status: str, output: list[dict] | None = None,
                    error: dict | None = None, completed_at: float | None = None) -> dict:
    """The ``response`` object in ``status``; ``output`` None means none yet (in progress)."""
    body = plan.body
    reasoning = body.get("reasoning") or {}
    done = status in ("completed", "incomplete")
    return {
        "id": ids.response, "object": "response", "created_at": ids.created_at, "status": status,
        "background": plan.background, "completed_at": completed_at if status == "completed" else None,
        "error": error, "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"), "model": plan.model.reported, "output": output or [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"), "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort", "medium" if plan.model.kind == "reasoning" else None),
                      "summary": reasoning.get("summary")},
        "safety_identifier": body.get("safety_identifier"), "service_tier": "default", "store": plan.store,
        "temperature": body.get("temperature", 1.0),
        "text": {"format": (body.get("text") or {}).get("format") or {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"), "tools": [_tool_echo(t) for t in body.get("tools") or ()],
        "top_logprobs": body.get("top_logprobs", 0), "top_p": body.get("top_p", 1.0), "truncation": "disabled",
        "usage": usage(plan) if done else None, "user": body.get("user"), "metadata": body.get("metadata") or {},
    }


def event(kind: str, payload: dict, sequence: int) -> bytes:
    data = orjson.dumps({"type": kind, "sequence_number": sequence, **payload})
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


@dataclass(slots=True)
class _Events:
    out: list[bytes] = field(default_factory=list)
    seq: itertools.count = field(default_factory=itertools.count)

    def add(self, kind: str, **payload: Any) -> None:
        self.out.append(event(kind, payload, next(self.seq)))


def render_events(plan: ResponsesPlan, ids: ResponseIds, completed_at: float) -> list[bytes]:
    """The whole stream, in OpenAI's order: created, in_progress, per output item its added,
    parts and deltas, done; then completed (or incomplete)."""
    ev = _Events()
    ev.add("response.created", response=response_object(plan, ids, "in_progress"))
    ev.add("response.in_progress", response=response_object(plan, ids, "in_progress"))
    items = output_items(plan, ids)
    for index, item in enumerate(items):
        if item["type"] == "reasoning":
            ev.add("response.output_item.added", output_index=index, item=item)
        elif item["type"] == "function_call":
            ev.add("response.output_item.added", output_index=index,
                   item={**item, "status": "in_progress", "arguments": ""})
            arguments = item["arguments"]
            half = len(arguments) // 2
            for piece in (arguments[:half], arguments[half:]):
                ev.add("response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=piece)
            ev.add("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                   name=item["name"], arguments=arguments)
        else:
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            ev.add("response.output_item.added", output_index=index,
                   item={**item, "status": "in_progress", "content": []})
            ev.add("response.content_part.added", **where, part=_text_part(""))
            for piece in plan.pieces:
                ev.add("response.output_text.delta", **where, delta=piece, logprobs=[])
            text = "".join(plan.pieces)
            ev.add("response.output_text.done", **where, text=text, logprobs=[])
            ev.add("response.content_part.done", **where, part=_text_part(text))
        ev.add("response.output_item.done", output_index=index, item=item)
    status = final_status(plan)
    ev.add(f"response.{status}", response=response_object(plan, ids, status, items, completed_at=completed_at))
    return ev.out


FAILURE_MESSAGES = {  # [unverified wording]
    "server_error": "The model failed to generate a response.",
    "rate_limit_exceeded": "Rate limit reached. Please try again later.",
}


def failure(plan: ResponsesPlan, ids: ResponseIds, code: str, sequence: int, as_error_event: bool) -> bytes:
    """How a Responses stream fails mid-way: ``response.failed`` whose response carries the
    error (the default), or a bare ``error`` event."""
    message = FAILURE_MESSAGES.get(code, FAILURE_MESSAGES["server_error"])
    if as_error_event:
        return event("error", {"code": code, "message": message, "param": None}, sequence)
    failed = response_object(plan, ids, "failed", error={"code": code, "message": message})
    return event("response.failed", {"response": failed}, sequence)
