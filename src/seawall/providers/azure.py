"""Azure OpenAI: OpenAI's bodies and streams behind Azure's URLs and key header.

Config: `base_url` is the resource endpoint, `https://{resource}.openai.azure.com`; `model` is the
Azure *deployment name* (what the portal calls the deployment, not the model behind it);
`api_version` the `api-version` query (default DEFAULT_API_VERSION). Requests go to
`{base_url}/openai/deployments/{deployment}/chat/completions?api-version=…` (and `/embeddings`)
with the key in `api-key` (provider-errors.md §2). An `Authorization` header set in the
deployment's `headers` (an Entra ID token) is sent as given.

Everything else is the OpenAI adapter's, by composition: Azure's replies, streams and error
envelope are OpenAI's (its `code` is often a string status; its content filter answers 400
`content_filter` or ends a stream with `finish_reason: content_filter`, both passed through).
"""

from __future__ import annotations

from urllib.parse import quote

from seawall.config import ResolvedDeployment
from seawall.providers.base import (
    ApiRequest,
    ErrorBody,
    Reply,
    StreamDecoder,
    UpstreamRequest,
    Usage,
)
from seawall.providers.openai import PATHS, OpenAIProvider

# The latest GA data-plane version (learn.microsoft.com, "Azure OpenAI API version lifecycle");
# it takes stream_options.include_usage, which the gateway asks for to settle a stream's usage.
DEFAULT_API_VERSION = "2024-10-21"
class AzureProvider:
    name = "azure"
    family = "openai"
    supports = frozenset({"chat", "embeddings"})
    # Azure OpenAI's deployments serve OpenAI's API but for moderations; its Responses API is its
    # v1 API's, not under the deployment: POST {base_url}/openai/v1/responses, the deployment name
    # as the body's model, no api-version.
    native_operations = frozenset(PATHS) - {"moderations"}

    def __init__(self, openai: OpenAIProvider) -> None:
        self._openai = openai

    def build_request(self, req: ApiRequest, target: ResolvedDeployment,
                      ask_usage: bool = True) -> UpstreamRequest:
        return self._azure(req, target, self._openai.build_request(req, target, ask_usage))

    def build_native(self, req: ApiRequest, target: ResolvedDeployment, ask_usage: bool = True) -> UpstreamRequest:
        return self._azure(req, target, self._openai.build_native(req, target, ask_usage))

    def read_native_reply(self, req: ApiRequest, body: bytes) -> Reply:
        return self._openai.read_native_reply(req, body)

    def native_stream_decoder(self, req: ApiRequest) -> StreamDecoder:
        return self._openai.native_stream_decoder(req)

    def build_responses_call(self, method: str, tail: str, query: str, target: ResolvedDeployment) -> UpstreamRequest:
        """A call naming a stored response (GET, DELETE, cancel, input items), on the v1 API."""
        up = self._openai.build_responses_call(method, tail, query, target)
        return UpstreamRequest(method, f"{target.base_url}/openai/v1{up.url[len(target.base_url):]}",
                               self._key_header(up.headers, target), b"")

    def read_relayed(self, req: ApiRequest, content_type: str, head: bytes) -> Usage | None:
        return self._openai.read_relayed(req, content_type, head)

    def _azure(self, req: ApiRequest, target: ResolvedDeployment, up: UpstreamRequest) -> UpstreamRequest:
        """OpenAI's request behind Azure's URL and key header."""
        version = target.spec.api_version or DEFAULT_API_VERSION
        url = (f"{target.base_url}/openai/deployments/{quote(target.spec.model, safe='')}{PATHS[req.operation]}"
               f"?api-version={quote(version, safe='')}")
        if req.operation == "responses":
            url = f"{target.base_url}/openai/v1/responses"
        return UpstreamRequest(up.method, url, self._key_header(up.headers, target), up.body, up.length)

    @staticmethod
    def _key_header(headers: dict[str, str], target: ResolvedDeployment) -> dict[str, str]:
        """The key in api-key, where OpenAI's adapter put it as a bearer token."""
        headers = dict(headers)
        if target.api_key:
            if headers.get("authorization") == "Bearer " + target.api_key:
                del headers["authorization"]
            headers["api-key"] = target.api_key
        return headers

    def read_reply(self, req: ApiRequest, body: bytes) -> Reply:
        return self._openai.read_reply(req, body)

    def stream_decoder(self) -> StreamDecoder:
        return self._openai.stream_decoder()

    def read_error(self, status: int, body: bytes) -> ErrorBody:
        return self._openai.read_error(status, body)
