"""Request schema checks: each bad body gets one 400 naming the field; valid ones pass as sent;
the definitions stay in step with the published spec (tests/data/openai-openapi.yaml)."""

import copy
import pathlib

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.decide.schema import ROLES, check_body, reasoning_problem

USER = {"role": "user", "content": "hi"}


def chat(**extra):
    return {"model": "gpt-4o-mini", "messages": [USER], **extra}


BAD = [  # id, body, code, param, message fragment
    ("unknown role", chat(messages=[USER, {"role": "bot", "content": "x"}]), "invalid_value", "messages[1].role",
     "'bot'"),
    ("missing role", chat(messages=[{"content": "x"}]), "missing_field", "messages[0].role", "'messages[0].role'"),
    ("null message", chat(messages=[USER, None]), "invalid_field", "messages[1]", "got null"),
    ("missing content", chat(messages=[{"role": "user"}]), "missing_field", "messages[0].content", "content"),
    ("content a number", chat(messages=[{"role": "user", "content": 5}]), "invalid_field", "messages[0].content",
     "a string or an array"),
    ("text part without text", chat(messages=[{"role": "user", "content": [{"type": "text"}]}]), "missing_field",
     "messages[0].content[0].text", "text"),
    ("unknown part type", chat(messages=[{"role": "user", "content": [{"type": "video"}]}]), "invalid_value",
     "messages[0].content[0].type", "'video'"),
    ("image_url null", chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": None}]}]),
     "invalid_field", "messages[0].content[0].image_url", "an object"),
    ("temperature as a string", chat(temperature="0.7"), "invalid_field", "temperature", "got a string ('0.7')"),
    ("temperature out of range", chat(temperature=2.5), "invalid_value", "temperature", "at most 2"),
    ("top_p out of range", chat(top_p=-0.1), "invalid_value", "top_p", "at least 0"),
    ("n zero", chat(n=0), "invalid_value", "n", "at least 1"),
    ("max_tokens as a string", chat(max_tokens="100"), "invalid_field", "max_tokens", "an integer"),
    ("max_tokens a float", chat(max_tokens=10.5), "invalid_field", "max_tokens", "an integer"),
    ("max_tokens zero", chat(max_tokens=0), "invalid_value", "max_tokens", "at least 1"),
    ("stream a string", chat(stream="yes"), "invalid_field", "stream", "a boolean"),
    ("five stop strings", chat(stop=["a", "b", "c", "d", "e"]), "invalid_value", "stop", "at most 4"),
    ("tool without function", chat(tools=[{"type": "function"}]), "missing_field", "tools[0].function", "function"),
    ("tool name a number", chat(tools=[{"type": "function", "function": {"name": 3}}]), "invalid_field",
     "tools[0].function.name", "a string"),
    ("tool call without arguments",
     chat(messages=[{"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f"}}]}]),
     "missing_field", "messages[0].tool_calls[0].function.arguments", "arguments"),
    ("tool result without tool_call_id", chat(messages=[{"role": "tool", "content": "42"}]), "missing_field",
     "messages[0].tool_call_id", "tool_call_id"),
    ("response_format null", chat(response_format=None), "invalid_field", "response_format", "an object"),
    ("unknown reasoning effort", chat(reasoning_effort="huge"), "invalid_value", "reasoning_effort", "'huge'"),
    ("logit_bias value a string", chat(logit_bias={"50256": "-100"}), "invalid_field", "logit_bias.50256",
     "an integer"),
    ("presence_penalty out of range", chat(presence_penalty=3), "invalid_value", "presence_penalty", "at most 2"),
]


@pytest.mark.parametrize("body,code,param,fragment", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_chat_bodies(body, code, param, fragment):
    problem = check_body("chat", body)
    assert problem is not None
    assert (problem.code, problem.param, problem.status) == (code, param, 400)
    assert fragment in problem.message
    assert problem.category == "request.invalid"


EMBEDDINGS_BAD = [
    ({"model": "e", "input": []}, "invalid_value", "input"),
    ({"model": "e", "input": None}, "invalid_field", "input"),
    ({"model": "e", "input": [1, "a"]}, "invalid_field", "input[0]"),
    ({"model": "e", "input": "x", "dimensions": 0}, "invalid_value", "dimensions"),
    ({"model": "e", "input": "x", "encoding_format": "int8"}, "invalid_value", "encoding_format"),
    ({"model": "e", "input": "x", "dimensions": "256"}, "invalid_field", "dimensions"),
]


@pytest.mark.parametrize("body,code,param", EMBEDDINGS_BAD)
def test_bad_embeddings_bodies(body, code, param):
    problem = check_body("embeddings", body)
    assert (problem.code, problem.param) == (code, param)


GOOD = [
    chat(),
    chat(temperature=1, top_p=0.5, n=2, max_tokens=10, stop="\n", seed=1, stream=True,
         stream_options={"include_usage": True}, logit_bias={"1": -100}, user="u", metadata={"k": "v"}),
    chat(temperature=None, max_tokens=None, stop=None),  # null for an optional parameter: accepted as OpenAI does
    chat(messages=[{"role": "developer", "content": "be brief"}, USER,
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                   {"role": "tool", "tool_call_id": "c1", "content": "42"},
                   {"role": "user", "content": [{"type": "text", "text": "and this?"},
                                                {"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}],
         tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
         tool_choice="auto", response_format={"type": "json_object"}),
    chat(provider_specific={"anything": [1, 2]}, top_k=40),  # unknown parameters pass through
    chat(messages=[{"role": "user", "content": "x", "cache_control": {"type": "ephemeral"}}]),
]


@pytest.mark.parametrize("body", GOOD)
def test_valid_bodies_pass_untouched(body):
    before = copy.deepcopy(body)
    assert check_body("chat", body) is None
    assert body == before


def test_valid_embeddings():
    for value in ["x", ["a", "b"], [1, 2, 3], [[1, 2], [3]]]:
        assert check_body("embeddings", {"model": "e", "input": value, "encoding_format": "float"}) is None


# -- kept in step with the published spec ------------------------------------------------------
SPEC = pathlib.Path(__file__).resolve().parents[1] / "data" / "openai-openapi.yaml"  # vendored (MIT, LICENSE beside it)


@pytest.fixture(scope="module")
def schemas():
    with open(SPEC, encoding="utf-8") as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["components"]["schemas"]


def _ref(schemas, node):
    return schemas[node["$ref"].rsplit("/", 1)[1]]


def test_roles_match_the_spec(schemas):
    roles = [_ref(schemas, r)["properties"]["role"]["enum"][0] for r in schemas["ChatCompletionRequestMessage"]["oneOf"]]
    assert tuple(roles) == ROLES
    for ref in schemas["ChatCompletionRequestMessage"]["oneOf"]:
        message = _ref(schemas, ref)
        role = message["properties"]["role"]["enum"][0]
        body = chat(messages=[{"role": role}])
        for field in message["required"]:
            if field != "role":
                problem = check_body("chat", body)
                assert problem is not None and problem.param.startswith("messages[0]."), (role, field)


def test_user_content_part_types_match_the_spec(schemas):
    types = [_ref(schemas, r)["properties"]["type"]["enum"][0]
             for r in schemas["ChatCompletionRequestUserMessageContentPart"]["oneOf"]]
    for kind in types:
        problem = check_body("chat", chat(messages=[{"role": "user", "content": [{"type": kind}]}]))
        assert problem.code == "missing_field", kind  # a known type, missing its payload
    assert check_body("chat", chat(messages=[{"role": "user", "content": [{"type": "nope"}]}])).code == "invalid_value"


def _bounds(schema):
    for option in schema.get("anyOf", [schema]):
        if "minimum" in option or "maximum" in option:
            return option.get("minimum"), option.get("maximum")
    return None, None


def test_numeric_bounds_match_the_spec(schemas):
    props = dict(schemas["ModelResponseProperties"]["properties"])
    props.update(schemas["CreateChatCompletionRequest"]["allOf"][1]["properties"])
    for name in ["temperature", "top_p", "n", "frequency_penalty", "presence_penalty", "top_logprobs"]:
        low, high = _bounds(props[name])
        assert check_body("chat", chat(**{name: low})) is None, name
        assert check_body("chat", chat(**{name: high})) is None, name
        assert check_body("chat", chat(**{name: low - 1})).param == name
        assert check_body("chat", chat(**{name: high + 1})).param == name


def test_enums_match_the_spec(schemas):
    for name in ["ReasoningEffort", "ServiceTier", "Verbosity"]:
        values = [v for option in schemas[name]["anyOf"] for v in option.get("enum", [])]
        field = {"ReasoningEffort": "reasoning_effort", "ServiceTier": "service_tier", "Verbosity": "verbosity"}[name]
        for value in values:
            assert check_body("chat", chat(**{field: value})) is None, (field, value)
        assert check_body("chat", chat(**{field: "not-a-value"})).param == field
    formats = schemas["CreateEmbeddingRequest"]["properties"]["encoding_format"]["enum"]
    for value in formats:
        assert check_body("embeddings", {"model": "e", "input": "x", "encoding_format": value}) is None


# -- property: valid requests pass, corruptions are named ---------------------------------------
text = st.text(max_size=20)
user_msg = st.fixed_dictionaries({"role": st.just("user"), "content": st.one_of(
    text, st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": text}), min_size=1, max_size=3))})
plain_msg = st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "assistant"]), "content": text},
                                  optional={"name": st.text(min_size=1, max_size=8)})
valid_chat = st.fixed_dictionaries(
    {"model": st.text(min_size=1, max_size=20), "messages": st.lists(st.one_of(user_msg, plain_msg), min_size=1,
                                                                      max_size=6)},
    optional={"temperature": st.floats(0, 2), "top_p": st.floats(0, 1), "n": st.integers(1, 128),
              "max_tokens": st.integers(1, 10**6), "stream": st.booleans(),
              "stop": st.one_of(text, st.lists(text, min_size=1, max_size=4)),
              "presence_penalty": st.floats(-2, 2), "seed": st.integers(-2**63, 2**63 - 1),
              "vendor_extra": st.dictionaries(text, st.integers(), max_size=2)})


@settings(max_examples=200, deadline=None)
@given(valid_chat)
def test_random_valid_requests_pass(body):
    assert check_body("chat", body) is None


WRONG_TYPES = [None, "7", 7, 1.5, True, [], {}]


@st.composite
def corrupted(draw):
    """A valid body with one thing broken, and the param the error must name (or start with)."""
    body = draw(valid_chat)
    kind = draw(st.sampled_from(["field_type", "message_role", "message_content", "drop_content", "message_null",
                                 "drop_model"]))
    i = draw(st.integers(0, len(body["messages"]) - 1))
    message = body["messages"][i]
    if kind == "field_type":
        name = draw(st.sampled_from(["temperature", "top_p", "n", "max_tokens", "stream", "presence_penalty"]))
        valid_kinds = {"temperature": (int, float), "top_p": (int, float), "presence_penalty": (int, float),
                       "n": (int,), "max_tokens": (int,), "stream": (bool,)}[name]
        value = draw(st.sampled_from([v for v in WRONG_TYPES if v is not None and (
            isinstance(v, bool) != (bool in valid_kinds) or not isinstance(v, valid_kinds))]))
        body[name] = value
        return body, name
    if kind == "message_role":
        message["role"] = draw(st.one_of(st.text(max_size=10).filter(lambda r: r not in ROLES), st.integers()))
        return body, f"messages[{i}].role"
    if kind == "message_content":
        message["content"] = draw(st.sampled_from([7, 1.5, True, {}, [], [7]]))
        return body, f"messages[{i}].content"
    if kind == "drop_content":
        if message["role"] == "assistant":  # an assistant's content is optional: break its role instead
            message["role"] = "robot"
            return body, f"messages[{i}].role"
        del message["content"]
        return body, f"messages[{i}].content"
    if kind == "message_null":
        body["messages"][i] = None
        return body, f"messages[{i}]"
    del body["model"]
    return body, "model"


@settings(max_examples=300, deadline=None)
@given(corrupted())
def test_random_corruptions_are_rejected_with_the_field_named(case):
    body, param = case
    problem = check_body("chat", body)
    assert problem is not None
    assert problem.status == 400
    assert problem.param is not None and problem.param.startswith(param), (problem.param, param, problem.message)
    assert problem.param in problem.message


@pytest.mark.parametrize("extra,param", [
    ({"max_tokens": 10}, "max_tokens"), ({"temperature": 0.2}, "temperature"), ({"top_p": 0.9}, "top_p")])
def test_reasoning_rules(extra, param):
    problem = reasoning_problem(chat(**extra), "o3")
    assert (problem.param, problem.status) == (param, 400)


def test_reasoning_defaults_pass():
    assert reasoning_problem(chat(max_completion_tokens=10, temperature=1, top_p=1.0), "o3") is None
