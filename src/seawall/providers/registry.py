"""Provider name (as written in the config) -> adapter. One line per provider."""

from __future__ import annotations

from seawall.providers.anthropic import AnthropicProvider
from seawall.providers.azure import AzureProvider
from seawall.providers.base import Provider
from seawall.providers.gemini import GeminiProvider
from seawall.providers.midjourney import MidjourneyTasks, TaskProvider
from seawall.providers.openai import OpenAIProvider

_OPENAI = OpenAIProvider()

# `simulator` is the embedded simulator, called on its OpenAI paths; it also plays Anthropic,
# Gemini and Azure on their own paths, reached with those providers' adapters and a base_url.
ADAPTERS: dict[str, Provider] = {
    "openai": _OPENAI,
    "simulator": _OPENAI,
    "anthropic": AnthropicProvider(),
    "gemini": GeminiProvider(),
    "azure": AzureProvider(_OPENAI),
}


# Task upstreams (Midjourney) fit no chat protocol: their `supports` names no chat operation, so
# routing never picks them for chat or embeddings; pipeline/tasks.py calls them on /mj/… routes.
TASK_ADAPTERS: dict[str, TaskProvider] = {"midjourney": MidjourneyTasks()}


def adapter_for(provider: str) -> Provider | TaskProvider | None:
    return ADAPTERS.get(provider) or TASK_ADAPTERS.get(provider)


def task_adapter_for(provider: str) -> TaskProvider | None:
    return TASK_ADAPTERS.get(provider)
