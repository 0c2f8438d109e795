"""observe/traces.py's pure parts: a reply's finish reasons in each dialect, a path's route."""

from __future__ import annotations

import orjson
import pytest

from seawall.observe.traces import finish_reasons, route_of

REASONS = [  # id, shape, body, expected
    ("openai, two choices", "openai", {"choices": [{"finish_reason": "stop"}, {"finish_reason": "length"}]},
     ["stop", "length"]),
    ("openai, a tool call", "openai", {"choices": [{"finish_reason": "tool_calls"}]}, ["tool_calls"]),
    ("openai, embeddings have none", "openai", {"data": [{"embedding": [0.1]}]}, []),
    ("anthropic", "anthropic", {"stop_reason": "end_turn"}, ["end_turn"]),
    ("anthropic, none yet", "anthropic", {"stop_reason": None}, []),
    ("gemini", "gemini", {"candidates": [{"finishReason": "STOP"}]}, ["STOP"]),
    ("odd shapes are skipped", "openai", {"choices": [1, {"finish_reason": 3}, {"finish_reason": "stop"}]}, ["stop"]),
]


@pytest.mark.parametrize("shape,body,expected", [c[1:] for c in REASONS], ids=[c[0] for c in REASONS])
def test_finish_reasons(shape, body, expected):
    assert finish_reasons(orjson.dumps(body), shape) == expected


def test_finish_reasons_of_a_body_that_is_not_json():
    assert finish_reasons(b"<html>", "openai") == [] and finish_reasons(b"[1]", "openai") == []


@pytest.mark.parametrize("path,route", [
    ("/v1/chat/completions", "/v1/chat/completions"),
    ("/v1beta/models/gemini-2.5-flash:streamGenerateContent", "/v1beta/models/{model}:streamGenerateContent"),
    ("/v1/models/gemini-2.5-pro:generateContent", "/v1/models/{model}:generateContent"),
    ("/v1/responses/resp_123", "/v1/responses/{id}"),
    ("/v1/responses/resp_123/input_items", "/v1/responses/{id}/input_items"),
])
def test_route_of(path, route):
    assert route_of(path) == route
