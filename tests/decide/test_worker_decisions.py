"""Worker decisions: the count, the configs N workers refuse, the restart backoff, when a silent worker is hung, the streams an
open-file limit allows."""

import pytest

from seawall.decide.workers import (FIRST_DELAY_S, MAX_DELAY_S, hung, restart_delay, start_overdue, streams_allowed,
                                    worker_count, worker_instances, workers_problem)

COUNTS = [  # id, asked, usable cores, expected
    ("a number is taken as given", "3", 2, 3),
    ("auto is the usable cores", "auto", 2, 2),
    ("auto is case-blind", "AUTO", 8, 8),
    ("auto never says 0", "auto", 0, 1),
]


@pytest.mark.parametrize("asked,cores,expected", [c[1:] for c in COUNTS], ids=[c[0] for c in COUNTS])
def test_worker_count(asked, cores, expected):
    assert worker_count(asked, cores) == expected


@pytest.mark.parametrize("asked", ["0", "-2", "many", ""])
def test_worker_count_refuses_what_is_not_a_count(asked):
    with pytest.raises(ValueError, match="--workers"):
        worker_count(asked, 2)


def test_one_worker_needs_nothing_shared():
    assert workers_problem(1, None) is None


def test_workers_with_redis_are_fine():
    assert workers_problem(4, "redis://127.0.0.1:6379/0") is None


def test_workers_without_redis_are_refused_with_the_fix():
    problem = workers_problem(2, None)
    assert "2 workers need Redis for exact limits" in problem
    assert "set limits.redis_url" in problem and "--workers 1" in problem


DELAYS = [  # id, uptime, previous delay, expected
    ("a worker that served a while comes back at once", 3600, 8.0, 0.0),
    ("the first early death waits a little", 1, 0.0, FIRST_DELAY_S),
    ("each further early death waits twice as long", 1, 2.0, 4.0),
    ("the wait stops growing", 1, MAX_DELAY_S, MAX_DELAY_S),
]


@pytest.mark.parametrize("uptime,previous,expected", [c[1:] for c in DELAYS], ids=[c[0] for c in DELAYS])
def test_restart_delay(uptime, previous, expected):
    assert restart_delay(uptime, previous) == expected


def test_streams_allowed_counts_two_descriptors_a_stream_per_process():
    assert streams_allowed(1024, 1) == 480
    assert streams_allowed(1024, 2) == 960
    assert streams_allowed(10, 1) == 0


def test_each_worker_takes_its_share_of_the_configured_gateways():
    assert worker_instances(3, 2) == 6  # 3 machines of 2 workers: 1/6 of a limit each while Redis is down
    assert worker_instances(None, 4) is None  # learned from Redis, where each worker is present


def test_a_worker_is_hung_once_its_heartbeat_is_older_than_the_timeout():
    assert not hung(100.0, 129.0, 30.0)
    assert not hung(100.0, 130.0, 30.0)
    assert hung(100.0, 130.5, 30.0)


def test_a_start_is_overdue_once_it_lasts_longer_than_the_start_timeout():
    assert not start_overdue(100.0, 159.0, 60.0)
    assert not start_overdue(100.0, 160.0, 60.0)
    assert start_overdue(100.0, 160.5, 60.0)
