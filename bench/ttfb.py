#!/usr/bin/env python3
"""Time to first chunk, and the arrival of every chunk, of streamed chat completions (stdlib only).

wrk times a response to its last byte, so it cannot tell a gateway that streams from one that buffers the whole
answer and sends it at the end. This client can: against a paced upstream (the simulator sending one chunk every
20 ms) it records, for each stream, when every SSE `data:` event arrives. Streams are sequential (c=1) on one
keep-alive connection per target, and the targets take turns (A B, B A, A B, ...) so that drift of the machine
affects them alike. The first target is the baseline (the direct call); every other target is compared with it
stream by stream.

  ttfb.py --target direct=http://127.0.0.1:18110 --model direct=gpt-4o-mini \\
          --target seawall=http://127.0.0.1:18101 --model seawall=sim-stream --auth 'seawall=Bearer sk-sw-...' \\
          --streams 200 --json out.json
"""
import argparse
import asyncio
import json
import re
import statistics
import sys
import time
import urllib.parse

WARMUP_STREAMS = 5  # per target, discarded: first connection, the gateway's upstream pool, caches
# A paced upstream that stamps its events (the simulator's stamp_events, paced_upstream.py) puts the
# CLOCK_MONOTONIC time it wrote each one in it; this client reads the same clock as each arrives.
SENT_STAMP = re.compile(r'"x_sim_sent_ns":(\d+)')


# ---------------------------------------------------------------- HTTP/1.1 + SSE on a raw socket
class Connection:
    """One keep-alive HTTP/1.1 connection; reopened when the server closes it. Not shared between tasks."""

    def __init__(self, url: str):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.base = u.hostname, u.port or 80, u.path.rstrip("/")
        self.reader = self.writer = None

    async def ensure_open(self):
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.writer = None


def request_bytes(conn: Connection, model: str, auth: str) -> bytes:
    body = json.dumps({"model": model, "stream": True, "max_tokens": 64,
                       "messages": [{"role": "user", "content": "Hello, how are you today?"}]}).encode()
    head = (f"POST {conn.base}/v1/chat/completions HTTP/1.1\r\nHost: {conn.host}:{conn.port}\r\n"
            f"Content-Type: application/json\r\nAccept: text/event-stream\r\nAuthorization: {auth}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def parse_head(head: bytes):
    """Status code and lower-cased headers of a response head (bytes up to the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


async def body_pieces(reader, headers):
    """Yield the body as it arrives: chunked, Content-Length, or until the server closes."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected: the empty line ends the message
                return
            data = await reader.readexactly(size + 2)
            yield data[:-2]
    elif "content-length" in headers:
        left = int(headers["content-length"])
        while left > 0:
            data = await reader.read(min(left, 65536))
            if not data:
                raise ConnectionError("closed before Content-Length was read")
            left -= len(data)
            yield data
    else:
        while data := await reader.read(65536):
            yield data


class SseEvents:
    """Splits a byte stream into SSE events (blank-line separated) and keeps the `data:` of each."""

    def __init__(self):
        self.buf = b""

    def feed(self, data: bytes) -> list[str]:
        self.buf += data.replace(b"\r\n", b"\n")
        out = []
        while b"\n\n" in self.buf:
            event, self.buf = self.buf.split(b"\n\n", 1)
            datas = [ln[5:].strip() for ln in event.split(b"\n") if ln.startswith(b"data:")]
            if datas:
                out.append(b"\n".join(datas).decode("utf-8", "replace"))
        return out


async def one_stream(conn: Connection, model: str, auth: str) -> dict:
    """One streamed request. Times are seconds from just before the request is written."""
    await conn.ensure_open()
    events = SseEvents()
    arrivals, transits, done = [], [], False
    t0 = time.perf_counter()
    conn.writer.write(request_bytes(conn, model, auth))
    head = await conn.reader.readuntil(b"\r\n\r\n")
    t_head = time.perf_counter() - t0
    status, headers = parse_head(head)
    async for piece in body_pieces(conn.reader, headers):
        now, now_ns = time.perf_counter() - t0, time.monotonic_ns()
        for data in events.feed(piece):
            if data == "[DONE]":
                done = True
            else:
                arrivals.append(now)
                if stamp := SENT_STAMP.search(data):
                    transits.append((now_ns - int(stamp.group(1))) / 1e9)
    total = time.perf_counter() - t0
    if headers.get("connection", "").lower() == "close" or "content-length" not in headers and \
            "chunked" not in headers.get("transfer-encoding", "").lower():
        await conn.close()
    return {"status": status, "head_s": t_head, "arrivals_s": arrivals, "done": done, "total_s": total,
            "transits_s": transits if len(transits) == len(arrivals) else []}


# ---------------------------------------------------------------- statistics (pure)
def percentile(xs, q):
    """Linear-interpolated percentile (q in 0..100) of a non-empty sequence."""
    s = sorted(xs)
    if not s:
        return None
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def gaps(arrivals):
    return [b - a for a, b in zip(arrivals, arrivals[1:])]


def ms(x):
    return None if x is None else round(x * 1000, 3)


def summarize_target(streams, gap_ref_s):
    """Per target: first-chunk latency and inter-chunk gaps over the successful streams.

    bunched: gaps shorter than a quarter of the baseline's median gap, i.e. chunks that arrived together. The
    upstream itself may send a few back to back (e.g. the last content chunk and the finish chunk), so compare a
    gateway's share with the baseline's."""
    ok = [s for s in streams if s["status"] == 200 and s["arrivals_s"]]
    first = [s["arrivals_s"][0] for s in ok]
    all_gaps = [g for s in ok for g in gaps(s["arrivals_s"])]
    # From the upstream's write to this client's read (stamped upstreams only): the issue's "the first
    # streamed chunk reaches the client no later than 1 ms after it leaves the upstream".
    stamped = [s["transits_s"] for s in ok if s.get("transits_s")]
    first_transit = [t[0] for t in stamped]
    all_transits = [x for t in stamped for x in t]
    bunched = sum(g < gap_ref_s / 4 for g in all_gaps) if gap_ref_s else None
    return {"streams": len(streams), "ok": len(ok), "done_seen": sum(s["done"] for s in ok),
            "chunks_per_stream": statistics.median(len(s["arrivals_s"]) for s in ok) if ok else None,
            "first_chunk_p50_ms": ms(percentile(first, 50)), "first_chunk_p99_ms": ms(percentile(first, 99)),
            "gap_mean_ms": ms(statistics.fmean(all_gaps)) if all_gaps else None,
            "gap_p50_ms": ms(percentile(all_gaps, 50)), "gap_min_ms": ms(min(all_gaps)) if all_gaps else None,
            "total_p50_ms": ms(percentile([s["total_s"] for s in ok], 50)),
            "stamped_streams": len(stamped),
            "first_transit_p50_ms": ms(percentile(first_transit, 50)),
            "first_transit_p99_ms": ms(percentile(first_transit, 99)),
            "transit_p50_ms": ms(percentile(all_transits, 50)), "transit_p99_ms": ms(percentile(all_transits, 99)),
            "bunched_gaps_pct": round(100 * bunched / len(all_gaps), 2) if all_gaps and bunched is not None else None}


def compare(base_streams, streams):
    """Stream i of a target against stream i of the baseline (they ran back to back).

    first_chunk_diff: how much later the first `data:` event came than the direct call's.
    chunk_lag: the same for every chunk k (paired by index): constant if the gateway streams, growing if it buffers."""
    pairs = [(b, s) for b, s in zip(base_streams, streams)
             if b["status"] == s["status"] == 200 and b["arrivals_s"] and s["arrivals_s"]]
    first_diff = [s["arrivals_s"][0] - b["arrivals_s"][0] for b, s in pairs]
    lag = [y - x for b, s in pairs for x, y in zip(b["arrivals_s"], s["arrivals_s"])]
    last_lag = [s["arrivals_s"][-1] - b["arrivals_s"][-1] for b, s in pairs]
    return {"pairs": len(pairs),
            "first_chunk_diff_p50_ms": ms(percentile(first_diff, 50)),
            "first_chunk_diff_p99_ms": ms(percentile(first_diff, 99)),
            "chunk_lag_p50_ms": ms(percentile(lag, 50)), "chunk_lag_p99_ms": ms(percentile(lag, 99)),
            "last_chunk_lag_p50_ms": ms(percentile(last_lag, 50))}


def summarize(names, results):
    """results: {name: [stream, ...]} in the same order for every target; names[0] is the baseline."""
    base = names[0]
    base_gaps = [g for s in results[base] if s["status"] == 200 for g in gaps(s["arrivals_s"])]
    gap_ref = percentile(base_gaps, 50) if base_gaps else None
    out = {"baseline": base, "targets": {}}
    for n in names:
        out["targets"][n] = summarize_target(results[n], gap_ref)
        if n != base:
            out["targets"][n]["vs_baseline"] = compare(results[base], results[n])
    return out


# ---------------------------------------------------------------- driver
async def measure(targets, streams, warmup=WARMUP_STREAMS):
    """targets: list of (name, url, model, auth). Sequential, alternating order; returns {name: [stream, ...]}."""
    conns = {name: Connection(url) for name, url, _, _ in targets}
    results = {name: [] for name, *_ in targets}
    try:
        for i in range(warmup + streams):
            order = targets if i % 2 == 0 else targets[::-1]
            for name, _, model, auth in order:
                try:
                    r = await one_stream(conns[name], model, auth)
                except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                    await conns[name].close()
                    r = {"status": 0, "error": f"{type(e).__name__}: {e}", "arrivals_s": [], "done": False,
                         "head_s": None, "total_s": None}
                if i >= warmup:
                    results[name].append(r)
    finally:
        for c in conns.values():
            await c.close()
    return results


def parse_pairs(items):
    return dict(x.split("=", 1) for x in items)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", action="append", required=True, metavar="NAME=URL",
                    help="base URL (POST URL/v1/chat/completions); the first one is the baseline")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=MODEL", help="default gpt-4o-mini")
    ap.add_argument("--auth", action="append", default=[], metavar="NAME=VALUE", help="default 'Bearer dummy'")
    ap.add_argument("--streams", type=int, default=200, help="measured streams per target")
    ap.add_argument("--json", help="write the summary and the raw arrival times here")
    a = ap.parse_args()
    models, auths = parse_pairs(a.model), parse_pairs(a.auth)
    targets = [(n, u, models.get(n, "gpt-4o-mini"), auths.get(n, "Bearer dummy"))
               for n, u in (t.split("=", 1) for t in a.target)]
    names = [t[0] for t in targets]
    results = asyncio.run(measure(targets, a.streams))
    errors = {n: [s.get("error") or f"HTTP {s['status']}" for s in results[n] if s["status"] != 200][:3]
              for n in names}
    summary = summarize(names, results)
    summary["errors"] = {n: e for n, e in errors.items() if e}
    print(json.dumps(summary, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": summary, "raw": results}, f)
    ok = all(summary["targets"][n]["ok"] for n in names)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
