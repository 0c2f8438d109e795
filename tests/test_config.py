import pytest

from seawall.config import ConfigError, default_settings, example_config, parse_settings, resolve_secrets
import yaml

BASE = {"models": [{"name": "gpt-4o-mini", "deployments": [
    {"provider": "openai", "base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"}]}]}


def problems(raw):
    with pytest.raises(ConfigError) as e:
        parse_settings(raw)
    return e.value.problems


def test_minimal_config_is_valid():
    s = parse_settings(BASE)
    assert s.server.port == 8100 and s.models[0].deployments[0].label == "openai/gpt-4o-mini@api.openai.com"


def test_unknown_field_gets_did_you_mean():
    raw = {**BASE, "server": {"prot": 9000}}
    assert problems(raw) == ["server.prot: unknown field — did you mean 'port'?"]


def test_unknown_provider_names_the_field():
    raw = {"models": [{"name": "m", "deployments": [{"provider": "openia", "base_url": "https://x/v1", "model": "m",
                                                     "api_key_env": "K"}]}]}
    (p,) = problems(raw)
    assert p.startswith("models.0.deployments.0.provider:") and "'openia'" in p


def test_bad_url_is_named():
    raw = {"models": [{"name": "m", "deployments": [{"provider": "openai", "base_url": "api.openai.com", "model": "m",
                                                     "api_key_env": "K"}]}]}
    assert problems(raw) == ["models.0.deployments.0.base_url: must be an http(s) URL such as "
                             "https://api.openai.com/v1, got 'api.openai.com'"]


def test_missing_key_source_is_named():
    raw = {"models": [{"name": "m", "deployments": [{"provider": "openai", "base_url": "https://x/v1", "model": "m"}]}]}
    (p,) = problems(raw)
    assert p.startswith("models.0.deployments.0: set api_key_env")


def test_duplicate_model_names_are_refused():
    raw = {"models": BASE["models"] * 2}
    assert "listed twice" in problems(raw)[0]


def test_models_are_required():
    assert problems({}) == ["models: required field is missing"]


@pytest.mark.parametrize("value,fragment", [
    (None, "is not set"), ("", "is empty"), ("sk-abc\n", "a trailing newline"), ('"sk-abc"', "quotes"),
    ("sk-abc ", "trailing whitespace"),
])
def test_provider_key_problems_refuse_start(value, fragment):
    env = {} if value is None else {"OPENAI_API_KEY": value}
    with pytest.raises(ConfigError) as e:
        resolve_secrets(parse_settings(BASE), env, None)
    (p,) = e.value.problems
    assert p.startswith("models.0.deployments.0 (gpt-4o-mini):") and fragment in p


def test_key_file_single_trailing_newline_is_fine(tmp_path):
    f = tmp_path / "key"
    f.write_text("sk-abc\n")
    raw = {"models": [{"name": "m", "deployments": [{"provider": "openai", "base_url": "https://x/v1", "model": "m",
                                                     "api_key_file": str(f)}]}]}
    (d,) = resolve_secrets(parse_settings(raw), {}, None)["m"]
    assert d.api_key == "sk-abc"


def test_example_config_parses_and_default_uses_simulator():
    s = parse_settings(yaml.safe_load(example_config()))
    assert [m.name for m in s.models] == ["gpt-4o-mini", "demo"]
    assert default_settings().uses_embedded_simulator


def test_trusted_proxies_must_be_cidrs():
    assert default_settings(server={"trusted_proxies": ["10.0.0.0/8", "::1/128"]}).server.trusted_proxies
    with pytest.raises(ConfigError) as e:
        parse_settings({"models": default_settings().model_dump()["models"],
                        "server": {"trusted_proxies": ["10.0.0.1/8"]}})
    assert "server.trusted_proxies" in str(e.value) and "not a CIDR" in str(e.value)


def test_a_simulator_deployment_may_play_another_providers_api_and_only_it():
    from seawall.config import ConfigError, parse_settings

    sim = parse_settings({"models": [{"name": "c", "deployments": [
        {"provider": "simulator", "dialect": "anthropic", "model": "claude-sonnet-4-5"}]}]})
    assert sim.models[0].deployments[0].adapter_name == "anthropic"
    with pytest.raises(ConfigError) as e:
        parse_settings({"models": [{"name": "c", "deployments": [
            {"provider": "openai", "dialect": "anthropic", "base_url": "https://x.example/v1", "model": "m",
             "api_key_env": "K"}]}]})
    assert "dialect is for provider: simulator only" in str(e.value)


SIM_ONLY = {"models": [{"name": "m", "deployments": [{"provider": "simulator", "model": "m"}]}]}


@pytest.mark.parametrize("value,fragment", [
    (None, "is not set"), ("", "is empty"), ("tok\n", "a trailing newline"), (" tok", "leading whitespace"),
])
def test_metrics_token_problems_refuse_start(value, fragment):
    from seawall.config import resolve_metrics_token

    env = {} if value is None else {"METRICS_TOKEN": value}
    settings = parse_settings({**SIM_ONLY, "metrics": {"token_env": "METRICS_TOKEN"}})
    with pytest.raises(ConfigError) as e:
        resolve_metrics_token(settings, env)
    (p,) = e.value.problems
    assert p.startswith("metrics:") and fragment in p


def test_metrics_token_from_a_file_and_none_by_default(tmp_path):
    from seawall.config import resolve_metrics_token

    f = tmp_path / "token"
    f.write_text("tok-1\n")
    assert resolve_metrics_token(parse_settings({**SIM_ONLY, "metrics": {"token_file": str(f)}}), {}) == "tok-1"
    assert resolve_metrics_token(parse_settings(SIM_ONLY), {}) is None


@pytest.mark.parametrize("metrics,fragment", [
    ({"path": "metrics"}, "must be a path of its own"), ({"path": "/v1/metrics"}, "must be a path of its own"),
    ({"token_env": "A", "token_file": "/b"}, "not both"),
])
def test_metrics_section_is_checked(metrics, fragment):
    (p,) = problems({**SIM_ONLY, "metrics": metrics})
    assert p.startswith("metrics") and fragment in p


def test_deployments_sharing_a_label_must_leave_the_same_way():
    dep = {"provider": "openai", "base_url": "https://api.openai.com/v1", "model": "gpt-4o", "api_key_env": "K",
           "name": "main"}
    ok = {"models": [{"name": "a", "deployments": [dep]}, {"name": "b", "deployments": [dep]}]}
    parse_settings(ok)
    other = {"models": [{"name": "a", "deployments": [dep]},
                        {"name": "b", "deployments": [{**dep, "proxy": "socks5h://127.0.0.1:1080"}]}]}
    with pytest.raises(ConfigError, match="named 'main' like models.0.deployments.0 but sets another proxy or tls"):
        parse_settings(other)


def test_request_capture_reads_yaml_off_and_refuses_bad_paths():
    from seawall.config import parse_settings as parse

    base = {"models": [{"name": "m", "deployments": [{"provider": "simulator", "model": "m"}]}]}
    assert parse({**base, "request_log": {"capture": False}}).request_log.capture == "off"  # YAML's bare `off`
    assert parse(base).request_log.capture == "failed"
    with pytest.raises(ConfigError) as e:
        parse({**base, "request_log": {"capture": True}})
    assert "write off, failed or all" in e.value.render()
    with pytest.raises(ConfigError) as e:
        parse({**base, "request_log": {"capture_redact_paths": ["messages[x].content"]}})
    assert "request_log.capture_redact_paths" in e.value.render() and "only names" in e.value.render()
    with pytest.raises(ConfigError) as e:
        parse({**base, "console": {"tls_cert_file": "/x.pem"}})
    assert "both tls_cert_file and tls_key_file" in e.value.render()


PASS_MODELS = {"models": [
    {"name": "gpt-4o-mini", "deployments": [{"provider": "openai", "base_url": "https://api.openai.com/v1",
                                             "model": "gpt-4o-mini", "api_key_env": "K", "name": "openai-main"}]},
    {"name": "claude", "deployments": [{"provider": "anthropic", "base_url": "https://api.anthropic.com/v1",
                                        "model": "claude-sonnet-4-5", "api_key_env": "K", "name": "claude-main"}]}]}


@pytest.mark.parametrize("rule, fragment", [
    ({"name": "files", "paths": ["/v1/files*"], "deployment": "openai-mian"}, "did you mean 'openai-main'"),
    ({"name": "files", "paths": ["/v1/files*"], "deployment": "claude-main"}, "OpenAI-compatible"),
    ({"name": "claude", "paths": ["/v1/files*"], "deployment": "openai-main"}, "is taken"),
    ({"name": "files", "paths": ["/files*"], "deployment": "openai-main"}, "must start with /v1/"),
    ({"name": "files", "paths": ["/v1/files*"], "deployment": "openai-main", "methods": ["GOT"]}, "GET"),
])
def test_passthrough_rules_are_checked(rule, fragment):
    assert fragment in " ".join(problems(dict(PASS_MODELS, passthrough=[rule])))


def test_a_passthrough_rule_and_a_chat_only_deployment():
    s = parse_settings(dict(PASS_MODELS, passthrough=[{"name": "files", "paths": ["/v1/files*"],
                                                       "deployment": "openai-main"}]))
    assert s.passthrough[0].methods == ["GET", "POST", "PUT", "PATCH", "DELETE"]
    models = [dict(m) for m in PASS_MODELS["models"]]
    models[1] = {**models[1], "deployments": [{**models[1]["deployments"][0], "responses": False}]}
    assert "responses: false is for OpenAI-compatible deployments" in " ".join(problems({"models": models}))
