"""Token counts against known counts: tiktoken's documented examples and OpenAI cookbook's chat
examples ("How to count tokens with tiktoken"), counted with the encodings the package ships."""

import gzip
import hashlib
from importlib import resources

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.catalog import tokens
from seawall.catalog.tokens import ENCODINGS, count_text, prompt_tokens, token_ceiling

# The cookbook's example conversation: 129 tokens for gpt-3.5-turbo/gpt-4 (cl100k_base) and 124
# for gpt-4o/gpt-4o-mini (o200k_base), as the cookbook prints them.
COOKBOOK_MESSAGES = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate "
                                  "jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch "
                                                          "base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to "
                                                               "do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client "
                                "deliverable."},
]
# The cookbook's tools example: 105 tokens on cl100k models, 101 on gpt-4o / gpt-4o-mini.
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_current_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "description": "The unit of temperature to return",
                 "enum": ["celsius", "fahrenheit"]}},
        "required": ["location"]}}}
WEATHER_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
def test_hello_world_is_two_tokens(encoding):
    assert count_text("hello world", encoding) == 2


def test_tiktoken_readme_example():
    # tiktoken's README: enc.encode("hello world") == [31373, 995] is r50k; for o200k the ids are fixed too
    assert tokens.encoding("o200k_base").encode_ordinary("hello world") == [24912, 2375]
    assert tokens.encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]


def test_special_tokens_in_client_text_are_plain_text():
    assert count_text("<|endoftext|>", "cl100k_base") > 1


@pytest.mark.parametrize("encoding,expected", [("cl100k_base", 129), ("o200k_base", 124)])
def test_chat_messages_counted_as_openai_bills_them(encoding, expected):
    assert prompt_tokens("chat", {"messages": COOKBOOK_MESSAGES}, encoding) == expected


@pytest.mark.parametrize("encoding,expected", [("cl100k_base", 105), ("o200k_base", 101)])
def test_tool_definitions_counted_as_openai_bills_them(encoding, expected):
    body = {"messages": WEATHER_MESSAGES, "tools": [WEATHER_TOOL]}
    assert prompt_tokens("chat", body, encoding) == expected


def test_message_rule_by_hand():
    # 3 per message + role ("user" = 1) + content ("hello world" = 2), + 3 reply primer = 9;
    # a name adds its tokens ("bob" = 1) + 1.
    assert prompt_tokens("chat", {"messages": [{"role": "user", "content": "hello world"}]}, "o200k_base") == 9
    named = {"messages": [{"role": "user", "name": "bob", "content": "hello world"}]}
    assert prompt_tokens("chat", named, "o200k_base") == 11


def test_images_are_estimated_by_detail():
    def body(detail):
        return {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "hello world"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": detail}}]}]}
    assert prompt_tokens("chat", body("low"), "o200k_base") == 9 + tokens.IMAGE_TOKENS_LOW
    assert prompt_tokens("chat", body("high"), "o200k_base") == 9 + tokens.IMAGE_TOKENS


def test_estimate_is_bytes_over_three_with_the_same_frame():
    assert count_text("a" * 30, "estimate") == 10
    assert count_text("a" * 31, "estimate") == 11
    assert count_text("é", "estimate") == 1  # 2 UTF-8 bytes, rounded up
    # 3 + "user" (4 bytes -> 2) + 30 bytes (10) + 3 primer
    assert prompt_tokens("chat", {"messages": [{"role": "user", "content": "x" * 30}]}, "estimate") == 18


def test_embeddings_count_the_largest_input():
    assert prompt_tokens("embeddings", {"input": ["hello world", "hello"]}, "cl100k_base") == 2
    assert prompt_tokens("embeddings", {"input": [1, 2, 3]}, "cl100k_base") == 3
    assert prompt_tokens("embeddings", {"input": [[1, 2], [1, 2, 3, 4]]}, "cl100k_base") == 4


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_shipped_encodings_match_tiktokens_hashes(name):
    packed = resources.files("seawall.catalog").joinpath(f"encodings/{name}.tiktoken.gz").read_bytes()
    assert hashlib.sha256(gzip.decompress(packed)).hexdigest() == ENCODINGS[name][0]


def test_a_corrupt_encoding_is_refused(monkeypatch):
    monkeypatch.setitem(ENCODINGS, "o200k_base", ("0" * 64, *ENCODINGS["o200k_base"][1:]))
    with pytest.raises(tokens.EncodingCorrupt):
        tokens._load("o200k_base")


def test_encodings_match_tiktokens_own_definitions(monkeypatch):
    """Same regex and special tokens as tiktoken_ext.openai_public; its loader is stubbed so
    nothing is downloaded, and the expected hash it passes is captured."""
    import tiktoken_ext.openai_public as public

    hashes = {}
    monkeypatch.setattr(public, "load_tiktoken_bpe", lambda url, expected_hash: hashes.setdefault(url, expected_hash)
                        and {})
    for name, (expected_hash, pat_str, special) in ENCODINGS.items():
        official = public.ENCODING_CONSTRUCTORS[name]()
        assert official["pat_str"] == pat_str
        assert official["special_tokens"] == special
        assert expected_hash in hashes.values()


# -- the free bound: no count ever exceeds it --------------------------------------------------
part = st.one_of(st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=200)}),
                 st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.fixed_dictionaries(
                     {"url": st.just("https://x/a.png")}, optional={"detail": st.sampled_from(["low", "high"])})}))
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool"]),
     "content": st.one_of(st.text(max_size=300), st.lists(part, min_size=1, max_size=3))},
    optional={"name": st.text(min_size=1, max_size=5)})
tool = st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=10)},
    optional={"description": st.text(max_size=50), "parameters": st.just(
        {"type": "object", "properties": {"a": {"type": "string", "enum": ["x", "y"]}, "b": {"type": "object"}}})})})
body = st.fixed_dictionaries({"messages": st.lists(message, min_size=1, max_size=5)},
                             optional={"tools": st.lists(tool, min_size=1, max_size=3)})


@settings(max_examples=150, deadline=None)
@given(body, st.sampled_from(["o200k_base", "cl100k_base", "estimate"]))
def test_token_ceiling_bounds_every_count(body, tokenizer):
    raw = orjson.dumps(body)
    assert prompt_tokens("chat", body, tokenizer) <= token_ceiling(body, len(raw))
