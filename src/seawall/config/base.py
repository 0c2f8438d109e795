"""What every settings model shares: strict (unknown fields refused, with did-you-mean), frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# The simulator, like the providers it plays, wants some key; it accepts any unless told otherwise.
SIMULATOR_KEY = "sk-seawall-simulator"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
