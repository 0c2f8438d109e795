"""Admission before counting, end to end: a key with rpm 2 sending 12 prompts of 2 MB gets 10
rate-limit 429s, and the gateway spends next to no CPU on them. Before, every prompt was
tokenized first (about 8 s of CPU for 10 MB) and none reached the limiter."""

from __future__ import annotations

import json
import os
import threading

from admin_cli import new_key
from conftest import http, own_stack


def config(sim_port: int) -> str:
    return ("models:\n  - name: gpt-4o-mini\n    deployments:\n"
            f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
            "        model: gpt-4o-mini\n        api_key_env: SIM_KEY\n")


upstream, gw, sim, client = own_stack("admit-first", config)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, all threads


def test_a_rate_limited_key_is_refused_before_its_prompts_are_counted(gw, sim):
    key = new_key(gw, "--rpm", "2")["key"]
    # varied words, so the tokenizer has real work: ~500k tokens each
    prompt = " ".join(f"w{i % 9973}x{i % 7}" for i in range(250_000))[:2_000_000]
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
    replies: list[tuple[int, dict]] = []

    def send() -> None:
        status, _, raw = http("POST", gw.base_url + "/chat/completions", body, {"authorization": f"Bearer {key}"},
                              timeout=60)
        replies.append((status, json.loads(raw)["error"]))

    before = cpu_seconds(gw.proc.popen.pid)
    threads = [threading.Thread(target=send) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    spent = cpu_seconds(gw.proc.popen.pid) - before
    codes = sorted(err["code"] for _, err in replies)
    assert codes == ["context_length_exceeded"] * 2 + ["rate_limit_requests"] * 10, codes
    assert all(status == 429 for status, err in replies if err["code"] == "rate_limit_requests")
    # reading 24 MB of JSON is well under a second; tokenizing it all took ~8 s
    assert spent < 3, f"the gateway spent {spent:.1f} s of CPU"
