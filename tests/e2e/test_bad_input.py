"""Bad input over raw HTTP: each gets a specific 4xx in OpenAI's envelope, with a hint and a
request ID; never a 500, a stack trace or a hang."""

import json
import socket
import time

import pytest

from conftest import http

CHAT = "/v1/chat/completions"
GOOD = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def call(gateway, method, path, body=None, headers=None):
    h = {"authorization": f"Bearer {gateway.key}", **(headers or {})}
    status, headers, raw = http(method, gateway.url + path, body, h)
    return status, headers, json.loads(raw) if raw else None


CASES = [  # id, method, path, body, extra headers, status, code, message fragment
    ("malformed json", "POST", CHAT, b'{"model": "gpt-4o-mini", "messages": [}', {"content-type": "application/json"},
     400, "invalid_json", "not valid JSON"),
    ("wrong content type", "POST", CHAT, b"model=gpt-4o-mini", {"content-type": "application/x-www-form-urlencoded"},
     415, "unsupported_content_type", "application/json"),
    ("empty body", "POST", CHAT, b"", {"content-type": "application/json"}, 400, "empty_body", "empty"),
    ("json array, not object", "POST", CHAT, b"[1, 2]", {"content-type": "application/json"},
     400, "body_not_object", "not an array"),
    ("invalid utf-8", "POST", CHAT, b'{"model": "\xff\xfe"}', {"content-type": "application/json"},
     400, "invalid_utf8", "UTF-8"),
    ("model missing", "POST", CHAT, {"messages": [{"role": "user", "content": "x"}]}, {},
     400, "missing_field", "'model'"),
    ("model not a string", "POST", CHAT, {"model": 4, "messages": []}, {}, 400, "invalid_field", "got a number"),
    ("messages missing", "POST", CHAT, {"model": "gpt-4o-mini"}, {}, 400, "missing_field", "'messages'"),
    ("stream not a boolean", "POST", CHAT, {**GOOD, "stream": "yes"}, {}, 400, "invalid_field", "'stream'"),
    ("wrong method", "GET", CHAT, None, {}, 405, "method_not_allowed", "use POST"),
    ("missing /v1", "POST", "/chat/completions", GOOD, {}, 404, "route_base_url", "Invalid URL"),
    ("doubled /v1", "POST", "/v1/v1/chat/completions", GOOD, {}, 404, "route_base_url", "Invalid URL"),
    ("unknown model", "POST", CHAT, {**GOOD, "model": "gpt-4o-mini-typo"}, {}, 404, "model_not_found", "does not exist"),
    ("no key", "POST", CHAT, GOOD, {"authorization": ""}, 401, "missing_api_key", "didn't provide"),
    ("truncated key", "POST", CHAT, GOOD, {"authorization": "Bearer sk-sw-e2eBoot"}, 401, "key_truncated",
     "was cut"),
    ("key sent as x-api-key", "POST", CHAT, GOOD, {"authorization": "", "x-api-key": "sk-sw-" + "x" * 40},
     401, "malformed_auth_header", "x-api-key"),
    ("Bearer doubled", "POST", CHAT, GOOD, {"authorization": "Bearer Bearer sk-sw-" + "x" * 40}, 401,
     "malformed_auth_header", "twice"),
    ("key with trailing newline escaped", "POST", CHAT, GOOD,
     {"authorization": "Bearer sk-sw-e2eBootstrapKey0000000000000000000000\\n"}, 401, "key_whitespace", "newline"),
]


@pytest.mark.parametrize("method,path,body,headers,status,code,fragment", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_gets_a_specific_error(gateway, method, path, body, headers, status, code, fragment):
    got, resp_headers, payload = call(gateway, method, path, body, headers)
    assert got == status, payload
    err = payload["error"]
    assert err["code"] == code and fragment in err["message"]
    assert err["hint"] and err["type"] and err["category"]
    assert err["request_id"] == resp_headers["x-request-id"]


def test_20_megabyte_body_is_413_before_it_is_read(gateway):
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "' + b"x" * (20 * 1024 * 1024) + b'"}]}'
    status, _, payload = call(gateway, "POST", CHAT, body, {"content-type": "application/json"})
    assert status == 413 and payload["error"]["code"] == "body_too_large"
    assert payload["error"]["category"] == "request.too_large"


def test_chunked_body_over_the_limit_is_413(gateway):
    """No content-length: the limit is enforced while reading."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as s:
        s.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {gateway.key}\r\n"
                  "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"x" * 65536
        try:
            for _ in range(40):  # 2.5 MiB against a 1 MiB limit
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            s.sendall(b"0\r\n\r\n")  # end of the chunked body
        except OSError:
            pass  # the gateway answered and closed while we were still sending
        reply = recv_response(s)
    assert reply.startswith("HTTP/1.1 413")


def recv_response(s: socket.socket) -> str:
    """Read one whole HTTP response (headers, then content-length bytes) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = s.recv(65536)
        if not part:
            break
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        part = s.recv(65536)
        if not part:
            break
        body += part
    return (head + b"\r\n\r\n" + body).decode("latin-1")


def test_client_that_stalls_after_headers_gets_408_and_frees_the_worker(gateway):
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as s:
        s.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {gateway.key}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\"".encode())
        started = time.monotonic()
        reply = recv_response(s)
        waited = time.monotonic() - started
    assert reply.startswith("HTTP/1.1 408"), reply
    assert '"code":"body_timeout"' in reply
    assert waited < 8  # body_timeout_s is 2 in the test config; the socket timeout is 10
    status, _, _ = http("GET", gateway.url + "/healthz")
    assert status == 200


def test_cors_preflight_and_headers_on_errors(gateway):
    origin = "https://chat.example.com"
    status, headers, _ = http("OPTIONS", gateway.url + CHAT, None, {
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert status == 204
    assert headers["access-control-allow-origin"] == origin
    assert "authorization" in headers["access-control-allow-headers"]
    status, headers, _ = call(gateway, "POST", CHAT, {**GOOD, "model": "nope"}, {"origin": origin})
    assert status == 404 and headers["access-control-allow-origin"] == origin
    assert "x-request-id" in headers["access-control-expose-headers"]


def test_cors_refuses_unlisted_origin_readably_without_serving(gateway, sim):
    """The preflight passes (marked refused), so the page's script can read the 403 that names its
    origin and the setting; the request reaches no upstream and both are in the request log."""
    origin = "https://evil.example"
    status, headers, raw = http("OPTIONS", gateway.url + CHAT, None, {
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert status == 204 and headers["access-control-allow-origin"] == origin and not raw
    assert headers["x-seawall-cors"] == "refused"
    preflight_row = gateway.log_row(headers["x-request-id"])
    assert (preflight_row["status"], preflight_row["category"]) == (204, "network.cors")
    before = sim.stats()
    status, headers, body = call(gateway, "POST", CHAT, GOOD, {"origin": origin})
    error = body["error"]
    assert status == 403 and headers["access-control-allow-origin"] == origin
    assert (error["code"], error["category"], error["request_id"]) == ("cors_origin_not_allowed", "network.cors",
                                                                       headers["x-request-id"])
    assert error["message"] == (f"The origin {origin} may not call this gateway from a browser, so the request was "
                                f"not served. Add {origin} to server.cors_allowed_origins in the gateway config (or "
                                f"start it with seawall serve --cors-origin {origin}); '*' allows any origin.")
    assert sim.stats() == before  # not served: no upstream call
    row = gateway.log_row(headers["x-request-id"])
    assert (row["status"], row["category"], row["error_code"]) == (403, "network.cors", "cors_origin_not_allowed")
    assert row["key_id"] is None  # refused before the key was read, so no key's limits counted it


def test_options_without_an_origin_is_not_a_preflight(gateway):
    status, _, raw = http("OPTIONS", gateway.url + CHAT)
    assert status == 403 and json.loads(raw)["error"]["category"] == "network.cors"


def test_bad_requests_are_logged_with_their_category(gateway):
    _, headers, _ = call(gateway, "POST", CHAT, b"{", {"content-type": "application/json"})
    row = gateway.log_row(headers["x-request-id"])
    assert row["status"] == 400 and row["category"] == "request.invalid" and row["error_code"] == "invalid_json"


@pytest.mark.parametrize("path,code,hint", [
    ("/chat/completions", "route_base_url", "lacks '/v1'"),
    ("/v1/v1/chat/completions", "route_base_url", "'/v1' twice"),
    ("/v1/chat/completions/chat/completions", "route_base_url", "full endpoint"),
    ("/v1/v1/messages", "route_base_url", "'/v1' twice"),
    ("/messages", "route_base_url", "lacks '/v1'"),
])
def test_wrong_routes_name_the_likely_mistake(gateway, path, code, hint):
    status, _, payload = call(gateway, "POST", path, GOOD)
    assert status == 404 and payload["error"]["code"] == code and hint in payload["error"]["hint"]
    assert payload["error"]["category"] == code.replace("route_", "route.")
