"""PostgreSQL going down under a running gateway: API requests keep being served from the caches,
the admin API answers 503 with Retry-After naming the store (not a 500 labelled as an upstream
failure), and the gateway's log says so once when it starts and once when it ends (not a
traceback every second)."""

from __future__ import annotations

import json
import time

import pytest

from conftest import ADMIN_KEY, http, start_gateway
from pg_server import fresh_database
from tcp_proxy import TcpProxy


@pytest.fixture(scope="module")
def proxy():
    p = TcpProxy(("127.0.0.1", 5432)).start()
    yield p
    p.close()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, simulator, proxy):
    with fresh_database("seawall_outage") as url:
        url = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        config = (f"store:\n  url: {url}\nauth:\n  refresh_interval_s: 0.2\nrequest_log:\n  flush_interval_s: 0.2\n"
                  "models:\n  - name: gpt-4o-mini\n    deployments:\n"
                  f"      - provider: openai\n        base_url: http://127.0.0.1:{simulator.port}/v1\n"
                  "        model: gpt-4o-mini\n        api_key_env: SIM_KEY\n")
        gateway = start_gateway(tmp_path_factory, config, "outage-gateway")
        yield gateway
        gateway.proc.stop()


def admin(gw) -> tuple[int, dict, dict]:
    status, headers, raw = http("GET", gw.url + "/admin/keys", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    return status, headers, json.loads(raw)


def chat(gw) -> int:
    return http("POST", gw.base_url + "/chat/completions",
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                {"authorization": f"Bearer {gw.key}"})[0]


def test_postgres_down_and_back(gw, proxy):
    assert admin(gw)[0] == 200
    proxy.cut()
    try:
        time.sleep(1.5)  # several key-cache reloads fail meanwhile
        status, headers, body = admin(gw)
        err = body["error"]
        assert status == 503 and int(headers["retry-after"]) >= 1
        assert err["code"] == "store_unavailable" and err["category"] == "upstream.unavailable"
        assert "PostgreSQL" in err["message"] and f"127.0.0.1:{proxy.port}" in err["hint"]
        assert all(chat(gw) == 200 for _ in range(5))  # the API is served from the caches
    finally:
        proxy.restore()
    deadline = time.monotonic() + 20
    while admin(gw)[0] != 200:
        assert time.monotonic() < deadline, "the admin API did not come back"
        time.sleep(0.2)
    time.sleep(1)  # a key-cache reload succeeds too
    out = gw.proc.output()
    assert "Traceback" not in out, out[-3000:]
    assert out.count("key cache: reloading keys failed") == 1, out[-3000:]
    assert out.count("key cache: works again") == 1 and out.count("admin API: works again") == 1
