"""The model catalog: context window, output ceiling, tokenizer, modalities and price per model.

`load_catalog()` reads the shipped models.yaml once; `Catalog.find(model_id)` matches an id
exactly, then without a vendor prefix, then without a date/version suffix, then by the longest
entry prefixing it at a "-" boundary. `with_overrides` applies the gateway config's `catalog:`
sub-objects (model-level, then deployment-level) and also turns an id the catalog doesn't know
into a ModelInfo when the config says enough about it (a context window).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources

import yaml

TOKENIZERS = ("o200k_base", "cl100k_base", "estimate")

# -2024-08-06, -20241022, -002, -latest, -preview-05-06, -exp-03-25, -exp: snapshot suffixes that
# don't change what the model accepts.
_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{3}|-latest|-(preview|exp)(-\d{2}-\d{2})?)$")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str  # the catalog entry that matched
    provider: str
    context_window: int
    max_output_tokens: int
    tokenizer: str
    modalities: tuple[str, ...] = ("text",)
    price_in: float | None = None  # USD per 1M tokens
    price_out: float | None = None
    price_cache_read: float | None = None  # input tokens the provider's prompt cache served; None: price_in
    price_cache_write: float | None = None  # input tokens written to it (Anthropic bills them); None: price_in
    reasoning: bool = False  # o-series / gpt-5: max_completion_tokens only, temperature fixed
    # Priced by what they make, not by tokens: USD per image by "[quality ]size" (or "default"),
    # per second of audio transcribed, per 1M characters spoken.
    price_image: Mapping[str, float] | None = None
    price_audio_second: float | None = None
    price_characters: float | None = None


class Catalog:
    def __init__(self, entries: Mapping[str, ModelInfo]):
        self._entries = dict(entries)
        self._by_length = sorted(self._entries, key=len, reverse=True)

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, model_id: str) -> ModelInfo | None:
        name = model_id.strip().lower()
        if name in self._entries:
            return self._entries[name]
        name = name.rsplit("/", 1)[-1]  # openai/gpt-4o (OpenRouter), models/gemini-2.0-flash
        while True:
            if name in self._entries:
                return self._entries[name]
            shorter = _SUFFIX.sub("", name)
            if shorter == name:
                break
            name = shorter
        for entry in self._by_length:
            if name.startswith(entry + "-"):
                return self._entries[entry]
        return None


def parse_catalog(raw: Mapping) -> Catalog:
    entries: dict[str, ModelInfo] = {}
    for provider, models in raw.items():
        for model_id, spec in models.items():
            spec = dict(spec)
            spec["modalities"] = tuple(spec.get("modalities", ("text",)))
            if spec["tokenizer"] not in TOKENIZERS:
                raise ValueError(f"catalog {model_id}: tokenizer {spec['tokenizer']!r} is not one of {TOKENIZERS}")
            entries[model_id] = ModelInfo(id=model_id, provider=provider, **spec)
    return Catalog(entries)


@functools.cache
def load_catalog() -> Catalog:
    """The shipped catalog, read once (at gateway construction, not on a request)."""
    text = resources.files("seawall.catalog").joinpath("models.yaml").read_text(encoding="utf-8")
    return parse_catalog(yaml.safe_load(text))


def with_overrides(base: ModelInfo | None, model_id: str, *overrides: Mapping[str, object] | None) -> ModelInfo | None:
    """`base` with each override's set fields applied in order (None values mean "keep").

    A model the catalog doesn't know becomes known once an override gives its context window;
    the rest defaults conservatively (estimate tokenizer, no output ceiling beyond the window)."""
    fields: dict[str, object] = {}
    for override in overrides:
        if override:
            fields.update({k: v for k, v in override.items() if v is not None})
    if "modalities" in fields:
        fields["modalities"] = tuple(fields["modalities"])  # type: ignore[arg-type]
    if base is None:
        if "context_window" not in fields:
            return None
        window = int(fields["context_window"])  # type: ignore[arg-type]
        base = ModelInfo(id=model_id, provider="config", context_window=window, max_output_tokens=window,
                         tokenizer="estimate")
    return replace(base, **fields) if fields else base
