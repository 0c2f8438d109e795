"""Upstream timeouts end to end: first byte, idle, total, and a model's timeouts applied to its
deployments, through real gateway and simulator processes and the official openai SDK.

This module runs its own simulator and gw: its timeouts are short on purpose, and each
deployment calls its own simulated model, so a fault rule (matched by upstream model id) hits
exactly the deployment a test means.
"""

import openai
import pytest
from conftest import own_stack

HI = [{"role": "user", "content": "hi"}]
MODELS = ["fb-impatient", "fb-patient", "lone-model", "committed-model", "idle-model", "total-model",
          "inherits-model", "overrides-model"]


def dep(port: int, model: str, timeouts: str | None = None) -> str:
    own = f"        timeouts: {{{timeouts}}}\n" if timeouts else ""
    # Circuits never open here: tests fail deployments on purpose, and one must not skip another's.
    return (f"      - provider: openai\n        base_url: http://127.0.0.1:{port}/v1\n        model: {model}\n"
            f"        api_key_env: SIM_KEY\n        name: {model}\n        circuit: {{failures_to_open: 1000, take_out_refused: false}}\n{own}")


def timeouts_config(port: int) -> str:
    return (
        "request_log:\n  flush_interval_s: 0.1\n"
        "models:\n"
        # 0.5 s for the first byte, keep-alives only after 10 s (nothing is sent to the client
        # before the limit fires, so the next deployment can still serve), then a patient one
        "  - name: first-byte\n    deployments:\n"
        f"{dep(port, 'fb-impatient', 'connect_s: 0.5, first_byte_s: 0.5, keepalive_s: 10')}"
        f"{dep(port, 'fb-patient')}"
        "  - name: lone\n    deployments:\n"
        f"{dep(port, 'lone-model', 'connect_s: 0.5, first_byte_s: 0.5, keepalive_s: 10')}"
        # keep-alives from 0.3 s: the stream is committed before its first-byte limit fires
        "  - name: committed\n    deployments:\n"
        f"{dep(port, 'committed-model', 'connect_s: 0.5, first_byte_s: 1, keepalive_s: 0.3')}"
        # idle 0.5 s (written with its alias), but 5 s for the first event
        "  - name: idle\n    deployments:\n"
        f"{dep(port, 'idle-model', 'connect_s: 1, first_byte_s: 5, idle_s: 0.5')}"
        "  - name: total\n    deployments:\n"
        f"{dep(port, 'total-model', 'connect_s: 1, total_s: 1.5')}"
        # the model's block sets the first deployment's limits; the second overrides first_byte_s
        "  - name: per-model\n    timeouts: {connect_s: 0.5, first_byte_s: 0.5, keepalive_s: 10}\n    deployments:\n"
        f"{dep(port, 'inherits-model')}"
        f"{dep(port, 'overrides-model', 'first_byte_s: 10')}"
    )


upstream, gw, sim, client = own_stack("timeouts", timeouts_config,
                                      f"stream_interval_ms: 0\nmodels: {MODELS}\n")


def fault(text: str, *models: str) -> list[dict]:
    return [{"match": {"model": m}, "fault": text} for m in models]


def stream_until_error(client, model: str, **extra):
    """Read a stream through the SDK until it raises; the chunks before, the error, the request ID."""
    chunks = []
    with client.chat.completions.with_streaming_response.create(
            model=model, messages=HI, stream=True, **extra) as raw:
        with pytest.raises(openai.APIError) as e:
            for chunk in raw.parse():
                chunks.append(chunk)  # noqa: PERF402 - the chunks before the error are the point
        return chunks, e.value, raw.headers["x-request-id"]


def test_a_slow_first_byte_falls_back_to_the_next_deployment(client, gw, sim):
    sim.set_faults(fault("latency_ms=3000", "fb-impatient"))  # no status line for 3 s
    raw = client.chat.completions.with_raw_response.create(model="first-byte", messages=HI)
    assert raw.parse().choices[0].message.content
    row = gw.log_row(raw.headers["x-request-id"])
    first, second = row["attempts_detail"]
    assert (first["deployment"], first["category"]) == ("fb-impatient", "upstream.timeout")
    assert first["detail"] == "no first byte for 0.5 s (timeouts.first_byte_s)"
    assert (second["deployment"], second["status"], row["status"]) == ("fb-patient", 200, 200)


def test_a_stream_whose_first_event_is_slow_falls_back_before_anything_is_sent(client, gw, sim):
    sim.set_faults(fault("think_ms=3000", "fb-impatient"))  # headers at once, then silence
    with client.chat.completions.with_streaming_response.create(
            model="first-byte", messages=HI, stream=True) as raw:
        chunks = list(raw.parse())
        request_id = raw.headers["x-request-id"]
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    row = gw.log_row(request_id)
    assert [a["deployment"] for a in row["attempts_detail"]] == ["fb-impatient", "fb-patient"]
    assert row["attempts_detail"][0]["category"] == "upstream.timeout" and row["stream_end"] == "completed"


def test_a_first_byte_timeout_with_nowhere_to_go_names_the_limit_its_value_and_where_it_is_set(client, sim):
    sim.set_faults(fault("latency_ms=3000", "lone-model"))
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="lone", messages=HI)
    body = e.value.body
    assert e.value.status_code == 504 and body["category"] == "upstream.timeout"
    assert body["message"] == ("The upstream lone-model sent no first byte within 0.5 s, the gateway's "
                               "timeouts.first_byte_s for it. Retry with backoff, or stream long generations.")
    assert "models[lone].timeouts.first_byte_s" in body["hint"]  # where it is set: in the hint
    assert "models[lone].timeouts.first_byte_s" in body["hint"] and body["request_id"]


def test_a_first_byte_timeout_after_keepalives_ends_the_stream_with_an_error_event(client, gw, sim):
    sim.set_faults(fault("think_ms=5000", "committed-model"))
    chunks, error, request_id = stream_until_error(client, "committed")
    assert chunks == [] and error.body["category"] == "upstream.timeout"
    assert "timeouts.first_byte_s" in error.body["message"] and error.body["request_id"] == request_id
    row = gw.log_row(request_id)
    assert row["stream_end"] == "first_byte_timeout" and row["category"] == "upstream.timeout"


def test_an_idle_stall_mid_stream_is_a_stalled_error_event_naming_the_idle_limit(client, gw, sim):
    sim.set_faults(fault("stall_after=3", "idle-model"))
    chunks, error, request_id = stream_until_error(client, "idle", max_tokens=50)
    assert chunks and all(c.choices[0].finish_reason is None for c in chunks if c.choices)
    assert error.body["category"] == "stream.stalled"
    assert "no chunk for 0.5 s (timeouts.read_s, the idle timeout)" in error.body["message"]
    row = gw.log_row(request_id)
    assert row["stream_end"] == "stalled" and row["category"] == "stream.stalled"


def test_a_slow_first_event_within_first_byte_s_is_not_an_idle_stall(client, sim):
    sim.set_faults(fault("think_ms=1500", "idle-model"))  # past the 0.5 s idle limit, within 5 s
    chunks = list(client.chat.completions.create(model="idle", messages=HI, stream=True))
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_total_s_cuts_a_long_slow_stream_with_an_error_event_and_marks_the_log(client, gw, sim):
    sim.set_faults(fault("interval_ms=100;tokens=300", "total-model"))  # ~30 s of stream
    chunks, error, request_id = stream_until_error(client, "total", max_tokens=1000)
    assert chunks and all(c.choices[0].finish_reason is None for c in chunks if c.choices)
    assert error.body["category"] == "stream.interrupted" and error.body["code"] == "stream_total_timeout"
    assert "1.5 s, the gateway's timeouts.total_s" in error.body["message"]
    row = gw.log_row(request_id)
    assert row["stream_end"] == "total_timeout" and row["category"] == "stream.interrupted"
    assert row["error_code"] == "stream_total_timeout"


def test_a_short_answer_within_total_s_is_untouched(client, sim):
    chunks = list(client.chat.completions.create(model="total", messages=HI, stream=True, max_tokens=20))
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_a_models_timeouts_apply_to_a_deployment_without_its_own_and_a_deployments_own_win(client, gw,
                                                                                           sim):
    sim.set_faults(fault("latency_ms=1500", "inherits-model", "overrides-model"))
    raw = client.chat.completions.with_raw_response.create(model="per-model", messages=HI)
    assert raw.parse().choices[0].message.content
    row = gw.log_row(raw.headers["x-request-id"])
    first, second = row["attempts_detail"]
    assert first["deployment"] == "inherits-model" and first["category"] == "upstream.timeout"
    assert first["detail"] == "no first byte for 0.5 s (timeouts.first_byte_s)"  # the model's value
    assert (second["deployment"], second["status"]) == ("overrides-model", 200)  # its own 10 s


def test_total_s_before_the_reply_starts_is_an_upstream_timeout_naming_total_s(client, gw, sim):
    sim.set_faults(fault("latency_ms=4000", "total-model"))
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.with_raw_response.create(model="total", messages=HI)
    body = e.value.body
    assert e.value.status_code == 504 and body["category"] == "upstream.timeout"
    assert body["message"] == ("The upstream total-model did not finish its reply within 1.5 s, the gateway's "
                               "timeouts.total_s for it. Retry with backoff, or stream long generations.")
    row = gw.log_row(e.value.response.headers["x-request-id"])
    assert {a["detail"].split(";")[0] for a in row["attempts_detail"]} == {
        "the exchange took longer than 1.5 s (timeouts.total_s)"}
