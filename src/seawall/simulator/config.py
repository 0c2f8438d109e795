"""The simulator's settings: schema, defaults and YAML loading.

``SimulatorSettings()`` works with no file. A YAML file looks like::

    models: [gpt-4o-mini, {id: my-model, reports_as: my-model-2025-01-01}]
    api_keys: [sk-test-1]          # omit to accept any non-empty Bearer key
    latency_ms: 20
    stream_interval_ms: 15
    rate_limits: {rpm: 500, tpm: 200000}
    faults:
      - match: {model: "gpt-4o*", every_nth: 3}
        fault: "status=503;retry_after=1"
      - fault: {status: 429, error: insufficient_quota}
        match: {first_n: 2}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from seawall.simulator.faults import (
    Match,
    Rule,
    fault_from_mapping,
    format_fault,
    parse_fault,
)


class ModelSpec(BaseModel):
    """One served model. ``reports_as`` is the dated snapshot id the replies carry in
    ``model`` (OpenAI answers a request for ``gpt-4o-mini`` with ``gpt-4o-mini-2024-07-18``);
    requests may name either id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    reports_as: str | None = None
    # What the model does, and so which endpoints serve it: chat and reasoning models answer chat
    # completions and Responses; completion models only legacy /v1/completions; the others one
    # family each (images, speech, transcription and translation, moderation).
    kind: Literal["chat", "reasoning", "embedding", "completion", "image", "speech", "transcription",
                  "moderation"] = "chat"
    context_window: PositiveInt = 128_000
    max_output: PositiveInt = 16_384
    dimensions: PositiveInt | None = None
    created: int = 1_700_000_000
    owned_by: str = "system"
    rpm: PositiveInt | None = None
    tpm: PositiveInt | None = None

    @property
    def reported(self) -> str:
        return self.reports_as or self.id


# Limits from OpenAI's model pages (via litellm's table, reference/provider-errors.md §8);
# `created` as /v1/models listed them in 2025 [unverified, cosmetic].
DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(id="gpt-4o-mini", reports_as="gpt-4o-mini-2024-07-18", created=1721172741),
    ModelSpec(id="gpt-4o", reports_as="gpt-4o-2024-08-06", created=1715367049),
    ModelSpec(id="gpt-4.1-mini", reports_as="gpt-4.1-mini-2025-04-14", context_window=1_047_576,
              max_output=32_768, created=1744318173),
    ModelSpec(id="gpt-4.1-nano", reports_as="gpt-4.1-nano-2025-04-14", context_window=1_047_576,
              max_output=32_768, created=1744321707),
    ModelSpec(id="o4-mini", reports_as="o4-mini-2025-04-16", kind="reasoning", context_window=200_000,
              max_output=100_000, created=1744225351),
    ModelSpec(id="text-embedding-3-small", kind="embedding", context_window=8_192, max_output=1,
              dimensions=1536, created=1705948997),
    ModelSpec(id="text-embedding-3-large", kind="embedding", context_window=8_192, max_output=1,
              dimensions=3072, created=1705953180),
    ModelSpec(id="gpt-3.5-turbo-instruct", reports_as="gpt-3.5-turbo-instruct-0914", kind="completion",
              context_window=4_096, max_output=4_096, created=1694122472),
    ModelSpec(id="davinci-002", kind="completion", context_window=16_384, max_output=16_384, created=1692634301),
    ModelSpec(id="dall-e-2", kind="image", created=1698798177),
    ModelSpec(id="dall-e-3", kind="image", created=1698785189),
    ModelSpec(id="gpt-image-1", kind="image", created=1745517030),
    ModelSpec(id="tts-1", kind="speech", created=1681940951),
    ModelSpec(id="tts-1-hd", kind="speech", created=1699046015),
    ModelSpec(id="gpt-4o-mini-tts", kind="speech", created=1742403959),
    ModelSpec(id="whisper-1", kind="transcription", created=1677532384, owned_by="openai-internal"),
    ModelSpec(id="gpt-4o-transcribe", kind="transcription", created=1742068463),
    ModelSpec(id="gpt-4o-mini-transcribe", kind="transcription", created=1742068596),
    ModelSpec(id="omni-moderation-latest", reports_as="omni-moderation-2024-09-26", kind="moderation",
              created=1731689265),
    ModelSpec(id="text-moderation-latest", reports_as="text-moderation-007", kind="moderation", created=1698798177),
)
_DEFAULTS_BY_ID = {spec.id: spec for spec in DEFAULT_MODELS}


class RateLimits(BaseModel):
    """Per-model limits the simulator enforces itself, as leaky buckets (``ratelimit.py``).

    The defaults are far above any real tier because the simulator is also a benchmark
    upstream: at 10,000 RPM a one-minute bucket refills ~167 requests/s, and a load test at a
    few thousand requests/s would be measuring 429s after two seconds. The headers still move
    with real state; tests that want 429s set small limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: PositiveInt = 1_000_000
    tpm: PositiveInt = 1_000_000_000


class MatchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "*"
    path: str = "*"
    every_nth: PositiveInt | None = None
    first_n: PositiveInt | None = None
    probability: float | None = Field(default=None, ge=0.0, le=1.0)


class FaultRuleSpec(BaseModel):
    """A scripted rule. ``fault`` is the header syntax or an object of the same keys; it is
    stored in canonical header form, which is what ``GET /_sim/faults`` shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: MatchSpec = MatchSpec()
    fault: str

    @field_validator("fault", mode="before")
    @classmethod
    def _canonical(cls, value: Any) -> str:
        if isinstance(value, dict):
            return format_fault(fault_from_mapping(value))
        if isinstance(value, str):
            return format_fault(parse_fault(value))
        raise ValueError("must be a fault string like 'status=503;retry_after=1' or an object")

    def to_rule(self) -> Rule:
        return Rule(Match(**self.match.model_dump()), parse_fault(self.fault))


class SimulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: tuple[ModelSpec, ...] = DEFAULT_MODELS
    api_keys: tuple[str, ...] | None = None
    organization: str = "org-SeawallSimulator00000000"
    project: str = "proj_SeawallSimulator0000000"
    latency_ms: NonNegativeFloat = 0.0
    stream_interval_ms: NonNegativeFloat = 0.0
    # Each stream event carries "x_sim_sent_ns": the simulator's CLOCK_MONOTONIC (ns) as it writes
    # the event, so a client on the same machine can time a chunk from the upstream to itself
    # (bench/ttfb.py). Off by default: real providers send no such field.
    stamp_events: bool = False
    rate_limits: RateLimits = RateLimits()
    faults: tuple[FaultRuleSpec, ...] = ()
    fault_seed: int = 0
    # The last N requests (method, path, headers, body digest) kept for GET /_sim/requests, so a
    # test can see what a gateway really sent upstream; 0 keeps none (recorder.py).
    record_requests: NonNegativeInt = 100
    # How long a background response (Responses ``background: true``) or a batch stays in
    # progress before it completes: 0 completes it at once, a few seconds lets a test cancel it.
    job_duration_s: NonNegativeFloat = 0.0

    @field_validator("models", mode="before")
    @classmethod
    def _model_names(cls, value: Any) -> Any:
        # A bare name picks the built-in spec when there is one, else a plain chat model.
        if isinstance(value, (list, tuple)):
            return [
                _DEFAULTS_BY_ID.get(item, {"id": item}) if isinstance(item, str) else item
                for item in value
            ]
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or any(not key.strip() for key in value)):
            raise ValueError("must be a non-empty list of non-empty keys (omit it to accept any key)")
        return value

    @model_validator(mode="after")
    def _unique_model_ids(self) -> SimulatorSettings:
        if not self.models:
            raise ValueError("models: at least one model is needed")
        seen: set[str] = set()
        for spec in self.models:
            for name in dict.fromkeys((spec.id, spec.reported)):
                if name in seen:
                    raise ValueError(f"models: {name!r} is listed twice")
                seen.add(name)
        return self


def describe_validation_error(exc: ValidationError) -> str:
    """``faults[0].match.every_nth: Input should be greater than 0`` style, one per problem."""
    problems = []
    for error in exc.errors():
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{path}: {message}" if path else message)
    return "; ".join(problems)


def load_simulator_settings(path: str | None) -> SimulatorSettings:
    """Read settings from a YAML file, or the defaults when ``path`` is None.

    Raises ``ValueError`` naming the file and the field path of every problem.
    """
    if path is None:
        return SimulatorSettings()
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"simulator config {path}: cannot read it: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"simulator config {path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError(f"simulator config {path}: the top level must be a mapping of settings")
    try:
        return SimulatorSettings.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"simulator config {path}: {describe_validation_error(exc)}") from exc
