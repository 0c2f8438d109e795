"""Golden tests for the Azure OpenAI adapter: Azure's URLs and key header over OpenAI's bodies."""

import orjson
import pytest

from seawall.config import Deployment, ResolvedDeployment, parse_settings
from seawall.providers.azure import DEFAULT_API_VERSION, AzureProvider
from seawall.providers.base import ApiRequest
from seawall.providers.openai import OpenAIProvider

P = AzureProvider(OpenAIProvider())
BASE = "https://contoso.openai.azure.com"


def target(**spec) -> ResolvedDeployment:
    dep = Deployment(**{"provider": "azure", "base_url": BASE, "model": "prod-gpt4o", "api_key_env": "K", **spec})
    return ResolvedDeployment("chat", dep, BASE, "0123456789abcdef0123456789abcdef")


def chat(stream=False, **body):
    return ApiRequest("chat", "gpt-4o", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
                                               "stream": stream, **body}, stream)


def test_deployment_url_default_api_version_and_api_key_header():
    up = P.build_request(chat(temperature=0.1), target())
    assert up.url == f"{BASE}/openai/deployments/prod-gpt4o/chat/completions?api-version={DEFAULT_API_VERSION}"
    assert up.headers["api-key"] == "0123456789abcdef0123456789abcdef" and "authorization" not in up.headers
    assert orjson.loads(up.body) == {"model": "prod-gpt4o", "messages": [{"role": "user", "content": "hi"}],
                                     "stream": False, "temperature": 0.1}


def test_configured_api_version_embeddings_and_stream_usage():
    up = P.build_request(ApiRequest("embeddings", "emb", {"model": "emb", "input": "x"}),
                         target(api_version="2025-04-01-preview", model="emb large"))
    assert up.url == f"{BASE}/openai/deployments/emb%20large/embeddings?api-version=2025-04-01-preview"
    streamed = P.build_request(chat(stream=True), target())
    assert orjson.loads(streamed.body)["stream_options"] == {"include_usage": True}


def test_an_entra_token_in_the_deployment_headers_is_sent_as_given():
    up = P.build_request(chat(), target(headers={"authorization": "Bearer eyJ0eXAi"}))
    assert up.headers["authorization"] == "Bearer eyJ0eXAi"


def test_api_version_written_as_a_bare_yaml_date_is_read_as_text():
    import yaml

    raw = yaml.safe_load(f"models:\n  - name: m\n    deployments:\n      - provider: azure\n        base_url: {BASE}\n"
                         "        model: d\n        api_key_env: K\n        api_version: 2024-10-21\n")
    assert parse_settings(raw).models[0].deployments[0].api_version == "2024-10-21"


AZURE_429 = (b'{"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation under Azure '
             b'OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. '
             b'Please retry after 60 seconds."}}')
FILTERED = orjson.dumps({"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                                              "content management policy.", "type": None, "param": "prompt",
                                   "code": "content_filter", "status": 400,
                                   "innererror": {"code": "ResponsibleAIPolicyViolation"}}})


@pytest.mark.parametrize("status,body,expected", [
    (429, AZURE_429, ("429", None)),
    (400, FILTERED, ("content_filter", "prompt")),
    (401, b'{"error": {"code": "401", "message": "Access denied due to invalid subscription key."}}', ("401", None)),
])
def test_read_error(status, body, expected):
    err = P.read_error(status, body)
    assert (err.code, err.param) == expected and err.message.startswith(orjson.loads(body)["error"]["message"][:20])


def test_stream_prompt_filter_chunk_and_content_filter_finish():
    prompt_filter = (b'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":'
                     b'[{"prompt_index":0,"content_filter_results":{}}]}\n\n')
    stopped = (b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06",'
               b'"choices":[{"index":0,"delta":{},"finish_reason":"content_filter",'
               b'"content_filter_results":{"violence":{"filtered":true,"severity":"high"}}}]}\n\n')
    events = P.stream_decoder().feed(prompt_filter + stopped + b"data: [DONE]\n\n")
    assert events[0].raw == prompt_filter and not events[0].model and not events[0].usage_only
    assert events[1].finish_reason == "content_filter" and events[1].model == "gpt-4o-2024-08-06"
    assert events[-1].terminal


def test_reply_passes_through():
    raw = (b'{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,'
           b'"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],'
           b'"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}')
    reply = P.read_reply(chat(), raw)
    assert reply.body is raw and reply.model == "gpt-4o-2024-08-06" and reply.usage.completion_tokens == 1
