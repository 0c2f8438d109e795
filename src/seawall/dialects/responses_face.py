"""The Responses API as a client dialect ("responses"): what OpenAI's SDKs, the Vercel AI SDK's
default model and OpenAI's Agents SDK send to POST /v1/responses.

One `ResponsesFace` per request (dialects/base.py's ClientDialect, made for the request): a
Responses request passes through to an OpenAI-compatible deployment as it came, and only for a
deployment that can't take it (Anthropic, Gemini, a chat-only one) is it translated, once, by a
ResponsesTurn (dialects/responses_turn.py), which then renders the reply, the stream and the
errors in the client's terms. A stream that breaks ends as the SDK expects whichever way it went:
an `error` event, then `response.failed` with the id `response.created` announced (the gateway's
own translation, or the upstream's, read by providers/openai_responses.py as it passed).

The instance in `DIALECTS` serves only what is rendered before a request has one of its own
(a refused key, a gateway that is not ready).
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from seawall.decide.keys import KeyProblem
from seawall.dialects.openai import OpenAIDialect, error_payload
from seawall.dialects.responses import previous_response_id, refuse
from seawall.dialects.responses_reply import ResponsesStream, failure_events
from seawall.dialects.responses_turn import ResponsesTurn
from seawall.errors import SeawallError, error
from seawall.pipeline.ingress import _required, json_kind, parse_json_object
from seawall.providers.base import ApiRequest
from seawall.providers.openai import FORWARDED
from seawall.providers.openai_responses import ResponsesStreamDecoder
from seawall.providers.passthrough import meaningful_headers

ENDPOINT = "POST /v1/responses"


class ResponsesFace:
    name = "responses"
    keepalive = OpenAIDialect.keepalive
    key_how = OpenAIDialect.key_how

    def __init__(self, earlier: Sequence[dict] = ()) -> None:
        self.earlier = list(earlier)  # a stored conversation this request continues (translated routes)
        self.turn: ResponsesTurn | None = None  # the translation, once a deployment needed it
        self.upstream: ResponsesStreamDecoder | None = None  # a passed-through stream, as relayed so far
        # item_reference ids -> the items the gateway kept (translated responses' output), or None
        self.references: dict[str, dict | None] = {}

    def credential(self, headers: dict[str, str]) -> tuple[str | None, KeyProblem | None]:
        return _OPENAI.credential(headers)

    def parse(self, operation: str, body: bytes, headers: dict[str, str], path_model: str | None) -> ApiRequest:
        data = parse_json_object(body, headers)
        model = _required(data, "model", str, "a string such as \"gpt-4o-mini\"", ENDPOINT)
        stream = data.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise error("invalid_field", param="stream", expected="a boolean", got=json_kind(stream))
        previous_response_id(data)  # its type, before anything looks it up
        return ApiRequest("responses", model, data, stream is True, "responses", stream is True, shape="responses",
                          raw=body, headers=meaningful_headers(headers, FORWARDED))

    def translate(self, req: ApiRequest, lossy: bool = False) -> ApiRequest:
        """The canonical chat request (the 400 naming the field it can't carry), made once."""
        if req.shape != "responses":
            return req
        if self.turn is None:
            self.turn = ResponsesTurn.start(self._resolved(req.body), self.earlier)
        return self.turn.canonical

    def _resolved(self, body: dict) -> dict:
        """The body with each `item_reference` replaced by the item it names (the Vercel AI SDK
        sends earlier turns' items so by default), or the 400 naming one the gateway doesn't hold."""
        items = body.get("input")
        if not isinstance(items, list) or not any(references(items)):
            return body
        out = []
        for i, item in enumerate(items):
            if isinstance(item, dict) and item.get("type") == "item_reference":
                found = self.references.get(item.get("id"))
                if found is None:
                    raise refuse(f"input[{i}].id", f"item_reference {item.get('id')!r} names no item this gateway "
                                                   "kept for this key (only items of responses it translated, within "
                                                   "responses.retention_days); send the item itself instead")
                item = found
            out.append(item)
        return {**body, "input": out}

    def reply(self, req: ApiRequest, canonical: bytes, request_id: str) -> bytes:
        assert self.turn is not None  # a canonical reply answers a translated request
        return self.turn.reply(canonical, request_id)

    def stream(self, request_id: str, model: str) -> ResponsesStream:
        assert self.turn is not None
        return self.turn.stream(request_id, model)

    def error_body(self, err: SeawallError, request_id: str) -> tuple[int, bytes]:
        if self.turn is not None:  # an adapter's refusal, renamed from the chat field to the client's
            return self.turn.error_body(err, request_id)
        return err.status, orjson.dumps(error_payload(err, request_id))

    def error_event(self, err: SeawallError, request_id: str) -> bytes:
        if self.turn is not None:
            return self.turn.error_event(err, request_id)
        if self.upstream is not None:
            return failure_events(err, request_id, self.upstream.response, self.upstream.events)
        return failure_events(err, request_id, None, 0)


_OPENAI = OpenAIDialect()


def references(items: list) -> list[str]:
    """The ids an input's item_reference items name."""
    return [item["id"] for item in items if isinstance(item, dict) and item.get("type") == "item_reference"
            and isinstance(item.get("id"), str)]
