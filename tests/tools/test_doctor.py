"""The pure judgements of `seawall doctor` (tools/doctor_checks.py, doctor_replies.py) and its key
reading and output (tools/doctor.py), without a socket: facts in, a CheckResult out."""

from __future__ import annotations

import json

import orjson
import pytest

from seawall.config import NetworkSettings

from seawall.console.self_key import key_view
from seawall.decide.gcra import Rate
from seawall.limits.base import ScopeLimits
from seawall.pipeline.context import Principal
from seawall.tools import doctor_checks as dc
from seawall.tools import doctor_replies as dr
from seawall.tools.doctor import first_fix, read_key, render, to_json, usable_key
from seawall.tools.doctor_checks import CheckResult
from seawall.tools.doctor_pace import Budget
from seawall.tools.doctor_replies import Level, Reply

OPENAI_KEY = "sk-proj-" + "A1b2C3d4" * 6
ANTHROPIC_KEY = "sk-ant-api03-" + "Z9y8X7w6" * 6
GEMINI_KEY = "AIzaSy" + "Q" * 33


# -- the key ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "endpoint", "host", "status", "category"), [
    (None, None, "127.0.0.1", "fail", "auth.missing"),
    ("", "openai", "api.openai.com", "fail", "auth.missing"),
    (OPENAI_KEY + "\n", "openai", "api.openai.com", "fail", "auth.key_whitespace"),
    (" " + OPENAI_KEY, "openai", "api.openai.com", "fail", "auth.key_whitespace"),
    (f'"{OPENAI_KEY}"', "openai", "api.openai.com", "fail", "auth.key_whitespace"),
    ("Bearer " + OPENAI_KEY, "openai", "api.openai.com", "fail", "auth.malformed"),
    (ANTHROPIC_KEY, "openai", "api.openai.com", "fail", "auth.wrong_platform"),
    (ANTHROPIC_KEY, None, "127.0.0.1", "fail", "auth.wrong_platform"),  # an OpenAI-style route elsewhere
    (ANTHROPIC_KEY, "anthropic", "api.anthropic.com", "pass", None),
    (GEMINI_KEY, None, "llm.internal", "fail", "auth.wrong_platform"),
    (OPENAI_KEY, "anthropic", "api.anthropic.com", "fail", "auth.wrong_platform"),
    (OPENAI_KEY, None, "llm.internal", "pass", None),  # a proxy may pass OpenAI keys through
    ("sk-sw-" + "k" * 40, "openai", "api.openai.com", "fail", "auth.wrong_platform"),
    ("sk-sw-" + "k" * 40, "seawall", "gw.internal", "pass", None),
    ("sk-sw-" + "k" * 12, None, "gw.internal", "warn", "auth.key_invalid"),  # truncated, or a test key
    ("sk-" + "x" * 48, "one-api", "oneapi.internal", "pass", None),
])
def test_judge_key(raw, endpoint, host, status, category):
    result = dc.judge_key(raw, "--api-key", endpoint, host)
    assert (result.name, result.status, result.category) == ("key", status, category)
    if raw and len(raw.strip()) > 12:
        body = raw.strip().strip('"')[8:-4]
        assert body not in result.evidence and body not in (result.fix or "")


def test_fingerprint_shows_prefix_length_last4_and_where_the_whitespace_is():
    shown = dc.key_fingerprint(ANTHROPIC_KEY + "\r\n")
    assert shown.startswith(f"prefix sk-ant-, {len(ANTHROPIC_KEY)} characters, ends …{ANTHROPIC_KEY[-4:]}")
    assert f"2 trailing carriage return/newline character(s) after character {len(ANTHROPIC_KEY)}" in shown
    assert ANTHROPIC_KEY[7:-4] not in shown
    assert "1 leading tab" in dc.key_fingerprint("\t" + OPENAI_KEY)
    assert "wrapped in quotes" in dc.key_fingerprint(f"'{OPENAI_KEY}'")
    assert "(too short to show)" in dc.key_fingerprint("abc")


def test_usable_key_strips_what_the_key_check_reported():
    assert usable_key(f' "{OPENAI_KEY}"\n') == OPENAI_KEY
    assert usable_key("Bearer " + OPENAI_KEY) == OPENAI_KEY
    assert usable_key("  \n") is None and usable_key(None) is None


def test_read_key_keeps_what_is_stored(tmp_path):
    env = {"OPENAI_API_KEY": OPENAI_KEY + "\n", "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "MINE": " x "}
    assert read_key("given", "MINE", None, env, None) == ("given", "--api-key")
    assert read_key(None, "MINE", None, env, None) == (" x ", "$MINE")
    assert read_key(None, "ABSENT", None, env, None) == (None, "$ABSENT (not set)")
    assert read_key(None, None, None, env, None) == (OPENAI_KEY + "\n", "$OPENAI_API_KEY")
    assert read_key(None, None, None, env, "anthropic") == (ANTHROPIC_KEY, "$ANTHROPIC_API_KEY")
    path = tmp_path / "key"
    path.write_bytes(OPENAI_KEY.encode() + b"\r\n")
    assert read_key(None, None, str(path), env, None) == (OPENAI_KEY + "\r\n", f"the file {path}")
    key, source = read_key(None, None, str(tmp_path / "none"), env, None)
    assert key is None and "cannot be read" in source
    key, source = read_key(None, None, None, {}, "gemini")
    assert key is None and "$GEMINI_API_KEY, $GOOGLE_API_KEY, $OPENAI_API_KEY not set" in source


# -- the base URL ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "status", "category", "fix"), [
    ("https://api.openai.com/v1", "pass", None, None),
    ("https://api.openai.com/v1/", "pass", None, None),
    ("https://generativelanguage.googleapis.com/v1beta/openai", "pass", None, None),
    ("https://openrouter.ai/api/v1", "pass", None, None),
    ("http://127.0.0.1:8100", "fail", "route.base_url", "Set the base URL to http://127.0.0.1:8100/v1."),
    ("https://gw.example.com/proxy", "fail", "route.base_url", "Set the base URL to https://gw.example.com/proxy/v1."),
    ("https://api.openai.com/v1/v1", "fail", "route.base_url", "Set the base URL to https://api.openai.com/v1."),
    ("https://api.openai.com/v1/chat/completions", "fail", "route.base_url",
     "Set the base URL to https://api.openai.com/v1."),
    ("api.openai.com/v1", "fail", "route.base_url", "Use http(s)://<host>[:port]/v1."),
    ("ftp://api.openai.com/v1", "fail", "route.base_url", "Use http(s)://<host>[:port]/v1."),
    ("http://api.example.com:notaport/v1", "fail", "route.base_url", "Use http(s)://<host>[:port]/v1."),
    ("http://llm.example.com/v1", "warn", "network.tls", None),
])
def test_judge_base_url(url, status, category, fix):
    result = dc.judge_base_url(url, None, dc.endpoint_platform(url, None))
    assert (result.status, result.category) == (status, category), result
    if fix:
        assert result.fix == fix


def test_base_url_of_another_platform_than_the_key():
    result = dc.judge_base_url("https://api.openai.com/v1", ANTHROPIC_KEY, "openai")
    assert result.status == "warn" and "https://api.anthropic.com/v1" in result.fix


# -- proxy and CORS --------------------------------------------------------------------------------

def test_proxy_for():
    url = "https://api.openai.com/v1"
    assert dc.proxy_for(url, {}) == (None, "no HTTP(S)_PROXY / ALL_PROXY set")
    assert dc.proxy_for(url, {"HTTPS_PROXY": "http://p:3128"}) == ("http://p:3128", "HTTPS_PROXY")
    assert dc.proxy_for(url, {"HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:2"})[0] == "http://b:2"
    assert dc.proxy_for(url, {"HTTP_PROXY": "http://p:3128"})[0] is None  # only http:// URLs use it
    assert dc.proxy_for(url, {"ALL_PROXY": "socks5://p:1080"})[0] == "socks5://p:1080"
    proxy, why = dc.proxy_for(url, {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "localhost,.openai.com"})
    assert proxy is None and "NO_PROXY" in why
    # the gateway's network: section, as --config gives it: the same rule the gateway follows
    server = NetworkSettings(proxy="socks5h://corp:1080", no_proxy=["internal.example"])
    assert dc.proxy_for(url, {"HTTPS_PROXY": "http://p:3128"}, server) == ("socks5h://corp:1080", "network.proxy")
    assert dc.proxy_for("https://llm.internal.example/v1", {}, server)[0] is None
    off = NetworkSettings(trust_env=False)
    assert dc.proxy_for(url, {"HTTPS_PROXY": "http://p:3128"}, off) == (
        None, "network.trust_env is false: the environment's proxies are not used")


def test_judge_proxy_never_shows_proxy_credentials():
    result = dc.judge_proxy("https://api.openai.com/v1", {"HTTPS_PROXY": "http://bob:s3cret@proxy.corp:3128"})
    assert result.status == "warn" and result.category == "network.proxy"
    assert "http://proxy.corp:3128" in result.evidence and "s3cret" not in result.evidence
    assert dc.judge_proxy("http://127.0.0.1:8100/v1", {}).status == "pass"


@pytest.mark.parametrize(("status", "headers", "verdict"), [
    (204, {"access-control-allow-origin": "https://app.example.com",
           "access-control-allow-headers": "authorization, content-type"}, "pass"),
    (204, {"access-control-allow-origin": "*", "access-control-allow-headers": "Authorization"}, "pass"),
    (204, {"access-control-allow-origin": "*", "access-control-allow-headers": "*"}, "fail"),  # * is not Authorization
    (403, {}, "fail"),
    (None, {}, "fail"),
    (204, {"access-control-allow-origin": "https://other.example.com", "access-control-allow-headers": "authorization"},
     "fail"),
    # Seawall's preflight for an origin it refuses passes (so the page reads the 403) and says so
    (204, {"access-control-allow-origin": "https://app.example.com", "access-control-allow-headers": "authorization",
           "x-seawall-cors": "refused"}, "fail"),
])
def test_judge_cors(status, headers, verdict):
    result = dc.judge_cors("https://app.example.com", "https://gw.example.com/v1", status, headers)
    assert result.status == verdict and (result.category == "network.cors") == (verdict == "fail")


def test_cors_mixed_content():
    result = dc.judge_cors("https://app.example.com", "http://gw.example.com/v1", 204,
                           {"access-control-allow-origin": "*", "access-control-allow-headers": "authorization"})
    assert result.status == "fail" and "mixed content" in result.evidence


# -- replies ---------------------------------------------------------------------------------------

LIST = orjson.dumps({"object": "list", "data": [{"id": "gpt-4o-mini"}, {"id": "gpt-4o"},
                                                {"id": "text-embedding-3-small"}]})
INVALID_KEY = orjson.dumps({"error": {"message": "Incorrect API key provided: sk-proj-****abcd. You can find your "
                                                 "API key at https://platform.openai.com/account/api-keys.",
                                      "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}})


def test_judge_models():
    ok = dr.judge_models(Reply(200, {}, LIST), "openai", "https://api.openai.com/v1/models", 0.0)
    assert ok.status == "pass" and "3 models" in ok.evidence
    refused = dr.judge_models(Reply(401, {"content-type": "application/json"}, INVALID_KEY), "openai",
                              "https://api.openai.com/v1/models", 0.0)
    assert (refused.status, refused.category) == ("fail", "auth.key_invalid") and "invalid_api_key" in refused.evidence
    page = dr.judge_models(Reply(200, {"content-type": "text/html"}, b"<html><body>Welcome</body></html>"), None,
                           "https://example.com/v1/models", 0.0)
    assert (page.status, page.category) == ("fail", "upstream.malformed")
    moved = dr.judge_models(Reply(404, {}, b"{}"), None, "http://h/models", 0.0, retried_base="http://h/v1")
    assert moved.category == "route.base_url" and moved.fix == "Set the base URL to http://h/v1."
    loop = dr.judge_models(Reply(failure=("redirect_loop", "redirect loop: a -> b -> a")), None, "http://h/v1", 0.0)
    assert loop.category == "route.base_url" and "redirect loop" in loop.evidence
    cut = dr.judge_models(Reply(failure=("not_http", "the reply is not HTTP")), None, "http://h/v1/models", 0.0)
    assert cut.category == "network.connect" and "http:// vs https://" in cut.fix


def test_model_ids_of_both_list_shapes():
    assert dr.model_ids(orjson.loads(LIST)) == ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
    assert dr.model_ids({"models": [{"name": "models/gemini-2.0-flash"}]}) == ["gemini-2.0-flash"]
    assert dr.model_ids([1, 2]) == [] and dr.model_ids(None) == []


def test_choose_model():
    assert dr.choose_model(["text-embedding-3-small", "gpt-4o", "gpt-4o-mini"]) == "gpt-4o-mini"
    assert dr.choose_model(["text-embedding-3-small", "whisper-1", "llama-3"]) == "llama-3"
    assert dr.choose_model(["text-embedding-3-small"]) is None


@pytest.mark.parametrize(("model", "status", "category", "needle"), [
    ("gpt-4o-mini", "pass", None, "listed"),
    ("gpt-4o-mni", "fail", "model.not_found", "Did you mean 'gpt-4o-mini'?"),
    ("GPT-4o-mini", "fail", "model.not_found", "Did you mean"),
    ("claude-sonnet-4", "warn", "model.not_found", "the completion below decides"),
])
def test_judge_model(model, status, category, needle):
    result = dr.judge_model(model, ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"], named=True)
    assert (result.status, result.category) == (status, category)
    assert needle in result.evidence + (result.fix or "")


def test_judge_completion():
    ok = Reply(200, {}, orjson.dumps({"choices": [{"message": {"content": "OK"}}], "model": "gpt-4o-mini-2024-07-18"}))
    assert dr.judge_completion(ok, "gpt-4o-mini", "openai", "u", 0.0).status == "pass"
    quota = Reply(429, {}, orjson.dumps({"error": {"message": "You exceeded your current quota.", "type":
                                                   "insufficient_quota", "param": None, "code": "insufficient_quota"}}))
    result = dr.judge_completion(quota, "gpt-4o-mini", "openai", "u", 0.0)
    assert (result.status, result.category) == ("fail", "quota.exhausted")
    empty = dr.judge_completion(Reply(200, {}, b'{"id": "x"}'), "m", None, "u", 0.0)
    assert empty.category == "upstream.malformed"


SSE = {"content-type": "text/event-stream"}
CHUNK = b'data: {"choices":[{"delta":{"content":"O"},"index":0}]}\n\n'


@pytest.mark.parametrize(("reply", "status", "category"), [
    (Reply(200, SSE, CHUNK * 3 + b"data: [DONE]\n\n"), "pass", None),
    (Reply(200, SSE, CHUNK * 2, ("cut", "the connection broke mid-body")), "fail", "stream.interrupted"),
    (Reply(200, SSE, CHUNK + b'data: {"error": {"message": "The stream was cut", "type": "server_error", '
                             b'"code": "stream_interrupted", "category": "stream.interrupted", "hint": "h"}}\n\n'),
     "fail", "stream.interrupted"),
    (Reply(200, {"content-type": "application/json"}, b'{"choices": []}'), "warn", "stream.interrupted"),
    (Reply(503, {}, b'{"error": {"message": "Service Unavailable", "type": "server_error"}}'), "fail",
     "upstream.unavailable"),
])
def test_judge_stream(reply, status, category):
    result = dr.judge_stream(reply, "openai", "u", 0.0)
    assert (result.status, result.category) == (status, category), result


def test_judge_rate_headers():
    seen = Reply(200, {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499"})
    assert dr.judge_rate_headers([seen], None).status == "pass"
    spent = Reply(200, {"anthropic-ratelimit-requests-remaining": "0"})
    assert dr.judge_rate_headers([spent], None).status == "warn"
    assert dr.judge_rate_headers([Reply(200, {})], None).status == "warn"
    assert dr.judge_rate_headers([Reply(200, {})], []).status == "pass"


def test_ramp_sizes():
    assert dr.ramp_sizes(1) == [1]
    assert dr.ramp_sizes(4) == [1, 2, 4]
    assert dr.ramp_sizes(6) == [1, 2, 4, 6]


RATE_429 = Reply(429, {"retry-after": "12"}, orjson.dumps({"error": {
    "message": "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.",
    "type": "requests", "param": None, "code": "rate_limit_exceeded"}}))


def test_judge_ramp():
    clean = [Level(1, (200,), (10.0,)), Level(2, (200, 200), (11.0, 12.0))]
    assert dr.judge_ramp(clean, "openai", "u", 0.0).status == "pass"
    refused = clean + [Level(4, (200, 429, 429, 200), (10.0,) * 4, RATE_429)]
    result = dr.judge_ramp(refused, "openai", "u", 0.0)
    assert (result.status, result.category) == ("fail", "rate_limit.requests")
    assert "first refused at 4 at once: HTTP 429" in result.evidence and "Retry-After 12" in result.evidence
    assert "at or below 2" in result.fix
    slow = [Level(1, (200,), (100.0,)), Level(2, (200, 200), (150.0, 160.0)), Level(4, (200,) * 4, (900.0,) * 4)]
    result = dr.judge_ramp(slow, None, "u", 0.0)
    assert result.status == "warn" and "latency grows from 4 at once" in result.evidence
    forbidden = Reply(403, {}, orjson.dumps({"error": {"message": "Your account is suspended", "type": "x",
                                                       "code": "account_deactivated"}}))
    first = dr.judge_ramp([Level(1, (403,), (5.0,), forbidden)], "openai", "u", 0.0)
    assert first.status == "fail" and first.fix.startswith("Even one request at a time is refused.")
    # a rate limit at the first step was spent before the ramp: not "even one is refused"
    spent = dr.judge_ramp([Level(1, (429,), (5.0,), RATE_429)], "openai", "u", 0.0)
    assert spent.status == "fail" and spent.fix.startswith("The limit was already spent when the ramp began")


def test_judge_ramp_stopped_by_the_keys_known_limits():
    clean = [Level(1, (200,), (10.0,))]
    why = "the key's limit rps 1 (key key_1) refuses 2 at once by design"
    result = dr.judge_ramp(clean, None, "u", 0.0, (2, why, "rate_limit.requests"))
    assert (result.status, result.category) == ("warn", "rate_limit.requests")
    assert result.evidence == f"1 at once: 1/1 ok, p50 10 ms — stopped before 2 at once: {why}"
    assert result.fix.startswith("Send at most 1 at once")
    none_sent = dr.judge_ramp([], None, "u", 0.0, (1, "the key's limit rpm 2 has no room", "rate_limit.requests"))
    assert (none_sent.status, none_sent.evidence) == ("skipped", "not run: the key's limit rpm 2 has no room")


def test_judge_rate_headers_spent_by_the_doctors_paced_requests():
    spent = Reply(200, {"x-ratelimit-limit-requests": "1", "x-ratelimit-remaining-requests": "0"})
    assert dr.judge_rate_headers([spent], [{"scope": "key", "id": "k", "rps": 1}]).status == "pass"
    assert dr.judge_rate_headers([spent], None).status == "warn"  # nobody said the limits: worth a look


# -- pacing by the key's limits (doctor_pace.py) ------------------------------------------------------

S = 1_000_000_000


@pytest.mark.parametrize(("limits", "sent", "n", "wait_s", "limit"), [
    (None, [], 64, 0.0, ""),  # not a Seawall gateway: nothing known, nothing paced
    ([], [], 64, 0.0, ""),
    ([{"scope": "key", "id": "k", "rps": 1}], [], 1, 0.0, ""),  # a full bucket admits one now
    ([{"scope": "key", "id": "k", "rps": 1}], [(1, 0)], 1, 1.0, "rps 1 (key k)"),  # then one a second
    ([{"scope": "key", "id": "k", "rps": 1}], [(1, 0)], 2, None, "rps 1 (key k)"),  # two at once: never
    ([{"scope": "key", "id": "k", "rps": 2}], [(1, 0)], 1, 0.0, ""),  # a burst of two
    ([{"scope": "key", "id": "k", "rpm": 3}], [(1, 0), (1, 0), (1, 0)], 1, 20.0, "rpm 3 (key k)"),
    ([{"scope": "key", "id": "k", "rpm": 60}, {"scope": "group", "id": "g", "rps": 1}], [(1, 0)], 1, 1.0,
     "rps 1 (group g)"),  # the group's limit decides
    ([{"scope": "key", "id": "k", "max_concurrency": 2}], [], 4, None, "max_concurrency 2 (key k)"),
    ([{"scope": "tenant", "id": "t", "tpm": 100}], [], 2, None, "tpm 100 (tenant t)"),  # 2 x 60 tokens > 100
    ([{"scope": "tenant", "id": "t", "tpm": 100}], [(1, 0)], 1, 12.0, "tpm 100 (tenant t)"),  # 60 tokens fill 36 s of the minute: 12 s more for the next
])
def test_budget_says_when_requests_fit(limits, sent, n, wait_s, limit):
    budget = Budget.of(limits)
    for count, at_s in sent:
        budget.spend(count, 60, at_s * S)
    verdict = budget.when(n, 60, 0)
    assert verdict.wait_s == (pytest.approx(wait_s) if wait_s is not None else None)
    assert verdict.limit == limit


# -- a Seawall gateway -----------------------------------------------------------------------------

def test_is_seawall():
    assert dr.is_seawall([Reply(200, {"x-request-id": "req_01a20934887f42112a715d78"})])
    assert not dr.is_seawall([Reply(200, {"x-request-id": "req_abc123"}), Reply(200, {})])
    seawall_error = orjson.dumps({"error": {"message": "m", "category": "auth.key_invalid", "hint": "h"}})
    assert dr.is_seawall([Reply(401, {}, seawall_error)])


def test_judge_gateway_ready():
    ready = orjson.dumps({"status": "ready", "models": 3, "request_log": {"pending": 0, "dropped": 0},
                          "open_circuits": {}})
    assert dr.judge_gateway_ready(Reply(200, {}, ready), None).status == "pass"
    opened = orjson.dumps({"status": "ready", "models": 3, "request_log": {},
                           "open_circuits": {"openai/gpt-4o@api.openai.com": {"state": "open", "reopens_in_s": 8.0}}})
    result = dr.judge_gateway_ready(Reply(200, {}, opened), None)
    assert (result.status, result.category) == ("warn", "capacity.circuit_open") and "reopens in 8.0 s" in result.evidence
    assert dr.judge_gateway_ready(Reply(503, {}, b'{"status": "starting"}'), None).status == "fail"


def test_judge_gateway_key():
    view = {"name": "ci", "tenant": None, "group": "team", "expires_at": None, "models": ["gpt-4o-mini"],
            "all_models": False, "limits": [{"scope": "key", "id": "key_1", "rpm": 3, "tpm": None,
                                             "max_concurrency": None}], "quota": None}
    result = dr.judge_gateway_key(Reply(200, {}, orjson.dumps(view)), "gpt-4o-mini")
    assert result.status == "pass" and "rpm 3" in result.evidence and "tpm" not in result.evidence
    view["limits"][0]["rps"] = 1
    assert "key key_1: rps 1, rpm 3" in dr.judge_gateway_key(Reply(200, {}, orjson.dumps(view)), "m").evidence
    refused = dr.judge_gateway_key(Reply(200, {}, orjson.dumps(view)), "slow")
    assert (refused.status, refused.category) == ("fail", "permission.model") and "gpt-4o-mini" in refused.fix
    assert dr.judge_gateway_key(Reply(404, {}, b"{}"), "m").status == "warn"


def test_key_view_shows_no_key_material():
    limits = ScopeLimits("key", "key_1", Rate(60), None, 2)
    p = Principal("key_1", "ci", "acme", None, None, models=frozenset({"b", "a"}), catalog=frozenset({"a", "b", "c"}),
                  limits=(limits,))
    view = key_view(p)
    assert view["models"] == ["a", "b"] and view["all_models"] is False
    assert view["limits"] == [{"scope": "key", "id": "key_1", "rps": None, "rpm": 60, "tpm": None, "max_concurrency": 2}]
    assert set(view) == {"object", "id", "name", "tenant", "group", "expires_at", "models", "all_models", "limits",
                         "quota"}
    everything = key_view(Principal("key_2", "all", catalog=frozenset({"x", "y"})))
    assert everything["models"] == ["x", "y"] and everything["all_models"] is True


# -- output ----------------------------------------------------------------------------------------

CHECKS = [CheckResult("key", "pass", None, "prefix sk-"),
          CheckResult("tls", "skipped", None, "http:// — no TLS"),
          CheckResult("model", "warn", "model.not_found", "x not listed", "Check it."),
          CheckResult("completion", "fail", "permission.model", "HTTP 403", "Pick an allowed model."),
          CheckResult("stream", "fail", "stream.interrupted", "cut", "Check proxies.")]


def test_json_output_shape_and_first_fix():
    doc = json.loads(to_json(CHECKS))
    assert set(doc) == {"checks", "first_fix"}
    assert all(set(c) == {"name", "status", "category", "evidence", "fix"} for c in doc["checks"])
    assert doc["first_fix"] == {"category": "permission.model", "fix": "Pick an allowed model."}
    assert first_fix(CHECKS[:3]) is None


def test_text_output_names_the_first_fix():
    text = render(CHECKS)
    assert "FAIL  completion  HTTP 403 [permission.model]" in text
    assert "fix: Pick an allowed model." in text
    assert text.splitlines()[-1] == "first fix: [permission.model] Pick an allowed model."
    assert "1 passed, 2 failed, 1 warnings, 1 skipped" in text


def test_each_api_family_is_called_as_its_sdk_calls_it():
    from seawall.tools.doctor_api import api_for

    openai_, claude, gemini = api_for("openai"), api_for("anthropic"), api_for("gemini")
    assert api_for(None).name == "openai" and api_for("azure").name == "openai"
    assert openai_.headers("k") == {"authorization": "Bearer k"}
    assert claude.headers("k") == {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    assert gemini.headers("k") == {"x-goog-api-key": "k"}
    assert claude.base("https://api.anthropic.com") == claude.base("https://api.anthropic.com/v1/") \
        == "https://api.anthropic.com/v1"
    assert gemini.base("https://g.example") == "https://g.example/v1beta"
    url, body = claude.call("https://a/v1", "claude-x", 1, stream=True)
    assert url == "https://a/v1/messages" and body["max_tokens"] == 1 and body["stream"] is True
    url, body = gemini.call("https://g/v1beta", "gemini-x", 5, stream=True)
    assert url == "https://g/v1beta/models/gemini-x:streamGenerateContent?alt=sse"
    assert body["generationConfig"] == {"maxOutputTokens": 5}
    url, body = openai_.call("https://o/v1", "gpt", 1)
    assert url == "https://o/v1/chat/completions" and body["max_tokens"] == 1 and "stream" not in body
