"""A Responses stream and reply as they pass through: what is read (id, model, usage, how it
ended), what is relayed untouched, and how a stream the gateway must end ends."""

import orjson
import pytest

from seawall.dialects.responses_face import ResponsesFace
from seawall.errors import error
from seawall.providers.base import MalformedReply
from seawall.providers.openai_responses import ResponsesStreamDecoder, read_response

RESPONSE = {"id": "resp_1", "object": "response", "status": "in_progress", "model": "gpt-4o-mini-2024-07-18",
            "output": [], "usage": None}
USAGE = {"input_tokens": 30, "input_tokens_details": {"cached_tokens": 8}, "output_tokens": 5, "total_tokens": 35}


def ev(kind: str, seq: int, **payload) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (kind.encode(), orjson.dumps({"type": kind, "sequence_number": seq,
                                                                       **payload}))


CREATED = ev("response.created", 0, response=RESPONSE) + ev("response.in_progress", 1, response=RESPONSE)
DELTAS = b"".join(ev("response.output_text.delta", i, item_id="msg_1", output_index=0, content_index=0, delta="Hi ")
                  for i in range(2, 6))
DONE = ev("response.completed", 6, response={**RESPONSE, "status": "completed", "usage": USAGE})


def test_a_stream_is_relayed_byte_for_byte_with_its_model_usage_and_end_read():
    decoder = ResponsesStreamDecoder()
    stream = CREATED + DELTAS + DONE
    events = [e for i in range(0, len(stream), 37) for e in decoder.feed(stream[i:i + 37])]
    assert b"".join(e.raw for e in events) == stream
    assert events[0].model == "gpt-4o-mini-2024-07-18" and decoder.response["id"] == "resp_1"
    end = events[-1]
    assert end.terminal and end.error is None
    assert (end.usage.prompt_tokens, end.usage.completion_tokens, end.usage.cache_read_tokens) == (30, 5, 8)
    assert decoder.events == 7


def test_deltas_are_relayed_in_one_piece_unparsed():
    decoder = ResponsesStreamDecoder()
    decoder.feed(CREATED)
    events = decoder.feed(DELTAS)
    assert len(events) == 1 and events[0].raw == DELTAS and events[0].data is None


def test_an_error_event_then_response_failed():
    decoder = ResponsesStreamDecoder()
    decoder.feed(CREATED)
    events = decoder.feed(ev("error", 2, code="server_error", message="boom", param=None) +
                          ev("response.failed", 3, response={**RESPONSE, "status": "failed",
                                                             "error": {"code": "server_error", "message": "boom"}}))
    assert events[0].error["message"] == "boom" and not events[0].terminal
    assert events[1].terminal and events[1].error == {"code": "server_error", "message": "boom"}


def test_a_lifecycle_event_without_its_response_is_malformed():
    with pytest.raises(MalformedReply):
        ResponsesStreamDecoder().feed(ev("response.completed", 0))


def test_a_reply_is_read_with_its_id():
    reply = read_response(orjson.dumps({**RESPONSE, "status": "completed", "usage": USAGE}))
    assert reply.ref == "resp_1" and reply.shape == "responses" and reply.usage.prompt_tokens == 30
    with pytest.raises(MalformedReply):
        read_response(b'{"object": "chat.completion", "choices": []}')


def test_a_passed_through_stream_the_gateway_ends_keeps_the_announced_id_and_numbering():
    face = ResponsesFace()
    face.upstream = ResponsesStreamDecoder()
    face.upstream.feed(CREATED + DELTAS)
    ending = face.error_event(error("stream_interrupted", deployment="openai-main", detail="cut"), "req_1")
    blocks = [b for b in ending.split(b"\n\n") if b]
    kinds = [b.split(b"\n")[0] for b in blocks]
    assert kinds == [b"event: error", b"event: response.failed"]
    failed = orjson.loads(blocks[1].split(b"data: ", 1)[1])
    assert failed["sequence_number"] == 7 and failed["response"]["id"] == "resp_1"
    assert failed["response"]["status"] == "failed" and failed["response"]["error"]["seawall_code"] == \
        "stream_interrupted"
    assert failed["response"]["error"]["request_id"] == "req_1"


def test_before_any_event_only_an_error_event():
    ending = ResponsesFace().error_event(error("stream_interrupted", deployment="d", detail="cut"), "req_2")
    assert ending.startswith(b"event: error\n") and ending.count(b"event: ") == 1
