"""OpenAI's Responses API for clients, on routes whose deployments don't speak it (Anthropic,
Gemini, chat-only OpenAI-compatible upstreams): a Responses request becomes a canonical chat
request. Pure, no I/O: the conversation a `previous_response_id` names is loaded by the caller
(store/conversations.py) and handed in as `earlier`.

    Responses request                          canonical (OpenAI chat)
    instructions                           ->  a system message, first
    input: a string                        ->  a user message
    message items (user/system/developer/  ->  messages; input_text -> text, input_image -> image_url,
      assistant; input_text, input_image,      input_file (file_data) -> file, input_audio -> input_audio,
      input_file, output_text, refusal)        output_text -> text, refusal -> refusal
    function_call items                    ->  the assistant's tool_calls (consecutive ones: one turn)
    function_call_output items             ->  tool messages
    reasoning items                        ->  dropped: the model's own scratch, re-sent for continuity
    tools (function), tool_choice          ->  tools, tool_choice;  parallel_tool_calls -> same
    reasoning.effort                       ->  reasoning_effort
    max_output_tokens                      ->  max_completion_tokens
    text.format json_schema / json_object  ->  response_format;  text.verbosity -> verbosity
    temperature, top_p, user               ->  the same;  safety_identifier -> user when none is given
    store, metadata, service_tier,         ->  the gateway's own (store: its conversation store) or
      prompt_cache_key, truncation, include    account features that change no answer: not sent

Strict: anything else (built-in tools, file ids, item references, hosted tool calls, reasoning
summaries, logprobs, background mode, stored prompts and conversations) is a 400 naming the
field in the client's own terms, never dropped. The provider adapter then refuses what its
upstream can't do (JSON schema on Anthropic, …) naming a canonical field; `client_param` turns
that name back into the Responses field the client sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from seawall.errors import SeawallError, error
from seawall.pipeline.ingress import json_kind
from seawall.providers.base import ApiRequest

ENDPOINT = "POST /v1/responses"
TARGET = "this model's deployments (translated from Responses to chat)"

_PASSED = {"temperature": "temperature", "top_p": "top_p", "parallel_tool_calls": "parallel_tool_calls",
           "max_output_tokens": "max_completion_tokens", "user": "user"}
# Kept by the gateway (store, metadata) or account features that change no answer: not sent on.
_GATEWAY_ONLY = frozenset({"store", "metadata", "service_tier", "prompt_cache_key", "prompt_cache_retention",
                           "truncation", "include", "stream_options", "previous_response_id"})
_REFUSED = {  # field: why the canonical form can't carry it (None/neutral values are accepted)
    "background": ("background mode needs the provider's own response store", (None, False)),
    "conversation": ("stored conversations live on OpenAI's side; send previous_response_id or the items", (None,)),
    "prompt": ("stored prompts live on OpenAI's side", (None,)),
    "top_logprobs": ("log probabilities are not translated", (None, 0)),
    "max_tool_calls": ("a cap on built-in tool calls has no chat counterpart", (None,)),
    "context_management": ("server-side compaction has no chat counterpart", (None, [])),
    "moderation": ("moderated completions have no chat counterpart", (None,)),
}
_KNOWN = frozenset({"model", "input", "instructions", "stream", "tools", "tool_choice", "reasoning", "text",
                    "safety_identifier", *_PASSED, *_GATEWAY_ONLY, *_REFUSED})
_USER_PARTS = {"input_text", "input_image", "input_file", "input_audio"}
_ASSISTANT_PARTS = {"output_text", "refusal", "input_text"}


@dataclass(slots=True)
class ResponsesRequest:
    """A Responses request read for a translated route."""

    canonical: ApiRequest
    input_items: list[dict]  # this request's input as items (a string input made a user message)
    previous_response_id: str | None
    store: bool
    echo: dict  # the settings a `response` object repeats back (instructions, tools, …)
    sources: list[str] = field(default_factory=list)  # canonical messages[i] came from sources[i]

    def client_param(self, param: str | None) -> str | None:
        """A canonical field name (from a provider adapter's error) in the client's terms."""
        if param is None:
            return None
        found = re.match(r"messages\[(\d+)\]", param)
        if found and int(found.group(1)) < len(self.sources):
            return self.sources[int(found.group(1))] + param[found.end():]
        found = re.match(r"tools\[(\d+)\]\.function(?=\.|$)", param)  # Responses tools are flat: tools[0].strict
        if found:
            return f"tools[{found.group(1)}]" + param[found.end():]
        for canonical, theirs in _CLIENT_NAMES.items():
            if param == canonical or param.startswith(canonical + "."):
                return theirs + param[len(canonical):]
        return param


_CLIENT_NAMES = {"response_format": "text.format", "max_completion_tokens": "max_output_tokens",
                 "reasoning_effort": "reasoning.effort", "verbosity": "text.verbosity"}


def refuse(param: str, detail: str) -> SeawallError:
    return error("unsupported_parameter", param=param, deployment=TARGET, detail=detail)


def _invalid(param: str, expected: str, value: object) -> SeawallError:
    return error("invalid_field", param=param, expected=expected, got=json_kind(value))


def previous_response_id(body: dict) -> str | None:
    """The id whose conversation the caller must load before `read_request` (None: none)."""
    value = body.get("previous_response_id")
    if value is not None and not isinstance(value, str):
        raise _invalid("previous_response_id", "a string such as \"resp_…\"", value)
    return value


def read_request(body: dict, earlier: Sequence[dict] = ()) -> ResponsesRequest:
    """`body`: the parsed JSON object. `earlier`: the stored conversation's items (earlier
    turns' input and output items), prepended after the instructions."""
    for name in body:
        if name not in _KNOWN:
            raise error("unsupported_parameter", param=name, deployment=TARGET,
                        detail="Seawall translates Responses to a common form that has no such field")
    for name, (why, neutral) in _REFUSED.items():
        if name in body and body[name] not in neutral:
            raise refuse(name, why)
    model = body.get("model")
    if model is None:
        raise error("missing_field", param="model", endpoint=ENDPOINT)
    if not isinstance(model, str):
        raise _invalid("model", "a string such as \"gpt-4o-mini\"", model)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("stream", "a boolean", stream)
    items = _input_items(body.get("input"))
    messages: list[dict] = []
    sources: list[str] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise _invalid("instructions", "a string", instructions)
        messages.append({"role": "system", "content": instructions})
        sources.append("instructions")
    _translate_items(earlier, "previous_response_id", messages, sources)
    _translate_items(items, "input", messages, sources)
    if not messages:
        raise error("missing_field", param="input", endpoint=ENDPOINT)
    chat: dict = {"model": model, "messages": messages}
    for theirs, ours in _PASSED.items():
        if body.get(theirs) is not None:
            chat[ours] = body[theirs]
    if body.get("user") is None and isinstance(body.get("safety_identifier"), str):
        chat["user"] = body["safety_identifier"]
    if body.get("tools"):
        chat["tools"] = [_tool(t, f"tools[{i}]") for i, t in enumerate(_list(body["tools"], "tools"))]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    chat.update(_reasoning(body.get("reasoning")))
    chat.update(_text(body.get("text")))
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # response.completed carries the usage
    store = body.get("store")
    if store is not None and not isinstance(store, bool):
        raise _invalid("store", "a boolean", store)
    canonical = ApiRequest("chat", model, chat, bool(stream), "responses", bool(stream))
    return ResponsesRequest(canonical, items, previous_response_id(body), store is not False, _echo(body), sources)


def _list(value: object, where: str) -> list:
    if not isinstance(value, list):
        raise _invalid(where, "an array", value)
    return value


def _input_items(value: object) -> list[dict]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    items = _list(value, "input")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _invalid(f"input[{i}]", "an input item object", item)
    return items


def _translate_items(items: Sequence[dict], origin: str, messages: list[dict], sources: list[str]) -> None:
    for i, item in enumerate(items):
        where = f"{origin}[{i}]" if origin == "input" else origin
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            messages.append(_message(item, where))
            sources.append(where)
        elif kind == "function_call":
            call = {"id": _string(item, "call_id", where), "type": "function",
                    "function": {"name": _string(item, "name", where), "arguments": _arguments(item, where)}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and not last.get("refusal"):
                last.setdefault("tool_calls", []).append(call)  # parallel calls (and text before them): one turn
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
                sources.append(where)
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": _string(item, "call_id", where),
                             "content": _tool_output(item.get("output"), f"{where}.output")})
            sources.append(where)
        elif kind == "reasoning":
            continue
        else:
            raise refuse(f"{where}.type", f"an item of type {kind!r} has no chat counterpart"
                         if kind else "an item needs a 'type' (or a 'role' for a message)")


def _string(item: dict, name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise _invalid(f"{where}.{name}", "a non-empty string", value)
    return value


def _arguments(item: dict, where: str) -> str:
    value = item.get("arguments")
    if not isinstance(value, str):
        raise _invalid(f"{where}.arguments", "a string of JSON", value)
    return value


def _message(item: dict, where: str) -> dict:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise _invalid(f"{where}.role", "'user', 'assistant', 'system' or 'developer'", role)
    content = item.get("content")
    if role == "assistant":
        return _assistant(content, where)
    out_role = "system" if role == "developer" else role  # every target reads system; not all read developer
    if isinstance(content, str):
        return {"role": out_role, "content": content}
    parts = [_part(p, f"{where}.content[{j}]") for j, p in enumerate(_list(content, f"{where}.content"))]
    if out_role == "system" and any(p["type"] != "text" for p in parts):
        raise refuse(f"{where}.content", "a system or developer message holds text only")
    if all(p["type"] == "text" for p in parts):
        return {"role": out_role, "content": "\n".join(p["text"] for p in parts) if out_role == "system" else parts}
    return {"role": out_role, "content": parts}


def _part(part: object, where: str) -> dict:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind not in _USER_PARTS:
        raise refuse(f"{where}.type", f"a {kind!r} part has no chat counterpart in a user message")
    if kind == "input_text":
        return {"type": "text", "text": _text_value(part, where)}
    if kind == "input_image":
        if part.get("file_id") is not None:
            raise refuse(f"{where}.file_id", "file ids name OpenAI's file storage; send the image as image_url "
                                             "(a URL or a base64 data: URL)")
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise _invalid(f"{where}.image_url", "a URL or a base64 data: URL", url)
        image = {"url": url}
        if part.get("detail") not in (None, "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        return {"type": "input_audio", "input_audio": {"data": audio.get("data"), "format": audio.get("format")}}
    for name in ("file_id", "file_url"):
        if part.get(name) is not None:
            raise refuse(f"{where}.{name}", "only inline files (file_data) can be translated")
    if not isinstance(part.get("file_data"), str):
        raise _invalid(f"{where}.file_data", "a base64 data: URL", part.get("file_data"))
    file = {"file_data": part["file_data"]}
    if isinstance(part.get("filename"), str):
        file["filename"] = part["filename"]
    return {"type": "file", "file": file}


def _text_value(part: dict, where: str) -> str:
    text = part.get("text")
    if not isinstance(text, str):
        raise _invalid(f"{where}.text", "a string", text)
    return text


def _assistant(content: object, where: str) -> dict:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts, refusals = [], []
    for j, part in enumerate(_list(content, f"{where}.content")):
        here = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _ASSISTANT_PARTS:
            raise refuse(f"{here}.type", f"a {kind!r} part has no chat counterpart in an assistant message")
        if kind == "refusal":
            refusals.append(str(part.get("refusal", "")))
        else:
            texts.append(_text_value(part, here))
    out: dict = {"role": "assistant", "content": "".join(texts) if texts else None}
    if refusals:
        out["refusal"] = "".join(refusals)
    return out


def _tool_output(output: object, where: str) -> str:
    if isinstance(output, str):
        return output
    texts = []
    for j, part in enumerate(_list(output, where)):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "input_text":
            raise refuse(f"{where}[{j}].type", "a tool's output translates to text only")
        texts.append(_text_value(part, f"{where}[{j}]"))
    return "".join(texts)


def _tool(tool: object, where: str) -> dict:
    if not isinstance(tool, dict):
        raise _invalid(where, "a tool object", tool)
    if tool.get("type") != "function":
        raise refuse(f"{where}.type", f"the built-in tool {tool.get('type')!r} runs only on OpenAI's own API")
    fn: dict = {"name": _string(tool, "name", where),
                "parameters": tool.get("parameters") or {"type": "object", "properties": {}}}
    if tool.get("description"):
        fn["description"] = tool["description"]
    if tool.get("strict") is not None:
        fn["strict"] = tool["strict"]
    return {"type": "function", "function": fn}


def _tool_choice(choice: object) -> object:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": _string(choice, "name", "tool_choice")}}
    kind = choice.get("type") if isinstance(choice, dict) else choice
    raise refuse("tool_choice", f"tool_choice {kind!r} has no chat counterpart; use auto, none, required or a "
                                "function")


def _reasoning(reasoning: object) -> dict:
    if reasoning is None:
        return {}
    if not isinstance(reasoning, dict):
        raise _invalid("reasoning", "an object such as {\"effort\": \"low\"}", reasoning)
    for name in ("summary", "generate_summary"):
        if reasoning.get(name) is not None:
            raise refuse(f"reasoning.{name}", "reasoning summaries have no chat counterpart")
    return {"reasoning_effort": reasoning["effort"]} if reasoning.get("effort") is not None else {}


def _text(text: object) -> dict:
    if text is None:
        return {}
    if not isinstance(text, dict):
        raise _invalid("text", "an object such as {\"format\": {\"type\": \"text\"}}", text)
    out: dict = {}
    if text.get("verbosity") is not None:
        out["verbosity"] = text["verbosity"]
    fmt = text.get("format")
    if fmt is None:
        return out
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        out["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        schema = {"name": _string(fmt, "name", "text.format"), "schema": fmt.get("schema")}
        if not isinstance(schema["schema"], dict):
            raise _invalid("text.format.schema", "a JSON schema object", schema["schema"])
        for name in ("strict", "description"):
            if fmt.get(name) is not None:
                schema[name] = fmt[name]
        out["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif kind != "text":
        raise _invalid("text.format.type", "'text', 'json_object' or 'json_schema'", kind)
    return out


def _echo(body: dict) -> dict:
    """What the `response` object repeats back (responses_reply.py fills the rest)."""
    reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
    return {"instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": reasoning.get("effort"), "summary": None},
            "temperature": body.get("temperature", 1.0), "top_p": body.get("top_p", 1.0),
            "text": {"format": (body.get("text") or {}).get("format") or {"type": "text"},
                     "verbosity": (body.get("text") or {}).get("verbosity", "medium")},
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
            "store": body.get("store") is not False, "metadata": body.get("metadata") or {},
            "user": body.get("user"), "safety_identifier": body.get("safety_identifier"),
            "prompt_cache_key": body.get("prompt_cache_key"), "truncation": body.get("truncation") or "disabled"}
