"""Whatever JSON a client sends, a dialect's translation answers with a request or a SeawallError
naming a field; never another exception (which the gateway could only answer with a 500)."""

import copy

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.dialects.anthropic import AnthropicDialect
from seawall.dialects.gemini import GeminiDialect
from seawall.errors import SeawallError

ANTHROPIC, GEMINI_DIALECT = AnthropicDialect(), GeminiDialect()


def from_messages(doc) -> object:
    """Parse, as ingress does, then translate for another vendor, strict and lossy."""
    req = ANTHROPIC.parse("chat", orjson.dumps(doc), {}, None)
    ANTHROPIC.translate(req, True)
    return ANTHROPIC.translate(req)


def from_gemini(doc, model: str, stream: bool) -> object:
    req = GEMINI_DIALECT.parse("chat", orjson.dumps(doc), {}, f"{model}:generateContent")
    GEMINI_DIALECT.translate(req, True)
    return GEMINI_DIALECT.translate(req)

# What a parsed body can hold: orjson reads integers past 64 bits as floats.
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False)
                    | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)

MESSAGES = {"model": "m", "max_tokens": 5, "system": "s", "metadata": {"user_id": "u"}, "tool_choice": {"type": "auto"},
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                         {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}]}
GEMINI = {"systemInstruction": {"parts": [{"text": "s"}]}, "generationConfig": {"temperature": 0.5},
          "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object"}}]}],
          "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
          "contents": [{"role": "user", "parts": [{"text": "hi"}]},
                       {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                       {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]}


def paths(value, here=()):
    """Every place in a JSON document a value could be swapped for another."""
    yield here
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*here, i))


def swapped(doc, path, value):
    doc = copy.deepcopy(doc)
    if not path:
        return value
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return doc


def survives(translate, doc) -> None:
    try:
        translate(doc)
    except SeawallError as e:
        assert e.status in (400, 404, 413) and (e.param or e.code in ("body_not_object",)), e


@settings(max_examples=300, deadline=None)
@given(st.data(), JSON)
def test_messages_requests_with_any_value_anywhere(data, value):
    path = data.draw(st.sampled_from(list(paths(MESSAGES))[1:]))
    doc = swapped(MESSAGES, path, value)
    survives(from_messages, doc)


@settings(max_examples=300, deadline=None)
@given(st.data(), JSON)
def test_gemini_requests_with_any_value_anywhere(data, value):
    path = data.draw(st.sampled_from(list(paths(GEMINI))[1:]))
    doc = swapped(GEMINI, path, value)
    survives(lambda d: from_gemini(d, "m", stream=False), doc)
