import pytest

from seawall.decide.routes import diagnose_route

CASES = [  # id, path, code, hint fragment
    ("missing /v1", "/chat/completions", "route_base_url", "lacks '/v1'"),
    ("missing /v1 under a prefix", "/api/chat/completions", "route_base_url", "/api/v1"),
    ("doubled /v1", "/v1/v1/chat/completions", "route_base_url", "twice"),
    ("full endpoint as base URL", "/v1/chat/completions/chat/completions", "route_base_url", "full endpoint"),
    ("gemini path", "/v1beta/models/gemini-2.5-flash:generateContent", "route_not_found", "Gemini"),
    ("gemini method not served", "/v1beta/models/gemini-2.5-flash:countTokens", "route_not_found",
     ":generateContent"),
    ("anthropic path without /v1", "/messages", "route_base_url", "lacks '/v1'"),
    ("anthropic base URL with /v1", "/v1/v1/messages", "route_base_url", "'/v1' twice"),
    ("unknown v1 endpoint", "/v1/chat/complete", "route_not_found", "serves"),
    ("files, not passed through", "/v1/files", "route_not_found", "passthrough:"),
    ("a batch, not passed through", "/v1/batches/batch_1/cancel", "route_not_found", "/v1/batches is OpenAI's"),
    ("unknown v1 endpoint names the served ones", "/v1/image/generations", "route_not_found",
     "/v1/images/generations"),
    ("root", "/", "route_not_found", "under /v1"),
]


@pytest.mark.parametrize("path,code,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_diagnose_route(path, code, fragment):
    d = diagnose_route(path)
    assert d.code == code
    assert fragment in d.hint
