"""Provider keys and the metrics token, read once at start from the environment or files
(`resolve_secrets`): a missing, empty or whitespace-wrapped key refuses the start, because that
is where most upstream 401s are born. A deployment with its key read is a ResolvedDeployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from seawall.config.base import SIMULATOR_KEY, ConfigError
from seawall.config.models import Deployment, ModelRoute
from seawall.decide.keys import secret_problem

if TYPE_CHECKING:
    from seawall.config import Settings


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
            if base is not None and not dep.base_url and dep.dialect == "gemini":
                base = base.removesuffix("/v1") + "/v1beta"  # where the simulator plays Gemini's API
            if base is None:
                problems.append(f"{where}: no base_url and no embedded simulator is running")
                continue
            resolved.append(ResolvedDeployment(route.name, dep, base, key, route))
        routes[route.name] = resolved
    if problems:
        raise ConfigError("provider keys", problems)
    return routes


def resolve_metrics_token(settings: Settings, environ: dict[str, str]) -> str | None:
    """The token /metrics asks scrapers for (None: none), checked like a provider key."""
    m = settings.metrics
    if not (m.token_env or m.token_file):
        return None
    value, problem = _read_secret(m.token_env, m.token_file, "token_file", environ)
    if problem:
        raise ConfigError("metrics token", [f"metrics: {problem}"])
    return value


def _read_key(dep: Deployment, environ: dict[str, str]) -> tuple[str | None, str | None]:
    if not (dep.api_key_env or dep.api_key_file):
        return (SIMULATOR_KEY, None) if dep.provider == "simulator" else (None, None)
    return _read_secret(dep.api_key_env, dep.api_key_file, "api_key_file", environ)


def _read_secret(env: str | None, path: str | None, file_field: str, environ: dict[str, str]
                 ) -> tuple[str | None, str | None]:
    """A secret from an environment variable or a file, or what is wrong with it."""
    if env:
        value = environ.get(env)
        if value is None:
            return None, f"environment variable {env} is not set — export it before starting"
        source = f"environment variable {env}"
    else:
        try:
            with open(path, encoding="utf-8") as f:
                value = f.read()
        except OSError as e:
            return None, f"cannot read {file_field} {path}: {e.strerror}"
        # A file written by `echo key > file` ends in one newline; that one is not a mistake.
        value = value[:-1] if value.endswith("\n") and not value.endswith("\n\n") else value
        source = f"file {path}"
    problem = secret_problem(value)
    if problem:
        return None, f"the key in {source} {problem}"
    return value, None
