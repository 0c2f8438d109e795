"""Request schemas: OpenAI's chat completions and embeddings bodies, as the published API states
them (tests/data/openai-openapi.yaml: CreateChatCompletionRequest, CreateEmbeddingRequest),
checked by pydantic-core (compiled once, strict: "0.7" is not a number, 1 is not a boolean).

Only what the spec constrains is checked; fields not listed here pass untouched (providers add
parameters constantly), and the body is validated, never rebuilt: what goes upstream is the
client's own dict. `check_body(operation, body)` returns None or a SeawallError naming the field
as OpenAI does (`messages[2].role`), what was sent and what is expected.

tests/decide/test_schema.py checks these definitions against the spec file (roles, content part
types, enums, bounds), so a spec update that changes them fails a test instead of drifting.
"""

from __future__ import annotations

from typing import Annotated, Literal, Required

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from seawall.errors import SeawallError, error

_CONFIG = ConfigDict(strict=True, extra="allow")


class _Obj(TypedDict, total=False):
    __pydantic_config__ = _CONFIG  # type: ignore[misc]


# -- content parts -----------------------------------------------------------------------------
class TextPart(_Obj, total=False):
    type: Required[Literal["text"]]
    text: Required[str]


class ImageURL(_Obj, total=False):
    url: Required[str]
    detail: Literal["auto", "low", "high"]


class ImagePart(_Obj, total=False):
    type: Required[Literal["image_url"]]
    image_url: Required[ImageURL]


class InputAudio(_Obj, total=False):
    data: Required[str]
    format: Required[Literal["wav", "mp3"]]


class AudioPart(_Obj, total=False):
    type: Required[Literal["input_audio"]]
    input_audio: Required[InputAudio]


class FileRef(_Obj, total=False):
    filename: str
    file_data: str
    file_id: str


class FilePart(_Obj, total=False):
    type: Required[Literal["file"]]
    file: Required[FileRef]


class RefusalPart(_Obj, total=False):
    type: Required[Literal["refusal"]]
    refusal: Required[str]


UserPart = Annotated[TextPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")]
AssistantPart = Annotated[TextPart | RefusalPart, Field(discriminator="type")]
TextParts = Annotated[list[TextPart], Field(min_length=1)]


# -- messages ----------------------------------------------------------------------------------
class FunctionCall(_Obj, total=False):
    name: Required[str]
    arguments: Required[str]


class FunctionToolCall(_Obj, total=False):
    id: Required[str]
    type: Required[Literal["function"]]
    function: Required[FunctionCall]


class CustomCall(_Obj, total=False):
    name: Required[str]
    input: Required[str]


class CustomToolCall(_Obj, total=False):
    id: Required[str]
    type: Required[Literal["custom"]]
    custom: Required[CustomCall]


ToolCall = Annotated[FunctionToolCall | CustomToolCall, Field(discriminator="type")]


class DeveloperMessage(_Obj, total=False):
    role: Required[Literal["developer"]]
    content: Required[str | TextParts]
    name: str


class SystemMessage(_Obj, total=False):
    role: Required[Literal["system"]]
    content: Required[str | TextParts]
    name: str


class UserMessage(_Obj, total=False):
    role: Required[Literal["user"]]
    content: Required[str | Annotated[list[UserPart], Field(min_length=1)]]
    name: str


class AssistantMessage(_Obj, total=False):
    role: Required[Literal["assistant"]]
    content: str | Annotated[list[AssistantPart], Field(min_length=1)] | None
    refusal: str | None
    name: str
    tool_calls: list[ToolCall]
    function_call: FunctionCall | None


class ToolMessage(_Obj, total=False):
    role: Required[Literal["tool"]]
    content: Required[str | TextParts]
    tool_call_id: Required[str]


class FunctionMessage(_Obj, total=False):
    role: Required[Literal["function"]]
    content: Required[str | None]
    name: Required[str]


Message = Annotated[DeveloperMessage | SystemMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage, Field(discriminator="role")]
ROLES = ("developer", "system", "user", "assistant", "tool", "function")


# -- tools and options -------------------------------------------------------------------------
class FunctionDef(_Obj, total=False):
    name: Required[str]
    description: str
    parameters: dict
    strict: bool | None


class FunctionTool(_Obj, total=False):
    type: Required[Literal["function"]]
    function: Required[FunctionDef]


class CustomToolDef(_Obj, total=False):
    name: Required[str]


class CustomTool(_Obj, total=False):
    type: Required[Literal["custom"]]
    custom: Required[CustomToolDef]


class StreamOptions(_Obj, total=False):
    include_usage: bool
    include_obfuscation: bool


class ResponseFormat(_Obj, total=False):
    type: Required[Literal["text", "json_object", "json_schema"]]


Penalty = Annotated[float, Field(ge=-2, le=2)]


class ChatRequest(_Obj, total=False):
    model: Required[str]
    messages: Required[Annotated[list[Message], Field(min_length=1)]]
    temperature: Annotated[float, Field(ge=0, le=2)] | None
    top_p: Annotated[float, Field(ge=0, le=1)] | None
    n: Annotated[int, Field(ge=1, le=128)] | None
    max_tokens: Annotated[int, Field(ge=1)] | None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None
    frequency_penalty: Penalty | None
    presence_penalty: Penalty | None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None
    logprobs: bool | None
    logit_bias: dict[str, int] | None
    stream: bool | None
    stream_options: StreamOptions | None
    stop: str | Annotated[list[str], Field(min_length=1, max_length=4)] | None
    seed: int | None
    user: str
    store: bool | None
    metadata: dict[str, str] | None
    parallel_tool_calls: bool
    tools: list[Annotated[FunctionTool | CustomTool, Field(discriminator="type")]]
    functions: Annotated[list[FunctionDef], Field(min_length=1, max_length=128)]
    response_format: ResponseFormat
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None
    service_tier: Literal["auto", "default", "flex", "scale", "priority", "fast"] | None
    modalities: list[Literal["text", "audio"]] | None
    verbosity: Literal["low", "medium", "high"] | None


class EmbeddingsRequest(_Obj, total=False):
    model: Required[str]
    input: Required[str | Annotated[list[str], Field(min_length=1, max_length=2048)] | Annotated[list[int], Field(min_length=1, max_length=2048)] | Annotated[list[Annotated[list[int], Field(min_length=1)]], Field(min_length=1, max_length=2048)]]
    encoding_format: Literal["float", "base64"]
    dimensions: Annotated[int, Field(ge=1)]
    user: str


# Compiled once at import: building the validators is the expensive part, validating is not.
_ADAPTERS = {"chat": TypeAdapter(ChatRequest), "embeddings": TypeAdapter(EmbeddingsRequest)}


def check_body(operation: str, body: dict) -> SeawallError | None:
    try:
        _ADAPTERS[operation].validate_python(body)
    except ValidationError as e:
        return explain(e.errors(include_url=False), body)
    return None


# -- errors -> one 400 naming the field --------------------------------------------------------
_VALUE_ERRORS = {"greater_than_equal", "less_than_equal", "greater_than", "less_than", "too_short", "too_long",
                 "literal_error", "enum", "union_tag_invalid"}
_EXPECTED = {
    "string_type": "a string", "int_type": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "bool_type": "a boolean", "list_type": "an array", "dict_type": "an object",
    "model_type": "an object", "model_attributes_type": "an object", "typed_dict_type": "an object",
    "none_required": "null",
}


def explain(errors: list[dict], body: dict) -> SeawallError:
    """The most specific problem, as OpenAI words it. A union's branches each report an error;
    the ones that reach deepest into what the client sent name the field."""
    located = [(_param(err["loc"], body, err["type"] == "missing"), err) for err in errors]
    depth = max(p[1] for p, _ in located)
    best = [(p[0], err) for p, err in located if p[1] == depth]
    # A bound or enum error comes from the branch whose type the value has: it says more than
    # "expected a string" from a branch the value was never meant for.
    best.sort(key=lambda pe: pe[1]["type"] not in _VALUE_ERRORS)
    param, first = best[0]
    kind = first["type"]
    got = describe(first.get("input"))
    if kind == "missing":
        return error("missing_field", param=param, endpoint="the request")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = first["ctx"]["discriminator"].strip("'")
        param = f"{param}.{field}" if param else field
        if kind == "union_tag_not_found":
            return error("missing_field", param=param, endpoint="the request")
        value = first["input"].get(field) if isinstance(first["input"], dict) else None
        return error("invalid_value", param=param, got=describe(value),
                     expected="one of " + first["ctx"]["expected_tags"])
    if kind in ("literal_error", "enum"):
        return error("invalid_value", param=param, got=got, expected=first["ctx"]["expected"])
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than", "too_short", "too_long"):
        return error("invalid_value", param=param, got=got, expected=_range(kind, first.get("ctx") or {}))
    expected = [_EXPECTED[e["type"]] for _, e in best if e["type"] in _EXPECTED]
    if not expected:
        return error("invalid_value", param=param, got=got, expected=first["msg"].lower())
    choices = list(dict.fromkeys(expected))
    return error("invalid_field", param=param, got=got,
                 expected=" or ".join(choices) if len(choices) < 3 else ", ".join(choices[:-1]) + " or " + choices[-1])


def _param(loc: tuple, body: object, missing: bool = False) -> tuple[str, int]:
    """OpenAI's spelling of the field at `loc` and how deep it reaches into the data. Loc parts
    that are not keys or indexes of the data are union branch labels (`str`, `list[...]`, or a
    discriminator's value such as 'user') and are skipped; a missing field is the last part."""
    out, depth, node, tagged = "", 0, body, None
    for i, part in enumerate(loc):
        if isinstance(node, dict) and tagged is not node and part in (node.get("role"), node.get("type")):
            tagged = node  # a discriminated union's branch label, once per object
            continue
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            out += f"[{part}]"
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and (part in node or (missing and i == len(loc) - 1)):
            out += f".{part}" if out else part
            node = node.get(part)
        else:
            continue
        depth += 1
    return out, depth


def _range(kind: str, ctx: dict) -> str:
    return {"greater_than_equal": "a value of at least {ge}", "less_than_equal": "a value of at most {le}",
            "greater_than": "a value above {gt}", "less_than": "a value below {lt}",
            "too_short": "at least {min_length} items", "too_long": "at most {max_length} items"}[kind].format(**ctx)


def describe(value: object) -> str:
    """What was sent: its JSON kind and, for scalars, a short rendering of the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    return "an object"


def reasoning_problem(body: dict, model: str) -> SeawallError | None:
    """OpenAI's reasoning models (o-series, gpt-5; `reasoning: true` in the catalog) refuse
    max_tokens and any temperature or top_p but the default. The max_tokens wording is OpenAI's
    as recorded in simulator/dialects/openai.py; the temperature one is [unverified] from memory
    of OpenAI's "Unsupported value" errors."""
    if body.get("max_tokens") is not None:
        return error("model_unsupported_parameter", param="max_tokens", model=model,
                     instead="Use 'max_completion_tokens' instead.",
                     fix=f"Send 'max_completion_tokens' instead of 'max_tokens' to `{model}`; it also counts the "
                         "hidden reasoning tokens, so leave room for them.")
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and value != 1:
            return error("model_unsupported_value", param=name, model=model, got=describe(value), default=1)
    return None
