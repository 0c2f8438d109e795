"""Captures (observe/capture.py): which requests are kept, and the redacted document the writer
builds from a request's references; the writer's flush and retention against a real store."""

import orjson
import pytest

from seawall.config import RequestLogSettings
from seawall.decide.redact import Redactor
from seawall.observe.capture import CaptureBuilder, selected, source_of
from seawall.observe.log import RequestLogWriter
from seawall.pipeline.context import Principal, RequestContext
from seawall.providers.base import AttemptRecord, UpstreamRequest
from seawall.store.base import RequestRecord

PROVIDER_KEY = "upstream-secret-0123456789"
CLIENT_KEY = "sk-sw-" + "A" * 40

SELECTION = [  # mode, status, stream_end, kept
    ("failed", 200, None, False), ("failed", 200, "completed", False), ("failed", 200, "interrupted", True),
    ("failed", 429, None, True), ("failed", 499, "client_disconnect", True), ("all", 200, None, True),
    ("off", 500, None, False),
]


@pytest.mark.parametrize("mode,status,end,kept", SELECTION)
def test_selection(mode, status, end, kept):
    assert selected(mode, status, end) is kept


def cut_stream_ctx() -> RequestContext:
    ctx = RequestContext("req_1", "POST", "/v1/messages", {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"},
                         "127.0.0.1")
    ctx.principal = Principal("key_1", "ci")
    ctx.body = orjson.dumps({"model": "claude", "messages": [{"role": "user", "content": "tell me"}]})
    ctx.status, ctx.streamed, ctx.stream_end = 200, True, "interrupted"
    ctx.reply_headers = [(b"x-request-id", b"req_1"), (b"content-type", b"text/event-stream")]
    ctx.prev_sent = b'event: content_block_delta\ndata: {"delta": {"text": "Once"}}\n\n'
    ctx.last_sent = b'event: content_block_delta\ndata: {"delta": {"text": " upon"}}\n\nevent: error\ndata: {"x":1}\n\n'
    ctx.upstream_last = b'event: content_block_delta\ndata: {"delta": {"text": " upon"}}\n\n'
    ctx.attempts = [AttemptRecord("anthropic-main", 200, latency_ms=12.0, request=UpstreamRequest(
        "POST", "https://user:pw@api.example.com/v1/messages", {"x-api-key": PROVIDER_KEY, "anthropic-version": "x"},
        ctx.body), reply_headers={"request-id": "req_up", "x-debug": PROVIDER_KEY})]
    return ctx


def test_a_cut_stream_keeps_its_tail_last_event_and_no_secret():
    builder = CaptureBuilder(Redactor([PROVIDER_KEY], ["messages[*].content"]), 64 * 1024)
    record = builder.build(source_of(cut_stream_ctx()))
    assert (record.request_id, record.key_id) == ("req_1", "key_1")
    assert PROVIDER_KEY not in record.data and CLIENT_KEY not in record.data and "pw@" not in record.data
    doc = orjson.loads(record.data)
    assert ["x-api-key", "[redacted]"] in doc["request"]["headers"]
    assert orjson.loads(doc["request"]["body"]["text"])["messages"][0]["content"] == "[redacted]"
    stream = doc["stream"]
    assert stream["end"] == "interrupted" and stream["complete"] is False
    assert stream["events"][-2:] == ['event: content_block_delta\ndata: {"delta": {"text": " upon"}}',
                                     'event: error\ndata: {"x":1}']
    assert stream["last_event"] == 'event: error\ndata: {"x":1}'
    assert '" upon"' in stream["upstream_last_chunk"]["text"]
    (attempt,) = doc["attempts"]
    assert attempt["request"]["url"] == "https://[redacted]@api.example.com/v1/messages"
    assert ["x-api-key", "[redacted]"] in attempt["request"]["headers"]
    assert ["x-debug", "[redacted]"] in attempt["reply"]["headers"]


def test_bodies_are_cut_at_the_cap():
    ctx = cut_stream_ctx()
    ctx.streamed, ctx.status, ctx.reply_body = False, 502, b'{"error": {"message": "' + b"x" * 5000 + b'"}}'
    doc = orjson.loads(CaptureBuilder(Redactor(), 1000).build(source_of(ctx)).data)
    assert doc["reply"]["body"]["truncated"] is True and len(doc["reply"]["body"]["text"]) == 1000
    assert doc["reply"]["body"]["bytes"] == len(ctx.reply_body) and doc["stream"] is None


async def test_the_writer_captures_selected_requests_and_prunes_old_ones(store):
    settings = RequestLogSettings(capture="failed", capture_retention_days=1)
    writer = RequestLogWriter(store, settings, CaptureBuilder(Redactor([PROVIDER_KEY]), 4096))
    ctx = cut_stream_ctx()
    writer.submit(RequestRecord("req_1", ctx.received_at, "POST", "/v1/messages", 200, 1.0, key_id="key_1"))
    writer.capture(source_of(ctx))
    old = cut_stream_ctx()
    old.request_id, old.received_at = "req_old", ctx.received_at - 2 * 86400
    writer.capture(source_of(old))
    await writer.flush()  # the first flush prunes too: the two-day-old capture goes at once
    assert writer.captured == 2
    assert (await store.get_capture("req_1")).key_id == "key_1"
    assert await store.get_capture("req_old") is None


async def test_pending_captures_are_bounded_by_bytes(store, monkeypatch):
    from seawall.observe import log

    monkeypatch.setattr(log, "MAX_PENDING_CAPTURE_BYTES", 10_000)
    writer = RequestLogWriter(store, RequestLogSettings(), CaptureBuilder(Redactor(), 4096))
    for i in range(3):
        ctx = cut_stream_ctx()
        ctx.request_id, ctx.body = f"req_{i}", b"x" * 4000
        writer.capture(source_of(ctx))
    assert writer.captures_dropped == 1  # the third would pass 10,000 bytes held
    await writer.flush()
    assert writer.captured == 2 and await store.get_capture("req_2") is None
    writer.capture(source_of(cut_stream_ctx()))  # written: the bound counts what is pending, not the past
    assert writer.captures_dropped == 1
