"""Support bundles (tools/bundle.py): the relevant config and its digest, the verdict taken from
what failed, and a last redaction pass over the whole document."""

import orjson

from seawall.config import parse_settings
from seawall.decide.redact import Redactor
from seawall.store.base import RequestRecord
from seawall.tools.bundle import assemble, config_excerpt, relevant_models, verdict

SECRET = "upstream-secret-abcdef123456"


def settings():
    dep = {"provider": "openai", "base_url": "https://api.example.com/v1", "model": "m", "api_key_env": "K"}
    return parse_settings({"models": [
        {"name": "a", "fallbacks": ["b"], "deployments": [{**dep, "headers": {"Authorization": f"Bearer {SECRET}",
                                                                               "OpenAI-Organization": "org-1"}}]},
        {"name": "b", "deployments": [dep]}, {"name": "c", "deployments": [dep]}]})


def test_the_config_is_the_requested_model_and_its_fallbacks_with_credentials_blanked():
    routes = relevant_models(settings(), "a")
    assert [r.name for r in routes] == ["a", "b"] and relevant_models(settings(), "unknown") == []
    excerpt, digest = config_excerpt(routes)
    headers = excerpt[0]["deployments"][0]["headers"]
    assert headers == {"Authorization": "[redacted]", "OpenAI-Organization": "org-1"}
    assert len(digest) == 64 and config_excerpt(routes)[1] == digest
    assert config_excerpt(relevant_models(settings(), "c"))[1] != digest


def row(**kw) -> RequestRecord:
    return RequestRecord("req_1", 1767225600.0, "POST", "/v1/chat/completions", 502, 12.0, **kw)


def test_the_verdict_reads_the_failing_attempt_else_the_stream_tail():
    capture = {"attempts": [{"status": 429, "reply": {"headers": [["retry-after", "2"]], "body": {
        "text": '{"error": {"message": "Rate limit reached for requests", "type": "requests", '
                '"code": "rate_limit_exceeded"}}'}}}]}
    found = verdict(row(), capture, "openai")
    assert found.category.startswith("rate_limit") and found.wait_seconds == 2
    stream = {"attempts": [{"status": 200, "reply": {"headers": [], "body": None}}],
              "stream": {"end": "interrupted", "events": ['data: {"choices":[{"delta":{"content":"Once"}}]}']}}
    assert verdict(row(), stream, "openai").category == "stream.interrupted"
    assert verdict(row(), None, "openai") is None


def test_assemble_redacts_whatever_part_a_secret_slipped_into():
    capture = {"request": {"body": {"text": "{}"}}, "reply": {"status": 502},
               "attempts": [{"request": {"url": "https://api.example.com/v1/chat/completions",
                                         "headers": [["x-note", SECRET]], "body": None}, "reply": {"headers": []}}]}
    doc = assemble(row(attempts_detail=[{"deployment": "d", "detail": f"key {SECRET} refused"}]), capture, None,
                   "1.2.3", [], "0" * 64, [{"deployment": "d", "host": SECRET}], 1767225600.0, Redactor([SECRET]))
    text = orjson.dumps(doc).decode()
    assert SECRET not in text and text.count("[redacted]") == 4  # detail, header (twice: attempt, as sent), host
    assert doc["generated_at"] == "2026-01-01T00:00:00.000Z" and doc["request_as_sent_upstream"]["url"].endswith(
        "/chat/completions")
    assert assemble(row(), None, None, "1", [], "0" * 64, [], 0.0, Redactor())["note"].startswith("No bodies")
