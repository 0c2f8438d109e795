import pytest

from seawall.cli import parse_since, render_log_table
from seawall.store.base import RequestRecord


@pytest.mark.parametrize("text,ago", [("10m", 600), ("2h", 7200), ("1d", 86400), ("30s", 30)])
def test_parse_since_relative(text, ago):
    assert parse_since(text, now=1_000_000.0) == 1_000_000.0 - ago


def test_parse_since_iso_defaults_to_utc():
    assert parse_since("1970-01-02T00:00:00") == 86400.0


def test_parse_since_rejects_garbage():
    with pytest.raises(ValueError, match="use 10m"):
        parse_since("yesterday")


def test_log_table_shows_stream_end_and_category():
    r = RequestRecord(request_id="req_1", ts=0.0, method="POST", path="/", status=200, latency_ms=12.0,
                      streamed=True, stream_end="interrupted", category="stream.interrupted", attempts=1,
                      prompt_tokens=3, completion_tokens=4, model_requested="gpt-4o-mini", deployment="sim")
    table = render_log_table([r])
    assert "req_1" in table and "interrupted" in table and "3/4" in table and "stream.interrupted" in table
    assert render_log_table([]) == "no requests match"
