"""Provider name (as written in the config) -> adapter. One line per provider."""

from __future__ import annotations

from seawall.providers.base import Provider
from seawall.providers.openai import OpenAIProvider

_OPENAI = OpenAIProvider()

# The simulator speaks OpenAI's dialect. Anthropic, Gemini and Azure adapters come with their
# own issue; until then the config accepts them and start-up refuses them by name (app.py).
ADAPTERS: dict[str, Provider] = {
    "openai": _OPENAI,
    "simulator": _OPENAI,
}


def adapter_for(provider: str) -> Provider | None:
    return ADAPTERS.get(provider)
