#!/usr/bin/env python3
"""Micro-measurements behind Seawall's library choices, on this machine.

1. JSON: encode and decode a typical chat request (about 1 KB), a chat completion reply and one stream chunk with
   the standard library's json, orjson, and msgspec when importable (bench/run installs it into a throwaway folder
   given with --extra-path; it is not a dependency of Seawall).
2. Event loop: asyncio's default loop vs uvloop for a tight `await asyncio.sleep(0)` loop, a create_task + await
   loop, and a 1 KB request/response ping-pong over one loopback TCP connection (what a proxy mostly does).

Prints ops/s and the ratio to the stdlib (json, asyncio) for each. Run it with the seawall venv's Python:

  .venv/bin/python bench/choices.py [--quick] [--json out.json] [--extra-path DIR]
"""
import argparse
import asyncio
import json
import platform
import sys
import time

CHAT_REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant for a travel agency. Answer briefly, in the "
                                      "customer's language, and never invent prices or availability."},
        {"role": "user", "content": "Hello! I would like to book a weekend trip to Lisbon in May for two people. "
                                    "What do you recommend?"},
        {"role": "assistant", "content": "Lisbon in May is lovely: mild weather and long days. Do you prefer a "
                                         "central hotel in Baixa or something quieter in Belém?"},
        {"role": "user", "content": "Central, please, and not too expensive. We also want to see a fado show "
                                    "and eat pastéis de nata. Can you put together a short plan for Saturday "
                                    "and Sunday, with a budget for food and transport?"},
    ],
    "temperature": 0.2, "top_p": 1, "max_tokens": 512, "presence_penalty": 0, "frequency_penalty": 0,
    "stop": ["\n\nUser:"], "n": 1, "seed": 42, "logprobs": False, "stream": False, "user": "customer-1234",
    "metadata": {"tenant": "acme", "session": "9f1c2a7e-5b1d-4c3e-9a8f-2d6b7e4c1a90"},
}
CHAT_REPLY = {
    "id": "chatcmpl-AbC123xyz456DEF789ghi012JKL", "object": "chat.completion", "created": 1727000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! I am doing well, thank you for "
                 "asking. How can I help you today?", "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 24, "completion_tokens": 18, "total_tokens": 42,
              "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
    "service_tier": "default", "system_fingerprint": "fp_0ba0d124f1",
}
STREAM_CHUNK = {
    "id": "chatcmpl-AbC123xyz456DEF789ghi012JKL", "object": "chat.completion.chunk", "created": 1727000000,
    "model": "gpt-4o-mini-2024-07-18", "service_tier": "default", "system_fingerprint": "fp_0ba0d124f1",
    "choices": [{"index": 0, "delta": {"content": " thank"}, "logprobs": None, "finish_reason": None}],
}
PAYLOADS = {"chat request": CHAT_REQUEST, "chat reply": CHAT_REPLY, "stream chunk": STREAM_CHUNK}


# ---------------------------------------------------------------- timing
def ops_per_s(fn, seconds, repeats=5):
    """Best of `repeats` timed batches of about `seconds` each: the least disturbed run on a shared VM."""
    n, t = 1, 0.0
    while t < seconds / 10:  # calibrate a batch size that takes about a tenth of the budget
        n *= 2
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
    batch = max(1, int(n * (seconds / t)))
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        best = max(best, batch / (time.perf_counter() - t0))
    return best


# ---------------------------------------------------------------- JSON
def json_libraries():
    """name -> (encode to bytes, decode from bytes), plus the names that could not be imported."""
    libs = {"json": (lambda o: json.dumps(o, separators=(",", ":")).encode(), json.loads)}
    skipped = {}
    try:
        import orjson
        libs["orjson"] = (orjson.dumps, orjson.loads)
    except ImportError as e:
        skipped["orjson"] = str(e)
    try:
        import msgspec
        enc, dec = msgspec.json.Encoder(), msgspec.json.Decoder()
        libs["msgspec"] = (enc.encode, dec.decode)
    except ImportError as e:
        skipped["msgspec"] = f"{e} (bench/run installs it with pip --target; pass --extra-path DIR)"
    return libs, skipped


def measure_json(seconds):
    libs, skipped = json_libraries()
    rows = []
    for pname, obj in PAYLOADS.items():
        raw = libs["json"][0](obj)
        for op in ("encode", "decode"):
            base = None
            for lib, (enc, dec) in libs.items():
                fn = (lambda: enc(obj)) if op == "encode" else (lambda: dec(raw))
                ops = ops_per_s(fn, seconds)
                base = base or ops
                rows.append({"payload": pname, "bytes": len(raw), "op": op, "lib": lib, "ops_per_s": round(ops),
                             "vs_json": round(ops / base, 2)})
    return rows, skipped


# ---------------------------------------------------------------- event loops
async def sleep0_loop(n):
    for _ in range(n):
        await asyncio.sleep(0)


async def nothing():
    return None


async def task_loop(n):
    for _ in range(n):
        await asyncio.create_task(nothing())


async def ping_pong(n, size=1024):
    """n request/response round trips of `size` bytes over one loopback connection (asyncio streams)."""
    async def echo(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    msg = b"x" * size
    for _ in range(n):
        writer.write(msg)
        await writer.drain()
        await reader.readexactly(size)
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()


LOOP_CASES = {"await asyncio.sleep(0)": (sleep0_loop, 200_000),
              "create_task + await": (task_loop, 100_000),
              "loopback ping-pong 1 KB": (ping_pong, 20_000)}


def loop_factories():
    out, skipped = {"asyncio": asyncio.new_event_loop}, {}
    try:
        import uvloop
        out["uvloop"] = uvloop.new_event_loop
    except ImportError as e:
        skipped["uvloop"] = str(e)
    return out, skipped


def run_on(factory, coro_fn, n):
    loop = factory()
    try:
        t0 = time.perf_counter()
        loop.run_until_complete(coro_fn(n))
        return n / (time.perf_counter() - t0)
    finally:
        loop.close()


def measure_loops(scale, repeats=5):
    factories, skipped = loop_factories()
    rows = []
    for case, (fn, n) in LOOP_CASES.items():
        n = max(1000, int(n * scale))
        base = None
        for name, factory in factories.items():
            ops = max(run_on(factory, fn, n) for _ in range(repeats))
            base = base or ops
            rows.append({"case": case, "loop": name, "ops_per_s": round(ops), "vs_asyncio": round(ops / base, 2)})
    return rows, skipped


# ---------------------------------------------------------------- output
def versions():
    import importlib.metadata as md
    v = {"python": platform.python_version()}
    for p in ("orjson", "msgspec", "uvloop"):
        try:
            v[p] = md.version(p)
        except md.PackageNotFoundError:
            mod = sys.modules.get(p)
            v[p] = getattr(mod, "__version__", "not installed") if mod else "not installed"
    return v


def text_report(res):
    out = [f"versions: {res['versions']}", "", "JSON (ops/s, best of 5; ×json = ratio to the standard library)",
           f"{'payload':<14} {'bytes':>5} {'op':<7} {'lib':<8} {'ops/s':>12} {'×json':>7}"]
    for r in res["json"]:
        out.append(f"{r['payload']:<14} {r['bytes']:>5} {r['op']:<7} {r['lib']:<8} {r['ops_per_s']:>12,} "
                   f"{r['vs_json']:>7.2f}")
    out += ["", "Event loop (ops/s, best of 5; ×asyncio = ratio to the default loop)",
            f"{'case':<26} {'loop':<8} {'ops/s':>12} {'×asyncio':>9}"]
    for r in res["loops"]:
        out.append(f"{r['case']:<26} {r['loop']:<8} {r['ops_per_s']:>12,} {r['vs_asyncio']:>9.2f}")
    for what, why in res["skipped"].items():
        out.append(f"skipped {what}: {why}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter timings (noisier)")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--extra-path", action="append", default=[], help="folder to import msgspec etc. from")
    a = ap.parse_args()
    sys.path += a.extra_path  # appended: the venv's own packages win
    json_rows, skipped = measure_json(0.05 if a.quick else 0.2)
    loop_rows, loop_skipped = measure_loops(0.25 if a.quick else 1.0)
    res = {"versions": versions(), "json": json_rows, "loops": loop_rows, "skipped": dict(skipped, **loop_skipped)}
    print(text_report(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
