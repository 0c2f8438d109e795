"""`python -m seawall explain` as a user runs it: stdin or a file, text or --json, never a traceback."""

import json
import subprocess
import sys

import pytest

ANTHROPIC_529 = (b"HTTP/1.1 529 \r\nrequest-id: req_011CZuM63Dv3\r\ncontent-type: application/json\r\n\r\n"
                 b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
GEMINI_DAY = json.dumps({"error": {"code": 429, "message": "You exceeded your current quota.",
                                   "status": "RESOURCE_EXHAUSTED", "details": [
                                       {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                                        "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
                                       {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "65205s"}]}})


def seawall(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seawall", "explain", *args], input=stdin, capture_output=True,
                          timeout=60, check=False)


def explained(*args: str, stdin: bytes = b"") -> dict:
    done = seawall(*args, "--json", stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    return json.loads(done.stdout)


def test_dump_on_stdin_as_json():
    doc = explained(stdin=ANTHROPIC_529)
    assert doc["category"] == "upstream.overloaded" and doc["retry"] == "backoff"
    assert (doc["provider"], doc["code"], doc["request_id"]) == ("anthropic", "overloaded_error", "req_011CZuM63Dv3")
    assert doc["wait_seconds"] is None and doc["evidence"] and doc["checks"]


def test_file_argument_and_status_option(tmp_path):
    body = tmp_path / "body.json"
    body.write_text(GEMINI_DAY)
    doc = explained(str(body), "--status", "429")
    assert (doc["category"], doc["retry"], doc["wait_seconds"]) == ("quota.exhausted", "no", None)
    assert doc["provider"] == "gemini" and doc["code"] == "RESOURCE_EXHAUSTED"


def test_dash_reads_stdin_and_headers_provider_url_options():
    doc = explained("-", "--status", "429", "--header", "Retry-After: 12", "--header", "x-request-id: req_cli_1",
                    "--provider", "openai", "--url", "https://api.openai.com/v1/chat/completions",
                    stdin=b'{"error": {"message": "Rate limit reached on requests per min (RPM)", "type": "requests", '
                          b'"param": null, "code": "rate_limit_exceeded"}}')
    assert (doc["category"], doc["wait_seconds"], doc["request_id"]) == ("rate_limit.requests", 12.0, "req_cli_1")


def test_url_host_names_the_provider():
    doc = explained("--status", "401", "--url", "https://api.anthropic.com/v1/messages",
                    stdin=b'{"error": {"type": "authentication_error", "message": "invalid x-api-key"}}')
    assert (doc["provider"], doc["category"]) == ("anthropic", "auth.key_invalid")


def test_client_error_text():
    doc = explained(stdin=b"Error: getaddrinfo ENOTFOUND api.openai.com\n    at GetAddrInfoReqWrap.onlookup")
    assert (doc["category"], doc["retry"]) == ("network.dns", "backoff")


def test_human_output():
    done = seawall(stdin=ANTHROPIC_529)
    assert done.returncode == 0
    out = done.stdout.decode()
    assert "category    upstream.overloaded" in out and "request id  req_011CZuM63Dv3" in out
    assert "check first\n  1. " in out


@pytest.mark.parametrize("stdin", [b"", b"\x00\x01\x02\xff" * 1000, b"HTTP/1.1 429 Too Many Requests\r\nretry-a",
                                   b"no idea what this is"])
def test_bad_input_exits_0_with_an_answer(stdin):
    doc = explained(stdin=stdin)
    assert set(doc) >= {"category", "retry", "wait_seconds", "provider", "code", "evidence", "checks", "request_id"}
    assert doc["evidence"] and doc["checks"]


def test_ten_megabyte_file(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\n\r\n<html><title>502 Bad Gateway</title>"
                    + b"<p>x</p>" * 1_300_000 + b"</html>")
    doc = explained(str(big))
    assert doc["category"] == "upstream.bad_gateway"


def test_missing_file_is_a_clear_error():
    done = seawall("/nonexistent/failure.txt")
    assert done.returncode == 2 and b"cannot read /nonexistent/failure.txt" in done.stderr
    assert b"Traceback" not in done.stderr


def test_bad_status_option_is_a_usage_error():
    done = seawall("--status", "abc")
    assert done.returncode == 2 and b"Traceback" not in done.stderr
