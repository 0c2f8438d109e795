import pytest

from seawall.decide.cors import cors_headers, origin_allowed, preflight_headers


def test_listed_origin_is_echoed_with_vary():
    h = dict(cors_headers("https://app.example.com", ["https://app.example.com"]))
    assert h[b"access-control-allow-origin"] == b"https://app.example.com"
    assert h[b"vary"] == b"origin"
    assert b"x-request-id" in h[b"access-control-expose-headers"]


def test_wildcard_allows_any_origin_without_echo():
    h = dict(cors_headers("https://x.test", ["*"]))
    assert h[b"access-control-allow-origin"] == b"*"


@pytest.mark.parametrize(("origin", "allowed", "host", "verdict"), [
    ("https://app.example.com", ["https://app.example.com"], None, True),
    ("https://app.example.com/", ["https://app.example.com"], None, True),
    ("https://evil.test", ["https://app.example.com"], None, False),
    ("https://evil.test", [], None, False),
    ("https://evil.test", ["*"], None, True),
    ("http://127.0.0.1:8100", [], "127.0.0.1:8100", True),  # the gateway's own page: not cross-origin
    ("http://127.0.0.1:5173", [], "127.0.0.1:8100", False),
])
def test_origin_allowed(origin, allowed, host, verdict):
    assert origin_allowed(origin, allowed, host) is verdict


def test_a_refused_origin_may_read_the_refusal_marked_as_such():
    h = dict(cors_headers("https://evil.test", ["https://app.example.com"], refused=True))
    assert h[b"access-control-allow-origin"] == b"https://evil.test" and h[b"x-seawall-cors"] == b"refused"
    assert b"x-seawall-cors" not in dict(cors_headers("https://app.example.com", ["https://app.example.com"]))
    assert cors_headers(None, ["*"]) == []


def test_a_refused_origins_preflight_passes_so_the_request_can_be_refused_readably():
    h = dict(preflight_headers("https://evil.test", [], "authorization", refused=True))
    assert h[b"access-control-allow-origin"] == b"https://evil.test" and h[b"x-seawall-cors"] == b"refused"
    assert h[b"access-control-allow-headers"] == b"authorization"


def test_preflight_echoes_requested_headers():
    h = dict(preflight_headers("https://a.test", ["https://a.test"], "authorization, content-type, x-stainless-os"))
    assert h[b"access-control-allow-headers"] == b"authorization, content-type, x-stainless-os"
    assert b"POST" in h[b"access-control-allow-methods"]
