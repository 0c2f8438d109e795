"""Replay's comparison (tools/replay.py): the answer's beginning in every dialect, what changed."""

import pytest

from seawall.tools.replay import Outcome, answer_start, compare, render

ANSWERS = [
    ("openai", '{"choices": [{"message": {"content": "Hello there"}}]}', False, "Hello there"),
    ("anthropic", '{"content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "!"}]}', False, "Hi!"),
    ("gemini", '{"candidates": [{"content": {"parts": [{"text": "Hola"}]}}]}', False, "Hola"),
    ("error", '{"error": {"message": "overloaded", "code": 529}}', False, "overloaded"),
    ("openai stream", 'data: {"choices":[{"delta":{"content":"Once"}}]}\n\ndata: {"choices":[{"delta":{"content":" upon"}}]}'
                      "\n\ndata: [DONE]\n\n", True, "Once upon"),
    ("anthropic stream", 'event: content_block_delta\ndata: {"delta": {"text": "Hey"}}\n\nevent: error\n'
                         'data: {"type": "error", "error": {"message": " cut"}}\n\n', True, "Hey cut"),
    ("html", "<html>502 Bad Gateway</html>", False, "<html>502 Bad Gateway</html>"),
    ("nothing", "", False, ""),
    ("embeddings", '{"data": [{"embedding": [0.1]}]}', False, "(1 embedding(s))"),
]


@pytest.mark.parametrize("body,streamed,expected", [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS])
def test_answer_start(body, streamed, expected):
    assert answer_start(body, streamed) == expected


def test_compare_names_changes_but_not_timings():
    before = Outcome("req_1", 503, "upstream.overloaded", "overloaded", 250.0, 250.0, None, "original")
    after = Outcome("req_2", 200, None, "Hello", 20.0, 19.0, None, "pipeline, as key key_1")
    result = compare(before, after)
    assert result["changed"] == ["status", "category", "answer"]
    text = render(result)
    assert "changed: status, category, answer" in text and "503" in text and "answer now:  Hello" in text
    assert compare(before, before)["changed"] == [] and "changed: nothing" in render(compare(before, before))
