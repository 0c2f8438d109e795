"""Settings: one YAML file, validated once at start, handed to the code as arguments.

`load_settings(path)` returns a Settings or raises ConfigError whose lines each name a field path
and the fix. Provider keys are read by `resolve_secrets` (secrets.py).
"""

from __future__ import annotations

import difflib
import os
from importlib import resources

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

# The parts live in submodules; their names are re-exported here, where the rest of the code
# (and operators' scripts) import them from.
from seawall.config.alerts import AlertSettings as AlertSettings
from seawall.config.base import SIMULATOR_KEY as SIMULATOR_KEY
from seawall.config.base import ConfigError as ConfigError
from seawall.config.base import _Strict
from seawall.config.forward import PassthroughRule as PassthroughRule
from seawall.config.limits import LimitDefaults as LimitDefaults
from seawall.config.limits import LimitSettings as LimitSettings
from seawall.config.limits import RateLimits as RateLimits
from seawall.config.limits import redact_url as redact_url
from seawall.config.models import CatalogOverride as CatalogOverride
from seawall.config.models import CircuitSettings as CircuitSettings
from seawall.config.models import Deployment as Deployment
from seawall.config.models import ModelRoute as ModelRoute
from seawall.config.models import RequestLimits as RequestLimits
from seawall.config.models import Timeouts as Timeouts
from seawall.config.responses import ResponsesSettings as ResponsesSettings
from seawall.config.secrets import ResolvedDeployment as ResolvedDeployment
from seawall.config.server import AuthSettings as AuthSettings
from seawall.config.server import ConsoleSettings as ConsoleSettings
from seawall.config.server import MetricsSettings as MetricsSettings
from seawall.config.server import ServerSettings as ServerSettings
from seawall.config.server import SimulatorSection as SimulatorSection
from seawall.config.store import RequestLogSettings as RequestLogSettings
from seawall.config.store import StoreSettings as StoreSettings
from seawall.config.store import database_url_problem as database_url_problem
from seawall.config.secrets import resolve_metrics_token as resolve_metrics_token
from seawall.config.secrets import resolve_secrets as resolve_secrets
from seawall.config.network import NetworkSettings as NetworkSettings
from seawall.config.network import TLSSettings as TLSSettings
from seawall.config.traces import TraceSettings as TraceSettings


def with_redis_url(settings: Settings, url: str, source: str) -> Settings:
    """The settings with limits.redis_url replaced by `url` from `source` (--redis or
    SEAWALL_REDIS_URL), checked like the config's own."""
    try:
        limits = LimitSettings.model_validate({**settings.limits.model_dump(), "redis_url": url})
    except ValidationError as e:
        raise ConfigError(source, [_explain(err) for err in e.errors()]) from None
    return settings.model_copy(update={"limits": limits})


def with_cors_origins(settings: Settings, origins: list[str]) -> Settings:
    """The settings with `origins` (seawall serve --cors-origin) added to server.cors_allowed_origins,
    checked like the config's own."""
    merged = list(dict.fromkeys([*settings.server.cors_allowed_origins, *origins]))
    try:
        server = ServerSettings.model_validate({**settings.server.model_dump(), "cors_allowed_origins": merged})
    except ValidationError as e:
        raise ConfigError("--cors-origin", [_explain(err) for err in e.errors()]) from None
    return settings.model_copy(update={"server": server})


class Settings(_Strict):
    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    request_log: RequestLogSettings = Field(default_factory=RequestLogSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    simulator: SimulatorSection = Field(default_factory=SimulatorSection)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)  # the gateway's own alerting (observe/alerts.py)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    traces: TraceSettings = Field(default_factory=TraceSettings)  # OpenTelemetry over OTLP, off (config/traces.py)
    responses: ResponsesSettings = Field(default_factory=ResponsesSettings)  # the Responses conversation store
    network: NetworkSettings = Field(default_factory=NetworkSettings)  # proxies, TLS, pool (config/network.py)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    models: list[ModelRoute] = Field(min_length=1)
    # OpenAI endpoints passed on as they are to a named deployment (files, batches): opt-in
    passthrough: list[PassthroughRule] = Field(default_factory=list)

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

    @model_validator(mode="after")
    def _one_route_per_label(self) -> Settings:
        """Deployments with one label are one upstream account (they share its breaker, gate and
        connections), so they must leave the same way."""
        seen: dict[str, tuple[str, object, object]] = {}
        for i, route in enumerate(self.models):
            for j, dep in enumerate(route.deployments):
                first = seen.setdefault(dep.label, (f"models.{i}.deployments.{j}", dep.proxy, dep.tls))
                if (first[1], first[2]) != (dep.proxy, dep.tls):
                    raise ValueError(f"models.{i}.deployments.{j} is named {dep.label!r} like {first[0]} but sets "
                                     "another proxy or tls; give it its own name, or the same settings")
        return self

    @model_validator(mode="after")
    def _passthrough_targets(self) -> Settings:
        """Each rule names an OpenAI-compatible deployment, and a name no model has (key
        permissions name both alike)."""
        deployments = {d.label: d for route in self.models for d in route.deployments}
        models = {route.name for route in self.models}
        seen: set[str] = set()
        for i, rule in enumerate(self.passthrough):
            dep = deployments.get(rule.deployment)
            if dep is None:
                close = difflib.get_close_matches(rule.deployment, list(deployments), n=1)
                raise ValueError(f"passthrough.{i}.deployment: no deployment is named {rule.deployment!r} — "
                                 + (f"did you mean '{close[0]}'?" if close else "give the deployment a name: and "
                                    "use it here"))
            if dep.adapter_name != "openai":
                raise ValueError(f"passthrough.{i}.deployment: {rule.deployment!r} is provider {dep.provider}; "
                                 "requests pass through as they are only to an OpenAI-compatible deployment "
                                 "(provider openai, or simulator)")
            if rule.name in models or rule.name in seen:
                raise ValueError(f"passthrough.{i}.name: {rule.name!r} is taken (by a model or another rule); key "
                                 "permissions name both, so give it a name of its own")
            seen.add(rule.name)
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


def default_settings(**overrides: object) -> Settings:
    """The embedded default: a few demo models served by the built-in simulator."""
    demo = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "text-embedding-3-small",
            # the rest of OpenAI's API the simulator plays: legacy completions, images, audio, moderation
            "gpt-3.5-turbo-instruct", "dall-e-2", "dall-e-3", "gpt-image-1", "tts-1", "tts-1-hd", "gpt-4o-mini-tts",
            "whisper-1", "gpt-4o-transcribe", "omni-moderation-latest", "text-moderation-latest"]
    models = [{"name": m, "deployments": [{"provider": "simulator", "model": m}]} for m in demo]
    # named: files and batches pass through to it (`passthrough:` below)
    models[0]["deployments"][0]["name"] = "simulator-openai"
    # Claude and Gemini too, the simulator playing Anthropic's and Google's APIs: the demo shows
    # every upstream adapter, and any client dialect calling any of them.
    # Claude models current for Claude Code 2.1.x (it warns that claude-sonnet-4-5 was retired on
    # 2026-11-30); the old name stays, served by the current model, so clients that name it work.
    claude = [("claude-sonnet-5-5", "claude-sonnet-5-5"), ("claude-haiku-5-5", "claude-haiku-5-5"),
              ("claude-sonnet-4-5", "claude-sonnet-5-5")]
    models += [{"name": name, "deployments": [{"provider": "simulator", "dialect": "anthropic", "model": model}]}
               for name, model in claude]
    models += [{"name": name, "deployments": [{"provider": "simulator", "dialect": "gemini", "model": name}]}
               for name in ("gemini-2.5-flash", "imagen-4.0-generate-001")]
    overrides.setdefault("passthrough", [{"name": "openai-files", "paths": ["/v1/files*", "/v1/batches*"],
                                          "deployment": "simulator-openai"}])
    # Any browser page may call it: it listens on loopback with a demo key, and a page's first
    # fetch() should work (or say why not) instead of failing with "Failed to fetch".
    overrides.setdefault("server", {"cors_allowed_origins": ["*"]})
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


def example_config() -> str:
    return resources.files("seawall").joinpath("config_example.yaml").read_text(encoding="utf-8")


def environ_snapshot() -> dict[str, str]:
    """The one place that reads the process environment (called by the CLI only)."""
    return dict(os.environ)
