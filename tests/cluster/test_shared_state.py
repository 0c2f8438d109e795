"""What cluster/ sends between gateways, without I/O: breakers and rotation as they travel (the
monotonic clock of one process turned into wall time and back into another's), which writes a
gateway adopts, and alert counts and states that survive the trip and sum across gateways; and
a Redis that fails is not waited on again until its retry is due."""

import orjson

from seawall.cluster.alerts import states_in, states_out, tallies_in, tallies_out
from seawall.cluster.circuits import breaker_in, breaker_out, health_in, health_out, held, newer
from seawall.cluster.link import Link
from seawall.decide.alerts import AlertState, Reading, Tally, Windows
from seawall.decide.breaker import CLOSED, Breaker
from seawall.decide.health import IN_ROTATION, Health


def test_an_open_circuit_travels_as_wall_time_and_lands_on_the_other_monotonic_clock():
    sent = Breaker("open", 3, open_until=105.0, cooldown_s=10.0, probe_at=0.0)
    # sender: monotonic 100 at wall 1000; receiver: monotonic 7 at the same wall instant, plus 0.5 s later
    got = breaker_in(breaker_out(sent, mono=100.0, wall=1000.0), mono=7.5, wall=1000.5)
    assert got.state == "open" and got.open_until == 12.0 and got.cooldown_s == 10.0
    assert got.failures == 0  # failures in a row are each gateway's own count
    assert breaker_in(breaker_out(Breaker(failures=4), 1.0, 2.0), 9.0, 9.0) == CLOSED


def test_rotation_travels_whole():
    out = Health("operator", None, "rotating the key", 1000.0)
    assert health_in(health_out(out)) == out
    assert health_in(health_out(IN_ROTATION)) == IN_ROTATION


def test_a_gateway_adopts_only_what_others_wrote_since_it_last_looked():
    seen: dict[str, int] = {}
    entries = {b"b:x": b"3|gw-b|{}", b"h:y": b"5|gw-a|{}", b"b:z": b"4|gw-c|{}"}
    assert newer(entries, seen, me="gw-a") == [("b:x", b"{}"), ("b:z", b"{}")]  # oldest first, not its own
    assert seen == {"b:x": 3, "h:y": 5, "b:z": 4}
    assert newer(entries, seen, me="gw-a") == []  # nothing new
    entries[b"b:x"] = b"6|gw-c|{\"state\":\"closed\"}"
    assert newer(entries, seen, me="gw-a") == [("b:x", b'{"state":"closed"}')]


def test_what_a_gateway_holds_is_its_circuits_not_closed_and_its_deployments_out():
    """Written again when Redis lost its data; in rotation and closed are the default, not written."""
    disabled = Health("operator", None, "rotating the key", 1000.0)
    breakers = {"open": Breaker("open", 1, open_until=105.0, cooldown_s=10.0, probe_at=0.0), "fine": Breaker(failures=2)}
    states = held(breakers, {"off": disabled}, mono=100.0, wall=1000.0)
    assert set(states) == {"b:open", "h:off"}
    assert health_in(states["h:off"]) == disabled
    assert breaker_in(states["b:open"], mono=100.0, wall=1000.0).open_until == 105.0


def test_alert_counts_sum_across_gateways():
    a = {("upstream", "dep"): Tally(2, {"auth": 2}, {"auth": [("req_1", "auth.key_invalid")]})}
    b = {("upstream", "dep"): Tally(3, {"auth": 2}, {"auth": [("req_2", "auth.key_invalid")]}),
         ("gateway", "gateway"): Tally(5)}
    parts = [(200, tallies_in(tallies_out(a))), (200, tallies_in(tallies_out(b))), (199, tallies_in(tallies_out(a)))]
    windows = Windows.combined(5.0, 60.0, parts)
    seen = windows.sum("upstream", "auth", 60.0, now=200 * 5.0 + 1)
    assert seen["dep"].events == 7 and seen["dep"].bad == 6
    assert [rid for rid, _ in seen["dep"].examples][:2] == ["req_1", "req_1"]  # bucket 199's, then 200's
    assert windows.sum("upstream", "auth", 5.0, now=200 * 5.0 + 1)["dep"].bad == 4  # the last bucket only
    assert windows.sum("gateway", "5xx", 60.0, now=1001.0)["gateway"].events == 5


def test_alert_states_survive_the_trip_so_a_new_evaluator_does_not_announce_again():
    states = {("upstream_auth", "dep"): AlertState(firing=True, first_seen=1.0, fired_at=2.0,
                                                   last=Reading(4.0, 4, 4, ("req_1",), "auth.key_invalid"),
                                                   current=4.0),
              ("circuit_open", "dep"): AlertState(resolved_at=9.0)}
    assert states_in(orjson.loads(orjson.dumps(states_out(states)))) == states


async def test_after_redis_fails_calls_answer_at_once_until_the_retry_is_due():
    link = Link("redis://127.0.0.1:1/0")  # nothing listens there: refused at once
    assert await link.call("reading", link.redis.get("k")) is None
    tried: list[int] = []

    async def work() -> int:
        tried.append(1)
        return 5

    assert await link.call("reading", work()) is None and tried == []  # skipped, not waited for
    link._retry_at = 0.0  # the backoff is over
    assert await link.call("reading", work()) == 5 and tried == [1]
    await link.close()
