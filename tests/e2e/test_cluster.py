"""Two `seawall serve` processes on one Redis and one store act as one gateway (cluster/): a
circuit opened through one is open in the other, a deployment taken out of rotation (by a
refusal or by hand) is out in both and probed back by one of them, once; a Midjourney task and a
Responses id handed out by one are found through the other (and stay unknown to another
tenant's key); alerts are evaluated once over both gateways' counts and sent once; a console
sign-in made on one works on the other, and signing out ends it on both.

What `N workers` will be, tested as two instances: each gateway is its own process with its own
port, sharing a redis-server of this module's and a SQLite data dir.
"""

from __future__ import annotations

import json
import subprocess
import time

import openai
import orjson
import pytest
from admin_cli import new_key
from conftest import ADMIN_KEY, BOOTSTRAP_KEY, Gateway, Proc, free_port, http, start_simulator
from test_alerting import Receiver
from test_console_security import Browser
from test_redis_limits import RedisServer

MJ_SECRET = "mj-upstream-secret-0021"
HI = [{"role": "user", "content": "hi"}]
SIM = f"api_keys: [sk-sim-upstream, {MJ_SECRET}]\nstream_interval_ms: 0\n"


def config(sim_port: int, probed_port: int, hook_port: int) -> str:
    def model(name: str, upstream: str, circuit: str, port: int = sim_port) -> str:
        return (f"  - name: {name}\n    deployments:\n      - provider: openai\n"
                f"        base_url: http://127.0.0.1:{port}/v1\n        model: {upstream}\n"
                f"        api_key_env: SIM_KEY\n        name: sim-{name}\n        circuit: {circuit}\n")

    return ("auth:\n  refresh_interval_s: 0.2\nrequest_log:\n  flush_interval_s: 0.1\n"
            "alerts:\n  interval_s: 0.2\n  bucket_s: 1\n  rules:\n"
            "    upstream_auth: {threshold: 4, window_s: 60, clear_for_s: 0}\n"
            "    circuit_open: {clear_for_s: 0, cooldown_s: 0}\n"
            f"  webhooks:\n    - url: http://127.0.0.1:{hook_port}/hook\n      retries: 0\n"
            "models:\n"
            # opens at its first failure; its cooldown (3 s) outlasts retry.circuit_wait_s (2 s), so
            # a request meeting it open is refused at once instead of waiting to probe
            + model("fragile", "gpt-4.1-nano", "{failures_to_open: 1, cooldown_s: 3}")
            + model("refusing", "gpt-4.1-mini", "{failures_to_open: 1000, take_out_refused: false}")
            + model("keyed", "gpt-4o", "{failures_to_open: 1000, probe_s: 1, max_probe_s: 1}", probed_port)
            + model("gpt-4o-mini", "gpt-4o-mini", "{failures_to_open: 1000, take_out_refused: false}")
            + "  - name: midjourney\n    deployments:\n      - provider: midjourney\n"
              f"        base_url: http://127.0.0.1:{sim_port}\n        model: midjourney\n"
              "        api_key_env: MJ_SECRET\n        name: sim-mj\n")


def start(tmp_path_factory, name: str, cfg: str, data_dir: str, redis_url: str) -> tuple[Gateway, str]:
    folder = tmp_path_factory.mktemp(name)
    (folder / "seawall.yaml").write_text(cfg)
    port, console_port = free_port(), free_port()
    proc = Proc(name, ["serve", "--config", str(folder / "seawall.yaml"), "--port", str(port), "--data-dir",
                       data_dir, "--redis", redis_url], str(folder / "out.log"),
                env={"SEAWALL_BOOTSTRAP_KEY": BOOTSTRAP_KEY, "SIM_KEY": "sk-sim-upstream", "MJ_SECRET": MJ_SECRET,
                     "SEAWALL_ADMIN_KEY": ADMIN_KEY, "SEAWALL_CONSOLE_PORT": str(console_port)}).start()
    proc.wait_http(f"http://127.0.0.1:{port}/readyz")
    return Gateway(proc, port, data_dir), f"http://127.0.0.1:{console_port}/console"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    redis = RedisServer().start()
    sim = start_simulator(tmp_path_factory, "cluster-sim", config=SIM)
    probed = start_simulator(tmp_path_factory, "cluster-probed", config=SIM)
    hooks = Receiver()
    cfg = config(sim.port, probed.port, hooks.port)
    data_dir = str(tmp_path_factory.mktemp("cluster-store") / "data")
    a, console_a = start(tmp_path_factory, "cluster-a", cfg, data_dir, redis.url)  # migrates, provisions
    b, console_b = start(tmp_path_factory, "cluster-b", cfg, data_dir, redis.url)
    yield {"a": a, "b": b, "sim": sim, "probed": probed, "hooks": hooks, "consoles": (console_a, console_b),
           "redis": redis}
    for proc in (a.proc, b.proc, sim.proc, probed.proc):
        proc.stop()
    hooks.server.shutdown()
    redis.stop()


@pytest.fixture
def sim(stack):
    stack["sim"].reset()
    stack["probed"].reset()
    yield stack["sim"]
    stack["sim"].reset()
    stack["probed"].reset()


def eventually(check, what: str, timeout: float = 10):
    """Poll `check` until it answers something true; that answer (the timeout only bounds a failure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    pytest.fail(f"never happened: {what}")


def readyz(gw: Gateway) -> dict:
    return json.loads(http("GET", gw.url + "/readyz")[2])


def admin(gw: Gateway, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    status, _, raw = http(method, gw.url + path, body, {"authorization": f"Bearer {ADMIN_KEY}"})
    return status, json.loads(raw)


def chat(gw: Gateway, model: str, key: str = BOOTSTRAP_KEY) -> tuple[int, dict]:
    status, _, raw = http("POST", gw.base_url + "/chat/completions", {"model": model, "messages": HI},
                          {"authorization": f"Bearer {key}"})
    return status, json.loads(raw)


def upstream_calls(sim) -> int:
    return sim.stats()["requests"]["total"]


def test_a_circuit_opened_through_one_gateway_is_open_in_the_other_and_closes_in_both(stack, sim):
    a, b = stack["a"], stack["b"]
    sim.set_faults([{"match": {"model": "gpt-4.1-nano"}, "fault": "status=503"}])
    assert chat(a, "fragile")[0] == 503  # its first failure opens it
    opened = time.monotonic()
    eventually(lambda: "sim-fragile" in readyz(b)["open_circuits"], "the circuit open in gateway b")
    print(f"circuit seen open by the other gateway after {time.monotonic() - opened:.3f} s")
    calls = upstream_calls(sim)
    status, body = chat(b, "fragile")
    assert status == 503 and body["error"]["code"] == "circuit_open"  # b never called the upstream itself
    assert upstream_calls(sim) == calls
    sim.set_faults([])
    # after the cooldown one probe (through b) closes it, for a too
    eventually(lambda: chat(b, "fragile")[0] == 200, "a probe through b answered", timeout=15)
    eventually(lambda: "sim-fragile" not in readyz(a)["open_circuits"], "the circuit closed in gateway a")


def test_a_deployment_out_of_rotation_is_out_in_both_and_probed_back_once(stack, sim):
    a, b, probed = stack["a"], stack["b"], stack["probed"]
    probed.set_faults([{"match": {"model": "gpt-4o"}, "fault": "status=401"}])
    assert chat(a, "keyed")[0] == 502  # the provider refused the deployment's key: out of rotation
    eventually(lambda: "sim-keyed" in readyz(b)["out_of_rotation"], "the deployment out in gateway b")
    probed.reset()  # the key works again; both gateways' probes are due within probe_s (1 s)
    for gw in (a, b):
        eventually(lambda: "sim-keyed" not in readyz(gw)["out_of_rotation"], f"back in rotation in {gw.url}")
    assert upstream_calls(probed) == 1  # one probe for the two gateways
    assert chat(b, "keyed")[0] == 200


def test_a_deployment_disabled_by_hand_on_one_gateway_is_disabled_on_the_other(stack, sim):
    a, b = stack["a"], stack["b"]
    status, _ = admin(a, "POST", "/admin/deployments/sim-gpt-4o-mini/disable", {"reason": "rotating its key"})
    assert status == 200
    eventually(lambda: admin(b, "GET", "/admin/deployments/sim-gpt-4o-mini")[1]["state"] == "disabled",
               "disabled on gateway b")
    status, body = chat(b, "gpt-4o-mini")
    assert status == 503 and "rotating its key" in body["error"]["message"]
    assert admin(b, "POST", "/admin/deployments/sim-gpt-4o-mini/enable")[0] == 200
    eventually(lambda: admin(a, "GET", "/admin/deployments/sim-gpt-4o-mini")[1]["state"] == "in_rotation",
               "back in rotation on gateway a")
    assert chat(a, "gpt-4o-mini")[0] == 200


def test_after_redis_loses_its_data_a_gateway_started_later_still_knows_what_was_disabled(tmp_path_factory, stack):
    """A Redis of its own (flushing the module's would wipe the other tests' shared state): gateway a
    disables a deployment and hands out a response id; Redis is flushed; a gateway c started after
    that finds the deployment disabled and the response, a having written again what it holds."""
    redis = RedisServer().start()
    cfg = ("models:\n  - name: gpt-4o-mini\n    deployments:\n      - provider: openai\n"
           f"        base_url: http://127.0.0.1:{stack['sim'].port}/v1\n        model: gpt-4o-mini\n"
           "        api_key_env: SIM_KEY\n        name: sim-gpt-4o-mini\n")

    def redis_cli(*args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(redis.port), *args], capture_output=True, text=True,
                              check=True).stdout.strip()

    data_dir = str(tmp_path_factory.mktemp("wiped") / "data")  # one store, as gateways sharing a Redis do

    def alone(name: str) -> Gateway:
        return start(tmp_path_factory, name, cfg, data_dir, redis.url)[0]

    a = alone("wiped-a")
    try:
        with openai.OpenAI(base_url=a.base_url, api_key=BOOTSTRAP_KEY, max_retries=0) as via_a:
            made = via_a.responses.create(model="gpt-4o-mini", input="My name is Ada.")
        path = "/admin/deployments/sim-gpt-4o-mini"
        assert admin(a, "POST", path + "/disable", {"reason": "rotating its key"})[0] == 200
        eventually(lambda: redis_cli("hlen", "seawall:cl:circuits") == "1", "the disable written to Redis")
        assert redis_cli("flushdb") == "OK"
        c = alone("wiped-c")
        try:
            eventually(lambda: admin(c, "GET", path)[1]["state"] == "disabled", "disabled on gateway c")
            status, body = chat(c, "gpt-4o-mini")
            assert status == 503 and "rotating its key" in body["error"]["message"]
            assert "was lost (restarted empty or flushed): writing again the 1 circuits" in a.proc.output()
            eventually(lambda: "wrote again the 1 response ids this gateway holds" in a.proc.output(),
                       "the response id written again")
            ttl_ms = int(redis_cli("pttl", f"seawall:cl:id:response:{made.id}"))
            assert 0 < ttl_ms <= 30 * 86_400_000  # what was left of its time, not a new one
            with openai.OpenAI(base_url=c.base_url, api_key=BOOTSTRAP_KEY, max_retries=0) as via_c:
                assert via_c.responses.retrieve(made.id).id == made.id
        finally:
            c.proc.stop()
    finally:
        a.proc.stop()
        redis.stop()


def mj(gw: Gateway, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    status, _, raw = http(method, gw.url + path, body, {"mj-api-secret": key})
    return status, json.loads(raw)


def known_to(gw: Gateway, key: str) -> bool:
    return http("GET", gw.base_url + "/models", headers={"authorization": f"Bearer {key}"})[0] == 200


def test_a_task_submitted_through_one_gateway_is_fetched_through_the_other_by_its_owner_only(stack, sim):
    a, b = stack["a"], stack["b"]
    acme, globex = new_key(a, "--tenant", "acme")["key"], new_key(a, "--tenant", "globex")["key"]
    eventually(lambda: known_to(b, acme) and known_to(b, globex), "the keys known to gateway b")
    status, submitted = mj(a, "POST", "/mj/submit/imagine", acme, {"prompt": "a lighthouse"})
    assert status == 200
    task_id = submitted["result"]
    status, task = mj(b, "GET", f"/mj/task/{task_id}/fetch", acme)  # at once: written before a answered
    assert status == 200 and task["id"] == task_id and task["prompt"] == "a lighthouse"
    status, theirs = mj(b, "GET", f"/mj/task/{task_id}/fetch", globex)
    unknown_id = str(int(task_id) + 7_000_000)
    status_unknown, unknown = mj(b, "GET", f"/mj/task/{unknown_id}/fetch", globex)
    assert status == status_unknown == 404
    assert {k: v for k, v in theirs.items() if k != "request_id"} == \
        {k: (v.replace(unknown_id, task_id) if isinstance(v, str) else v) for k, v in unknown.items()
         if k != "request_id"}
    status, listed = mj(b, "POST", "/mj/task/list-by-condition", acme, {"ids": [task_id]})
    assert status == 200 and [t["id"] for t in listed] == [task_id]


def test_a_response_made_through_one_gateway_is_retrieved_and_continued_through_the_other(stack, sim):
    a, b = stack["a"], stack["b"]
    other = new_key(a)["key"]
    eventually(lambda: known_to(b, other), "the key known to gateway b")
    with openai.OpenAI(base_url=a.base_url, api_key=BOOTSTRAP_KEY, max_retries=0) as via_a, \
            openai.OpenAI(base_url=b.base_url, api_key=BOOTSTRAP_KEY, max_retries=0) as via_b, \
            openai.OpenAI(base_url=b.base_url, api_key=other, max_retries=0) as stranger:
        made = via_a.responses.create(model="gpt-4o-mini", input="My name is Ada.")
        assert via_b.responses.retrieve(made.id).id == made.id
        later = via_b.responses.create(model="gpt-4o-mini", input="My name?", previous_response_id=made.id)
        assert later.id != made.id and via_a.responses.retrieve(later.id).id == later.id
        with pytest.raises(openai.NotFoundError) as theirs:
            stranger.responses.retrieve(made.id)
        with pytest.raises(openai.NotFoundError) as unknown:
            stranger.responses.retrieve("resp_never_handed_out")
        assert theirs.value.body["code"] == unknown.value.body["code"]


def hooks_for(stack, rule: str, subject: str) -> list[str]:
    return [e["event"] for e in stack["hooks"].events("/hook") if e["alert"]["rule"] == rule
            and e["alert"]["subject"] == subject]


def test_the_alert_over_both_gateways_counts_is_sent_once(stack, sim):
    """2 refusals through each gateway: each alone counted 2, below the threshold of 4; together 4."""
    a, b = stack["a"], stack["b"]
    sim.set_faults([{"match": {"model": "gpt-4.1-mini"}, "fault": "status=401"}])
    for gw in (a, b, a, b):
        assert chat(gw, "refusing")[0] == 502
    eventually(lambda: hooks_for(stack, "upstream_auth", "sim-refusing"), "the upstream_auth webhook")
    alert = next(e["alert"] for e in stack["hooks"].events("/hook") if e["alert"]["rule"] == "upstream_auth")
    assert alert["bad"] == 4

    def same_view() -> bool:
        views = [admin(gw, "GET", "/admin/alerts")[1] for gw in (a, b)]
        active = [[(x["rule"], x["subject"], x["fired_at"]) for x in v["active"]] for v in views]
        return active[0] == active[1] and ("upstream_auth", "sim-refusing") in [r[:2] for r in active[0]]

    eventually(same_view, "the same alerts view on both gateways")


def test_one_webhook_per_change_from_two_gateways_that_both_see_it(stack, sim):
    """Both gateways see the circuit open (shared): it fires once, and resolves once."""
    a, b = stack["a"], stack["b"]
    sim.set_faults([{"match": {"model": "gpt-4.1-nano"}, "fault": "status=503"}])
    eventually(lambda: chat(b, "fragile")[1]["error"]["code"] == "circuit_open", "the circuit open", timeout=15)
    eventually(lambda: hooks_for(stack, "circuit_open", "sim-fragile")[-1:] == ["fired"], "the fired webhook")
    sim.set_faults([])
    eventually(lambda: chat(a, "fragile")[0] == 200, "a probe answered", timeout=15)
    eventually(lambda: hooks_for(stack, "circuit_open", "sim-fragile")[-1:] == ["resolved"], "the resolved webhook")
    changes = hooks_for(stack, "circuit_open", "sim-fragile")
    assert changes == ["fired", "resolved"] * (len(changes) // 2) and len(changes) in (2, 4), changes
    # (4: the first test's opening fired and resolved too, once each)


def test_a_console_sign_in_works_on_both_gateways_and_signing_out_ends_it_on_both(stack):
    console_a, console_b = stack["consoles"]
    browser = Browser(console_a)
    assert browser.sign_in(ADMIN_KEY)[0] == 303
    on_b = Browser(console_b)
    on_b.jar, on_b.opener = browser.jar, browser.opener  # the same browser: its cookie goes to either gateway
    status, _, page = on_b.go("GET", "/overview")
    assert status == 200
    assert on_b.go("POST", "/logout", {"csrf": browser.csrf(page)})[0] == 303
    status, headers, _ = browser.go("GET", "/overview")
    assert status == 303 and "/login" in headers["location"]


def test_with_redis_down_each_gateway_goes_on_alone_and_shares_again_when_it_is_back(stack, sim):
    a, b, redis = stack["a"], stack["b"], stack["redis"]
    acme = new_key(a, "--tenant", "acme")["key"]
    eventually(lambda: known_to(b, acme), "the key known to gateway b")
    redis.stop()
    try:
        status, submitted = mj(a, "POST", "/mj/submit/imagine", acme, {"prompt": "offline"})
        assert status == 200  # the id is kept in a's memory
        assert mj(a, "GET", f"/mj/task/{submitted['result']}/fetch", acme)[0] == 200
        assert mj(b, "GET", f"/mj/task/{submitted['result']}/fetch", acme)[0] == 404  # b can't know it: unknown
        sim.set_faults([{"match": {"model": "gpt-4.1-nano"}, "fault": "status=503"}])
        assert chat(a, "fragile")[0] == 503  # opens a's circuit; the change waits for Redis
        assert "sim-fragile" in readyz(a)["open_circuits"] and "sim-fragile" not in readyz(b)["open_circuits"]
    finally:
        redis.start()
    eventually(lambda: "sim-fragile" in readyz(b)["open_circuits"], "a's change written once Redis is back")
    sim.set_faults([])
    eventually(lambda: chat(b, "fragile")[0] == 200, "a probe answered", timeout=15)
    eventually(lambda: "sim-fragile" not in readyz(a)["open_circuits"], "closed in a too")


def test_when_the_evaluating_gateway_dies_the_other_takes_over(stack, sim):
    """Last in this module: it kills one gateway. The survivor takes the lapsed lease and sends the
    next alert, starting from the states the dead one wrote (nothing already sent is sent again)."""
    a, b = stack["a"], stack["b"]
    # the circuit of the last test closed: its alert resolved (else a new opening is the same alert, still firing)
    eventually(lambda: hooks_for(stack, "circuit_open", "sim-fragile")[-1:] == ["resolved"], "the alert resolved")
    holder = subprocess.run(["redis-cli", "-p", str(stack["redis"].port), "get", "seawall:cl:lease:alerts"],
                            capture_output=True, text=True, check=True).stdout.strip()
    leader, survivor = (a, b) if f"(this gateway: {holder})" in a.proc.output() else (b, a)
    assert f"(this gateway: {holder})" in leader.proc.output()
    before = hooks_for(stack, "circuit_open", "sim-fragile")
    leader.proc.popen.kill()  # kill -9: no lease released
    leader.proc.popen.wait(10)
    sim.set_faults([{"match": {"model": "gpt-4.1-nano"}, "fault": "status=503"}])
    assert chat(survivor, "fragile")[0] == 503
    eventually(lambda: "fired" in hooks_for(stack, "circuit_open", "sim-fragile")[len(before):],
               "the survivor's webhook", timeout=15)
    assert survivor.proc.output().count("evaluates the rules for every gateway") >= 1
    assert hooks_for(stack, "upstream_auth", "sim-refusing").count("fired") == 1  # not sent again by the new evaluator


async def test_after_redis_loses_its_data_the_evaluator_takes_its_lease_and_states_back_first():
    """The evaluator's states (an alert firing) are in Redis for whoever takes over; Redis is
    flushed; the evaluator (told by the circuits' epoch) takes the lease back and writes them
    again, so a gateway beating after that follows it instead of evaluating from nothing."""
    from seawall.cluster.alerts import SharedAlerts, states_in
    from seawall.cluster.link import Link
    from seawall.config.alerts import AlertSettings
    from seawall.decide.alerts import AlertState, Reading
    from seawall.observe.alerts import AlertMonitor

    def gateway() -> SharedAlerts:
        return SharedAlerts(Link(redis.url), AlertMonitor(AlertSettings(), list, lambda: 0))

    redis = RedisServer().start()
    a, b = gateway(), gateway()
    try:
        now = time.time()
        await a.beat(now)
        assert a.leading
        firing = {("upstream_auth", "dep"): AlertState(firing=True, first_seen=now, fired_at=now,
                                                             last=Reading(4.0, 4, 4, ("req_1",), "auth.key_invalid"))}
        a.monitor.states.update(firing)
        await a.beat(now + 60)  # evaluates (an empty window keeps a firing alert until clear_for_s) and writes
        assert states_in(orjson.loads(await a.link.redis.get(a._view_key))["states"])[("upstream_auth", "dep")].firing
        await a.link.redis.flushdb()
        await a.republish()
        await b.beat(now + 61)
        assert a.leading and not b.leading
        assert await a.link.redis.get(a.lease.key) == a.link.gateway_id.encode()
        assert states_in(orjson.loads(await a.link.redis.get(a._view_key))["states"])[("upstream_auth", "dep")].firing
    finally:
        for g in (a, b):
            await g.link.close()
        redis.stop()
