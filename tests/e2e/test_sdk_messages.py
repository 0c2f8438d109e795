"""What each official SDK prints: `str(exception)`, the one line most users ever see. The SDKs
show only the envelope's `message`, so the next step (the did-you-mean, the key's fix) must be
in it, in every dialect, for errors before a stream and in one."""

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

HI = [{"role": "user", "content": "hi"}]
SUGGESTION = "Did you mean 'gpt-4o-mini'?"


def cut_stream(sim) -> None:
    sim.set_faults([{"match": {"model": "gpt-4o-mini"}, "fault": "cut_after=4"}])


@pytest.fixture
def claude(gateway):
    with anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0, timeout=20) as c:
        yield c


@pytest.fixture
def gemini(gateway):
    return genai.Client(api_key=gateway.key, http_options=types.HttpOptions(
        base_url=gateway.url, api_version="v1beta", timeout=20_000, retry_options=types.HttpRetryOptions(attempts=1)))


@pytest.mark.parametrize("stream", [False, True])
def test_openai_prints_the_suggestion(client, stream):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4o-mni", messages=HI, stream=stream)
    assert SUGGESTION in str(e.value)
    assert "'gpt-4o-mini'" in e.value.body["hint"] and e.value.body["category"] == "model.not_found"
    assert e.value.body["request_id"] == e.value.response.headers["x-request-id"]


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_prints_the_suggestion(claude, stream):
    with pytest.raises(anthropic.NotFoundError) as e:
        claude.messages.create(model="gpt-4o-mni", max_tokens=20, messages=HI, stream=stream)
    assert SUGGESTION in str(e.value)
    assert e.value.body["error"]["category"] == "model.not_found" and e.value.body["request_id"]


@pytest.mark.parametrize("stream", [False, True])
def test_google_genai_prints_the_suggestion(gemini, stream):
    with pytest.raises(genai_errors.ClientError) as e:
        if stream:
            list(gemini.models.generate_content_stream(model="gpt-4o-mni", contents="hi"))
        else:
            gemini.models.generate_content(model="gpt-4o-mni", contents="hi")
    # str() shows the whole body (the hint field too); `message` is what wrappers such as langchain show
    assert e.value.code == 404 and SUGGESTION in e.value.message and SUGGESTION in str(e.value)


def test_openai_prints_the_fix_for_a_providers_key(gateway):
    with openai.OpenAI(base_url=gateway.base_url, api_key="sk-ant-api03-" + "x" * 90, max_retries=0) as c:
        with pytest.raises(openai.AuthenticationError) as e:
            c.models.list()
    assert "Anthropic key, not a Seawall key" in str(e.value)
    assert "Seawall issues its own keys (sk-sw-...)" in str(e.value)


def test_a_cut_stream_tells_each_sdk_to_retry(client, claude, gemini, sim):
    cut_stream(sim)
    with pytest.raises(openai.APIError) as oe:
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True):
            pass
    with pytest.raises(anthropic.APIStatusError) as ae:
        with claude.messages.stream(model="gpt-4o-mini", max_tokens=50, messages=HI) as stream:
            for _ in stream.text_stream:
                pass
    with pytest.raises(genai_errors.APIError) as ge:
        for _ in gemini.models.generate_content_stream(model="gpt-4o-mini", contents="hi"):
            pass
    for printed in (str(oe.value), str(ae.value), ge.value.message):
        assert "ended before it was complete" in printed and "retry the request" in printed, printed
