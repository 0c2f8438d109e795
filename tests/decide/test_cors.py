from seawall.decide.cors import cors_headers, origin_allowed, preflight_headers


def test_listed_origin_is_echoed_with_vary():
    h = dict(cors_headers("https://app.example.com", ["https://app.example.com"]))
    assert h[b"access-control-allow-origin"] == b"https://app.example.com"
    assert h[b"vary"] == b"origin"
    assert b"x-request-id" in h[b"access-control-expose-headers"]


def test_wildcard_allows_any_origin_without_echo():
    h = dict(cors_headers("https://x.test", ["*"]))
    assert h[b"access-control-allow-origin"] == b"*"


def test_unlisted_origin_gets_no_cors_headers():
    assert cors_headers("https://evil.test", ["https://app.example.com"]) == []
    assert not origin_allowed("https://evil.test", ["https://app.example.com"])


def test_preflight_echoes_requested_headers():
    h = dict(preflight_headers("https://a.test", ["https://a.test"], "authorization, content-type, x-stainless-os"))
    assert h[b"access-control-allow-headers"] == b"authorization, content-type, x-stainless-os"
    assert b"POST" in h[b"access-control-allow-methods"]
