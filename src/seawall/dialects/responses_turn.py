"""One Responses request on a translated route, as a client dialect (dialects/base.py's
ClientDialect) made for that request: unlike the other dialects, rendering a reply needs the
request (the settings a `response` echoes, the id `response.created` announced), so the pipeline
takes a `ResponsesTurn` per request instead of a shared instance.

    turn = ResponsesTurn.start(body, earlier, now)     # earlier: the stored conversation's items
    turn.canonical                                     # -> the pipeline, as any dialect's parse
    turn.reply(canonical_bytes, request_id)            # -> the `response` JSON
    turn.stream(request_id, model)                     # -> the StreamTranslator
    turn.error_body(err, request_id)                   # -> OpenAI's envelope, the field renamed
    turn.record(owner, retention_days, now)              # -> what store/conversations.py keeps
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import orjson

from seawall.decide.keys import KeyProblem
from seawall.decide.ownership import Owner
from seawall.dialects.openai import OpenAIDialect, error_payload
from seawall.dialects.responses import ResponsesRequest, read_request
from seawall.dialects.responses_reply import ResponseShell, ResponsesStream, failure_events, new_id, to_response
from seawall.errors import SeawallError
from seawall.providers.base import ApiRequest
from seawall.store.conversations import ConversationRecord, conversation


class ResponsesTurn:
    name = "responses"
    keepalive = OpenAIDialect.keepalive
    key_how = OpenAIDialect.key_how

    def __init__(self, request: ResponsesRequest, earlier: Sequence[dict], shell: ResponseShell) -> None:
        self.request = request
        self.earlier = list(earlier)
        self.shell = shell
        self.response: dict | None = None  # as sent, once the reply or the stream is complete
        self._stream: ResponsesStream | None = None

    @classmethod
    def start(cls, body: dict, earlier: Sequence[dict] = (), now: float | None = None) -> ResponsesTurn:
        """Raises the SeawallError (400, naming the field) of a request that can't be translated."""
        request = read_request(body, earlier)
        now = time.time() if now is None else now
        return cls(request, earlier, ResponseShell(new_id("resp_"), int(now), request.canonical.model, request.echo))

    @property
    def canonical(self) -> ApiRequest:
        return self.request.canonical

    def credential(self, headers: dict[str, str]) -> tuple[str | None, KeyProblem | None]:
        return OpenAIDialect().credential(headers)

    def reply(self, canonical: bytes, request_id: str) -> bytes:
        self.response = to_response(orjson.loads(canonical), self.shell, time.time())
        return orjson.dumps(self.response)

    def stream(self, request_id: str, model: str) -> ResponsesStream:
        self._stream = ResponsesStream(self.shell)
        return self._stream

    def error_body(self, err: SeawallError, request_id: str) -> tuple[int, bytes]:
        named = self.request.client_param(err.param)
        if named != err.param:
            values = dict(err.values)
            if "param" in values:
                values["param"] = named
            err = replace(err, param=named, values=values)
        return err.status, orjson.dumps(error_payload(err, request_id))

    def error_event(self, err: SeawallError, request_id: str) -> bytes:
        """The end of a stream that failed after its first byte: error, then response.failed."""
        if self._stream is not None:
            return self._stream.error_event(err, request_id)
        return failure_events(err, request_id, None, 0)

    def output(self) -> list[dict] | None:
        """The response's output items, once complete (None: it failed or is not over)."""
        if self.response is not None:
            return self.response["output"]
        if self._stream is not None and self._stream.output:
            return self._stream.output
        return None

    def record(self, owner: Owner, retention_days: float, now: float | None = None) -> ConversationRecord | None:
        """The conversation to keep for a later previous_response_id, or None (store: false, or
        no complete answer)."""
        output = self.output()
        if not self.request.store or output is None:
            return None
        response = self.response if self.response is not None else self._stream.final if self._stream else None
        return conversation(self.shell.id, owner.key_id, self.shell.model, self.earlier, self.request.input_items,
                            output, time.time() if now is None else now, retention_days, response, owner.tenant,
                            owner.group)
