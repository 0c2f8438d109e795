"""What the rest of OpenAI's API costs the gateway:

1. CPU per streamed request of a Responses conversation translated for an Anthropic deployment
   (`POST /v1/responses`: Responses -> chat -> Messages, and the stream back the same way) against
   the same conversation on chat completions (`POST /v1/chat/completions` -> Messages), the two
   endpoints taking turns, the first of a round alternating; the ratio is the median of each
   round's responses/chat.
2. The peak RSS a 25 MB transcription upload adds to the gateway (relayed as it arrives, never held
   whole), against a fast upstream and one that reads at 4 MB/s (flow control must hold the
   difference in the client's socket, not in the gateway).

    taskset -c 1 .venv/bin/python bench/responses_cost.py [--n 1500] [--rounds 3]

A canned upstream (a subprocess) answers /v1/messages with an Anthropic stream of 13 content
events and /v1/audio/transcriptions with a transcript after reading the whole upload. The gateway
(this checkout) runs on CPU 0 (taskset); CPU per request is its utime + stime (/proc/<pid>/stat)
over the timed requests; peak RSS is its VmHWM (/proc/<pid>/status) before and after an upload.
Read the ratios, not the absolute figures. Standard library only; every process started here is
stopped by its PID.
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

from passthrough_cost import KEY, _anthropic_stream, _reply, cpu_seconds, start_gateway

BENCH = os.path.dirname(os.path.abspath(__file__))
SYSTEM = "You are a careful reviewer of pull requests for a payments team. " * 8
ASK = "Review this change, briefly. " * 4
BODIES = {  # the same conversation, in each API's words
    "responses": json.dumps({"model": "claude", "stream": True, "instructions": SYSTEM, "max_output_tokens": 200,
                             "input": [{"role": "user", "content": ASK}]}).encode(),
    "unstored": json.dumps({"model": "claude", "stream": True, "instructions": SYSTEM, "max_output_tokens": 200,
                            "store": False, "input": [{"role": "user", "content": ASK}]}).encode(),
    "chat": json.dumps({"model": "claude", "stream": True, "max_completion_tokens": 200,
                        "messages": [{"role": "system", "content": SYSTEM},
                                     {"role": "user", "content": ASK}]}).encode(),
}
PATHS = {"responses": "/v1/responses", "unstored": "/v1/responses", "chat": "/v1/chat/completions"}
ORDER = ("responses", "unstored", "chat")
UPLOAD_MB = 25
TRANSCRIPT = b'{"text": "hello", "usage": {"type": "duration", "seconds": 1}}'


# -- the canned upstream (subprocess) -----------------------------------------------------------------

class _Upstream(asyncio.Protocol):
    """Answers /v1/messages with a stream, /v1/audio/transcriptions with a transcript once its
    Content-Length bytes are in (counted, not kept), reading at `rate` bytes a second (0: at once)."""

    def __init__(self, rate: int):
        self.rate, self.buf, self.need, self.path = rate, b"", None, b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.need is not None:  # an upload's body: counted
            take = min(len(data), self.need)
            self.need -= take
            data = data[take:]
            if self.rate:
                self.transport.pause_reading()
                asyncio.get_running_loop().call_later(take / self.rate, self.transport.resume_reading)
            if self.need:
                return
            self.need = None
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(TRANSCRIPT), TRANSCRIPT))
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head, self.buf = self.buf[:end].lower(), self.buf[end + 4:]
            path = head.split(b" ", 2)[1]
            at = head.find(b"\r\ncontent-length:")
            length = int(head[at + 17:].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if path == b"/v1/audio/transcriptions":
                self.need, rest, self.buf = length, self.buf, b""
                if rest:
                    self.data_received(rest)
                return
            self.buf = self.buf[length:]  # a small JSON body, already here
            self.transport.write(STREAM)


STREAM = _reply(_anthropic_stream())


def serve(port_out: int, rate: int) -> None:
    async def main():
        server = await asyncio.get_running_loop().create_server(lambda: _Upstream(rate), "127.0.0.1", 0)
        os.write(port_out, b"%d\n" % server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def start_upstream(rate: int = 0) -> tuple[subprocess.Popen, int]:
    read, write = os.pipe()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(write), "--rate", str(rate)], pass_fds=(write,))
    os.close(write)
    with os.fdopen(read) as f:
        return proc, int(f.readline())


def gateway_config(upstream: int) -> str:
    return ("request_log:\n  flush_interval_s: 0.5\nmodels:\n"
            "  - name: claude\n    deployments:\n      - provider: anthropic\n"
            f"        base_url: http://127.0.0.1:{upstream}/v1\n        model: claude-sonnet-4-5\n"
            "        api_key_env: UP_KEY\n"
            "  - name: whisper-1\n    deployments:\n      - provider: openai\n"
            f"        base_url: http://127.0.0.1:{upstream}/v1\n        model: whisper-1\n"
            "        api_key_env: UP_KEY\n")


# -- the client ---------------------------------------------------------------------------------------

def timed(port: int, endpoint: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"content-type": "application/json", "authorization": f"Bearer {KEY}"}
    out = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request("POST", PATHS[endpoint], BODIES[endpoint], headers)
        response = conn.getresponse()
        body = response.read()
        out.append(time.perf_counter() - started)
        ended = b"[DONE]" if endpoint == "chat" else b"response.completed"
        if response.status != 200 or body.rfind(ended) < 0:
            raise RuntimeError(f"{endpoint}: HTTP {response.status}: {body[-300:]!r}")
    conn.close()
    return out


def measure(gateway: tuple[subprocess.Popen, int], endpoint: str, n: int) -> dict:
    proc, port = gateway
    timed(port, endpoint, max(n // 10, 50))  # warm-up
    before = cpu_seconds(proc.pid)
    through = timed(port, endpoint, n)
    return {"cpu_us": (cpu_seconds(proc.pid) - before) / n * 1e6, "p50_us": statistics.median(through) * 1e6}


def peak_rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in bytes."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def upload(port: int) -> float:
    """One 25 MB transcription upload, sent in 64 KB writes; seconds to the reply."""
    size = UPLOAD_MB * 1024 * 1024 - 4096  # under OpenAI's 25 MB per file
    head = (b'--B\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            b'--B\r\nContent-Disposition: form-data; name="file"; filename="talk.mp3"\r\n'
            b"Content-Type: audio/mpeg\r\n\r\n")
    tail = b"\r\n--B--\r\n"

    def body():
        yield head
        block = b"\xff\xfb" + bytes(65534)  # MPEG frame sync, then silence
        sent = 0
        while sent < size:
            piece = block[:min(len(block), size - sent)]
            sent += len(piece)
            yield piece
        yield tail

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    conn.request("POST", "/v1/audio/transcriptions", body(), {
        "authorization": f"Bearer {KEY}", "content-type": "multipart/form-data; boundary=B",
        "content-length": str(len(head) + size + len(tail))})
    response = conn.getresponse()
    reply = response.read()
    if response.status != 200:
        raise RuntimeError(f"upload: HTTP {response.status}: {reply[:300]!r}")
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1500, help="timed requests per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.rate)
        return
    work = tempfile.mkdtemp(prefix="seawall-responses-")
    procs: list[subprocess.Popen] = []
    results: dict = {"responses": [], "unstored": [], "chat": [], "uploads": []}
    try:
        upstream, up_port = start_upstream()
        slow, slow_port = start_upstream(rate=4 * 1024 * 1024)
        procs += [upstream, slow]
        os.makedirs(os.path.join(work, "gw"))
        gateway = start_gateway(os.path.join(os.path.dirname(BENCH), "src"), gateway_config(up_port),
                                os.path.join(work, "gw"))
        procs.append(gateway[0])
        print(f"upstream :{up_port}, gateway on CPU 0; n={args.n}", flush=True)
        for r in range(args.rounds):
            for endpoint in ORDER if r % 2 == 0 else ORDER[::-1]:
                got = measure(gateway, endpoint, args.n)
                results[endpoint].append(got)
                print(f"round {r + 1} {endpoint:9} {PATHS[endpoint]:21} CPU {got['cpu_us']:6.1f} µs/request, "
                      f"p50 {got['p50_us']:7.1f} µs", flush=True)
        for name, port in (("fast", up_port), ("4 MB/s", slow_port)):
            os.makedirs(os.path.join(work, name.replace(" ", "").replace("/", "")))
            gw = start_gateway(os.path.join(os.path.dirname(BENCH), "src"), gateway_config(port),
                               os.path.join(work, name.replace(" ", "").replace("/", "")))
            procs.append(gw[0])
            timed(gw[1], "chat", 200)  # warm: the same paths a request takes, before the mark
            rss, hwm = peak_rss(gw[0].pid)
            seconds = upload(gw[1])
            after = peak_rss(gw[0].pid)[1]
            added = max(after - hwm, 0)
            results["uploads"].append({"upstream": name, "rss": rss, "hwm_before": hwm, "hwm_after": after,
                                       "seconds": seconds})
            print(f"25 MB upload, {name} upstream: {seconds:.2f} s, peak RSS {hwm / 2**20:.1f} -> "
                  f"{after / 2**20:.1f} MiB (+{added / 2**20:.1f} MiB, {added / (UPLOAD_MB * 2**20):.1%} of the "
                  f"upload)", flush=True)
        cpu = {e: statistics.median(x["cpu_us"] for x in results[e]) for e in ORDER}
        print(f"\nmedians over {args.rounds} rounds, CPU per streamed request: /v1/responses {cpu['responses']:.1f} µs "
              f"({cpu['unstored']:.1f} µs with store: false), /v1/chat/completions {cpu['chat']:.1f} µs")
        for name in ("responses", "unstored"):
            ratio = statistics.median(r["cpu_us"] / c["cpu_us"] for r, c in zip(results[name], results["chat"],
                                                                                 strict=True))
            print(f"{name}/chat (paired rounds) = {ratio:.2f}")
        os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
        out = os.path.join(BENCH, "results", time.strftime("responses-%Y%m%dT%H%M%SZ.json", time.gmtime()))
        with open(out, "w") as f:
            json.dump({"n": args.n, **results}, f, indent=1)
        print(f"raw figures: {out}")
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
