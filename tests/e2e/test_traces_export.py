"""Traces over OTLP: a gateway with `traces:` on exports to a receiver started here (tests/otlp_receiver.py)
one SERVER span per request and one CLIENT span per upstream attempt, with the GenAI attributes, and
continues the caller's trace to the provider (the simulator records the traceparent it received)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import http, start_gateway, start_simulator
from tests.otlp_receiver import OTLPReceiver

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def config(sim_port: int, endpoint: str, sampling: str = "") -> str:
    def dep(model: str, name: str) -> str:
        return (f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n        model: {model}\n"
                f"        api_key_env: SIM_KEY\n        name: {name}\n"
                f"        circuit: {{failures_to_open: 1000, take_out_refused: false}}\n")

    return ("request_log:\n  flush_interval_s: 0.1\n"
            f"traces:\n  enabled: true\n  endpoint: {endpoint}\n  batch_delay_s: 0.1\n"
            f"  service_name: seawall-under-test\n  headers: {{x-tenant: team-a}}\n{sampling}"
            "models:\n"
            f"  - name: gpt-4o-mini\n    deployments:\n{dep('gpt-4o-mini', 'sim-main')}"
            f"  - name: retryable\n    deployments:\n{dep('gpt-4.1-nano', 'sim-retry')}")


@pytest.fixture(scope="module")
def receiver():
    r = OTLPReceiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = start_simulator(tmp_path_factory, "traces-sim")
    yield s
    s.proc.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, sim, receiver):
    g = start_gateway(tmp_path_factory, config(sim.port, receiver.endpoint), "traces-gateway")
    yield g
    g.proc.stop()


@pytest.fixture(scope="module")
def gw_unsampled(tmp_path_factory, sim, receiver):
    g = start_gateway(tmp_path_factory, config(sim.port, receiver.endpoint, "  sample_ratio: 0\n"), "traces-sampled")
    yield g
    g.proc.stop()


@pytest.fixture(autouse=True)
def clean(sim):
    sim.reset()
    yield
    sim.reset()


def chat(gw, model: str = "gpt-4o-mini", stream: bool = False, headers: dict | None = None):
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello"}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return http("POST", gw.base_url + "/chat/completions", body,
                {"authorization": f"Bearer {gw.key}", **(headers or {})})


def upstream_traceparents(sim) -> list[str]:
    requests = json.loads(http("GET", sim.url + "/_sim/requests")[2])["requests"]
    return [r["headers"]["traceparent"] for r in requests
            if r["path"] == "/v1/chat/completions" and "traceparent" in r["headers"]]


def test_a_request_is_one_server_span_and_one_client_span_continuing_the_callers_trace(gw, sim, receiver):
    status, headers, body = chat(gw, headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    assert status == 200, body
    reply = json.loads(body)
    server, clients = receiver.trace_of(headers["x-request-id"], 1)

    assert server["kind"] == "SERVER" and server["name"] == "POST /v1/chat/completions"
    assert server["trace_id"] == CALLER_TRACE and server["parent_span_id"] == CALLER_SPAN
    assert len(clients) == 1
    client = clients[0]
    assert client["trace_id"] == CALLER_TRACE and client["name"] == "chat gpt-4o-mini"
    a = client["attributes"]
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.system"] == "openai" and a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.response.model"] == reply["model"]
    assert a["gen_ai.usage.input_tokens"] == reply["usage"]["prompt_tokens"]
    assert a["gen_ai.usage.output_tokens"] == reply["usage"]["completion_tokens"]
    assert a["gen_ai.response.finish_reasons"] == [reply["choices"][0]["finish_reason"]]
    assert a["http.response.status_code"] == 200 and a["server.address"] == "127.0.0.1"
    assert a["seawall.deployment"] == "sim-main"

    s = server["attributes"]
    assert s["seawall.request_id"] == headers["x-request-id"]
    assert s["http.request.method"] == "POST" and s["http.response.status_code"] == 200
    assert s["gen_ai.request.model"] == "gpt-4o-mini" and s["gen_ai.response.model"] == reply["model"]
    assert s["gen_ai.usage.input_tokens"] == reply["usage"]["prompt_tokens"]
    assert s["gen_ai.usage.output_tokens"] == reply["usage"]["completion_tokens"]
    assert "error.type" not in s and server["resource"]["service.name"] == "seawall-under-test"
    assert client["start"] >= server["start"] and client["end"] <= server["end"]

    # the provider received the attempt's span as the parent: the trail goes on from there
    assert upstream_traceparents(sim)[-1] == f"00-{CALLER_TRACE}-{client['span_id']}-01"
    assert receiver.headers[-1]["x-tenant"] == "team-a"  # the configured export headers


def test_a_stream_reports_its_usage_and_finish_reason(gw, receiver):
    status, headers, body = chat(gw, stream=True)
    assert status == 200
    chunks = [json.loads(line[6:]) for line in body.decode().splitlines()
              if line.startswith("data: {")]
    usage = next(c["usage"] for c in chunks if c.get("usage"))
    reason = next(ch["finish_reason"] for c in chunks for ch in c["choices"] if ch.get("finish_reason"))
    server, (client,) = receiver.trace_of(headers["x-request-id"], 1)
    assert server["parent_span_id"] == ""  # no traceparent came: a trace of its own
    for span in (server, client):
        a = span["attributes"]
        assert a["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
        assert a["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
        assert a["gen_ai.response.finish_reasons"] == [reason]
    assert server["attributes"]["gen_ai.request.stream"] is True
    assert server["attributes"]["seawall.stream_end"] == "completed"


def test_a_retried_request_has_a_client_span_per_attempt(gw, sim, receiver):
    sim.set_faults([{"match": {"model": "gpt-4.1-nano", "first_n": 1}, "fault": "status=503"}])
    status, headers, body = chat(gw, model="retryable", headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    assert status == 200, body
    server, clients = receiver.trace_of(headers["x-request-id"], 2)
    assert len(clients) == 2
    failed, served = clients
    assert failed["attributes"]["http.response.status_code"] == 503
    assert failed["attributes"]["error.type"].startswith("upstream.")  # the gateway's category
    assert failed["status"] == 2  # STATUS_CODE_ERROR
    assert served["attributes"]["http.response.status_code"] == 200 and "error.type" not in served["attributes"]
    assert server["attributes"]["seawall.attempts"] == 2 and "error.type" not in server["attributes"]
    # each attempt told the provider its own span
    assert upstream_traceparents(sim)[-2:] == [f"00-{CALLER_TRACE}-{c['span_id']}-01" for c in clients]


def test_a_refused_request_names_its_error_category(gw, receiver):
    status, headers, _ = chat(gw, model="no-such-model")
    assert status == 404
    server, clients = receiver.trace_of(headers["x-request-id"], 0, timeout=3)
    assert clients == []
    assert server["attributes"]["error.type"] == "model.not_found"
    assert server["attributes"]["http.response.status_code"] == 404


def test_sampled_out_makes_no_spans_but_a_callers_sampled_trace_is_followed(gw_unsampled, sim, receiver):
    status, left_out, _ = chat(gw_unsampled)
    assert status == 200
    status, followed, _ = chat(gw_unsampled, headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    assert status == 200
    server, (client,) = receiver.trace_of(followed["x-request-id"], 1)
    assert server["trace_id"] == CALLER_TRACE and upstream_traceparents(sim)[-1].endswith(f"{client['span_id']}-01")
    # exported after the followed one's (one batch or an earlier one): none came for it
    assert not [s for s in receiver.spans if s["attributes"].get("seawall.request_id") == left_out["x-request-id"]]
    assert len(upstream_traceparents(sim)) == 1  # the left-out request sent none upstream
