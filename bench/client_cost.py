"""What the upstream client costs: CPU per streamed request through aiohttp's ClientSession (as the
transport used it: pooled, no cookie jar, a sock_read timeout) and through Seawall's Transport
(providers/http1.py), against the same local server, in the same run.

    taskset -c 0 .venv/bin/python bench/client_cost.py [--n 4000] [--concurrency 8] [--rounds 3]

The server runs in a subprocess (moved to another core when there is one) and answers every POST
on keep-alive with a ~3.5 KB chunked SSE body: 13 `data:` events and `data: [DONE]`. Each request
is sent and its body read to the end chunk by chunk (next_chunk / readany until b""). CPU is this
process's (time.process_time) over the timed requests, after a warm-up; the clients take turns,
round by round, so a busy machine weighs on both alike. Prints one line per round and the median.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

import orjson

EVENT = orjson.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
                      "model": "gpt-4o-mini", "system_fingerprint": "fp_bench",
                      "choices": [{"index": 0, "delta": {"content": "token " * 5}, "logprobs": None,
                                   "finish_reason": None}]})
REQUEST = orjson.dumps({"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
                        "messages": [{"role": "user", "content": "Say something about benchmarks. " * 4}]})
HEADERS = {"content-type": "application/json", "accept": "text/event-stream", "authorization": "Bearer sk-bench"}


def sse_reply() -> bytes:
    events = [b"data: " + EVENT + b"\n\n"] * 13 + [b"data: [DONE]\n\n"]
    body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n" \
           b"Transfer-Encoding: chunked\r\n\r\n" + body


# -- the server (subprocess) ------------------------------------------------------------------------

class _Answer(asyncio.Protocol):
    """Reads requests (head, then Content-Length bytes) and answers each with the canned reply
    (`reply`: bytes, or a function of the request's path, as bench/passthrough_cost.py uses it)."""

    def __init__(self, reply):
        self.reply_for = reply if callable(reply) else (lambda path: reply)
        self.buf, self.need, self.path = b"", None, b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        while True:
            if self.need is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head, self.buf = self.buf[:end].lower() + b"\r\n", self.buf[end + 4:]
                self.path = head.split(b" ", 2)[1].split(b"?")[0]
                at = head.find(b"\r\ncontent-length:")
                self.need = int(head[at + 17:head.index(b"\r\n", at + 2)]) if at >= 0 else 0
            if len(self.buf) < self.need:
                return
            self.buf, self.need = self.buf[self.need:], None
            self.transport.write(self.reply_for(self.path))


def serve(port_out: int) -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Answer(sse_reply()), "127.0.0.1", 0)
        os.write(port_out, b"%d\n" % server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def start_server() -> tuple[subprocess.Popen, int]:
    read, write = os.pipe()
    mine = os.sched_getaffinity(0)
    others = set(range(os.cpu_count() or 1)) - mine
    preexec = (lambda: os.sched_setaffinity(0, others)) if others else None
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(write)], pass_fds=(write,),
                            preexec_fn=preexec)
    os.close(write)
    with os.fdopen(read) as f:
        port = int(f.readline())
    return proc, port


# -- the clients -------------------------------------------------------------------------------------

async def drive(one, n: int, concurrency: int) -> None:
    left = [n]

    async def worker():
        while left[0] > 0:
            left[0] -= 1
            await one()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def with_aiohttp(url: str):
    import aiohttp

    connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=60, ttl_dns_cache=300)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None),
                                    skip_auto_headers=("User-Agent",), cookie_jar=aiohttp.DummyCookieJar())
    timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=600)  # the old transport's defaults

    async def one():
        resp = await session.request("POST", url, data=REQUEST, headers=HEADERS, timeout=timeout,
                                     allow_redirects=False)
        while await resp.content.readany():
            pass
        resp.release()

    return one, session.close


async def with_transport(url: str):
    from seawall.config import Timeouts
    from seawall.providers.base import UpstreamRequest
    from seawall.providers.transport import Transport

    transport, timeouts = Transport(), Timeouts()

    async def one():
        resp = await transport.open(UpstreamRequest("POST", url, HEADERS, REQUEST), timeouts)
        while await resp.next_chunk():
            pass

    return one, transport.close


async def cost(make, url: str, n: int, concurrency: int) -> float:
    """CPU µs per request."""
    one, close = await make(url)
    try:
        await drive(one, min(n // 10, 500), concurrency)  # warm-up: pools full, caches filled
        started = time.process_time()
        await drive(one, n, concurrency)
        return (time.process_time() - started) / n * 1e6
    finally:
        await close()


async def measure(url: str, n: int, concurrency: int, rounds: int) -> None:
    ratios = []
    for r in range(rounds):
        old = await cost(with_aiohttp, url, n, concurrency)
        new = await cost(with_transport, url, n, concurrency)
        ratios.append(old / new)
        print(f"round {r + 1}: aiohttp {old:6.1f} µs/request, Transport {new:6.1f} µs/request, "
              f"ratio {old / new:.2f}", flush=True)
    print(f"median ratio over {rounds} rounds: {statistics.median(ratios):.2f} (aiohttp / Transport CPU per request)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="timed requests per client and round")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop", help="the gateway runs uvloop")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    if args.loop == "uvloop":
        import uvloop
        uvloop.install()
    proc, port = start_server()
    try:
        size = len(sse_reply())
        print(f"server pid {proc.pid} on 127.0.0.1:{port}; reply {size} bytes; client on CPU(s) "
              f"{sorted(os.sched_getaffinity(0))}, {args.loop}; n={args.n}, concurrency {args.concurrency}")
        asyncio.run(measure(f"http://127.0.0.1:{port}/v1/chat/completions", args.n, args.concurrency, args.rounds))
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
