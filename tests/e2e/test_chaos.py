"""Chaos: one deployment failing 30 % of its calls (500, 502, 503, 529 overloaded, 429 with a
Retry-After of 1 s) with a healthy one behind it, then a full outage of every deployment, driven
by the official openai SDK with its own retries off, so whatever the client sees is the gateway's.

Figures are printed (run with -s to see them): latencies are for the note, not asserted; the
success rate and the upstream amplification (a count) are asserted.
"""

import asyncio
import statistics
import time

import openai
import pytest
from conftest import start_gateway, start_simulator

HI = [{"role": "user", "content": "hi"}]
CLIENT_REQUESTS = 1000
CONCURRENCY = 20
FAULTS = ["status=500", "status=502", "status=503", "status=529", "status=429;retry_after=1"]
FAULT_RATE = 0.3


def mixed_faults(model: str, rate: float) -> list[dict]:
    """One probabilistic rule per fault kind, together failing `rate` of the model's calls in equal
    shares. Every rule draws for every call and the first that fires wins, so rule k must fire with
    share / (1 - the shares before it) for each kind to land `share` of all calls."""
    share, before, rules = rate / len(FAULTS), 0.0, []
    for text in FAULTS:
        rules.append({"match": {"model": model, "probability": share / (1 - before)}, "fault": text})
        before += share
    return rules


def dep(port: int, model: str, circuit: str = "") -> str:
    return (f"      - provider: openai\n        base_url: http://127.0.0.1:{port}/v1\n        model: {model}\n"
            f"        api_key_env: SIM_KEY\n        name: {model}\n{circuit}")


# Its circuit would rightly open after 5 failures in a row (at 30 %, a few times per thousand calls)
# and send everything to the backup for a while; kept closed, every client request meets the
# primary first, so every one of its faults has to be absorbed by a fallback.
STAYS_IN_ROTATION = "        circuit: {failures_to_open: 100000, take_out_refused: false}\n"


def chaos_config(port: int) -> str:
    return ("request_log:\n  flush_interval_s: 0.2\n"
            "models:\n"
            f"  - name: chaos\n    deployments:\n{dep(port, 'flaky-primary', STAYS_IN_ROTATION)}{dep(port, 'healthy-backup')}"
            f"  - name: outage\n    deployments:\n{dep(port, 'down-a')}{dep(port, 'down-b')}")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    models = ["flaky-primary", "healthy-backup", "down-a", "down-b"]
    sim = start_simulator(tmp_path_factory, "chaos-sim", config=f"stream_interval_ms: 0\nmodels: {models}\n")
    yield sim
    sim.proc.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream):
    gw = start_gateway(tmp_path_factory, chaos_config(upstream.port), "chaos-gateway")
    yield gw
    gw.proc.stop()


async def one(client: openai.AsyncOpenAI, model: str, stream: bool) -> tuple[bool, float, object]:
    """(succeeded, seconds, the SDK's error or None); a stream counts only if it ran to its end."""
    started = time.perf_counter()
    try:
        if stream:
            finish = None
            async for chunk in await client.chat.completions.create(model=model, messages=HI, stream=True,
                                                                    max_tokens=20):
                if chunk.choices and chunk.choices[0].finish_reason:
                    finish = chunk.choices[0].finish_reason
            ok = finish in ("stop", "length")
        else:
            reply = await client.chat.completions.create(model=model, messages=HI, max_tokens=20)
            ok = bool(reply.choices[0].message.content)
        return ok, time.perf_counter() - started, None
    except openai.APIError as e:
        return False, time.perf_counter() - started, e


async def drive(gateway, model: str, requests: int) -> list[tuple[bool, float, object]]:
    """`requests` calls, every other one streamed, CONCURRENCY at a time."""
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key=gateway.key, max_retries=0,
                                  timeout=30) as client:
        queue = iter(range(requests))
        results: list[tuple[bool, float, object]] = []

        async def worker() -> None:
            for n in queue:
                results.append(await one(client, model, stream=n % 2 == 1))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return results


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def upstream_calls(sim) -> int:
    return sim.stats()["requests"]["total"]


def test_30_percent_faults_on_one_deployment_with_a_healthy_fallback(gateway, upstream):
    upstream.reset()
    upstream.set_faults(mixed_faults("flaky-primary", FAULT_RATE))
    results = asyncio.run(drive(gateway, "chaos", CLIENT_REQUESTS))
    stats = upstream.stats()["requests"]
    upstream.reset()

    succeeded = sum(ok for ok, _, _ in results)
    latencies_ms = sorted(seconds * 1000 for _, seconds, _ in results)
    injected = {k: v for k, v in stats["by_outcome"].items() if k != "ok"}
    print(f"\nchaos: {succeeded}/{len(results)} succeeded ({succeeded / len(results):.2%}); "
          f"p50 {percentile(latencies_ms, 50):.1f} ms, p99 {percentile(latencies_ms, 99):.1f} ms, "
          f"max {latencies_ms[-1]:.1f} ms; upstream calls {stats['total']} by outcome {stats['by_outcome']}")
    failures = [repr(e) for ok, _, e in results if not ok][:5]
    assert len(results) == CLIENT_REQUESTS
    assert succeeded / len(results) >= 0.999, failures
    # the faults really were injected, every kind of them, on about 30 % of the primary's calls
    assert {"500", "502", "503", "529", "429"} <= set(injected), stats["by_outcome"]
    assert sum(injected.values()) >= 0.25 * CLIENT_REQUESTS, stats["by_outcome"]


def test_full_outage_answers_fast_503s_with_retry_after_without_multiplying_upstream_traffic(gateway, upstream):
    upstream.reset()
    upstream.set_faults([{"match": {"model": "down-*"}, "fault": "status=503"}])
    client_requests = CLIENT_REQUESTS // 2
    started = time.perf_counter()
    results = asyncio.run(drive(gateway, "outage", client_requests))
    elapsed = time.perf_counter() - started
    calls = upstream_calls(upstream)
    upstream.reset()

    errors = [e for _, _, e in results]
    assert all(isinstance(e, openai.APIStatusError) and e.status_code == 503 for e in errors), \
        {repr(e) for e in errors}
    with_wait = [e for e in errors if e.response.headers.get("retry-after")]
    circuit_open = [e for e in errors if e.body["category"] == "capacity.circuit_open"]
    latencies_ms = sorted(seconds * 1000 for _, seconds, _ in results)
    ratio = calls / client_requests
    print(f"\noutage: {client_requests} requests in {elapsed:.2f} s, all 503; {len(with_wait)} with Retry-After, "
          f"{len(circuit_open)} capacity.circuit_open; p50 {percentile(latencies_ms, 50):.1f} ms, "
          f"p99 {percentile(latencies_ms, 99):.1f} ms, {sum(ms > 1000 for ms in latencies_ms)} waited > 1 s for a "
          f"circuit to reopen; upstream calls {calls} = {ratio:.3f}x client requests")
    # Once the circuits are open the gateway answers by itself, with the wait until they reopen.
    assert all(int(e.response.headers["retry-after"]) >= 1 for e in circuit_open)
    assert len(circuit_open) >= 0.9 * client_requests
    assert set(circuit_open) <= set(with_wait)
    assert ratio <= 1.1
