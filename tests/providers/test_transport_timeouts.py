"""Which of the gateway's limits fired, as the transport reports it: the one place aiohttp's
timeout exceptions become UpstreamFailures that name a limit and its value."""

import aiohttp
import pytest

from seawall.config import Timeouts
from seawall.providers.transport import translate

DEFAULTS = Timeouts()
SET = Timeouts(connect_s=2, first_byte_s=20, read_s=5, total_s=120)

CASES = [  # id, exception, timeouts, idle, (limit, seconds, detail)
    ("connect", aiohttp.ConnectionTimeoutError(), SET, False,
     ("connect_s", 2, "connecting timed out after 2 s (timeouts.connect_s)")),
    ("sock_read before the first event: first_byte_s", aiohttp.SocketTimeoutError(), SET, False,
     ("first_byte_s", 20, "no first byte for 20 s (timeouts.first_byte_s)")),
    ("sock_read after it: read_s, the idle limit", aiohttp.SocketTimeoutError(), SET, True,
     ("read_s", 5, "no chunk for 5 s (timeouts.read_s, the idle timeout)")),
    ("aiohttp's total: a plain TimeoutError", TimeoutError(), SET, True,
     ("total_s", 120, "the exchange took longer than 120 s (timeouts.total_s)")),
    ("total before the first event too", TimeoutError(), SET, False,
     ("total_s", 120, "the exchange took longer than 120 s (timeouts.total_s)")),
    ("first_byte_s unset: read_s's value, said so", aiohttp.SocketTimeoutError(), DEFAULTS, False,
     ("first_byte_s", 600, "no first byte for 600 s (timeouts.first_byte_s, unset so read_s)")),
    ("no total_s: a bare TimeoutError is sock_read's", TimeoutError(), DEFAULTS, True,
     ("read_s", 600, "no chunk for 600 s (timeouts.read_s, the idle timeout)")),
]


@pytest.mark.parametrize("exc,timeouts,idle,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_translate_names_the_limit_that_fired(exc, timeouts, idle, expected):
    failure = translate(exc, timeouts, idle)
    assert failure.kind in ("timeout", "connect")
    assert (failure.limit, failure.seconds, failure.detail) == expected


def test_other_failures_name_no_limit():
    failure = translate(aiohttp.ServerDisconnectedError(), SET, True)
    assert failure.kind == "reset" and failure.limit is None
