#!/usr/bin/env python3
"""Tail latency, Seawall against the minimal proxy, taking turns so both see the same noise.

  bench/tail.py                      # c=1 and c=128, chat and stream, 6 rounds of 5 s slices per target
  bench/tail.py --rounds 10 --slice 3 --conns 128 --modes stream

On a shared machine, p99 moves with whatever else runs: the peer harness measures one target
after the other (a minute apart), so another process's burst lands on one target's cells and
not the other's. Here the two gateways (both pinned to the gateway core, each idle while the
other is driven) are driven by wrk in alternating short slices, the order swapped every round;
each round's p99 ratio compares two slices seconds apart. The report gives, per cell, the median
of the rounds' ratios (and their spread), each target's median p50/p99 and largest max,
and the host's CPU pressure during the slices (Linux PSI, /proc/pressure/cpu "some": the share of
the time some runnable task waited for a CPU), which says how much of a tail is the machine's.

Uses the peer harness's fake upstream (nginx, canned replies), its minimal proxy
(bench/peers/proxies/asgi_aiohttp.py on uvicorn from $PEERBENCH_VENV) and wrk script; ports 18080
(upstream), 18091 (minimal proxy), 18100 (Seawall). Every process started here is stopped by PID.
Results: bench/results/tail-<UTC stamp>.json and the table on stdout.
"""
import argparse
import datetime
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
PEERS = os.path.join(BENCH, "peers")
VENV = os.environ.get("PEERBENCH_VENV", "/tmp/peerbench-venv")
GATEWAY_CORE, LOAD_CORE = "0", "1"
UPSTREAM = "http://127.0.0.1:18080"
MINIMAL = "http://127.0.0.1:18091"
SEAWALL = "http://127.0.0.1:18100"
STARTED: list[subprocess.Popen] = []


def start(cmd, core, log, cwd=None, env=None):
    p = subprocess.Popen(["taskset", "-c", core, *cmd], stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=cwd,
                         env=env, start_new_session=True)
    STARTED.append(p)
    return p


def stop_all():
    for p in reversed(STARTED):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def wait_ready(url, proc, body=None, auth=None, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{proc.args} exited ({proc.returncode}) before it was ready")
        try:
            req = urllib.request.Request(url, data=body, headers={"Authorization": auth or "Bearer dummy",
                                                                  "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    sys.exit(f"{url} not ready after {timeout} s")


def wrk(url, env, conns, seconds):
    cmd = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s",
           "-s", os.path.join(PEERS, "wrk/chat.lua"), url]
    out = subprocess.run(cmd, env=dict(os.environ, **env), capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[8:])
    raise RuntimeError("wrk printed no summary:\n" + out[-2000:])


def cpu_pressure_us() -> int | None:
    """Linux PSI: microseconds some runnable task waited for a CPU (None where PSI is off)."""
    try:
        with open("/proc/pressure/cpu") as f:
            return int(f.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


def targets(key):
    chat = {"WRK_MODEL": "gpt-4o-mini"}
    stream = {"WRK_MODEL": "gpt-4o-mini-stream", "WRK_STREAM": "1"}
    auth = {"WRK_AUTH": f"Bearer {key}"}
    return {
        "minimal": {"chat": (MINIMAL + "/v1/chat/completions", chat),
                    "stream": (MINIMAL + "/stream/v1/chat/completions", dict(stream, WRK_MODEL="gpt-4o-mini"))},
        "seawall": {"chat": (SEAWALL + "/v1/chat/completions", dict(chat, **auth)),
                    "stream": (SEAWALL + "/v1/chat/completions", dict(stream, **auth))},
    }


def gateway_yaml(extra: str = ""):
    out = ["# written by bench/tail.py", *filter(None, extra.split("\n")), "models:"]
    for name, path in (("gpt-4o-mini", "/v1"), ("gpt-4o-mini-stream", "/stream/v1")):
        out += [f"  - name: {name}", "    deployments:", "      - provider: openai",
                f"        base_url: {UPSTREAM}{path}", "        model: gpt-4o-mini",
                "        api_key_env: BENCH_UPSTREAM_KEY"]
    return "\n".join(out) + "\n"


def summarize(slices, modes, conns):
    rows = []
    for mode in modes:
        for c in conns:
            cell = [s for s in slices if s["mode"] == mode and s["conns"] == c]
            by = {t: [s for s in cell if s["target"] == t] for t in ("minimal", "seawall")}
            ratios = [sw["lat_p99_us"] / mn["lat_p99_us"] for mn, sw in zip(by["minimal"], by["seawall"])
                      if mn["lat_p99_us"]]
            row = {"mode": mode, "conns": c, "rounds": len(ratios),
                   "p99_ratio_median": statistics.median(ratios) if ratios else None,
                   "p99_ratio_min": min(ratios, default=None), "p99_ratio_max": max(ratios, default=None)}
            for t, ss in by.items():
                row[t] = {k: statistics.median(s[k] for s in ss) / 1000 for k in ("lat_p50_us", "lat_p99_us")}
                row[t]["max_ms"] = max(s["lat_max_us"] for s in ss) / 1000
                row[t]["rps"] = statistics.median(s["rps"] for s in ss)
                row[t]["errors"] = sum(s[k] for s in ss for k in s if k.startswith("err_"))
                row[t]["cpu_pressure"] = statistics.median(s.get("cpu_pressure", 0) for s in ss)
            rows.append(row)
    return rows


def table(rows):
    out = ["| mode | conns | p99 ×minimal (median of rounds, min–max) | Seawall p50 / p99 / max ms | "
           "minimal p50 / p99 / max ms | RPS ×minimal | errors | CPU pressure |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, m = r["seawall"], r["minimal"]
        out.append(f"| {r['mode']} | {r['conns']} | {r['p99_ratio_median']:.2f} ({r['p99_ratio_min']:.2f}–"
                   f"{r['p99_ratio_max']:.2f}) | {s['lat_p50_us']:.2f} / {s['lat_p99_us']:.2f} / {s['max_ms']:.0f} | "
                   f"{m['lat_p50_us']:.2f} / {m['lat_p99_us']:.2f} / {m['max_ms']:.0f} | "
                   f"{s['rps'] / m['rps']:.2f} | {s['errors'] + m['errors']} | "
                   f"{s['cpu_pressure']:.0%} / {m['cpu_pressure']:.0%} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--slice", type=int, default=5, help="seconds measured per target per round")
    ap.add_argument("--conns", default="1,128")
    ap.add_argument("--modes", default="chat,stream")
    ap.add_argument("--seawall-bin", default=os.path.join(REPO, ".venv/bin/seawall"))
    ap.add_argument("--out", default=os.path.join(BENCH, "results"))
    ap.add_argument("--config-extra", default="", help="YAML added to Seawall's config, e.g. "
                    "$'request_log:\\n  batch_size: 50' (top-level sections other than models)")
    a = ap.parse_args()
    conns = [int(c) for c in a.conns.split(",")]
    modes = a.modes.split(",")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    tmp = tempfile.mkdtemp(prefix="seawall-tail-")
    key = "sk-sw-bench-" + secrets.token_hex(16)
    try:
        subprocess.run([sys.executable, os.path.join(PEERS, "conf/gen_upstream.py")], check=True, capture_output=True)
        up = start(["nginx", "-p", PEERS, "-e", os.path.join(tmp, "nginx.err"), "-c", "conf/nginx-upstream.conf"],
                   LOAD_CORE, os.path.join(tmp, "upstream.log"))
        wait_ready(UPSTREAM + "/v1/chat/completions", up, b"{}")
        minimal = start([f"{VENV}/bin/uvicorn", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                         "--log-level", "warning", "--host", "127.0.0.1", "--port", "18091", "--backlog", "4096",
                         "proxies.asgi_aiohttp:app"], GATEWAY_CORE, os.path.join(tmp, "minimal.log"), cwd=PEERS)
        config = os.path.join(tmp, "gateway.yaml")
        with open(config, "w") as f:
            f.write(gateway_yaml(a.config_extra))
        seawall = start([a.seawall_bin, "serve", "--config", config, "--host", "127.0.0.1", "--port", "18100",
                         "--data-dir", os.path.join(tmp, "data")], GATEWAY_CORE, os.path.join(tmp, "seawall.log"),
                        env=dict(os.environ, BENCH_UPSTREAM_KEY="sk-bench-upstream", SEAWALL_BOOTSTRAP_KEY=key))
        body = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
        wait_ready(MINIMAL + "/v1/chat/completions", minimal, body)
        wait_ready(SEAWALL + "/v1/chat/completions", seawall, body, f"Bearer {key}")
        plan = targets(key)
        slices = []
        for mode in modes:
            for c in conns:
                for name in plan:  # warm-up, discarded
                    wrk(*plan[name][mode], c, 2)
                for r in range(a.rounds):
                    order = ("minimal", "seawall") if r % 2 == 0 else ("seawall", "minimal")
                    for name in order:
                        stalled = cpu_pressure_us()
                        res = wrk(*plan[name][mode], c, a.slice)
                        if stalled is not None:  # the share of the slice in which some task waited for a CPU
                            res["cpu_pressure"] = (cpu_pressure_us() - stalled) / (res["duration_us"] or 1)
                        slices.append(dict(res, target=name, mode=mode, conns=c, round=r))
                        print(f"{mode:6} c={c:<4} round {r} {name:8} p50={res['lat_p50_us'] / 1000:7.2f} ms "
                              f"p99={res['lat_p99_us'] / 1000:8.2f} ms max={res['lat_max_us'] / 1000:8.1f} ms "
                              f"rps={res['rps']:8.0f} cpu pressure {res.get('cpu_pressure', 0):.0%}", flush=True)
        rows = summarize(slices, modes, conns)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        os.makedirs(a.out, exist_ok=True)
        path = os.path.join(a.out, f"tail-{stamp}.json")
        with open(path, "w") as f:
            json.dump({"args": vars(a), "rows": rows, "slices": slices,
                       "loadavg": open("/proc/loadavg").read().split()[:3]}, f, indent=1)
        print("\n" + table(rows) + f"\n\nwrote {path}")
    finally:
        stop_all()


if __name__ == "__main__":
    main()
