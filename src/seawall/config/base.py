"""What every settings model shares: strict (unknown fields refused, with did-you-mean), frozen;
and the error a config that can't be used raises."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# The simulator, like the providers it plays, wants some key; it accepts any unless told otherwise.
SIMULATOR_KEY = "sk-seawall-simulator"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfigError(Exception):
    """The config can't be used; `problems` are 'field.path: what is wrong — the fix' lines."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def render(self) -> str:
        lines = [f"Configuration {self.source} is not valid:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)
