"""The Responses API's ``input``, checked the way OpenAI checks it (pure).

``read_input(value, earlier)`` takes the request's ``input`` (a string, or a list of items) and
the stored conversation ``previous_response_id`` points at, and returns the items as they are
kept (each with an id, as ``GET /v1/responses/{id}/input_items`` lists them) plus what the
planner needs: the texts (for token counts and the reply's seed) and whether the turn ends on a
tool result. Or the ``ApiError`` OpenAI sends: an unknown item or part type, a missing field, a
``function_call_output`` whose ``call_id`` no ``function_call`` made.

Item types accepted: ``message`` (also without ``type``, the "easy" form), ``function_call``,
``function_call_output``, ``custom_tool_call``/``_output``, ``reasoning`` and ``item_reference``;
built-in tools' call items (web search, file search, computer…) are not played.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

import orjson

from seawall.simulator.dialects import openai as oai

ITEM_TYPES = ("message", "function_call", "function_call_output", "custom_tool_call", "custom_tool_call_output",
              "reasoning", "item_reference")
ROLES = ("user", "assistant", "system", "developer")
INPUT_PARTS = ("input_text", "input_image", "input_file", "input_audio")
ASSISTANT_PARTS = ("output_text", "refusal", "input_text")
_ID_PREFIX = {"message": "msg_", "function_call": "fc_", "function_call_output": "fco_", "custom_tool_call": "ctc_",
              "custom_tool_call_output": "ctco_", "reasoning": "rs_", "item_reference": "ref_"}
_ids = random.Random()


def new_id(prefix: str) -> str:
    """OpenAI's item ids: a prefix and 48 hex digits (``msg_67ccd3acc8d48190…``)."""
    return f"{prefix}{_ids.getrandbits(192):048x}"


def new_call_id() -> str:
    return "call_" + "".join(_ids.choices(string.ascii_letters + string.digits, k=24))


@dataclass(frozen=True, slots=True)
class ReadInput:
    items: tuple[dict, ...]  # this request's input items, each with an id and a status
    texts: tuple[str, ...]  # every text the model reads, earlier conversation included
    ends_on_tool_output: bool  # the last item answers a tool call: the model replies in text
    last_user_text: str  # the text of the last user message ("" when none)


def _text_of_parts(parts: list, where: str, allowed: tuple[str, ...]) -> str | oai.ApiError:
    texts = []
    for j, part in enumerate(parts):
        here = f"{where}[{j}]"
        if not isinstance(part, dict):
            return oai.invalid_type(here, "an object", part)
        kind = part.get("type")
        if kind not in allowed:
            return oai.invalid_value(f"{here}.type", kind, allowed)
        if kind in ("input_text", "output_text"):
            if not isinstance(part.get("text"), str):
                return oai.missing_parameter(f"{here}.text")
            texts.append(part["text"])
        elif kind == "refusal":
            texts.append(str(part.get("refusal", "")))
        elif kind == "input_image" and not (part.get("image_url") or part.get("file_id")):
            return oai.ApiError(400, f"Invalid '{here}': an input_image needs 'image_url' or 'file_id'.",
                                param=here, code="invalid_value")
    return " ".join(texts)


def _message(item: dict, where: str) -> str | oai.ApiError:
    role = item.get("role")
    if role is None:
        return oai.missing_parameter(f"{where}.role")
    if role not in ROLES:
        return oai.invalid_value(f"{where}.role", role, ROLES)
    content = item.get("content")
    if content is None:
        return oai.missing_parameter(f"{where}.content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return oai.invalid_type(f"{where}.content", "a string or an array", content)
    return _text_of_parts(content, f"{where}.content", ASSISTANT_PARTS if role == "assistant" else INPUT_PARTS)


def _required_strings(item: dict, where: str, names: tuple[str, ...]) -> oai.ApiError | None:
    for name in names:
        if name not in item:
            return oai.missing_parameter(f"{where}.{name}")
        if not isinstance(item[name], str):
            return oai.invalid_type(f"{where}.{name}", "a string", item[name])
    return None


def no_tool_call(call_id: str) -> oai.ApiError:  # [rec: the wording SDK users report]
    return oai.ApiError(400, f"No tool call found for function call output with call_id {call_id}.", param="input")


def _item(item: object, where: str, calls: set[str]) -> tuple[dict, str] | oai.ApiError:
    """One item, kept with an id and a status, and its text."""
    if not isinstance(item, dict):
        return oai.invalid_type(where, "an object", item)
    kind = item.get("type", "message" if "role" in item else None)
    if kind is None:
        return oai.missing_parameter(f"{where}.type")
    if kind not in ITEM_TYPES:
        return oai.invalid_value(f"{where}.type", kind, ITEM_TYPES)
    kept = {"id": item.get("id") or new_id(_ID_PREFIX[kind]), **item, "type": kind}
    if kind == "message":
        text = _message(item, where)
        kept.setdefault("status", "completed")
        if isinstance(kept.get("content"), str):
            part = "output_text" if item.get("role") == "assistant" else "input_text"
            kept["content"] = [{"type": part, "text": kept["content"]}]
    elif kind in ("function_call", "custom_tool_call"):
        payload = "arguments" if kind == "function_call" else "input"
        problem = _required_strings(item, where, ("call_id", "name", payload))
        if problem:
            return problem
        calls.add(item["call_id"])
        kept.setdefault("status", "completed")
        text = f"{item['name']} {item.get('arguments', item.get('input'))}"
    elif kind in ("function_call_output", "custom_tool_call_output"):
        problem = _required_strings(item, where, ("call_id",))
        if problem:
            return problem
        if "output" not in item:
            return oai.missing_parameter(f"{where}.output")
        if item["call_id"] not in calls:
            return no_tool_call(item["call_id"])
        output = item["output"]
        text = output if isinstance(output, str) else orjson.dumps(output).decode()
        kept.setdefault("status", "completed")
    else:  # reasoning, item_reference: read, nothing to say
        text = ""
    if isinstance(text, oai.ApiError):
        return text
    return kept, text


def read_input(value: object, earlier: tuple[dict, ...] = ()) -> ReadInput | oai.ApiError:
    """``earlier``: the conversation ``previous_response_id`` names (its items, outputs included)."""
    calls = {i["call_id"] for i in earlier if i.get("type") in ("function_call", "custom_tool_call")}
    texts = [text for i in earlier if (text := _earlier_text(i))]
    if isinstance(value, str):
        items: list = [{"type": "message", "role": "user", "content": value}]
    elif isinstance(value, list):
        if not value and not earlier:
            return oai.ApiError(400, "Invalid 'input': empty array. Expected an array with minimum length 1, but "
                                     "got an empty array instead.", param="input", code="empty_array")
        items = value
    else:
        return oai.invalid_type("input", "a string or an array", value)
    kept: list[dict] = []
    last_user, ends_on_output = "", False
    for index, item in enumerate(items):
        read = _item(item, f"input[{index}]", calls)
        if isinstance(read, oai.ApiError):
            return read
        entry, text = read
        kept.append(entry)
        texts.append(text)
        if entry["type"] == "message" and entry.get("role") == "user":
            last_user = text
        if entry["type"] not in ("reasoning", "item_reference"):
            ends_on_output = entry["type"] in ("function_call_output", "custom_tool_call_output")
    return ReadInput(tuple(kept), tuple(texts), ends_on_output, last_user)


def _earlier_text(item: dict) -> str:
    kind = item.get("type")
    if kind == "message":
        content = item.get("content")
        if isinstance(content, str):
            return content
        return " ".join(str(p.get("text") or p.get("refusal") or "") for p in content or () if isinstance(p, dict))
    if kind in ("function_call", "custom_tool_call"):
        return f"{item.get('name')} {item.get('arguments', item.get('input'))}"
    if kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        return output if isinstance(output, str) else orjson.dumps(output).decode()
    return ""
