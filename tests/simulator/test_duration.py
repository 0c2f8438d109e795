import pytest

from seawall.simulator.duration import ceil_ms, format_go_duration, format_reset

GO_CASES = [  # seconds, Go's time.Duration.String()
    (0, "0s"),
    (0.0000005, "500ns"),
    (0.0000015, "1.5µs"),
    (0.000800, "800µs"),
    (0.009, "9ms"),
    (0.120, "120ms"),
    (0.0015, "1.5ms"),
    (1, "1s"),
    (1.146, "1.146s"),
    (1.5, "1.5s"),
    (20, "20s"),
    (59.999, "59.999s"),
    (60, "1m0s"),
    (360, "6m0s"),
    (61.5, "1m1.5s"),
    (3600, "1h0m0s"),
    (3723, "1h2m3s"),
]


@pytest.mark.parametrize("seconds,expected", GO_CASES, ids=[c[1] for c in GO_CASES])
def test_format_go_duration(seconds, expected):
    assert format_go_duration(seconds) == expected


def test_negative_is_zero():
    assert format_go_duration(-3) == "0s"


@pytest.mark.parametrize("seconds,expected", [
    (0.006, "6ms"),        # 0.006 * 1000 is 6.000000000000001 in floats: must not become 7ms
    (0.0061, "7ms"),       # rounded up, never early
    (0.0001, "1ms"),
    (1.1455, "1.146s"),
    (20, "20s"),
    (360, "6m0s"),
    (0, "0s"),
])
def test_format_reset_is_ms_resolution_rounded_up(seconds, expected):
    assert format_reset(seconds) == expected


def test_ceil_ms():
    assert [ceil_ms(x) for x in (0, 0.006, 0.0061, 1.146, -1)] == [0, 6, 7, 1146, 0]
