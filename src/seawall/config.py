"""Settings: one YAML file, validated once at start, handed to the code as arguments.

`load_settings(path)` returns a Settings or raises ConfigError whose lines each name a field path
and the fix. Provider keys are resolved here too (`resolve_secrets`): a missing, empty or
whitespace-wrapped key refuses the start, because that is where most upstream 401s are born.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from dataclasses import dataclass
from importlib import resources
from typing import Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from seawall.decide.keys import secret_problem

# The simulator, like the providers it plays, wants some key; it accepts any unless told otherwise.
SIMULATOR_KEY = "sk-seawall-simulator"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Strict):
    connect_s: float = Field(10.0, gt=0, description="TCP + TLS connect")
    read_s: float = Field(600.0, gt=0, description="wait for the reply to start, and between stream chunks")
    # While a stream's first event is slow to come (a model thinking), the client's connection is
    # kept alive with an SSE comment this often, so proxies and CDNs in front of the gateway don't
    # cut it (Cloudflare answers 524 after 100 s of silence).
    keepalive_s: float = Field(15.0, gt=0, description="SSE keep-alive while a stream's first event is slow")


class CircuitSettings(_Strict):
    failures_to_open: int = Field(5, ge=1, description="health failures in a row that open the circuit")
    cooldown_s: float = Field(10.0, gt=0, description="how long an open circuit skips the deployment")
    max_cooldown_s: float = Field(120.0, gt=0, description="cap of the cooldown, which doubles on a failed probe")


class Deployment(_Strict):
    provider: Literal["openai", "anthropic", "gemini", "azure", "simulator"]
    base_url: str | None = None  # None only for provider: simulator (the embedded one)
    model: str
    api_key_env: str | None = None
    api_key_file: str | None = None
    name: str | None = None  # shown in logs; defaults to provider/model@host
    headers: dict[str, str] = Field(default_factory=dict)  # extra upstream headers (OpenRouter referer, …)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    circuit: CircuitSettings = Field(default_factory=CircuitSettings)

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


class RequestLogSettings(_Strict):
    flush_interval_s: float = Field(0.5, gt=0)
    batch_size: int = Field(500, gt=0)
    max_pending: int = Field(100_000, gt=0)  # rows held in memory while the store is unavailable


class AuthSettings(_Strict):
    refresh_interval_s: float = Field(1.0, gt=0)  # how soon a change made elsewhere takes effect


class SimulatorSection(_Strict):
    stream_interval_ms: float = Field(15.0, ge=0)  # the embedded simulator's pace: readable demos


class Settings(_Strict):
    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    request_log: RequestLogSettings = Field(default_factory=RequestLogSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    simulator: SimulatorSection = Field(default_factory=SimulatorSection)
    models: list[ModelRoute] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_models(self) -> Settings:
        seen: set[str] = set()
        for route in self.models:
            if route.name in seen:
                raise ValueError(f"model {route.name!r} is listed twice; merge its deployments into one entry")
            seen.add(route.name)
        return self

    @property
    def uses_embedded_simulator(self) -> bool:
        return any(d.provider == "simulator" and not d.base_url for m in self.models for d in m.deployments)


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
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        inner = getattr(annotation, "__args__", None)
        model = inner[0] if inner else annotation
    return list(model.model_fields)


@dataclass(frozen=True, slots=True)
class ResolvedDeployment:
    """A deployment ready to call: the key read and checked, the URL final."""

    route: str
    spec: Deployment
    base_url: str
    api_key: str | None

    @property
    def label(self) -> str:
        return self.spec.label


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
            resolved.append(ResolvedDeployment(route.name, dep, base, key))
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
