"""OpenAI's dialect, spoken by OpenAI itself and by OpenAI-compatible gateways (new-api, one-api,
OpenRouter, vLLM, …) and by Seawall's simulator.

Canonical form *is* this dialect, so requests pass with the model id swapped (every other field
kept, those this code has never heard of included), and replies and stream events pass byte for
byte; the adapter only reads what the gateway needs to know (usage, the model that served, how a
stream ended) on the way through. An OpenAI client's request is this adapter's pass-through: its
meaningful headers (OpenAI-Beta, Idempotency-Key) go along too; a request translated from another
dialect carries none.
"""

from __future__ import annotations

import orjson

from seawall.config import ResolvedDeployment
from seawall.decide.classify import read_error_fields
from seawall.providers.base import (
    ApiRequest,
    ErrorBody,
    MalformedReply,
    Reply,
    StreamEvent,
    IO_USAGE,
    UpstreamRequest,
    Usage,
    read_usage,
    reply_json,
)
from seawall.providers import openai_responses as responses
from seawall.providers.passthrough import body_with_model, merged_headers
from seawall.providers.sse import TERMINATOR, SSESplitter, data_of, error_of, json_event

# The operations an OpenAI client's request passes through to, by path. Only chat and embeddings
# also reach other vendors (through the canonical form); the others are OpenAI's API alone, but for
# Responses (translated to chat by dialects/responses_face.py) and image generation (to Gemini's).
PATHS = {"chat": "/chat/completions", "embeddings": "/embeddings", "responses": "/responses",
         "completions": "/completions", "moderations": "/moderations", "images": "/images/generations",
         "image_edits": "/images/edits", "image_variations": "/images/variations", "speech": "/audio/speech",
         "transcriptions": "/audio/transcriptions", "translations": "/audio/translations"}
# What a reply of each JSON operation must hold to be one (else it is malformed, and retried).
_REPLY_LIST = {"chat": "choices", "completions": "choices", "embeddings": "data", "images": "data",
               "image_edits": "data", "image_variations": "data", "moderations": "results"}
# The operations whose streams can carry their usage when asked (stream_options.include_usage).
_USAGE_ON_ASK = frozenset({"chat", "completions"})
# Client headers an OpenAI client's request carries upstream (dialects/openai.py picks them).
FORWARDED = ("openai-beta", "idempotency-key")
_DONE = b"[DONE]"


class OpenAIProvider:
    name = "openai"
    family = "openai"
    supports = frozenset({"chat", "embeddings"})
    native_operations = frozenset(PATHS)

    def build_native(self, req: ApiRequest, target: ResolvedDeployment, ask_usage: bool = True) -> UpstreamRequest:
        """An OpenAI client's own request: as build_request, with its meaningful headers."""
        up = self.build_request(req, target, ask_usage)
        if req.headers:
            up.headers = merged_headers({}, req.headers, up.headers)
        return up

    def read_native_reply(self, req: ApiRequest, body: bytes) -> Reply:
        if req.operation == "responses":
            return responses.read_response(body)
        return self.read_reply(req, body)

    def native_stream_decoder(self, req: ApiRequest) -> OpenAIStreamDecoder | responses.ResponsesStreamDecoder:
        return responses.ResponsesStreamDecoder() if req.operation == "responses" else OpenAIStreamDecoder()

    def build_request(self, req: ApiRequest, target: ResolvedDeployment,
                      ask_usage: bool = True) -> UpstreamRequest:
        if req.upload is not None:
            return self._upload(req, target)
        if req.stream and ask_usage and not req.client_wants_usage and req.operation in _USAGE_ON_ASK:
            # Ask for the usage chunk even when the client didn't, so usage settles exactly;
            # egress drops that chunk again for clients that did not ask for it.
            body = dict(req.body)
            body["model"] = target.spec.model
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
            data = orjson.dumps(body)
        else:
            data = body_with_model(req, target.spec.model)
        headers = {"content-type": "application/json", "accept": "text/event-stream" if req.stream
                   else "application/json"}
        if target.api_key:
            headers["authorization"] = "Bearer " + target.api_key
        headers.update(target.spec.headers)
        return UpstreamRequest("POST", target.base_url + PATHS[req.operation], headers, data)

    def build_responses_call(self, method: str, tail: str, query: str, target: ResolvedDeployment) -> UpstreamRequest:
        """A call naming a stored response: `tail` is "{id}", "{id}/cancel" or "{id}/input_items"."""
        headers = {"authorization": "Bearer " + target.api_key} if target.api_key else {}
        headers.update(target.spec.headers)
        return UpstreamRequest(method, f"{target.base_url}/responses/{tail}" + (f"?{query}" if query else ""),
                               headers, b"")

    def _upload(self, req: ApiRequest, target: ResolvedDeployment) -> UpstreamRequest:
        """A multipart form streamed on as it arrives, its model field renamed for the deployment."""
        upload = req.upload
        asked = req.body.get("model")
        replace = {"model": target.spec.model} if asked is not None and asked != target.spec.model else None
        headers = {"content-type": upload.content_type, "accept": "application/json"}
        if target.api_key:
            headers["authorization"] = "Bearer " + target.api_key
        headers.update(target.spec.headers)
        return UpstreamRequest("POST", target.base_url + PATHS[req.operation], headers, upload.body(replace),
                               upload.content_length(replace))

    def read_reply(self, req: ApiRequest, body: bytes) -> Reply:
        data = reply_json(body)
        expected = _REPLY_LIST.get(req.operation, "data")
        if not isinstance(data, dict) or not isinstance(data.get(expected), list):
            raise MalformedReply(f"a 2xx reply without '{expected}': {body[:120]!r}")
        if req.operation in IMAGE_OPERATIONS:  # per image (DALL-E), or by tokens (GPT Image reports them)
            usage = read_usage(data.get("usage"), IO_USAGE) or Usage()
            usage.images, usage.image_kind = len(data[expected]), image_kind(req.body)
            return Reply(body, usage, data.get("model"))
        return Reply(body, read_usage(data.get("usage")), data.get("model"))

    def read_relayed(self, req: ApiRequest, content_type: str, head: bytes) -> Usage | None:
        """What a reply relayed as bytes (audio, a transcript) was billed: speech by the
        characters spoken, a transcription by the usage its JSON reports (None: not said)."""
        if req.operation == "speech":
            text = req.body.get("input")
            return Usage(characters=len(text)) if isinstance(text, str) else None
        if content_type != "application/json":
            return None  # text, srt, vtt: the estimate stands
        try:
            data = orjson.loads(head)
        except orjson.JSONDecodeError:
            return None
        return read_audio_usage(data) if isinstance(data, dict) else None

    def stream_decoder(self) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder()

    def read_error(self, status: int, body: bytes) -> ErrorBody:
        f = read_error_fields(body)
        param = None
        if f.parsed:
            try:
                err = orjson.loads(body).get("error")
                param = err.get("param") if isinstance(err, dict) else None
            except (orjson.JSONDecodeError, AttributeError):
                pass
        message = f.message or f"HTTP {status} with {'an empty body' if f.is_empty else 'no error message'}"
        return ErrorBody(message, f.type or None, f.code or None, param, body)


class OpenAIStreamDecoder:
    """`data: {chunk}` events, ending with `data: [DONE]`; a `data: {"error": …}` event is an
    in-stream failure at HTTP 200 (provider-errors.md §1.5). A run of plain content events comes
    back as one StreamEvent whose `raw` holds them all, relayed in one piece without being parsed."""

    __slots__ = ("_seen_model", "_split")

    def __init__(self) -> None:
        self._split = SSESplitter()
        self._seen_model = False

    def feed(self, data: bytes) -> list[StreamEvent]:
        blocks = self._split.feed(data)
        out: list[StreamEvent] = []
        i = 0
        while i < len(blocks):
            if self._seen_model:  # the model is known: relay a run of plain content as it is
                end = i
                while end < len(blocks) and is_plain_content(blocks[end]):
                    end += 1
                if end > i:
                    out.append(StreamEvent(TERMINATOR.join(blocks[i:end]) + TERMINATOR))
                    i = end
                    continue
            block = blocks[i]
            i += 1
            payload = data_of(block).strip()
            if payload:
                out.append(self._event(block, payload))
            elif block.strip():  # a comment-only keep-alive: relayed as is
                out.append(StreamEvent(block + TERMINATOR))
        return out

    def _event(self, block: bytes, payload: bytes) -> StreamEvent:
        raw = block + TERMINATOR
        if payload == _DONE:
            return StreamEvent(raw, terminal=True)
        chunk = json_event(payload)
        error = error_of(chunk)
        if error is not None:
            return StreamEvent(raw, chunk, error=error)
        choices = chunk.get("choices") or []
        finish = choices[0].get("finish_reason") if choices and isinstance(choices[0], dict) else None
        self._seen_model = True
        return StreamEvent(raw, chunk, usage=read_usage(chunk.get("usage")), finish_reason=finish,
                           usage_only=not choices and chunk.get("usage") is not None, model=chunk.get("model"))

    @property
    def pending(self) -> bytes:
        return self._split.pending


# How a content chunk ends as OpenAI writes it (compact; `"usage":null` on every chunk once
# include_usage is asked for), after every field but the random `obfuscation` padding OpenAI
# adds last by default: a chunk that ends so carries no usage, finish reason or error, and is
# relayed without being parsed. Anything else is parsed, another server's spacing or field order
# included.
_PLAIN_ENDS = (b'"finish_reason":null}]}', b'"finish_reason":null}],"usage":null}')
_PLAIN_ENDS_PADDED = (b'"finish_reason":null}]', b'"finish_reason":null}],"usage":null')
_PADDING = b',"obfuscation":"'
_DATA_EVENT = b"data: {"


def is_plain_content(block: bytes) -> bool:
    """A single-line `data: {…}` event that ends like a content chunk. Tested at its ends, not by
    searching it for keys: that search was ~7 % of a stream request's CPU."""
    if not block.startswith(_DATA_EVENT) or block.find(b"\n") >= 0:
        return False
    if block.endswith(_PLAIN_ENDS):
        return True
    padding = block.rfind(_PADDING)  # `,"obfuscation":"<letters>"}` closing the chunk
    return padding > 0 and block.find(b'"', padding + len(_PADDING)) == len(block) - 2 and \
        block.endswith(b"}") and block.endswith(_PLAIN_ENDS_PADDED, 0, padding)


IMAGE_OPERATIONS = frozenset({"images", "image_edits", "image_variations"})


def image_kind(body: dict) -> str:
    """The kind an image is priced by, "[quality ]size": "hd 1024x1792", "1024x1024" (DALL-E's
    default size; standard and auto qualities are the base price)."""
    size = body.get("size") if isinstance(body.get("size"), str) and body.get("size") != "auto" else "1024x1024"
    quality = body.get("quality")
    return f"{quality} {size}" if isinstance(quality, str) and quality not in ("standard", "auto") else size


def read_audio_usage(data: dict) -> Usage | None:
    """A transcription's usage: seconds (whisper-1: {"type": "duration", "seconds"}, or a
    verbose_json's duration) or tokens (the GPT-4o transcribe models: {"type": "tokens", …})."""
    usage = data.get("usage")
    if isinstance(usage, dict) and usage.get("type") == "tokens":
        return read_usage(usage, IO_USAGE)
    if isinstance(usage, dict) and isinstance(usage.get("seconds"), (int, float)):
        return Usage(audio_seconds=float(usage["seconds"]))
    duration = data.get("duration")
    return Usage(audio_seconds=float(duration)) if isinstance(duration, (int, float)) else None
