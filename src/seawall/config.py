"""Settings: one YAML file, validated once at start, handed to the code as arguments.

`load_settings(path)` returns a Settings or raises ConfigError whose lines each name a field path
and the fix. Provider keys are resolved here too (`resolve_secrets`): a missing, empty or
whitespace-wrapped key refuses the start, because that is where most upstream 401s are born.
"""

from __future__ import annotations

import datetime
import difflib
import ipaddress
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)
from pydantic_core import InitErrorDetails, PydanticCustomError

from seawall.decide import timeouts as timeout_rules
from seawall.decide.keys import secret_problem

# The simulator, like the providers it plays, wants some key; it accepts any unless told otherwise.
SIMULATOR_KEY = "sk-seawall-simulator"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class CatalogOverride(_Strict):
    """Overrides of the shipped model catalog (seawall/catalog/models.yaml), for a model or one of
    its deployments; unset fields keep the catalog's value."""

    context_window: int | None = Field(None, gt=0)
    max_output_tokens: int | None = Field(None, ge=0)
    tokenizer: Literal["o200k_base", "cl100k_base", "estimate"] | None = None
    modalities: list[Literal["text", "image", "audio", "file"]] | None = None
    price_in: float | None = Field(None, ge=0)  # USD per 1M input tokens
    price_out: float | None = Field(None, ge=0)  # USD per 1M output tokens
    reasoning: bool | None = None  # o-series rules: max_completion_tokens only, temperature fixed


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
        if self.provider not in ("simulator",) and not (self.api_key_env or self.api_key_file):
            raise ValueError("set api_key_env (an environment variable) or api_key_file (a path) "
                             "holding the provider key")
        return self

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


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8100, ge=0, le=65535)
    # 10 MiB: OpenAI's own limit for a chat body with inline images is far above most text
    # requests; operators with image-heavy traffic raise it.
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0)
    body_timeout_s: float = Field(30.0, gt=0)
    cors_allowed_origins: list[str] = Field(default_factory=list)  # ["*"] allows any origin
    # Peers (CIDRs) whose X-Forwarded-For is believed; from anyone else the header is ignored,
    # since any client can send it. Empty: judge every request by the connection's address.
    trusted_proxies: list[str] = Field(default_factory=list)
    request_limits: RequestLimits = Field(default_factory=RequestLimits)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as e:
                raise ValueError(f"{cidr!r} is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32 ({e})") from None
        return v

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for origin in v:
            if origin != "*" and not urlsplit(origin).scheme:
                raise ValueError(f"{origin!r} is not an origin; write it as https://app.example.com or '*'")
        return [o.rstrip("/") for o in v]


class StoreSettings(_Strict):
    data_dir: str = "./seawall-data"  # SQLite file and the server secret live here
    # PostgreSQL shared by several gateways (postgresql://user:password@host:5432/db); None = SQLite
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _database_url(cls, v: str | None) -> str | None:
        problem = database_url_problem(v) if v is not None else None
        if problem:
            raise ValueError(problem)
        return v


def database_url_problem(url: str) -> str | None:
    """What is wrong with a PostgreSQL URL's shape, or None (reaching it is checked at start)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as e:
        return f"not a valid URL ({e}); write it as postgresql://user:password@host:5432/database"
    if parts.scheme not in ("postgresql", "postgres"):
        return (f"must start with postgresql:// (got {parts.scheme + '://' if parts.scheme else 'no scheme'}); "
                "write it as postgresql://user:password@host:5432/database")
    return None


class RequestLogSettings(_Strict):
    flush_interval_s: float = Field(0.5, gt=0)
    batch_size: int = Field(500, gt=0)
    max_pending: int = Field(100_000, gt=0)  # rows held in memory while the store is unavailable


class AuthSettings(_Strict):
    refresh_interval_s: float = Field(1.0, gt=0)  # how soon a change made elsewhere takes effect


class RateLimits(_Strict):
    """One scope's rate limits in the config file; a field left out (or null) sets no limit here."""

    rps: int | None = None  # requests per second
    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # tokens per minute
    max_concurrency: int | None = None  # requests in flight at once

    @field_validator("rps", "rpm", "tpm", "max_concurrency", mode="before")
    @classmethod
    def _whole_and_positive(cls, v: object) -> object:
        # Before pydantic's own coercion: "10/s", 2.5 or true would otherwise read as a number or
        # fail with a message that doesn't say which form is wanted.
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, int):  # pydantic reports only ValueError by field
            raise ValueError(f"must be a whole number such as 60 (the unit is in the field's name: rps, rpm, "  # noqa: TRY004
                             f"tpm), got {v!r}")
        if v <= 0:
            raise ValueError(f"must be > 0, got {v} (leave the field out for no limit; to stop a key, disable it)")
        return v


class LimitDefaults(_Strict):
    """Limits for every key / every tenant that doesn't set that limit itself (field by field)."""

    key: RateLimits = Field(default_factory=RateLimits)
    tenant: RateLimits = Field(default_factory=RateLimits)


class LimitSettings(_Strict):
    """Where rate limits are counted: in this process (no redis_url) or in a Redis shared by
    every gateway process pointing at it."""

    redis_url: str | None = None  # redis://, rediss:// (TLS) or unix://; --redis and SEAWALL_REDIS_URL override
    # Redis down or slower than redis_timeout_ms: "open" admits without counting (and without
    # x-ratelimit-* headers), "closed" refuses with 503 limits_unavailable and Retry-After. Per
    # scope too: {default: open, tenant: closed} refuses a request only if a limit of a closed
    # scope applies to it (a tenant's paid budget kept strict, keys' convenience limits not).
    on_redis_error: Literal["open", "closed"] | dict[Literal["default", "key", "group", "tenant"],
                                                     Literal["open", "closed"]] = "open"

    def fails_closed(self, scope: str) -> bool:
        policy = self.on_redis_error
        if isinstance(policy, str):
            return policy == "closed"
        return policy.get(scope, policy.get("default", "open")) == "closed"  # type: ignore[arg-type]
    # 50 ms: a loopback or same-zone Redis answers in well under 1 ms; past this it is down or
    # overloaded, and no request should wait longer on it.
    redis_timeout_ms: float = Field(50.0, gt=0)
    # Limits kept in the config file (pipeline/auth.py applies them when the key cache loads):
    # tenants', groups' and keys' (by key name) combine with those stored through the admin API
    # field by field, the lower winning, so neither source can loosen the other.
    defaults: LimitDefaults = Field(default_factory=LimitDefaults)
    tenants: dict[str, RateLimits] = Field(default_factory=dict)
    groups: dict[str, RateLimits] = Field(default_factory=dict)
    keys: dict[str, RateLimits] = Field(default_factory=dict)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("redis", "rediss", "unix") or (parts.scheme != "unix" and not parts.hostname):
            raise ValueError(f"must be a Redis URL such as redis://127.0.0.1:6379/0 (or rediss://, unix://), "
                             f"got {redact_url(v)!r}")
        return v


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def with_redis_url(settings: Settings, url: str, source: str) -> Settings:
    """The settings with limits.redis_url replaced by `url` from `source` (--redis or
    SEAWALL_REDIS_URL), checked like the config's own."""
    try:
        limits = LimitSettings.model_validate({**settings.limits.model_dump(), "redis_url": url})
    except ValidationError as e:
        raise ConfigError(source, [_explain(err) for err in e.errors()]) from None
    return settings.model_copy(update={"limits": limits})


class SimulatorSection(_Strict):
    stream_interval_ms: float = Field(15.0, ge=0)  # the embedded simulator's pace: readable demos


class Settings(_Strict):
    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    request_log: RequestLogSettings = Field(default_factory=RequestLogSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    simulator: SimulatorSection = Field(default_factory=SimulatorSection)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    models: list[ModelRoute] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_models(self) -> Settings:
        seen: set[str] = set()
        for route in self.models:
            if route.name in seen:
                raise ValueError(f"model {route.name!r} is listed twice; merge its deployments into one entry")
            seen.add(route.name)
        return self

    @model_validator(mode="after")
    def _fallbacks_exist(self) -> Settings:
        names = [route.name for route in self.models]
        for i, route in enumerate(self.models):
            if route.fallback_model is not None and (route.fallback_model not in names
                                                     or route.fallback_model == route.name):
                raise ValueError(f"models.{i}.fallback_model: {route.fallback_model!r} is not another configured "
                                 f"model — {_model_tip(route.fallback_model, names)}")
        return self

    @model_validator(mode="after")
    def _fallback_chains(self) -> Settings:
        """models[].fallbacks name other configured models, each once, and never lead back."""
        names = [route.name for route in self.models]
        problems = []  # (field path, value, what is wrong — the fix), all reported at once
        for i, route in enumerate(self.models):
            others = [n for n in names if n != route.name]
            for j, other in enumerate(route.fallbacks):
                if other not in others:
                    problems.append((("models", i, "fallbacks", j), other,
                                     f"{other!r} is not another configured model — {_model_tip(other, others)}"))
                elif other in route.fallbacks[:j]:
                    problems.append((("models", i, "fallbacks", j), other, f"{other!r} is listed twice"))
        cycle = None if problems else _fallback_cycle({route.name: route.fallbacks for route in self.models})
        if cycle:
            i = names.index(cycle[0])
            why = f"the fallbacks go round in a circle ({' → '.join(cycle)}); a chain of fallbacks must end — " \
                  "remove one of them"
            problems.append((("models", i, "fallbacks"), self.models[i].fallbacks, why))
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, [
                InitErrorDetails(type=PydanticCustomError("fallbacks", message), loc=loc, input=value)
                for loc, value, message in problems])
        return self

    @property
    def uses_embedded_simulator(self) -> bool:
        return any(d.provider == "simulator" and not d.base_url for m in self.models for d in m.deployments)


def _model_tip(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f"did you mean '{close[0]}'?" if close else f"configured models: {', '.join(names)}"


def _fallback_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle of models[].fallbacks as the path that closes it (a → b → a), or None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return None
        for nxt in graph.get(name, ()):
            found = visit(nxt, [*path, name])
            if found:
                return found
        done.add(name)
        return None

    return next((c for name in graph if (c := visit(name, [])) is not None), None)


class ConfigError(Exception):
    """The config can't be used; `problems` are 'field.path: what is wrong — the fix' lines."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def render(self) -> str:
        lines = [f"Configuration {self.source} is not valid:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def default_settings(**overrides: object) -> Settings:
    """The embedded default: a few demo models served by the built-in simulator."""
    demo = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "text-embedding-3-small"]
    models = [{"name": m, "deployments": [{"provider": "simulator", "model": m}]} for m in demo]
    return Settings.model_validate({"models": models, **overrides})


def load_settings(path: str) -> Settings:
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(path, ["file not found — check the path given to --config"]) from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f"line {where.line + 1}, column {where.column + 1}: " if where else ""
        raise ConfigError(path, [f"{at}not valid YAML ({getattr(e, 'problem', e)})"]) from None
    if not isinstance(raw, dict):
        raise ConfigError(path, ["the file must be a YAML mapping with at least a 'models:' list"])
    return parse_settings(raw, path)


def parse_settings(raw: dict, source: str = "config") -> Settings:
    try:
        return Settings.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(source, [_explain(err) for err in e.errors()]) from None


def _explain(err: dict) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        field_name = str(err["loc"][-1])
        known = _known_fields(err["loc"][:-1])
        close = difflib.get_close_matches(field_name, known, n=1)
        tip = f" — did you mean '{close[0]}'?" if close else f" — known fields here: {', '.join(sorted(known))}"
        return f"{loc}: unknown field{tip}"
    if kind == "missing":
        return f"{loc}: required field is missing"
    if kind == "literal_error":
        return f"{loc}: {msg} (got {err.get('input')!r})"
    return f"{loc}: {msg.removeprefix('Value error, ')}"


def _known_fields(loc: tuple) -> list[str]:
    """Field names of the model found at `loc` (list indexes skipped), for did-you-mean."""
    model: type[BaseModel] = Settings
    for part in loc:
        if isinstance(part, int) or part not in getattr(model, "model_fields", {}):
            continue  # a list index, or a mapping's key (limits.tenants.<name>)
        annotation = model.model_fields[part].annotation
        inner = getattr(annotation, "__args__", None)
        model = inner[-1] if getattr(annotation, "__origin__", None) is dict else inner[0] if inner else annotation
    return list(getattr(model, "model_fields", {}))


@dataclass(frozen=True, slots=True)
class ResolvedDeployment:
    """A deployment ready to call: the key read and checked, the URL final."""

    route: str
    spec: Deployment
    base_url: str
    api_key: str | None
    model_route: ModelRoute | None = field(default=None, compare=False, repr=False)  # its model's settings
    label: str = field(default="", compare=False)  # spec.label, computed once: read many times a request

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.spec.label)  # frozen or not, set once here


def resolve_secrets(settings: Settings, environ: dict[str, str], simulator_url: str | None
                    ) -> dict[str, list[ResolvedDeployment]]:
    """Read every provider key once; refuse to start on a missing or badly pasted one."""
    problems: list[str] = []
    routes: dict[str, list[ResolvedDeployment]] = {}
    for i, route in enumerate(settings.models):
        resolved = []
        for j, dep in enumerate(route.deployments):
            where = f"models.{i}.deployments.{j}"
            key, problem = _read_key(dep, environ)
            if problem:
                problems.append(f"{where} ({route.name}): {problem}")
            base = dep.base_url or simulator_url
            if base is None:
                problems.append(f"{where}: no base_url and no embedded simulator is running")
                continue
            resolved.append(ResolvedDeployment(route.name, dep, base, key, route))
        routes[route.name] = resolved
    if problems:
        raise ConfigError("provider keys", problems)
    return routes


def _read_key(dep: Deployment, environ: dict[str, str]) -> tuple[str | None, str | None]:
    if dep.api_key_env:
        value = environ.get(dep.api_key_env)
        if value is None:
            return None, f"environment variable {dep.api_key_env} is not set — export it before starting"
        source = f"environment variable {dep.api_key_env}"
    elif dep.api_key_file:
        try:
            with open(dep.api_key_file, encoding="utf-8") as f:
                value = f.read()
        except OSError as e:
            return None, f"cannot read api_key_file {dep.api_key_file}: {e.strerror}"
        # A file written by `echo key > file` ends in one newline; that one is not a mistake.
        value = value[:-1] if value.endswith("\n") and not value.endswith("\n\n") else value
        source = f"file {dep.api_key_file}"
    elif dep.provider == "simulator":
        return SIMULATOR_KEY, None
    else:
        return None, None
    problem = secret_problem(value)
    if problem:
        return None, f"the key in {source} {problem}"
    return value, None


def example_config() -> str:
    return resources.files("seawall").joinpath("config_example.yaml").read_text(encoding="utf-8")


def environ_snapshot() -> dict[str, str]:
    """The one place that reads the process environment (called by the CLI only)."""
    return dict(os.environ)
