"""The connection guard (connections.py) against a real `seawall serve`, over raw sockets: header
floods, slow headers, requests that are not HTTP. Every wait is bounded; nothing here asserts a
latency tighter than a loaded 2-core machine can keep (bench/header_flood.py measures the p99)."""

from __future__ import annotations

import json
import re
import resource
import socket
import statistics
import threading
import time

import pytest

from conftest import http, own_stack

HEADER_TIMEOUT_S = 2
INCOMPLETE = 20


def config(sim_port: int) -> str:
    return (f"server:\n  header_timeout_s: {HEADER_TIMEOUT_S}\n  max_incomplete_per_client: {INCOMPLETE}\n"
            "models:\n  - name: gpt-4o-mini\n    deployments:\n"
            f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
            "        model: gpt-4o-mini\n        api_key_env: SIM_KEY\n")


upstream, gw, sim, client = own_stack("connections", config)


def raw(gw, data: bytes, timeout: float = 5.0, source: str | None = None) -> bytes:
    """Send `data` on a fresh connection and read until the gateway closes it (or `timeout`)."""
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    with s:
        try:
            s.sendall(data)
        except OSError:
            pass  # refused mid-send: read what was answered
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except OSError:
            pass
        return out


def parse(reply: bytes) -> tuple[int, dict, dict]:
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kib / 1024


def cut_counts(gw) -> dict[str, float]:
    text = http("GET", gw.url + "/metrics")[2].decode()
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r'seawall_connections_cut_total\{reason="([a-z_]+)"\} ([0-9.e+]+)', text)}


def models_ok(gw, source: str = "127.0.0.2") -> float:
    """One normal request from another address; its latency in seconds (asserting it succeeded)."""
    started = time.perf_counter()
    reply = raw(gw, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + gw.key.encode() +
                b"\r\nConnection: close\r\n\r\n", timeout=10, source=source)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    return time.perf_counter() - started


PARSE_CASES = [  # id, raw request, what the message or hint names
    ("control character in a header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", "header value"),
    ("space in the path", b"GET /v1/mo dels HTTP/1.1\r\nHost: x\r\n\r\n", "%20"),
    ("non-ASCII path", "GET /v1/mödels HTTP/1.1\r\nHost: x\r\n\r\n".encode(), "non-ASCII"),
    ("control character in the path", b"GET /v1/\x7fmodels HTTP/1.1\r\nHost: x\r\n\r\n", "Percent-encode"),
    ("folded header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n", ""),
    ("bare CR in a header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", ""),
    ("not HTTP at all", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, ""),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ""),
    ("two content-lengths", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                            b"Content-Length: 2\r\n\r\nab", ""),
    ("Content-Length and chunked", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "Transfer-Encoding"),
    ("a bad chunk size", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"zz\r\nab\r\n0\r\n\r\n", ""),
    ("negative Content-Length", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
     "Content-Length"),
    ("NUL in a header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-\x00A: b\r\n\r\n", "header name"),
    ("space before the colon", b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", "header name"),
    ("a header without a colon", b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", "header name"),
    ("8-bit header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-\xe9: b\r\n\r\n", "header name"),
    ("DEL in a header value", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", "header value"),
    ("tab in the path", b"GET /v1/\tmodels HTTP/1.1\r\nHost: x\r\n\r\n", "Percent-encode"),
    ("CR in the path", b"GET /v1/mo\rdels HTTP/1.1\r\nHost: x\r\n\r\n", "CRLF"),
    ("bare LF line ends", b"GET /healthz HTTP/1.1\nHost: x\n\n", "CRLF"),
    ("a bad method", b"G@T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "method"),
    ("HTTP/3.0", b"GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n", "HTTP/2"),
    ("Transfer-Encoding not ending in chunked", b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                                b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", "chunked"),
]


@pytest.mark.parametrize("request_bytes,names", [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES])
def test_what_is_not_http_gets_json_with_a_request_id(gw, request_bytes, names):
    status, headers, payload = parse(raw(gw, request_bytes))
    assert status == 400 and headers["content-type"] == "application/json"
    err = payload["error"]
    assert err["code"] == "bad_http_request" and err["category"] == "request.invalid"
    assert err["request_id"] == headers["x-request-id"] and err["request_id"].startswith("req_")
    assert names in err["message"] + err["hint"]


def test_a_long_request_line_is_414_and_a_large_head_431(gw):
    status, headers, payload = parse(raw(gw, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == 414 and payload["error"]["code"] == "request_line_too_long"
    assert "8192" in payload["error"]["message"] and headers["x-request-id"]
    # sent whole before reading: the answer must survive the unread rest (lingering close)
    status, _, payload = parse(raw(gw, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"))
    assert status == 431 and payload["error"]["code"] == "headers_too_large"
    assert "32768" in payload["error"]["message"]
    # just under the cap is served
    assert raw(gw, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"a" * 30_000 +
               b"\r\n\r\n").startswith(b"HTTP/1.1 200")


def test_405_names_the_allowed_method(gw):
    status, headers, body = http("GET", gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {gw.key}"})
    assert status == 405 and headers["allow"] == "POST"
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


def _flood(gw, size: int, done: list) -> None:
    """Send a `size`-byte header block as fast as the gateway takes it."""
    chunk = b"a" * (1 << 20)
    try:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ")
            sent = 0
            while sent < size:
                s.sendall(chunk)
                sent += len(chunk)
    except OSError:
        pass  # the gateway answered 431 and closed: what it should do
    done.append(True)


def test_a_header_flood_keeps_memory_flat_and_other_clients_served(gw):
    """The issue's bar: 8 clients sending 64 MiB header blocks; RSS stays under 150 MiB (the
    unguarded gateway passed 1 GiB) and a normal client keeps being answered. The p99 of 100 ms
    is measured by bench/header_flood.py, not asserted on a shared test machine."""
    pid = gw.proc.popen.pid
    models_ok(gw)  # warm
    done: list = []
    floods = [threading.Thread(target=_flood, args=(gw, 64 << 20, done)) for _ in range(8)]
    for t in floods:
        t.start()
    peak, latencies = 0.0, []
    deadline = time.monotonic() + 30
    while len(done) < len(floods) and time.monotonic() < deadline:
        peak = max(peak, rss_mib(pid))
        latencies.append(models_ok(gw))
    for t in floods:
        t.join(5)
    assert len(done) == len(floods), "a flooding client was never cut off"
    peak = max(peak, rss_mib(pid))
    assert peak < 150, f"RSS reached {peak:.0f} MiB"
    assert latencies and max(latencies) < 5, latencies  # answered throughout (unguarded: stalls of 7 s)
    assert cut_counts(gw).get("headers_too_large", 0) >= 8
    print(f"peak RSS {peak:.0f} MiB, {len(latencies)} requests during the flood, median "
          f"{statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")


def _slow_connection(gw) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the rest
    return s


def _closed(s: socket.socket) -> bytes | None:
    """What the gateway sent before closing, or None while the connection is still open."""
    s.setblocking(False)
    try:
        data = s.recv(65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""
    finally:
        s.setblocking(True)
    if not data:
        return b""
    s.settimeout(2)
    try:
        while chunk := s.recv(65536):
            data += chunk
    except OSError:
        pass
    return data


def test_slow_headers_are_cut_per_address_then_by_the_header_timeout(gw):
    before = cut_counts(gw)
    slow = [_slow_connection(gw) for _ in range(200)]
    try:
        time.sleep(1.5)  # past the 1 s grace: all but INCOMPLETE of this address's stalled connections are cut
        answers = [_closed(s) for s in slow]
        still_open = [s for s, a in zip(slow, answers) if a is None]
        assert len(still_open) == INCOMPLETE
        refused = [parse(a) for a in answers if a]
        assert refused and all(status == 429 and p["error"]["code"] == "too_many_incomplete"
                               for status, _, p in refused)
        models_ok(gw)  # another address is served meanwhile
        time.sleep(HEADER_TIMEOUT_S)  # and the rest meet the header timeout
        answers = [_closed(s) for s in still_open]
        assert all(a is not None for a in answers), "a connection outlived header_timeout_s"
        status, headers, payload = parse(answers[0])
        assert status == 408 and payload["error"]["code"] == "header_timeout"
        assert headers["x-request-id"] == payload["error"]["request_id"]
    finally:
        for s in slow:
            s.close()
    after = cut_counts(gw)
    assert after["too_many_incomplete"] - before.get("too_many_incomplete", 0) == 200 - INCOMPLETE
    assert after["header_timeout"] - before.get("header_timeout", 0) >= INCOMPLETE
    assert "cut a connection from 127.0.0.1" in gw.proc.output() or "cut connections in the last" in gw.proc.output()


def test_slow_headers_cannot_exhaust_the_file_descriptors(gw):
    """The drill: at an open-file limit of 1,024, ~1,000 connections that never finished their
    headers made 57 of 60 normal requests fail. Here the limit is 200 and 400 such connections
    come from one address; past the 1 s grace all but INCOMPLETE are cut, and another client's
    requests are served."""
    pid = gw.proc.popen.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (200, hard))
    slow: list[socket.socket] = []
    try:
        for _ in range(400):
            try:
                slow.append(_slow_connection(gw))
            except OSError:
                break  # the backlog is full: enough
        time.sleep(1.5)
        latencies = [models_ok(gw) for _ in range(20)]  # each asserts its 200
        assert max(latencies) < 10
    finally:
        for s in slow:
            s.close()
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))


def test_a_connection_that_sends_nothing_is_closed_at_the_header_timeout(gw):
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        started = time.monotonic()
        assert s.recv(100) == b""  # closed without an answer: nobody asked anything
        assert HEADER_TIMEOUT_S - 0.5 < time.monotonic() - started < HEADER_TIMEOUT_S + 5


def test_an_idle_kept_alive_connection_is_not_cut_by_the_header_timeout(gw):
    """Between requests the keep-alive idle limit applies; the head's clock starts at the next
    request's first byte."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(request)
        assert one_response(s).startswith(b"HTTP/1.1 200")
        time.sleep(HEADER_TIMEOUT_S + 1)
        s.sendall(request)
        assert one_response(s).startswith(b"HTTP/1.1 200")
        s.sendall(b"GET /healthz HTTP/1.1\r\n")  # a next request that stalls in its head: 408
        started = time.monotonic()
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
        assert parse(reply)[0] == 408 and time.monotonic() - started < HEADER_TIMEOUT_S + 5


def one_response(s: socket.socket) -> bytes:
    """One response with a Content-Length, read whole from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def test_the_default_limits_are_documented_and_in_the_example_config():
    from seawall.config import ServerSettings, example_config

    defaults = ServerSettings()
    assert (defaults.max_header_bytes, defaults.max_request_line_bytes, defaults.header_timeout_s) == (32768, 8192, 10)
    example = example_config()
    for name in ("max_header_bytes", "max_request_line_bytes", "header_timeout_s", "max_incomplete_per_client",
                 "keepalive_idle_s", "drain_timeout_s"):
        assert f"  {name}: " in example


def test_the_open_file_limit_is_raised_to_the_hard_limit(gw):
    with open(f"/proc/{gw.proc.popen.pid}/limits") as f:
        line = next(line for line in f if line.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    assert soft == hard
