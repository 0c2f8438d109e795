import pytest

from seawall.simulator.faults import (
    NO_FAULT,
    Fault,
    FaultScript,
    Match,
    Rule,
    fault_from_mapping,
    fires,
    format_fault,
    parse_fault,
    selects,
)

PARSE_CASES = [
    ("status=429;retry_after=2", Fault(status=429, retry_after=2.0)),
    ("status=503", Fault(status=503)),
    ("status=529", Fault(status=529)),
    ("reset", Fault(reset=True)),
    ("hang", Fault(hang=True)),
    ("latency_ms=300", Fault(latency_ms=300)),
    ("cut_after=3", Fault(cut_after=3)),
    ("malformed", Fault(malformed=True)),
    ("html=502", Fault(html=502)),
    ("error=insufficient_quota", Fault(error="insufficient_quota")),
    ("interval_ms=50", Fault(interval_ms=50)),
    ("stall_after=0", Fault(stall_after=0)),
    ("stream_error=server_error;after=2", Fault(stream_error="server_error", after=2)),
    ("status=503; dialect=oneapi ;", Fault(status=503, dialect="oneapi")),
    ("retry_after_ms=1500;x_should_retry=false", Fault(retry_after_ms=1500, x_should_retry=False)),
    ("Retry-After=1.5", Fault(retry_after=1.5)),
    ("tokens=400", Fault(tokens=400)),
    ("", NO_FAULT),
]


@pytest.mark.parametrize("text,expected", PARSE_CASES, ids=[c[0] or "empty" for c in PARSE_CASES])
def test_parse_fault(text, expected):
    assert parse_fault(text) == expected


@pytest.mark.parametrize("fault", [case[1] for case in PARSE_CASES])
def test_format_round_trips(fault):
    assert parse_fault(format_fault(fault)) == fault


BAD = [
    ("status=abc", "status=abc"),
    ("status=99", "100-599"),
    ("frobnicate=1", "unknown key 'frobnicate'"),
    ("html=418", "must be one of"),
    ("dialect=klingon", "openai, oneapi, newapi"),
    ("latency_ms=-5", ">= 0"),
    ("status", "needs a value"),
    ("reset=maybe", "flag"),
    ("x_should_retry=yes", "true or false"),
    ("error=bad name", "non-empty name"),
]


@pytest.mark.parametrize("text,fragment", BAD, ids=[c[0] for c in BAD])
def test_parse_fault_rejects_with_the_item_named(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_fault(text)
    assert fragment in str(info.value)


def test_fault_from_mapping():
    assert fault_from_mapping({"status": 429, "retry_after": 2, "reset": False, "hang": True,
                               "x_should_retry": False}) == Fault(status=429, retry_after=2.0, hang=True,
                                                                  x_should_retry=False)


def test_format_fault_canonical_order():
    assert format_fault(parse_fault("retry_after=2;status=429")) == "status=429;retry_after=2.0"
    assert format_fault(parse_fault("hang;latency_ms=5")) == "latency_ms=5;hang"


SELECT = [
    (Match(), "gpt-4o", "/v1/chat/completions", True),
    (Match(), None, "/v1/models", True),
    (Match(model="gpt-4o*"), "gpt-4o-mini", "/v1/chat/completions", True),
    (Match(model="gpt-4o*"), "o4-mini", "/v1/chat/completions", False),
    (Match(model="gpt-4o"), None, "/v1/models", False),
    (Match(path="/v1/embeddings"), "gpt-4o", "/v1/chat/completions", False),
    (Match(path="/v1/*"), "gpt-4o", "/v1/embeddings", True),
]


@pytest.mark.parametrize("match,model,path,expected", SELECT)
def test_selects(match, model, path, expected):
    assert selects(match, model, path) is expected


def test_fires_every_nth_first_n_probability():
    assert [fires(Match(every_nth=3), n, 0.0) for n in range(1, 7)] == [False, False, True, False, False, True]
    assert [fires(Match(first_n=2), n, 0.0) for n in range(1, 5)] == [True, True, False, False]
    assert [fires(Match(every_nth=2, first_n=4), n, 0.0) for n in range(1, 7)] == [
        False, True, False, True, False, False]
    assert fires(Match(probability=0.3), 1, 0.29) and not fires(Match(probability=0.3), 1, 0.3)
    assert not fires(Match(probability=0.0), 1, 0.0)


def test_script_counts_every_selecting_rule_and_first_firing_wins():
    a, b = Fault(status=503), Fault(status=429)
    script = FaultScript([Rule(Match(every_nth=2), a), Rule(Match(every_nth=3), b)])
    picks = [script.pick("gpt-4o", "/v1/chat/completions") for _ in range(6)]
    assert picks == [None, a, b, a, None, a]


def test_script_respects_model_and_path():
    hit = Fault(reset=True)
    script = FaultScript([Rule(Match(model="o4-*", path="/v1/chat/completions"), hit)])
    assert script.pick("gpt-4o", "/v1/chat/completions") is None
    assert script.pick("o4-mini", "/v1/embeddings") is None
    assert script.pick("o4-mini", "/v1/chat/completions") is hit


def test_script_probability_is_seeded():
    rule = Rule(Match(probability=0.5), Fault(status=500))
    first = [FaultScript([rule], seed=7).pick("m", "/p") is not None for _ in range(1)]
    runs = []
    for _ in range(2):
        script = FaultScript([rule], seed=7)
        runs.append([script.pick("m", "/p") is not None for _ in range(40)])
    assert runs[0] == runs[1]
    assert 5 < sum(runs[0]) < 35  # it is random, not constant
    assert first == runs[0][:1]
