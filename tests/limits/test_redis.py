"""The Redis limiter against a real Redis on 127.0.0.1:6379 (started here if none runs): the
in-process limiter's semantics, the same arithmetic as decide/gcra.py, one bucket shared by
several limiters (as by several processes), leases that outlive a crash only briefly, and the
failure policy when Redis is down, slow or back."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import time
import uuid

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.config import LimitSettings
from seawall.decide.gcra import NS
from seawall.errors import SeawallError
from seawall.limits.base import Admitted, LimiterUnavailable, Refused, scope_limits
from seawall.limits.memory import CONCURRENCY_RETRY_NS, MemoryLimiter
from seawall.limits.redis import CALL, PROBE, SKIP, Outage, RedisLimiter, probe_delay
from seawall.pipeline.admit import Admission
from seawall.pipeline.context import Principal, RequestContext
from tcp_proxy import TcpProxy
from seawall.providers.base import ApiRequest

REDIS_URL = "redis://127.0.0.1:6379/0"
NOW_US = 10**15 // 1000  # a fixed clock for the exact tests: Redis's TIME is replaced
KEY = scope_limits("key", "key_a", rpm=3, tpm=1000, max_concurrency=None)
GROUP = scope_limits("group", "team", rpm=5, tpm=None, max_concurrency=2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The CI Redis on 6379; started (daemonized, as .ci/run does) when none answers."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1)
    try:
        client.ping()
    except redis.ConnectionError:
        subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
                        "--save", "", "--appendonly", "no", "--dir", "/tmp", "--logfile", "/tmp/redis-ci.log"],
                       check=True)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
    client.ping()
    client.close()
    return REDIS_URL


@pytest.fixture
def prefix(redis_server):
    """A fresh key prefix per test (other tests, and other people, share this Redis); cleaned after."""
    p = f"seawall:rl:test-{uuid.uuid4().hex[:10]}:"
    yield p
    client = redis.Redis.from_url(redis_server)
    keys = list(client.scan_iter(match=p + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
async def make(prefix):
    """make(**options) -> a RedisLimiter on this test's prefix, closed after the test."""
    made: list[RedisLimiter] = []

    def build(url: str = REDIS_URL, on_error: str = "open", timeout_ms: float = 500, clock_us=None,
              lease_s: float = 30.0) -> RedisLimiter:
        lim = RedisLimiter(LimitSettings(redis_url=url, on_redis_error=on_error, redis_timeout_ms=timeout_ms),
                           prefix=prefix, lease_s=lease_s, clock_us=clock_us)
        made.append(lim)
        return lim

    yield build
    for lim in made:
        await lim.close()


def fixed():
    return NOW_US


# -- the in-process limiter's semantics (tests/limits/test_memory.py, one for one) -----------------
async def test_a_burst_of_exactly_rpm_then_a_refusal_naming_the_key(make):
    lim = make(clock_us=fixed)
    for left in (2, 1, 0):
        got = await lim.admit((KEY,), 10)
        assert isinstance(got, Admitted) and got.requests.remaining == left and got.lease
        await lim.finish((KEY,), got.lease, 0)
    refused = await lim.admit((KEY,), 10)
    assert isinstance(refused, Refused)
    assert (refused.kind, refused.scope.scope, refused.limit, refused.retry_after_ns) == ("requests", "key", 3, 20 * NS)


async def test_a_refusal_spends_nothing_in_any_scope(make):
    lim = make(clock_us=fixed)
    assert isinstance(await lim.admit((KEY, GROUP), 990), Admitted)
    refused = await lim.admit((KEY, GROUP), 500)  # tokens refuse; requests would have passed
    assert refused.kind == "tokens" and refused.scope is KEY
    again = await lim.admit((KEY, GROUP), 1)  # had the refusal spent anything, these would be lower
    assert again.requests.limit == 3 and again.requests.remaining == 1
    assert (await lim.admit((GROUP,), 0)).requests.remaining == 2  # 5 - 3 admitted
    assert (await lim.admit((GROUP,), 0)).kind == "concurrency"  # two slots held, the refusal took none


async def test_headers_follow_the_most_restrictive_scope(make):
    got = await make(clock_us=fixed).admit((KEY, GROUP), 10)
    assert got.requests.limit == 3 and got.requests.remaining == 2  # the key's 3, not the group's 5
    assert got.tokens.limit == 1000 and got.tokens.remaining == 990


async def test_a_group_is_shared_by_its_keys(make):
    other = scope_limits("key", "key_b", rpm=100, tpm=None, max_concurrency=None)
    lim = make(clock_us=fixed)
    for _ in range(5):
        got = await lim.admit((other, GROUP), 1)
        assert isinstance(got, Admitted)
        await lim.finish((other, GROUP), got.lease, 0)
    refused = await lim.admit((KEY, GROUP), 1)
    assert (refused.kind, refused.scope.scope, refused.limit) == ("requests", "group", 5)


async def test_concurrency_slots_are_held_until_released_and_idle_scopes_hold_nothing(make, prefix):
    lim = make(clock_us=fixed)
    conc = scope_limits("group", "g", None, None, max_concurrency=2)
    first, second = await lim.admit((conc,), 0), await lim.admit((conc,), 0)
    assert isinstance(first, Admitted) and isinstance(second, Admitted)
    refused = await lim.admit((conc,), 0)
    assert (refused.kind, refused.limit, refused.retry_after_ns) == ("concurrency", 2, CONCURRENCY_RETRY_NS)
    await lim.finish((conc,), first.lease, 0)
    third = await lim.admit((conc,), 0)
    assert isinstance(third, Admitted)
    await lim.finish((conc,), second.lease, 0)
    await lim.finish((conc,), third.lease, 0)
    assert not redis.Redis.from_url(REDIS_URL).exists(prefix + "group:g:slots")
    assert lim.stats()["leases_held"] == 0


async def test_too_large_is_reported_before_any_wait(make):
    lim = make(clock_us=fixed)
    for _ in range(3):
        await lim.admit((KEY,), 1)
    refused = await lim.admit((KEY,), 5000)  # both rpm (wait 20 s) and tpm (never) refuse
    assert refused.kind == "too_large" and refused.limit == 1000 and refused.retry_after_ns == -1


async def test_finish_refunds_the_estimate(make):
    lim = make(clock_us=fixed)
    got = await lim.admit((KEY,), 900)
    assert (await lim.admit((KEY,), 500)).kind == "tokens"
    await lim.finish((KEY,), got.lease, 50 - 900)
    assert isinstance(await lim.admit((KEY,), 500), Admitted)


async def test_usage_beyond_the_estimate_is_charged(make):
    lim = make(clock_us=fixed)
    got = await lim.admit((KEY,), 100)
    await lim.finish((KEY,), got.lease, 1100)  # used 1200: the bucket is 200 in debt
    refused = await lim.admit((KEY,), 1)
    assert refused.kind == "tokens" and refused.retry_after_ns == (200 + 1) * 60 * NS // 1000


async def test_a_changed_limit_starts_a_fresh_bucket(make):
    lim = make(clock_us=fixed)
    for _ in range(3):
        await lim.admit((KEY,), 1)
    raised = scope_limits("key", "key_a", rpm=4, tpm=1000, max_concurrency=None)
    assert isinstance(await lim.admit((raised,), 1), Admitted)


# -- the same arithmetic as decide/gcra.py ---------------------------------------------------------
STEPS = st.lists(st.tuples(st.integers(0, 3_000_000),   # microseconds since the last step
                           st.integers(0, 400),          # tokens asked
                           st.integers(-300, 300)),      # settled after: usage - estimate
                 min_size=1, max_size=25)


@settings(max_examples=40, deadline=None)
@given(limit=st.integers(1, 1000), steps=STEPS)
def test_the_lua_script_decides_as_decide_gcra_does(redis_server, limit, steps):
    """Every decision equal to the in-process limiter's; waits and resets rounded up to the
    microsecond (Redis's clock), so never shorter and less than 1 us longer."""
    scope = scope_limits("key", uuid.uuid4().hex, rpm=None, tpm=limit, max_concurrency=None)
    now = [NOW_US]
    memory = MemoryLimiter()

    async def run() -> None:
        lim = RedisLimiter(LimitSettings(redis_url=redis_server, redis_timeout_ms=1000),
                           prefix=f"seawall:rl:test-parity-{uuid.uuid4().hex[:8]}:", clock_us=lambda: now[0])
        try:
            for advance, cost, delta in steps:
                now[0] += advance
                want, got = memory.admit((scope,), cost, now[0] * 1000), await lim.admit((scope,), cost)
                assert type(got) is type(want)
                w, g = want.tokens, got.tokens
                assert (g.limit, g.remaining) == (w.limit, w.remaining)
                assert 0 <= g.reset_ns - w.reset_ns < 1000
                if isinstance(want, Refused):
                    assert want.kind == got.kind
                    assert (got.retry_after_ns == want.retry_after_ns == -1
                            or 0 <= got.retry_after_ns - want.retry_after_ns < 1000)
                else:
                    memory.settle((scope,), delta, now[0] * 1000)
                    await lim.finish((scope,), got.lease, delta)
        finally:
            keys = [k async for k in lim._client.scan_iter(match=lim._prefix + "*")]
            if keys:
                await lim._client.delete(*keys)
            await lim.close()

    asyncio.run(run())


# -- shared by several processes, on Redis's clock ---------------------------------------------------
async def test_two_limiters_share_one_bucket_atomically(make):
    """Two limiters stand for two gateway processes: 40 admissions at once, 20 through each, of
    a 10 rpm key: exactly 10 pass, each seeing its own `remaining`."""
    a, b = make(clock_us=fixed), make(clock_us=fixed)
    rpm10 = scope_limits("key", "shared", rpm=10, tpm=None, max_concurrency=None)
    got = await asyncio.gather(*(lim.admit((rpm10,), 1) for lim in (a, b) * 20))
    admitted = [g for g in got if isinstance(g, Admitted)]
    assert sorted(g.requests.remaining for g in admitted) == list(range(10))


async def test_time_is_redis_time(make, monkeypatch):
    """The processes' own clocks play no part: a limiter whose clock is an hour off agrees."""
    rpm2 = scope_limits("key", "clock", rpm=2, tpm=None, max_concurrency=None)
    a, b = make(), make()
    monkeypatch.setattr(time, "time", lambda: 3600.0)  # nothing of ours may read it
    assert (await a.admit((rpm2,), 1)).requests.remaining == 1
    assert (await b.admit((rpm2,), 1)).requests.remaining == 0
    refused = await a.admit((rpm2,), 1)
    assert refused.kind == "requests" and 29 * NS < refused.retry_after_ns <= 30 * NS


async def test_a_crashed_process_slots_free_themselves_when_its_leases_expire(make):
    conc = scope_limits("key", "crash", None, None, max_concurrency=1)
    # A lease of seconds, not fractions: the survivor's first ask must come while it still holds,
    # and on a loaded machine half a second can pass between two awaits.
    crashed, survivor = make(lease_s=3.0), make(lease_s=3.0)
    assert isinstance(await crashed.admit((conc,), 0), Admitted)
    crashed._heartbeat.cancel()  # the process dies: its renewals stop, its release never comes
    assert (await survivor.admit((conc,), 0)).kind == "concurrency"
    for _ in range(300):
        got = await survivor.admit((conc,), 0)
        if isinstance(got, Admitted):
            break
        await asyncio.sleep(0.05)
    assert isinstance(got, Admitted), "the dead process's slot was never freed"


async def test_a_live_process_keeps_its_slots_past_the_lease(make):
    conc = scope_limits("key", "alive", None, None, max_concurrency=1)
    holder, other = make(lease_s=1.0), make(lease_s=1.0)
    held = await holder.admit((conc,), 0)
    await asyncio.sleep(2.5)  # two and a half leases long: renewed every third of one
    assert (await other.admit((conc,), 0)).kind == "concurrency"
    await holder.finish((conc,), held.lease, 0)
    assert isinstance(await other.admit((conc,), 0), Admitted)


# -- Redis down, slow, back ----------------------------------------------------------------------------
RPM1 = scope_limits("key", "k", rpm=1, tpm=None, max_concurrency=1)


async def test_redis_down_fail_open_counts_on_this_gateways_share_and_logs_once(make, caplog):
    lim = make(url=f"redis://127.0.0.1:{free_port()}/0", on_error="open")
    rpm4 = scope_limits("key", "k4", rpm=4, tpm=None, max_concurrency=None)
    lim.local.instances = 2  # as learned from the gateways' presence while Redis answered
    with caplog.at_level(logging.WARNING, logger="seawall.limits"):
        outcomes = [await lim.admit((rpm4,), 1) for _ in range(20)]
    admitted = [o for o in outcomes if isinstance(o, Admitted)]
    assert len(admitted) == 2  # half of rpm 4: two gateways admit 4 between them
    assert all(isinstance(o, Refused) and o.kind == "requests" for o in outcomes if o not in admitted)
    assert admitted[0].requests.limit == 2 and admitted[0].lease == "local"
    warnings = [r for r in caplog.records if "not answering" in r.getMessage()]
    assert len(warnings) == 1 and "share (1/2)" in warnings[0].getMessage()
    assert lim.stats()["incidents"] == 1 and lim.stats()["admitted_locally"] == 2
    assert lim.stats()["refused_locally"] == 18
    conc = scope_limits("key", "c", rpm=None, tpm=None, max_concurrency=1)
    held = await lim.admit((conc,), 0)
    assert isinstance(await lim.admit((conc,), 0), Refused)  # the slot is counted here too
    await lim.finish((conc,), held.lease, 0)  # and given back here, with no wait on Redis
    assert isinstance(await lim.admit((conc,), 0), Admitted)


async def test_redis_down_fail_closed_refuses_with_a_wait(make):
    lim = make(url=f"redis://127.0.0.1:{free_port()}/0", on_error="closed")
    for _ in range(5):
        with pytest.raises(LimiterUnavailable) as refused:
            await lim.admit((RPM1,), 1)
        assert refused.value.retry_after_s >= 1
    assert lim.stats()["refused_unavailable"] == 5


async def test_a_redis_that_never_answers_costs_a_request_the_timeout_only(make):
    """A server that accepts and then says nothing (a hung Redis, a black hole)."""
    async def silent(reader, writer):
        await reader.read(-1)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    lim = make(url=f"redis://127.0.0.1:{port}/0", on_error="open", timeout_ms=100)
    async with asyncio.timeout(5):  # the guard against a hang; the limiter must answer on its own
        started = time.monotonic()
        assert (await lim.admit((RPM1,), 1)).lease == "local"
        assert time.monotonic() - started < 1
    assert lim.stats()["redis_errors"] == 1
    server.close()


async def test_a_busy_event_loop_does_not_make_a_healthy_redis_look_down(make):
    """Redis answers in 10 ms, but the loop is busy from 5 ms to 205 ms (a burst being parsed):
    the reply came in time, so the admission is counted in Redis, not failed over."""
    proxy = TcpProxy(("127.0.0.1", 6379), reply_delay_s=0.01).start()
    try:
        lim = make(url=f"redis://127.0.0.1:{proxy.port}/0", on_error="open", timeout_ms=50)
        rpm = scope_limits("key", uuid.uuid4().hex, rpm=100, tpm=None, max_concurrency=None)
        assert await lim.ping()  # scripts loaded, connections open: an admission is one round trip
        assert (await lim.admit((rpm,), 1)).lease != "local"
        for _ in range(5):
            asyncio.get_running_loop().call_later(0.005, time.sleep, 0.2)
            outcome = await lim.admit((rpm,), 1)
            assert isinstance(outcome, Admitted) and outcome.lease != "local", outcome
        assert lim.stats()["redis_errors"] == 0 and lim.outage.down_since is None
    finally:
        proxy.close()


async def test_gateways_learn_how_many_share_the_limits(make):
    a, b = make(lease_s=0.3), make(lease_s=0.3)  # presence renewed every 0.1 s
    assert await a.ping() and await b.ping()
    for _ in range(50):
        if a.local.instances == b.local.instances == 2:
            break
        await asyncio.sleep(0.02)
    assert a.local.instances == 2 and b.stats()["instances"] == 2
    await b.close()  # leaving says so at once
    for _ in range(50):
        if a.local.instances == 1:
            break
        await asyncio.sleep(0.02)
    assert a.local.instances == 1


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, on a free port, that the test may stop and start."""
    port = free_port()
    procs: list[subprocess.Popen] = []

    def start() -> None:
        procs.append(subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL))
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop() -> None:
        procs[-1].terminate()
        procs[-1].wait(10)

    start()
    yield port, start, stop
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(10)


async def test_redis_back_after_an_outage_counting_resumes(make, own_redis, caplog):
    port, start, stop = own_redis
    lim = make(url=f"redis://127.0.0.1:{port}/0", on_error="closed", timeout_ms=200)
    rpm100 = scope_limits("key", "back", rpm=100, tpm=None, max_concurrency=None)
    assert (await lim.admit((rpm100,), 1)).requests.remaining == 99
    stop()
    with caplog.at_level(logging.WARNING, logger="seawall.limits"):
        with pytest.raises(LimiterUnavailable):
            await lim.admit((rpm100,), 1)
        start()  # an empty Redis (no persistence): the buckets start full
        for _ in range(200):  # the next probe comes within the backoff (0.1 s, doubling)
            try:
                got = await lim.admit((rpm100,), 1)
                break
            except LimiterUnavailable:
                await asyncio.sleep(0.05)
    assert got.requests.remaining == 99 and got.lease
    messages = [r.getMessage() for r in caplog.records]
    assert sum("not answering" in m for m in messages) == 1 and sum("answers again" in m for m in messages) == 1
    assert lim.stats()["healthy"]


OUTAGE = [  # id, events (what, time), expected (mode of a begin() after them, retry_after_s at 10.0)
    ("healthy", [], CALL),
    ("just failed: skip", [("failed", CALL, 10.0)], SKIP),
    ("backoff passed: one probe", [("failed", CALL, 9.0)], PROBE),
    ("a probe is out: the rest skip", [("failed", CALL, 9.0), ("begin", None, 9.5)], SKIP),
    ("probe failed: wait longer", [("failed", CALL, 9.0), ("begin", None, 9.5), ("failed", PROBE, 9.95)], SKIP),
    ("probe answered: healthy", [("failed", CALL, 9.0), ("begin", None, 9.5), ("ok", PROBE, 9.6)], CALL),
    ("probe cancelled: another may", [("failed", CALL, 9.0), ("begin", None, 9.5), ("abandoned", PROBE, 9.6)],
     PROBE),
    ("calls in flight at the failure don't extend it", [("failed", CALL, 9.0), ("failed", CALL, 9.05)], PROBE),
]


@pytest.mark.parametrize("events,expected", [c[1:] for c in OUTAGE], ids=[c[0] for c in OUTAGE])
def test_outage_state_machine(events, expected):
    o = Outage()
    for what, mode, at in events:
        if what == "failed":
            o.failed(mode, at)
        elif what == "begin":
            o.begin(at)
        elif what == "ok":
            o.succeeded(mode, at)
        else:
            o.abandoned(mode)
    assert o.begin(10.0) == expected


@pytest.mark.parametrize("failures,delay", [(1, 0.1), (2, 0.2), (3, 0.4), (6, 3.2), (7, 5.0), (50, 5.0)])
def test_probe_backoff_doubles_to_a_cap(failures, delay):
    assert probe_delay(failures) == pytest.approx(delay)


def test_a_refused_client_waits_until_the_next_probe_at_least_a_second():
    o = Outage()
    o.failed(CALL, 0.0)
    assert o.retry_after_s(0.0) == 1
    for _ in range(6):
        o.failed(PROBE, 0.0)
    assert o.retry_after_s(0.0) == 5


# -- the admit stage with the Redis limiter ---------------------------------------------------------
def ctx_for(*scopes) -> RequestContext:
    ctx = RequestContext("req_1", "POST", "/v1/chat/completions", {}, "127.0.0.1")
    ctx.principal = Principal("key_a", "a", limits=scopes)
    ctx.request = ApiRequest("chat", "gpt-4o-mini", {"max_tokens": 100})
    return ctx


async def test_admission_through_redis_headers_then_a_429(make):
    lim = make(clock_us=fixed)
    rpm2 = scope_limits("key", "key_a", rpm=2, tpm=None, max_concurrency=1)
    async with Admission(ctx_for(rpm2), lim, 40) as headers:
        assert headers == {"x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "1",
                           "x-ratelimit-reset-requests": "30s"}
        with pytest.raises(SeawallError) as busy:  # its slot is held until the block ends
            async with Admission(ctx_for(rpm2), lim, 40):
                pass
        assert busy.value.code == "rate_limit_concurrency"
    async with Admission(ctx_for(rpm2), lim, 40) as headers:
        assert headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(SeawallError) as refused:
        async with Admission(ctx_for(rpm2), lim, 40):
            pass
    assert (refused.value.status, refused.value.code, refused.value.headers["retry-after"]) == \
        (429, "rate_limit_requests", "30")


async def test_admission_with_redis_down(make):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with Admission(ctx_for(RPM1), make(url=dead, on_error="open"), 40) as headers:
        assert headers["x-ratelimit-limit-requests"] == "1"  # counted on this gateway's share
    with pytest.raises(SeawallError) as refused:
        async with Admission(ctx_for(RPM1), make(url=dead, on_error="closed"), 40):
            pass
    e = refused.value
    assert (e.status, e.code, e.category, e.type) == (503, "limits_unavailable", "upstream.unavailable", "server_error")
    assert e.headers["retry-after"] == "1" and e.headers["retry-after-ms"] == "1000"
    assert "Redis" in e.hint and "limits.redis_url" in e.hint
    assert "127.0.0.1" not in e.message + e.hint  # where Redis is stays the operator's business


# -- settings ---------------------------------------------------------------------------------------
MODELS = {"models": [{"name": "m", "deployments": [{"provider": "simulator", "model": "m"}]}]}
BAD_SETTINGS = [  # id, limits section, the field named, words the message must hold
    ("not a redis scheme", {"redis_url": "http://127.0.0.1:6379"}, "limits.redis_url", "redis://"),
    ("no host", {"redis_url": "redis://"}, "limits.redis_url", "redis://"),
    ("zero timeout", {"redis_timeout_ms": 0}, "limits.redis_timeout_ms", "greater than 0"),
    ("negative timeout", {"redis_timeout_ms": -5}, "limits.redis_timeout_ms", "greater than 0"),
    ("unknown policy", {"on_redis_error": "ignore"}, "limits.on_redis_error", "'open' or 'closed'"),
]


@pytest.mark.parametrize("limits,field,words", [c[1:] for c in BAD_SETTINGS], ids=[c[0] for c in BAD_SETTINGS])
def test_limit_settings_that_cannot_work_name_the_field(limits, field, words):
    from seawall.config import ConfigError, parse_settings

    with pytest.raises(ConfigError) as bad:
        parse_settings({**MODELS, "limits": limits})
    assert any(p.startswith(field) and words in p for p in bad.value.problems), bad.value.problems


def test_a_redis_password_never_shows_in_a_message():
    from seawall.config import ConfigError, parse_settings

    with pytest.raises(ConfigError) as bad:
        parse_settings({**MODELS, "limits": {"redis_url": "http://user:hunter2@cache:6379"}})
    assert "hunter2" not in bad.value.render() and "user:***@cache:6379" in bad.value.render()
    lim = RedisLimiter(LimitSettings(redis_url="redis://:hunter2@127.0.0.1:6379/0"))
    assert "hunter2" not in lim.where and "hunter2" not in str(lim.stats())


def test_redis_url_from_the_flag_then_the_environment_then_the_config():
    import click

    from seawall.cli import _with_redis
    from seawall.config import parse_settings

    cfg = parse_settings({**MODELS, "limits": {"redis_url": "redis://from-config:6379"}})
    env = {"SEAWALL_REDIS_URL": "redis://from-env:6379"}
    assert _with_redis(cfg, "redis://from-flag:6379", env).limits.redis_url == "redis://from-flag:6379"
    assert _with_redis(cfg, None, env).limits.redis_url == "redis://from-env:6379"
    assert _with_redis(cfg, None, {}).limits.redis_url == "redis://from-config:6379"
    with pytest.raises(click.ClickException) as bad:
        _with_redis(cfg, None, {"SEAWALL_REDIS_URL": "localhost:6379"})
    assert "SEAWALL_REDIS_URL" in bad.value.message and "redis_url" in bad.value.message


async def test_redis_down_fails_closed_only_for_the_scopes_set_to(make):
    """on_redis_error per scope: a tenant's limit kept strict, a key's convenience limit not."""
    lim = make(url=f"redis://127.0.0.1:{free_port()}/0", on_error={"default": "open", "tenant": "closed"})
    tenant = scope_limits("tenant", "acme", rpm=10, tpm=None, max_concurrency=None)
    assert isinstance(await lim.admit((RPM1,), 1), Admitted)  # key only: counted on this gateway's share
    with pytest.raises(LimiterUnavailable):
        await lim.admit((RPM1, tenant), 1)  # a tenant limit applies: refused
    assert lim.stats()["admitted_locally"] == 1 and lim.stats()["refused_unavailable"] == 1


def test_a_per_scope_failure_policy_is_validated():
    from seawall.config import ConfigError, parse_settings

    models = [{"name": "m", "deployments": [{"provider": "simulator", "model": "gpt-4o-mini"}]}]
    ok = parse_settings({"models": models, "limits": {"on_redis_error": {"tenant": "closed"}}})
    assert ok.limits.fails_closed("tenant") and not ok.limits.fails_closed("key")
    with pytest.raises(ConfigError) as e:
        parse_settings({"models": models, "limits": {"on_redis_error": {"tenant": "shut"}}})
    assert "limits.on_redis_error" in str(e.value)
