"""Which of the gateway's limits fired, as the transport reports it: the one place the client's
timeout exceptions become UpstreamFailures that name a limit and its value."""

import pytest

from seawall.config import Timeouts
from seawall.providers import http1
from seawall.providers.transport import translate

DEFAULTS = Timeouts()
SET = Timeouts(connect_s=2, first_byte_s=20, read_s=5, total_s=120)

CASES = [  # id, exception, timeouts, idle, (limit, seconds, detail)
    ("connect", http1.ConnectTimedOut(), SET, False,
     ("connect_s", 2, "connecting timed out after 2 s (timeouts.connect_s)")),
    ("per-read before the first event: first_byte_s", http1.ReadTimedOut(), SET, False,
     ("first_byte_s", 20, "no first byte for 20 s (timeouts.first_byte_s)")),
    ("per-read after it: read_s, the idle limit", http1.ReadTimedOut(), SET, True,
     ("read_s", 5, "no chunk for 5 s (timeouts.read_s, the idle timeout)")),
    ("the exchange's total", http1.TotalTimedOut(), SET, True,
     ("total_s", 120, "the exchange took longer than 120 s (timeouts.total_s)")),
    ("total before the first event too", http1.TotalTimedOut(), SET, False,
     ("total_s", 120, "the exchange took longer than 120 s (timeouts.total_s)")),
    ("a bare TimeoutError is the total's when set", TimeoutError(), SET, False,
     ("total_s", 120, "the exchange took longer than 120 s (timeouts.total_s)")),
    ("first_byte_s unset: read_s's value, said so", http1.ReadTimedOut(), DEFAULTS, False,
     ("first_byte_s", 600, "no first byte for 600 s (timeouts.first_byte_s, unset so read_s)")),
    ("no total_s: a bare TimeoutError is the per-read limit's", TimeoutError(), DEFAULTS, True,
     ("read_s", 600, "no chunk for 600 s (timeouts.read_s, the idle timeout)")),
]


@pytest.mark.parametrize("exc,timeouts,idle,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_translate_names_the_limit_that_fired(exc, timeouts, idle, expected):
    failure = translate(exc, timeouts, idle)
    assert failure.kind in ("timeout", "connect")
    assert (failure.limit, failure.seconds, failure.detail) == expected


FAILURES = [  # id, exception, (kind, detail)
    ("dns", http1.NameNotResolved(OSError(-2, "Name or service not known")),
     ("dns", "the host name does not resolve ([Errno -2] Name or service not known)")),
    ("tls", http1.TLSFailed(OSError(1, "wrong version number"), "api.example.com"),
     ("tls", "TLS with api.example.com failed ([Errno 1] wrong version number)")),
    ("headers too long", http1.Unreadable("its status line and headers are longer than 256 KB"),
     ("malformed", "the upstream's reply can't be read: its status line and headers are longer than 256 KB")),
    ("refused", http1.ConnectFailed(ConnectionRefusedError(111, "Connection refused")),
     ("connect", "connection refused or unreachable ([Errno 111] Connection refused)")),
    ("closed before the reply", http1.Disconnected(False, None, True),
     ("reset", "the upstream closed the connection")),
    ("closed in the body", http1.Disconnected(True, None, False),
     ("reset", "the upstream's body ended before it was complete")),
    ("reset by the peer", http1.Disconnected(True, ConnectionResetError(104, "Connection reset by peer"), False),
     ("reset", "connection error ([Errno 104] Connection reset by peer)")),
    ("not HTTP", http1.BadReply("Invalid status code"),
     ("reset", "the upstream's reply is not valid HTTP: Invalid status code")),
]


@pytest.mark.parametrize("exc,expected", [c[1:] for c in FAILURES], ids=[c[0] for c in FAILURES])
def test_other_failures_name_no_limit(exc, expected):
    failure = translate(exc, SET, True)
    assert (failure.kind, failure.detail) == expected and failure.limit is None
