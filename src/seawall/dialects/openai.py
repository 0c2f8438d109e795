"""OpenAI's dialect, the canonical form: parsing is ingress.parse_openai, nothing is translated,
replies and streams go out as they came (the pipeline never calls `reply` or `stream` for it)."""

from __future__ import annotations

import orjson

from seawall.decide.keys import KeyProblem, bearer_token
from seawall.errors import SeawallError
from seawall.pipeline.ingress import parse_openai
from seawall.providers.base import ApiRequest
from seawall.providers.openai import FORWARDED
from seawall.providers.passthrough import meaningful_headers


def error_payload(err: SeawallError, request_id: str) -> dict:
    """OpenAI's envelope, so the official SDKs raise the right class with Seawall's message, plus
    request_id, hint (what to check first) and category (the taxonomy)."""
    return {"error": {"message": err.sdk_message, "type": err.type, "param": err.param,
                      "code": err.provider_code or err.code, "request_id": request_id, "hint": err.hint,
                      "category": err.category}}


class OpenAIDialect:
    name = "openai"
    keepalive = b": keep-alive\n\n"  # an SSE comment: clients skip it, proxies see traffic
    key_how = "'Authorization: Bearer sk-sw-...'"

    def credential(self, headers: dict[str, str]) -> tuple[str | None, KeyProblem | None]:
        token, problem = bearer_token(headers.get("authorization"))
        if problem is not None and problem.code == "missing_api_key" and "x-api-key" in headers:
            return None, KeyProblem("malformed_auth_header", "the key was sent as 'x-api-key'; the OpenAI API "
                                                             "takes 'Authorization: Bearer <key>'")
        return token, problem

    def parse(self, operation: str, body: bytes, headers: dict[str, str], path_model: str | None) -> ApiRequest:
        req = parse_openai(operation, body, headers)
        req.raw = body
        if "openai-beta" in headers or "idempotency-key" in headers:
            req.headers = meaningful_headers(headers, FORWARDED)
        return req

    def translate(self, req: ApiRequest, lossy: bool = False) -> ApiRequest:
        return req

    def reply(self, req: ApiRequest, canonical: bytes, request_id: str) -> bytes:
        return canonical

    def stream(self, request_id: str, model: str) -> None:
        return None

    def error_body(self, err: SeawallError, request_id: str) -> tuple[int, bytes]:
        return err.status, orjson.dumps(error_payload(err, request_id))

    def error_event(self, err: SeawallError, request_id: str) -> bytes:
        return b"data: " + orjson.dumps(error_payload(err, request_id)) + b"\n\n"
