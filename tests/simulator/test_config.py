import pytest

from seawall.simulator.config import SimulatorSettings, load_simulator_settings
from seawall.simulator.faults import Fault, Match


def test_defaults_need_no_file():
    settings = load_simulator_settings(None)
    assert settings == SimulatorSettings()
    ids = {spec.id: spec.reported for spec in settings.models}
    assert ids["gpt-4o-mini"] == "gpt-4o-mini-2024-07-18"
    assert set(ids) == {"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1-nano", "o4-mini",
                        "text-embedding-3-small", "text-embedding-3-large", "gpt-3.5-turbo-instruct", "davinci-002",
                        "dall-e-2", "dall-e-3", "gpt-image-1", "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "whisper-1",
                        "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "omni-moderation-latest",
                        "text-moderation-latest"}
    assert settings.api_keys is None and settings.faults == ()
    assert (settings.rate_limits.rpm, settings.rate_limits.tpm) == (1_000_000, 1_000_000_000)
    assert settings.stream_interval_ms == 0 and settings.latency_ms == 0


def test_load_yaml(tmp_path):
    path = tmp_path / "sim.yaml"
    path.write_text(
        "models: [gpt-4o-mini, {id: local-model, reports_as: local-model-2025-01-01}]\n"
        "api_keys: [sk-a]\n"
        "stream_interval_ms: 15\n"
        "rate_limits: {rpm: 5, tpm: 1000}\n"
        "faults:\n"
        "  - match: {model: 'gpt-4o*', every_nth: 3}\n"
        "    fault: 'retry_after=1;status=503'\n"
        "  - fault: {status: 429, error: insufficient_quota}\n"
    )
    settings = load_simulator_settings(str(path))
    assert [spec.reported for spec in settings.models] == ["gpt-4o-mini-2024-07-18", "local-model-2025-01-01"]
    assert settings.api_keys == ("sk-a",)
    assert settings.faults[0].fault == "status=503;retry_after=1.0"  # canonical form
    assert settings.faults[0].to_rule().match == Match(model="gpt-4o*", every_nth=3)
    assert settings.faults[1].to_rule().fault == Fault(status=429, error="insufficient_quota")


def test_empty_file_is_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_simulator_settings(str(path)) == SimulatorSettings()


@pytest.mark.parametrize("text,fragment", [
    ("rate_limits: {rpm: 0}", "rate_limits.rpm: Input should be greater than 0"),
    ("faults:\n  - fault: 'status=abc'", "faults[0].fault: fault item 'status=abc'"),
    ("faults:\n  - fault: reset\n    match: {every_nth: -1}", "faults[0].match.every_nth"),
    ("faults:\n  - fault: reset\n    match: {probability: 2}", "faults[0].match.probability"),
    ("lantency_ms: 5", "lantency_ms: Extra inputs are not permitted"),
    ("api_keys: []", "api_keys: must be a non-empty list"),
    ("models: [gpt-4o, gpt-4o]", "'gpt-4o' is listed twice"),
    ("- just a list", "the top level must be a mapping"),
    ("models: [", "not valid YAML"),
])
def test_bad_files_name_the_field(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_simulator_settings(str(path))
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        load_simulator_settings(str(tmp_path / "nope.yaml"))
