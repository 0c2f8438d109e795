"""A model's settings: its deployments (where and how to call, timeouts, circuit, gate, catalog
overrides) and the model-level policies (context fit, balancing, fallbacks)."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from seawall.config.base import _Strict
from seawall.config.network import TLSSettings, check_proxy
from seawall.decide import timeouts as timeout_rules


class Timeouts(_Strict):
    """Upstream timeouts (decide/timeouts.py says what each bounds). On a model, defaults for its
    deployments; a deployment's own block overrides them field by field."""

    connect_s: float = Field(10.0, gt=0, description="TCP + TLS connect")
    # None: read_s, which bounded the wait for a reply's start before first_byte_s existed.
    first_byte_s: float | None = Field(None, gt=0, description="from sending to the first byte (a stream: event)")
    # Idle: the field kept its first name for configs written before first_byte_s; idle_s reads the same.
    read_s: float = Field(600.0, gt=0, validation_alias=AliasChoices("read_s", "idle_s"),
                          description="idle: the longest silence between two chunks of a reply")
    total_s: float | None = Field(None, gt=0, description="the whole upstream exchange, stream included")
    # While a stream's first event is slow to come (a model thinking), the client's connection is
    # kept alive with an SSE comment this often, so proxies and CDNs in front of the gateway don't
    # cut it (Cloudflare answers 524 after 100 s of silence).
    keepalive_s: float = Field(15.0, gt=0, description="SSE keep-alive while a stream's first event is slow")

    @property
    def first_byte_limit_s(self) -> float:
        return self.read_s if self.first_byte_s is None else self.first_byte_s


class CircuitSettings(_Strict):
    failures_to_open: int = Field(5, ge=1, description="health failures in a row that open the circuit")
    cooldown_s: float = Field(10.0, gt=0, description="how long an open circuit skips the deployment")
    max_cooldown_s: float = Field(120.0, gt=0, description="cap of the cooldown, which doubles on a failed probe")
    # A refused provider key or a spent account takes the deployment out of rotation at once
    # (decide/health.py); a one-token probe brings it back, first after probe_s, then doubling.
    take_out_refused: bool = Field(True, description="out of rotation at once when the provider refuses its key "
                                                      "or account (false: every request still tries it)")
    probe_s: float = Field(30.0, gt=0, description="first probe of a deployment taken out of rotation")
    max_probe_s: float = Field(900.0, gt=0, description="cap of the wait between probes, which doubles")


class CatalogOverride(_Strict):
    """Overrides of the shipped model catalog (seawall/catalog/models.yaml), for a model or one of
    its deployments; unset fields keep the catalog's value."""

    context_window: int | None = Field(None, gt=0)
    max_output_tokens: int | None = Field(None, ge=0)
    tokenizer: Literal["o200k_base", "cl100k_base", "estimate"] | None = None
    modalities: list[Literal["text", "image", "audio", "file"]] | None = None
    price_in: float | None = Field(None, ge=0)  # USD per 1M input tokens
    price_out: float | None = Field(None, ge=0)  # USD per 1M output tokens
    price_cache_read: float | None = Field(None, ge=0)  # USD per 1M input tokens read from the prompt cache
    price_cache_write: float | None = Field(None, ge=0)  # USD per 1M input tokens written to it
    reasoning: bool | None = None  # o-series rules: max_completion_tokens only, temperature fixed
    # USD per image by "[quality ]size" ("1024x1024", "hd 1024x1792", "default"), per second of
    # audio transcribed, per 1M characters spoken (text to speech)
    price_image: dict[str, Annotated[float, Field(ge=0)]] | None = None
    price_audio_second: float | None = Field(None, ge=0)
    price_characters: float | None = Field(None, ge=0)


class RequestLimits(_Strict):
    """Pre-flight size limits (413 request.too_large), server-wide or per model."""

    max_messages: int = Field(2048, gt=0)
    max_images: int = Field(500, ge=0)  # OpenAI's documented per-request image limit
    max_image_bytes: int = Field(20 * 1024 * 1024, gt=0)  # decoded size of one data-URL image


class Deployment(_Strict):
    # midjourney: a midjourney-proxy task upstream (base_url its root, the key sent as mj-api-secret);
    # served on /mj/… only, never for chat (providers/midjourney.py)
    provider: Literal["openai", "anthropic", "gemini", "azure", "simulator", "midjourney"]
    base_url: str | None = None  # None only for provider: simulator (the embedded one)
    # provider: simulator only: which provider's API the simulator plays for this deployment, so
    # the embedded default can demonstrate Claude and Gemini deployments without their keys.
    dialect: Literal["openai", "anthropic", "gemini"] = "openai"
    model: str
    api_key_env: str | None = None
    api_key_file: str | None = None
    name: str | None = None  # shown in logs; defaults to provider/model@host
    headers: dict[str, str] = Field(default_factory=dict)  # extra upstream headers (OpenRouter referer, …)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    circuit: CircuitSettings = Field(default_factory=CircuitSettings)
    catalog: CatalogOverride | None = None  # this deployment's window, tokenizer, prices, … if they differ
    # Azure OpenAI's api-version query (provider: azure only); None: providers/azure.py's default.
    api_version: str | None = None
    # Upstream protection (pipeline/gate.py): the provider's limits for this deployment, so
    # requests beyond them wait in a bounded queue (or fall back) instead of provoking 429s.
    max_concurrency: int | None = Field(None, gt=0, description="requests in flight to it at once")
    max_queue: int = Field(100, ge=0, description="requests waiting for it; 0: never wait, fall back at once")
    max_queue_wait_s: float = Field(5.0, gt=0, description="longest wait for it (also capped by the deadline)")
    rpm: int | None = Field(None, gt=0, description="the provider's requests per minute")
    tpm: int | None = Field(None, gt=0, description="the provider's tokens per minute")
    learn_limits: bool = True  # hold it while its x-ratelimit-remaining-* / anthropic-ratelimit-* say 0
    # Its share of first picks under balance: weighted, its tie-break under least_in_flight;
    # 0: a standby, tried first only when no other is healthy (decide/balance.py).
    weight: float = Field(1.0, ge=0, description="share of the model's requests under balance: weighted")
    # How its calls leave (config/network.py): its own proxy ('direct': none) and TLS settings;
    # unset, network.proxy / the environment's and network.tls apply.
    proxy: str | None = None
    tls: TLSSettings | None = None
    # An OpenAI-compatible upstream that serves chat completions but not the Responses API (an
    # older vLLM, a relay): false, and Responses requests reach it translated to chat.
    responses: bool = True

    _proxy = field_validator("proxy")(classmethod(lambda cls, v: check_proxy(v)))

    @field_validator("api_version", mode="before")
    @classmethod
    def _api_version(cls, v: object) -> object:
        # YAML reads an unquoted 2024-10-21 as a date; Azure's api-version is that date as text.
        return v.isoformat() if isinstance(v, datetime.date) else v

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http(s) URL such as https://api.openai.com/v1, got {v!r}")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _wiring(self) -> Deployment:
        if self.provider != "simulator" and not self.base_url:
            raise ValueError(f"base_url is required for provider {self.provider!r}")
        if self.api_key_env and self.api_key_file:
            raise ValueError("set api_key_env or api_key_file, not both")
        if not self.responses and self.adapter_name != "openai":
            raise ValueError("responses: false is for OpenAI-compatible deployments (provider openai or simulator): "
                             "other vendors' deployments get Responses requests translated already")
        if self.dialect != "openai" and self.provider != "simulator":
            raise ValueError(f"dialect is for provider: simulator only; provider {self.provider!r} speaks its own")
        if self.provider not in ("simulator",) and not (self.api_key_env or self.api_key_file):
            raise ValueError("set api_key_env (an environment variable) or api_key_file (a path) "
                             "holding the provider key")
        return self

    @property
    def adapter_name(self) -> str:
        """The providers/registry.py adapter that speaks to this deployment."""
        return self.dialect if self.provider == "simulator" else self.provider

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        host = urlsplit(self.base_url).netloc if self.base_url else "embedded"
        return f"{self.provider}/{self.model}@{host}"


class ModelRoute(_Strict):
    name: str = Field(min_length=1)
    deployments: list[Deployment] = Field(min_length=1)
    catalog: CatalogOverride | None = None  # overrides of the model catalog for every deployment
    # A prompt + max tokens past the window: reject (400 context_length_exceeded), fallback (serve
    # it with fallback_model), trim (drop the oldest turns), truncate_output (lower max tokens).
    context_policy: Literal["reject", "fallback", "trim", "truncate_output"] = "reject"
    fallback_model: str | None = None
    trim_keep_first: int = Field(0, ge=0)  # trim: also pin the first N non-system messages
    request_limits: RequestLimits | None = None  # None: server.request_limits
    timeouts: Timeouts | None = None  # defaults for every deployment; a deployment's own fields win
    # Which deployment a request tries first (decide/balance.py); the rest follow as fallbacks.
    balance: Literal["ordered", "weighted", "least_in_flight"] = "ordered"
    # Models tried, in order, once every deployment of this one failed with an error another
    # model may not hit (the rule between deployments: decide/retry.py); unlike fallback_model,
    # decided after the attempts, not before. Their own fallbacks follow (route.py), each once.
    fallbacks: list[str] = Field(default_factory=list)
    # A request translated to another vendor for this model (an Anthropic client, a Gemini
    # deployment): strict refuses a cost hint with no counterpart there (cache_control,
    # context_management, cachedContent) with a 400 naming it; lossy drops it (dialects/).
    translation: Literal["strict", "lossy"] = "strict"

    @model_validator(mode="after")
    def _weighted_has_weight(self) -> ModelRoute:
        if self.balance == "weighted" and not any(d.weight > 0 for d in self.deployments):
            raise ValueError("balance weighted needs a deployment with weight > 0 (every weight is 0)")
        return self

    @model_validator(mode="after")
    def _fallback_named(self) -> ModelRoute:
        if self.context_policy == "fallback" and not self.fallback_model:
            raise ValueError("context_policy fallback needs fallback_model: a configured model with a larger window")
        return self

    @model_validator(mode="after")
    def _merge_timeouts(self) -> ModelRoute:
        """Give each deployment its effective timeouts (the model's, overridden by its own) and
        refuse a merged set whose limits can't all work, naming the field where it was set."""
        model_set = _set_fields(self.timeouts)
        deployments, errors = [], []
        for j, dep in enumerate(self.deployments):
            own = _set_fields(dep.timeouts)
            merged = Timeouts.model_validate(timeout_rules.merge(model_set, own)) if model_set else dep.timeouts
            for name, problem in timeout_rules.problems(merged.model_dump()):
                loc = ("timeouts", name) if name in model_set and name not in own else \
                    ("deployments", j, "timeouts", name)
                if all(e["loc"] != loc for e in errors):  # a model's bad block: once, not per deployment
                    errors.append(InitErrorDetails(type=PydanticCustomError("timeouts", problem), loc=loc,
                                                   input=getattr(merged, name)))
            deployments.append(dep if merged is dep.timeouts else dep.model_copy(update={"timeouts": merged}))
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self.model_copy(update={"deployments": deployments}) if model_set else self


def _set_fields(timeouts: Timeouts | None) -> dict[str, float | None]:
    return timeouts.model_dump(include=timeouts.model_fields_set) if timeouts is not None else {}
