"""Redaction (decide/redact.py): credentials in headers, known secrets and key shapes anywhere,
configured JSON paths in bodies and stream lines; table-driven, no I/O."""

import orjson
import pytest

from seawall.decide.redact import REDACTED, Redactor, parse_path, path_problem, sse_events

PROVIDER_KEY = "prov-9f8e7d6c5b4a39281706"  # no known key shape: found only because it is listed
R = Redactor([PROVIDER_KEY, "short"], ["messages[*].content", "metadata.email", "contents[0].parts[*].text"])

HEADERS = [  # (name, value, expected)
    ("Authorization", "Bearer sk-sw-abcdefghijklmnopqrstuvwxyz0123456789ABCD", "Bearer [redacted]"),
    ("authorization", "Basic dXNlcjpwYXNz", "Basic [redacted]"),
    ("x-api-key", "sk-ant-api03-abcdefghijklmnopqrstu", REDACTED),
    ("x-goog-api-key", "AIzaSyA1234567890abcdefghijklmnopqrstu", REDACTED),
    ("api-key", "0123456789abcdef0123456789abcdef", REDACTED),
    ("mj-api-secret", "anything", REDACTED),
    ("Cookie", "session=abc", REDACTED),
    ("set-cookie", "seawall_console=abc; HttpOnly", REDACTED),
    ("x-custom", f"token {PROVIDER_KEY}", f"token {REDACTED}"),
    ("content-type", "application/json", "application/json"),
]


@pytest.mark.parametrize("name,value,expected", HEADERS, ids=[h[0] + "-" + str(i) for i, h in enumerate(HEADERS)])
def test_headers(name, value, expected):
    assert R.headers([(name, value)]) == [[name.lower(), expected]]


TEXTS = [  # (id, text, expected)
    ("seawall key", "my key is sk-sw-abcdefghijklmnopqrstuvwxyz0123456789ABCD ok", f"my key is {REDACTED} ok"),
    ("openai project key", "sk-proj-AbCdEfGhIjKlMnOpQrStUv_wx", REDACTED),
    ("admin key", "sw-admin-e2eAdminKey000000000000000000000000", REDACTED),
    ("listed secret", f"x{PROVIDER_KEY}y", f"x{REDACTED}y"),
    ("too short to list", "short stays", "short stays"),
    ("ordinary words", "scikit sk-learn is a library", "scikit sk-learn is a library"),
]


@pytest.mark.parametrize("text,expected", [t[1:] for t in TEXTS], ids=[t[0] for t in TEXTS])
def test_text(text, expected):
    assert R.text(text) == expected


def test_json_paths_blank_values_and_strings_are_searched():
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "secret plan"},
                                                 {"role": "assistant", "content": [{"type": "text", "text": "x"}]}],
            "metadata": {"email": "a@b.c", "other": f"key {PROVIDER_KEY}"},
            "contents": [{"parts": [{"text": "one"}, {"text": "two"}]}, {"parts": [{"text": "kept"}]}]}
    out = R.value(body)
    assert [m["content"] for m in out["messages"]] == [REDACTED, REDACTED]
    assert out["messages"][0]["role"] == "user" and out["model"] == "gpt-4o-mini"
    assert out["metadata"] == {"email": REDACTED, "other": f"key {REDACTED}"}
    assert [p["text"] for p in out["contents"][0]["parts"]] == [REDACTED, REDACTED]
    assert out["contents"][1]["parts"][0]["text"] == "kept"
    assert body["messages"][0]["content"] == "secret plan"  # the input is not changed


def test_body_json_stream_and_text_and_the_cap():
    body = R.body(orjson.dumps({"messages": [{"role": "user", "content": "hi"}], "k": PROVIDER_KEY}), 10_000)
    assert orjson.loads(body["text"]) == {"messages": [{"role": "user", "content": REDACTED}], "k": REDACTED}
    assert body["truncated"] is False
    stream = b'data: {"messages": [{"content": "a"}]}\n\ndata: [DONE]\n\n'
    assert R.body(stream, 10_000)["text"] == f'data: {{"messages":[{{"content":"{REDACTED}"}}]}}\n\ndata: [DONE]\n\n'
    html = R.body(f"<html>{PROVIDER_KEY}</html>".encode(), 10_000)
    assert html["text"] == f"<html>{REDACTED}</html>"
    cut = R.body(("é" * 100).encode(), 51)  # 2-byte characters: cut on a boundary, never mid-character
    assert cut == {"text": "é" * 25, "bytes": 200, "truncated": True}
    assert R.body(b"\xff\xfe binary", 100)["text"].endswith(" binary")


PATHS = [("messages[*].content", ("messages", "*", "content"), None), ("metadata.email", ("metadata", "email"), None),
         ("a[0].b", ("a", 0, "b"), None), ("metadata.*", ("metadata", "*"), None),
         ("a..b", None, "dot-separated"), ("a[b]", None, "only names"), ("", None, "dot-separated")]


@pytest.mark.parametrize("path,parsed,problem", PATHS, ids=[p[0] or "empty" for p in PATHS])
def test_paths(path, parsed, problem):
    found = path_problem(path)
    if problem is None:
        assert found is None and parse_path(path) == parsed
    else:
        assert problem in found


def test_sse_events_keeps_a_partial_last_event():
    assert sse_events('data: {"a":1}\n\ndata: {"b":2}\n\ndata: {"c"') == ['data: {"a":1}', 'data: {"b":2}', 'data: {"c"']
    assert sse_events("event: ping\ndata: {}\r\n\r\n") == ["event: ping\ndata: {}"]


def test_long_text_is_searched_as_well_as_short():
    long = "x" * 5000 + f" {PROVIDER_KEY} " + "y" * 5000 + " sk-sw-abcdefghijklmnopqrstuvwxyz0123456789ABCD"
    out = R.text(long)
    assert PROVIDER_KEY not in out and "sk-sw-" not in out and out.count(REDACTED) == 2
    assert R.text("z" * 5000) == "z" * 5000
