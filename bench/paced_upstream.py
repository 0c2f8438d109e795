#!/usr/bin/env python3
"""A paced OpenAI-style streaming upstream (stdlib only): a stand-in for `seawall simulate` in the TTFB test.

bench/run uses Seawall's simulator as the paced upstream; this server exists so that the TTFB client can be checked
(and the measurement made) when the simulator is not available: `bench/run --ttfb-upstream builtin`.
Every POST answers a chunked SSE stream: a role chunk at once, then CHUNKS content chunks INTERVAL ms apart, a
finish chunk and `data: [DONE]`. Keep-alive HTTP/1.1.

  paced_upstream.py --port 18110 --interval-ms 20 --chunks 10
"""
import argparse
import asyncio
import json
import time


def event(delta: dict, finish=None) -> bytes:
    # x_sim_sent_ns: when it is written (CLOCK_MONOTONIC), as the simulator's stamp_events does
    chunk = {"x_sim_sent_ns": time.monotonic_ns(), "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": int(time.time()),
             "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    data = b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)  # one HTTP chunk per SSE event


async def read_request(reader):
    """The request's head and body, or None when the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


async def serve_stream(writer, interval: float, chunks: int):
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n" + event({"role": "assistant", "content": ""}))
    await writer.drain()
    for i in range(chunks):
        await asyncio.sleep(interval)
        writer.write(event({"content": f" word{i}"}))
        await writer.drain()
    writer.write(event({}, "stop") + b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
    await writer.drain()


def handler(interval: float, chunks: int):
    async def handle(reader, writer):
        try:
            while await read_request(reader) is not None:
                await serve_stream(writer, interval, chunks)
        except ConnectionError:
            pass
        finally:
            writer.close()
    return handle


async def main_async(host, port, interval, chunks):
    server = await asyncio.start_server(handler(interval, chunks), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18110)
    ap.add_argument("--interval-ms", type=float, default=20)
    ap.add_argument("--chunks", type=int, default=10)
    a = ap.parse_args()
    try:
        asyncio.run(main_async(a.host, a.port, a.interval_ms / 1000, a.chunks))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
