"""Turns the peer harness's results.json (bench/peers/run), plus the TTFB and library measurements, into seawall.json/seawall.md.

Pure functions over plain dicts: no I/O, so tests/bench can feed them hand-made rows.
"""
GATEWAY = "seawall"
MINIMAL = "uvicorn-asgi-aiohttp"  # the floor a Python gateway is compared with (RESULTS.md)
MODES = ("chat", "stream")
CONNS = (1, 32, 128)
ERROR_KEYS = ("err_connect", "err_read", "err_write", "err_status", "err_timeout")

# Seawall's targets, from bench/peers/RESULTS.md "Suggested goals".
MIN_RPS_VS_MINIMAL = 0.50  # chat and stream RPS at c=32 >= 50 % of the minimal Python proxy's
MIN_SCALING = 0.90  # RPS at c=128 >= 90 % of RPS at c=32: no collapse with concurrency
MAX_ADDED_P50_US = 500  # p50 at c=1 minus the direct call's p50
MAX_RSS_MIB = 100  # peak RSS at 128 connections
# The first streamed chunk reaches the client at most this long after it leaves the (stamping) upstream.
MAX_FIRST_CHUNK_TRANSIT_MS = 1.0
FIRST_CHUNK_CHECK = "first chunk, upstream → client, p50 (ms)"
MAX_GAP_DEVIATION = 0.10
MAX_QUIET_NGINX_ADDED_US = 300  # nginx's own hop at c=1 is 110-160 µs here; far more means a busy host  # mean inter-chunk gap through the gateway within 10 % of direct: it does not buffer


def ratio(a, b):
    return round(a / b, 4) if a is not None and b else None


def errors(row):
    return sum(row.get(k, 0) for k in ERROR_KEYS)


def index_rows(rows):
    return {(r["target"], r["mode"], r["conns"]): r for r in rows}


def cell(rows_by_key, target, mode, conns):
    """One measured cell in report form, or {'failed': reason} / None when missing."""
    r = rows_by_key.get((target, mode, conns))
    if r is None:
        return None
    if "rps" not in r:
        return {"failed": r.get("error", "no result")}

    def rps_of(t):
        ref = rows_by_key.get((t, mode, conns))
        return ref.get("rps") if ref else None

    return {"rps": round(r["rps"], 1), "p50_ms": r["lat_p50_us"] / 1000, "p99_ms": r["lat_p99_us"] / 1000,
            "errors": errors(r), "cpu_pct": r.get("cpu_pct"), "rss_mib": r.get("rss_mib"),
            "rps_vs_minimal": ratio(r["rps"], rps_of(MINIMAL)), "rps_vs_nginx": ratio(r["rps"], rps_of("nginx")),
            "rps_vs_direct": ratio(r["rps"], rps_of("direct"))}


def added_p50_us(rows_by_key, target, mode):
    r, d = rows_by_key.get((target, mode, 1)), rows_by_key.get(("direct", mode, 1))
    if not r or not d or "rps" not in r or "rps" not in d:
        return None
    return r["lat_p50_us"] - d["lat_p50_us"]


def scaling(cells, mode):
    """RPS at c=128 over RPS at c=32."""
    hi, lo = cells.get(f"{mode}@128"), cells.get(f"{mode}@32")
    if not hi or not lo or "rps" not in hi or "rps" not in lo:
        return None
    return ratio(hi["rps"], lo["rps"])


def summarize_target(rows_by_key, target):
    cells = {}
    for mode in MODES:
        for c in CONNS:
            x = cell(rows_by_key, target, mode, c)
            if x is not None:
                cells[f"{mode}@{c}"] = x
    return {"cells": cells,
            "added_p50_us": {m: added_p50_us(rows_by_key, target, m) for m in MODES},
            "rps_128_over_32": {m: scaling(cells, m) for m in MODES}}


def check(name, goal, value, passed, reference=None):
    """passed is None when the value could not be measured: reported as n/a, which is not a pass.
    reference: the same figure for the minimal Python proxy in the same run, to tell the machine from Seawall."""
    return {"check": name, "goal": goal, "value": value, "passed": passed, "minimal_proxy": reference}


def at_most(value, limit):
    return None if value is None else value <= limit


def at_least(value, limit):
    return None if value is None else value >= limit


def peak_rss_at_128(target):
    rss = [(target["cells"].get(f"{m}@128") or {}).get("rss_mib") for m in MODES]
    return max((x for x in rss if x is not None), default=None)


def checks(summary, ttfb=None):
    """Seawall's targets, each with its measured value, pass/fail and the minimal proxy's figure."""
    sw = summary["targets"].get(GATEWAY)
    if sw is None:
        # No rows at all: the wrk phase was skipped (n/a); rows without Seawall's: it was not measured (FAIL).
        measured = bool(summary["targets"])
        return [check("wrk phase: seawall measured", "seawall rows in results.json",
                      "missing" if measured else "skipped", False if measured else None)] + ttfb_checks(ttfb)
    ref = summary["targets"].get(MINIMAL) or {"cells": {}, "added_p50_us": {}, "rps_128_over_32": {}}
    cells, out = sw["cells"], []
    for mode in MODES:
        v = (cells.get(f"{mode}@32") or {}).get("rps_vs_minimal")
        out.append(check(f"{mode} RPS @c=32 vs {MINIMAL}", f">= {MIN_RPS_VS_MINIMAL:.0%}", v,
                         at_least(v, MIN_RPS_VS_MINIMAL)))
    for mode in MODES:
        v = sw["rps_128_over_32"][mode]
        out.append(check(f"{mode} RPS c=128 / c=32", f">= {MIN_SCALING:.0%}", v, at_least(v, MIN_SCALING),
                         ref["rps_128_over_32"].get(mode)))
    for mode in MODES:
        v = sw["added_p50_us"][mode]
        out.append(check(f"{mode} added p50 @c=1 over direct (µs)", f"<= {MAX_ADDED_P50_US}", v,
                         at_most(v, MAX_ADDED_P50_US), ref["added_p50_us"].get(mode)))
    rss = peak_rss_at_128(sw)
    out.append(check("peak RSS @c=128 (MiB)", f"< {MAX_RSS_MIB}", rss, None if rss is None else rss < MAX_RSS_MIB,
                     peak_rss_at_128(ref)))
    failed = [k for k, c in cells.items() if "failed" in c or c.get("rps") == 0]
    errs = sum(c.get("errors", 0) for c in cells.values())
    out.append(check("every cell ran, no wrk errors", "0", f"{errs} errors, {len(failed)} failed/empty cells",
                     not failed and errs == 0 and len(cells) == len(MODES) * len(CONNS)))
    out += ttfb_checks(ttfb)
    return out


def ttfb_checks(ttfb):
    """The first chunk's time from the upstream's write to the client's read (the paced upstream stamps
    its events), and the chunk gaps kept. How much later the first chunk comes than direct, which also
    holds the gateway's work on the request before it calls the upstream, is in the TTFB table."""
    targets = (((ttfb or {}).get("summary") or {}).get("targets")) or {}
    gw = targets.get(GATEWAY) or {}
    ref = targets.get(MINIMAL) or {}
    if not gw.get("vs_baseline"):
        reason = (ttfb or {}).get("error", "not measured")[:160]  # the whole message is in the TTFB section
        return [check(FIRST_CHUNK_CHECK, f"<= {MAX_FIRST_CHUNK_TRANSIT_MS}", reason, None)]
    first = gw.get("first_transit_p50_ms")
    base = targets[ttfb["summary"]["baseline"]]["gap_mean_ms"]
    gap_ratio = ratio(gw["gap_mean_ms"], base)
    ref_gap_ratio = ratio(ref.get("gap_mean_ms"), base)
    return [check(FIRST_CHUNK_CHECK, f"<= {MAX_FIRST_CHUNK_TRANSIT_MS}",
                  first if first is not None else "the upstream's events carry no send time",
                  at_most(first, MAX_FIRST_CHUNK_TRANSIT_MS), ref.get("first_transit_p50_ms")),
            check("mean chunk gap through gateway / direct (no buffering)", f"1 ± {MAX_GAP_DEVIATION:.0%}",
                  gap_ratio, None if gap_ratio is None else abs(gap_ratio - 1) <= MAX_GAP_DEVIATION, ref_gap_ratio)]


def summarize(results, ttfb=None, choices=None, meta=None):
    """The whole seawall.json: per-target cells and derived ratios, the checklist, TTFB and library figures."""
    rows_by_key = index_rows(results["rows"])
    names = list(dict.fromkeys(r["target"] for r in results["rows"]))
    # Seawall first, then the peers in the harness's order (direct and nginx lead it).
    names.sort(key=lambda n: n != GATEWAY)
    summary = {"harness_started": results.get("started"), "harness_args": results.get("args"),
               "versions": results.get("versions"), "meta": meta or {},
               "targets": {n: summarize_target(rows_by_key, n) for n in names}}
    summary["checks"] = checks(summary, ttfb)
    summary["ttfb"] = ttfb
    summary["choices"] = choices
    return summary


# ---------------------------------------------------------------- markdown
def num(x, digits=2):
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}f}" if abs(x) >= 0.1 or x == 0 else f"{x:.4f}"


def verdict(passed):
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def figure(x):
    """A check's value: 3 decimals for ratios and small figures, 1 for MiB and the like."""
    return num(x, 3 if isinstance(x, float) and abs(x) < 10 else 1)


def md_checks(summary):
    out = ["## Seawall's targets", "",
           f"The last column is the same figure for `{MINIMAL}` in this run: when it misses too, suspect the machine.",
           "", f"| check | goal | seawall | result | {MINIMAL} |", "|---|---|---:|---|---:|"]
    for c in summary["checks"]:
        out.append(f"| {c['check']} | {c['goal']} | {figure(c['value'])} | **{verdict(c['passed'])}** | "
                   f"{'' if c.get('minimal_proxy') is None else figure(c['minimal_proxy'])} |")
    return out


def md_headline(summary):
    out = ["## Headline: c=1 latency, c=32 throughput, scaling", "",
           f"×minimal = RPS / `{MINIMAL}`'s, same mode and connections; c128/c32 = RPS at 128 over RPS at 32.", "",
           "| target | chat added p50 µs | stream added p50 µs | chat RPS @32 | ×minimal | ×nginx | ×direct | "
           "stream RPS @32 | ×minimal | ×nginx | ×direct | chat c128/c32 | stream c128/c32 | RSS MiB @128 |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, t in summary["targets"].items():
        row = [f"**{name}**" if name == GATEWAY else name,
               num(t["added_p50_us"]["chat"]), num(t["added_p50_us"]["stream"])]
        for mode in MODES:
            c = t["cells"].get(f"{mode}@32") or {}
            if "rps" in c:
                row += [f"{c['rps']:.0f}", num(c["rps_vs_minimal"], 3), num(c["rps_vs_nginx"], 3),
                        num(c["rps_vs_direct"], 3)]
            else:
                row += ["FAILED" if "failed" in c else "n/a", "", "", ""]
        row += [num(t["rps_128_over_32"]["chat"], 3), num(t["rps_128_over_32"]["stream"], 3)]
        rss = [(t["cells"].get(f"{m}@128") or {}).get("rss_mib") for m in MODES]
        row.append(num(max((x for x in rss if x is not None), default=None), 1))
        out.append("| " + " | ".join(row) + " |")
    return out


def md_cells(summary):
    out = ["## Every cell", "",
           "| target | mode | conns | RPS | p50 ms | p99 ms | errors | CPU % | RSS MiB | ×minimal | ×nginx | ×direct |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, t in summary["targets"].items():
        for key, c in t["cells"].items():
            mode, conns = key.split("@")
            if "failed" in c:
                out.append(f"| {name} | {mode} | {conns} | FAILED: {c['failed'][:100]} | | | | | | | | |")
                continue
            out.append(f"| {name} | {mode} | {conns} | {c['rps']:.0f} | {c['p50_ms']:.2f} | {c['p99_ms']:.2f} | "
                       f"{c['errors']} | {num(c['cpu_pct'], 1)} | {num(c['rss_mib'], 1)} | "
                       f"{num(c['rps_vs_minimal'], 3)} | {num(c['rps_vs_nginx'], 3)} | {num(c['rps_vs_direct'], 3)} |")
    return out


def md_ttfb(ttfb):
    out = ["## Time to first chunk (paced upstream, c=1, sequential)", ""]
    if not ttfb or "summary" not in ttfb:
        return out + [f"Not measured: {(ttfb or {}).get('error', 'skipped')}"]
    s = ttfb["summary"]
    out += [ttfb.get("setup", ""), "",
            "| target | streams ok | chunks/stream | first chunk p50 ms | p99 ms | upstream → client: first chunk "
            "p50 ms | p99 ms | every chunk p50 ms | mean gap ms | min gap ms | "
            "first chunk − direct p50 ms | p99 ms | every chunk − direct p50 ms | p99 ms | bunched gaps % |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, t in s["targets"].items():
        vs = t.get("vs_baseline") or {}
        out.append(f"| {name} | {t['ok']}/{t['streams']} | {num(t['chunks_per_stream'], 0)} | "
                   f"{num(t['first_chunk_p50_ms'], 3)} | {num(t['first_chunk_p99_ms'], 3)} | "
                   f"{num(t.get('first_transit_p50_ms'), 3)} | {num(t.get('first_transit_p99_ms'), 3)} | "
                   f"{num(t.get('transit_p50_ms'), 3)} | {num(t['gap_mean_ms'], 3)} | {num(t['gap_min_ms'], 3)} | "
                   f"{num(vs.get('first_chunk_diff_p50_ms'), 3) if vs else '–'} | "
                   f"{num(vs.get('first_chunk_diff_p99_ms'), 3) if vs else '–'} | "
                   f"{num(vs.get('chunk_lag_p50_ms'), 3) if vs else '–'} | "
                   f"{num(vs.get('chunk_lag_p99_ms'), 3) if vs else '–'} | {num(t['bunched_gaps_pct'], 1)} |")
    if s.get("errors"):
        out += ["", f"Errors (first 3 per target): `{s['errors']}`"]
    out += ["", "Upstream → client: from the paced upstream's write of a chunk (its events carry the time) to the "
            "client's read of it, on one machine's monotonic clock; direct's is the loopback and client cost. "
            "First chunk − direct also holds the gateway's work on the request before it calls the upstream "
            "(auth, parsing, pre-flight, limits), which the added-latency rows measure.",
            "", "Differences are paired: stream i through a target against stream i direct, run back to back. "
            "A gateway that streams adds a small constant to every chunk and keeps the upstream's gaps; one that "
            "buffers shows a first chunk as late as the last and gaps near zero (bunched)."]
    return out


def md_choices(choices):
    out = ["## Library choices (bench/choices.py)", ""]
    if not choices or "text" not in choices:
        return out + [f"Not measured: {(choices or {}).get('error', 'skipped')}"]
    return out + ["```", choices["text"].rstrip(), "```"]


def machine_warnings(summary):
    """Signs that something else used the cores during the run (RESULTS.md: nginx ran at 93-97 % CPU at c=32)."""
    out = []
    for mode in MODES:
        c = (summary["targets"].get("nginx") or {}).get("cells", {}).get(f"{mode}@32") or {}
        if c.get("cpu_pct") is not None and c["cpu_pct"] < 85:
            out.append(f"nginx {mode} @c=32 ran at {c['cpu_pct']} % CPU (93-97 % on a quiet machine): something else "
                       "probably used core 0 or 1 during this run; treat its figures with suspicion and run again.")
        added = ((summary["targets"].get("nginx") or {}).get("added_p50_us") or {}).get(mode)
        if added is not None and added > MAX_QUIET_NGINX_ADDED_US:
            out.append(f"nginx added {added} µs p50 to {mode} @c=1 (110-160 µs on a quiet machine): the host was busy "
                       "during this run; its latency figures say more about the machine than about the gateways.")
    return out


def md_notes(notes):
    out = []
    for title, text in notes or []:
        out += [f"## {title}", "", "```", text.rstrip(), "```", ""]
    return out


def markdown(summary, notes=None):
    """notes: [(title, preformatted text)] appended at the end, e.g. the gateway's log when it failed."""
    v, m = summary.get("versions") or {}, summary.get("meta") or {}
    args = summary.get("harness_args") or {}
    wrk = (f"Gateway under test on core 0, wrk + fake upstream on core 1; {args.get('warmup')} s warm-up + "
           f"{args.get('duration')} s per cell." if args else "wrk phase not run.")
    out = [f"# Seawall benchmark ({m.get('results_dir') or summary.get('harness_started')})", "",
           f"Host: {v.get('cpu', '?')}, {v.get('cores', '?')} cores, kernel {v.get('kernel', '?')}. {wrk} "
           f"Seawall {m.get('seawall_version', '?')} (commit {m.get('commit', '?')}). "
           "Compare ratios, not absolute figures (see bench/README.md).", ""]
    for w in machine_warnings(summary):
        out += [f"> **Warning:** {w}", ""]
    out += md_checks(summary) + [""] + md_headline(summary) + [""] + md_ttfb(summary.get("ttfb")) + [""]
    out += md_cells(summary) + [""] + md_choices(summary.get("choices")) + [""] + md_notes(notes)
    return "\n".join(out)
