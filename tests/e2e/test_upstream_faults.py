"""Upstream failures, injected by the simulator, as the official SDK sees them through the gateway."""

import math
import time

import openai
import pytest

from conftest import http, start_simulator

HI = [{"role": "user", "content": "hi"}]


def rule(fault: str, model: str = "*") -> dict:
    return {"match": {"model": model}, "fault": fault}


def test_upstream_429_with_a_long_wait_is_handed_back_at_once(client, gateway, sim):
    sim.set_faults([rule("status=429;retry_after=30")])
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert time.monotonic() - started < 3  # 30 s is past the gateway's 10 s cap: not slept here
    assert e.value.response.headers["retry-after"] == "30"
    assert e.value.body["category"].startswith("rate_limit.") and e.value.code == "rate_limit_exceeded"
    assert e.value.body["hint"]


def test_upstream_quota_is_not_a_rate_limit_and_tells_sdks_not_to_retry(client, sim):
    sim.set_faults([rule("status=429;error=insufficient_quota")])
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert e.value.body["category"] == "quota.exhausted"
    assert e.value.response.headers["x-should-retry"] == "false"
    assert "retry-after" not in e.value.response.headers


def test_cdn_html_page_is_named_as_such(client, sim):
    sim.set_faults([rule("html=502")])
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert e.value.status_code == 502 and e.value.body["category"] == "upstream.bad_gateway"
    assert "HTML page" in e.value.body["message"] and "proxy or CDN" in e.value.body["message"]


def test_upstream_rejecting_the_provider_key_is_not_the_clients_401(client, sim):
    sim.set_faults([rule("status=401")])
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert e.value.status_code == 502 and e.value.code == "invalid_api_key"
    assert "provider key" in e.value.body["hint"] and "sim-primary" in e.value.body["hint"]


def test_malformed_and_reset_replies_are_502s_with_their_category(client, sim):
    sim.set_faults([rule("malformed")])
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert e.value.body["category"] == "upstream.malformed"
    sim.set_faults([rule("reset")])
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert e.value.body["category"] == "network.connect"


def test_503_falls_back_to_the_next_deployment(client, gateway, sim):
    sim.set_faults([rule("status=503", model="gpt-4.1-mini")])
    raw = client.chat.completions.with_raw_response.create(model="two-sims", messages=HI)
    assert raw.parse().model.startswith("gpt-4o")  # honest: the fallback model served
    row = gateway.log_row(raw.headers["x-request-id"])
    assert [a["deployment"] for a in row["attempts_detail"]] == ["sim-a", "sim-b"]
    assert row["attempts_detail"][0]["category"] == "upstream.overloaded"  # OpenAI's 503 body says so
    assert row["deployment"] == "sim-b" and row["model_served"].startswith("gpt-4o")


def test_a_request_error_never_falls_back(client, gateway, sim):
    sim.set_faults([rule("status=400", model="gpt-4.1-mini")])
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.with_raw_response.create(model="two-sims", messages=HI)
    row = gateway.log_row(e.value.response.headers["x-request-id"])
    assert row["attempts"] == 1 and row["status"] == 400 and row["category"] == "request.invalid"


def test_stream_cut_mid_way_raises_in_the_sdk_and_is_logged(client, gateway, sim):
    sim.set_faults([rule("cut_after=4")])
    with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=HI, max_tokens=50, stream=True) as raw:
        got = []
        with pytest.raises(openai.APIError) as e:
            for chunk in raw.parse():
                got.append(chunk)
        request_id = raw.headers["x-request-id"]
    assert got and all(c.choices[0].finish_reason is None for c in got if c.choices)
    assert e.value.body["category"] == "stream.interrupted" and e.value.body["request_id"] == request_id
    row = gateway.log_row(request_id)
    assert row["stream_end"] == "interrupted" and row["category"] == "stream.interrupted"


def test_stalled_stream_ends_after_the_idle_timeout(client, gateway, sim):
    sim.set_faults([rule("stall_after=3")])
    started = time.monotonic()
    with pytest.raises(openai.APIError) as e:
        list(client.chat.completions.create(model="slow", messages=HI, max_tokens=50, stream=True))
    assert e.value.body["category"] == "stream.stalled"
    assert time.monotonic() - started < 5  # read_s is 1 for the "slow" model


def test_upstream_error_event_mid_stream_reaches_the_sdk(client, sim):
    sim.set_faults([rule("stream_error=server_error;after=3")])
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=50, stream=True))


def test_killing_the_upstream_mid_stream_is_an_error_not_a_short_answer(client, gateway, tmp_path_factory,
                                                                        victim_port):
    victim = start_simulator(tmp_path_factory, "victim", victim_port, "stream_interval_ms: 100\n")
    try:
        stream = client.chat.completions.create(model="victim", messages=HI, max_tokens=200, stream=True)
        received = []
        with pytest.raises(openai.APIError) as e:
            for chunk in stream:
                received.append(chunk)
                if len(received) == 3:
                    victim.proc.stop(9)  # SIGKILL: no goodbye from the upstream
    finally:
        victim.proc.stop()
    assert len(received) >= 3
    assert e.value.body["category"] == "stream.interrupted"


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_client_leaving_a_stream_cancels_the_upstream_call(client, sim):
    sim.set_faults([rule("interval_ms=200")])
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=200, stream=True)
    next(iter(stream))
    assert sim.stats()["in_flight"] == 1
    stream.close()
    assert wait_until(lambda: sim.stats()["in_flight"] == 0, timeout=3)
    assert sim.stats()["requests"]["by_outcome"].get("disconnected") == 1


def test_client_timing_out_cancels_a_hung_upstream_call(gateway, sim):
    sim.set_faults([rule("hang")])
    with openai.OpenAI(base_url=gateway.base_url, api_key=gateway.key, max_retries=0, timeout=1) as c:
        with pytest.raises(openai.APITimeoutError):
            c.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert wait_until(lambda: sim.stats()["in_flight"] == 0, timeout=3)


def test_upstream_403_is_the_gateways_problem_not_the_clients(client, sim):
    sim.set_faults([rule("status=403")])
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert e.value.status_code == 502 and e.value.body["category"] == "permission.region"
    assert "sim-primary" in e.value.body["message"] and "operator" in e.value.body["hint"]


def test_a_passing_failure_is_retried_and_succeeds(client, gateway, sim):
    sim.set_faults([{"match": {"model": "gpt-4.1-nano", "first_n": 1}, "fault": "status=500"}])
    raw = client.chat.completions.with_raw_response.create(model="retryable", messages=HI)
    assert raw.parse().choices[0].message.content
    row = gateway.log_row(raw.headers["x-request-id"])
    assert [a["deployment"] for a in row["attempts_detail"]] == ["sim-retry", "sim-retry"]
    assert row["attempts_detail"][0]["category"] == "upstream.server_error" and row["status"] == 200


def test_a_short_retry_after_is_honoured(client, gateway, sim):
    sim.set_faults([{"match": {"model": "gpt-4.1-nano", "first_n": 1}, "fault": "status=429;retry_after=1"}])
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(model="retryable", messages=HI)
    assert raw.parse().choices[0].message.content
    assert 1.0 <= time.monotonic() - started < 3


def test_full_outage_does_not_multiply_upstream_traffic(gateway, sim):
    sim.set_faults([rule("status=503")])
    client_requests = 60
    started = time.monotonic()
    with openai.OpenAI(base_url=gateway.base_url, api_key=gateway.key, max_retries=0, timeout=20) as c:
        for _ in range(client_requests):
            with pytest.raises(openai.InternalServerError):
                c.chat.completions.create(model="gpt-4o-mini", messages=HI)
    upstream = sim.stats()["requests"]["by_outcome"].get("503", 0)
    # The budget allows retries of 10 % of the requests in its 10 s window, and at least 3 per
    # window: on a slow host the same 60 requests span more windows, each with its floor of 3.
    windows = math.ceil((time.monotonic() - started) / 10) + 1
    assert client_requests <= upstream <= client_requests + max(client_requests * 0.1, 3 * windows)


def test_an_upstream_that_refuses_stream_options_is_asked_again_without_it(client, gateway, sim):
    sim.set_faults([{"match": {"model": "gpt-4o", "first_n": 1}, "fault": "error=unknown_stream_options"}])
    with client.chat.completions.with_streaming_response.create(model="strict", messages=HI, stream=True) as raw:
        chunks = list(raw.parse())
        first_id = raw.headers["x-request-id"]
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    row = gateway.log_row(first_id)
    assert [a["status"] for a in row["attempts_detail"]] == [400, 200] and row["stream_end"] == "completed"
    assert "stream_options" in row["attempts_detail"][0]["detail"]
    # learnt: the next stream to this deployment is sent without it at once (so no usage to log)
    with client.chat.completions.with_streaming_response.create(model="strict", messages=HI, stream=True) as raw:
        list(raw.parse())
        second_id = raw.headers["x-request-id"]
    row = gateway.log_row(second_id)
    assert row["attempts"] == 1 and row["completion_tokens"] is None


def test_a_slow_first_token_keeps_the_connection_alive(client, gateway, sim):
    sim.set_faults([rule("think_ms=1200", model="o4-mini")])
    body = {"model": "thinker", "messages": HI, "stream": True}
    status, headers, raw = http("POST", gateway.url + "/v1/chat/completions", body,
                                {"authorization": f"Bearer {gateway.key}"}, timeout=10)
    text = raw.decode()
    assert status == 200 and text.index(": keep-alive") < text.index("data: ")
    assert text.count(": keep-alive") >= 3  # every 0.3 s for 1.2 s
    assert text.rstrip().endswith("data: [DONE]")
    row = gateway.log_row(headers["x-request-id"])
    assert row["stream_end"] == "completed" and row["ttfb_ms"] >= 1100  # content, not the comments
    # the official SDK skips the comments and reads a normal answer
    chunks = list(client.chat.completions.create(model="thinker", messages=HI, stream=True))
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
