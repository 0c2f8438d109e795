"""What pass-through costs: the gateway's CPU per streamed request and its added latency at c=1,
for an Anthropic client served by an Anthropic deployment (`POST /v1/messages`) beside an OpenAI
client served by an OpenAI deployment (`POST /v1/chat/completions`), for two builds of the
gateway taking turns: `base` (a commit before pass-through, by default 8c1ff7c, extracted with
`git archive` into a temp dir) and `new` (this checkout).

    taskset -c 1 .venv/bin/python bench/passthrough_cost.py [--n 1500] [--rounds 3] [--base 8c1ff7c]

A canned upstream (a subprocess, client_cost.py's server) answers /v1/messages with an Anthropic
stream and /v1/chat/completions with an OpenAI one, each 13 content events, chunked, keep-alive.
Each gateway runs alone on CPU 0 (taskset) on its own port with the same config; the client
(this process, one keep-alive connection, sequential requests) and the upstream share the other
CPU. CPU per request is the gateway process's utime + stime (/proc/<pid>/stat) over the timed
requests; added latency is the client's p50 to the end of the stream through the gateway minus
its p50 straight to the upstream, both measured in the same round. The builds take turns, the
first of a round alternating, so a busy machine weighs on both alike; the new/base column is the
median of each round's ratio. Read the ratios, not the absolute figures. Standard library only; every process started here is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from client_cost import _Answer  # bench/client_cost.py: reads requests, answers each by its path
from processes import free_port

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
KEY = "sk-sw-benchPassthroughKey00000000000000000000"
SYSTEM = "You are a careful reviewer of pull requests for a payments team. " * 8
BODIES = {
    "messages": json.dumps({"model": "claude", "max_tokens": 200, "stream": True, "system": SYSTEM,
                            "messages": [{"role": "user", "content": "Review this change, briefly. " * 4}]}).encode(),
    "chat": json.dumps({"model": "gpt", "max_tokens": 200, "stream": True, "stream_options": {"include_usage": True},
                        "messages": [{"role": "system", "content": SYSTEM},
                                     {"role": "user", "content": "Review this change, briefly. " * 4}]}).encode(),
}
PATHS = {"messages": "/v1/messages", "chat": "/v1/chat/completions"}


# -- the canned upstream (subprocess) -----------------------------------------------------------------

def _anthropic_stream() -> bytes:
    def ev(name: str, data: dict) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"

    events = [ev("message_start", {"type": "message_start", "message": {
        "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 120, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": 1}}}),
        ev("content_block_start", {"type": "content_block_start", "index": 0,
                                   "content_block": {"type": "text", "text": ""}}),
        ev("ping", {"type": "ping"})]
    events += [ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": "token " * 5}})] * 13
    events += [ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                        "stop_sequence": None},
                                    "usage": {"output_tokens": 65}}),
               ev("message_stop", {"type": "message_stop"})]
    return b"".join(events)


def _openai_stream() -> bytes:
    chunk = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
             "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_bench",
             "choices": [{"index": 0, "delta": {"content": "token " * 5}, "logprobs": None, "finish_reason": None}]}
    events = [b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"] * 13
    usage = {**chunk, "choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": 65, "total_tokens": 185}}
    events += [b"data: " + json.dumps(usage, separators=(",", ":")).encode() + b"\n\n", b"data: [DONE]\n\n"]
    return b"".join(events)


def _reply(stream: bytes) -> bytes:
    """The stream as a chunked HTTP/1.1 reply, one chunk per event (as providers send them)."""
    events = [event + b"\n\n" for event in stream.split(b"\n\n")[:-1]]
    body = b"".join(b"%x\r\n%s\r\n" % (len(event), event) for event in events) + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + body


REPLIES = {b"/v1/messages": _reply(_anthropic_stream()), b"/v1/chat/completions": _reply(_openai_stream())}


def serve(port_out: int) -> None:
    async def main():
        server = await asyncio.get_running_loop().create_server(lambda: _Answer(REPLIES.__getitem__), "127.0.0.1", 0)
        os.write(port_out, b"%d\n" % server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


# -- processes --------------------------------------------------------------------------------------


def start_upstream() -> tuple[subprocess.Popen, int]:
    read, write = os.pipe()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(write)], pass_fds=(write,))
    os.close(write)
    with os.fdopen(read) as f:
        return proc, int(f.readline())


def gateway_config(upstream: int) -> str:
    def model(name: str, provider: str, upstream_model: str) -> str:
        return (f"  - name: {name}\n    deployments:\n      - provider: {provider}\n"
                f"        base_url: http://127.0.0.1:{upstream}/v1\n        model: {upstream_model}\n"
                f"        api_key_env: UP_KEY\n")

    return ("request_log:\n  flush_interval_s: 0.5\nmodels:\n" + model("claude", "anthropic", "claude-sonnet-4-5")
            + model("gpt", "openai", "gpt-4o-mini"))


def start_gateway(src: str, config: str, folder: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    with open(os.path.join(folder, "seawall.yaml"), "w") as f:
        f.write(config)
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    log = open(os.path.join(folder, "gateway.log"), "wb")
    proc = subprocess.Popen([*pin, sys.executable, "-m", "seawall", "serve", "--config", os.path.join(folder, "seawall.yaml"),
                             "--port", str(port), "--data-dir", os.path.join(folder, "data")],
                            env={**os.environ, "PYTHONPATH": src, "SEAWALL_BOOTSTRAP_KEY": KEY, "UP_KEY": "sk-up"},
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).status == 200:
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"gateway from {src} did not start; see {folder}/gateway.log")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


# -- the client ---------------------------------------------------------------------------------------

def timed(port: int, endpoint: str, n: int) -> list[float]:
    """Seconds per request, to the end of the stream, on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"content-type": "application/json", "authorization": f"Bearer {KEY}"}
    if endpoint == "messages":
        headers = {"content-type": "application/json", "x-api-key": KEY, "anthropic-version": "2023-06-01"}
    out = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request("POST", PATHS[endpoint], BODIES[endpoint], headers)
        response = conn.getresponse()
        body = response.read()
        out.append(time.perf_counter() - started)
        if response.status != 200 or b"error" in body[-300:]:
            raise RuntimeError(f"{endpoint}: HTTP {response.status}: {body[-300:]!r}")
    conn.close()
    return out


def measure(gateway: tuple[subprocess.Popen, int], upstream: int, endpoint: str, n: int) -> dict:
    proc, port = gateway
    timed(port, endpoint, max(n // 10, 50))  # warm-up: connections, caches, encodings
    before = cpu_seconds(proc.pid)
    through = timed(port, endpoint, n)
    cpu = cpu_seconds(proc.pid) - before
    direct = timed(upstream, endpoint, n)
    return {"cpu_us": cpu / n * 1e6, "p50_us": statistics.median(through) * 1e6,
            "added_p50_us": (statistics.median(through) - statistics.median(direct)) * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1500, help="timed requests per gateway, endpoint and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", default="8c1ff7c", help="the commit to compare with (before pass-through)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    work = tempfile.mkdtemp(prefix="seawall-passthrough-")
    base_src = os.path.join(work, "base-src")
    os.makedirs(base_src)
    archive = subprocess.run(["git", "-C", REPO, "archive", args.base, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", base_src], input=archive, check=True)
    upstream, up_port = start_upstream()
    procs = [upstream]
    results: dict[str, dict[str, list[dict]]] = {"base": {"messages": [], "chat": []}, "new": {"messages": [], "chat": []}}
    try:
        builds = {}
        for name, src in (("base", os.path.join(base_src, "src")), ("new", os.path.join(REPO, "src"))):
            folder = os.path.join(work, name)
            os.makedirs(folder)
            builds[name] = start_gateway(src, gateway_config(up_port), folder)
            procs.append(builds[name][0])
        print(f"upstream :{up_port}; base {args.base} and this checkout, gateways on CPU 0; n={args.n}", flush=True)
        for r in range(args.rounds):
            for name in ("base", "new") if r % 2 == 0 else ("new", "base"):  # neither always goes first
                for endpoint in ("messages", "chat"):
                    got = measure(builds[name], up_port, endpoint, args.n)
                    results[name][endpoint].append(got)
                    print(f"round {r + 1} {name:4} {PATHS[endpoint]:21} CPU {got['cpu_us']:6.1f} µs/request, "
                          f"p50 {got['p50_us']:7.1f} µs, added p50 {got['added_p50_us']:6.1f} µs", flush=True)
        report(results, args)
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict, args) -> None:
    def med(name: str, endpoint: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name][endpoint])

    def paired(endpoint: str, key: str) -> float:
        """The median of each round's new/base ratio: rounds ran back to back, so a busy spell
        weighs on a pair alike."""
        return statistics.median(n[key] / b[key] for b, n in zip(results["base"][endpoint], results["new"][endpoint],
                                                                   strict=True))

    print(f"\nmedians over {args.rounds} rounds       base ({args.base})     new   new/base (paired)")
    for endpoint in ("messages", "chat"):
        for key, label in (("cpu_us", "CPU µs/request"), ("added_p50_us", "added p50 µs")):
            b, n = med("base", endpoint, key), med("new", endpoint, key)
            print(f"{PATHS[endpoint]:21} {label:15} {b:10.1f} {n:10.1f} {paired(endpoint, key):8.2f}")
    ratio = med("new", "messages", "cpu_us") / med("new", "chat", "cpu_us")
    print(f"new: /v1/messages pass-through CPU / /v1/chat/completions CPU = {ratio:.2f}")
    os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
    out = os.path.join(BENCH, "results", time.strftime("passthrough-%Y%m%dT%H%M%SZ.json", time.gmtime()))
    with open(out, "w") as f:
        json.dump({"base": args.base, "n": args.n, "rounds": results}, f, indent=1)
    print(f"raw figures: {out}")


if __name__ == "__main__":
    main()
