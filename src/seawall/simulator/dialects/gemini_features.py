"""Thinking and cached content, as the simulator plays them on the Gemini API.

Thinking (ai.google.dev "Gemini thinking"): `generationConfig.thinkingConfig.thinkingBudget` (0
off, -1 dynamic, else a token budget; gemini-2.5-pro cannot be turned off) makes the model think
first: `usageMetadata.thoughtsTokenCount` counts it, `includeThoughts: true` returns the thought
as a part marked `thought: true`, and the answer's first part carries a `thoughtSignature`, which
a conversation sends back with that part (simulator/signatures.py: a signature from elsewhere is
refused). Without a thinkingConfig the simulator does not think (Gemini 2.5 models think by
default: a simplification, so replies stay as they were for every other test).

Cached content (ai.google.dev "Context caching"): `cachedContent: "cachedContents/{id}"` names a
cache created beforehand; the simulator has no caches API and takes any such name as a cache of
CACHED_TOKENS tokens, counted in `promptTokenCount` and reported as `cachedContentTokenCount`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from seawall.simulator.dialects.base import ErrorReply
from seawall.simulator.dialects.gemini_errors import invalid_argument
from seawall.simulator.signatures import sign, signed
from seawall.simulator.text import compose

CACHED_TOKENS = 2048
THOUGHT_WORDS = 12
ALWAYS_THINKS = frozenset({"gemini-2.5-pro"})
_CACHE_NAME = re.compile(r"cachedContents/[a-z0-9-]+")


@dataclasses.dataclass(frozen=True, slots=True)
class Extras:
    thoughts: int = 0  # thinking tokens (billed as output)
    thought_text: str | None = None  # the thought returned as a part (includeThoughts)
    signature: str | None = None  # on the answer's first part
    cached: int = 0  # cachedContentTokenCount


def plan_extras(body: dict, config: dict, model: str, seed: int) -> Extras | ErrorReply:
    cached = 0
    name = body.get("cachedContent")
    if name is not None:
        if not isinstance(name, str) or not _CACHE_NAME.fullmatch(name):
            return invalid_argument(f"Invalid value at 'cached_content' ({name!r}): expected cachedContents/{{id}}.",
                                    "cached_content")
        cached = CACHED_TOKENS
    thinking = config.get("thinkingConfig")
    if thinking is None:
        return Extras(cached=cached)
    if not isinstance(thinking, dict):
        return invalid_argument("Invalid value at 'generation_config.thinking_config', must be an object.",
                                "generation_config.thinking_config")
    thinking = {_camel(k): v for k, v in thinking.items()}  # google-genai sends these in snake_case
    budget = thinking.get("thinkingBudget", -1)
    if budget == 0:
        if model in ALWAYS_THINKS:  # [unverified] wording
            return invalid_argument("Budget 0 is invalid. This model only works in thinking mode.",
                                    "generation_config.thinking_config.thinking_budget")
        return Extras(cached=cached)
    pieces = compose(seed ^ 0x67656D, THOUGHT_WORDS)
    if isinstance(budget, int) and budget > 0:
        pieces = pieces[:budget]
    text = "".join(pieces) if thinking.get("includeThoughts") else None
    return Extras(len(pieces), text, sign(), cached)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def check_signatures(contents: list) -> ErrorReply | None:
    """A part sent back with a thoughtSignature must carry one this simulator made."""
    for i, content in enumerate(contents):
        parts = content.get("parts") if isinstance(content, dict) else None
        for j, part in enumerate(parts if isinstance(parts, list) else ()):
            signature = part.get("thoughtSignature", part.get("thought_signature")) if isinstance(part, dict) else None
            if signature is not None and not signed(signature):
                return invalid_argument("Thought signature is not valid.",  # [unverified] wording
                                        f"contents[{i}].parts[{j}].thought_signature")
    return None


def decorate(candidate: dict[str, Any], extras: Extras, first: bool) -> dict[str, Any]:
    """The candidate's parts with the thought before the answer and the signature on the answer's
    first part (in a stream: on the first chunk only)."""
    if not first or (extras.thought_text is None and extras.signature is None):
        return candidate
    parts = [dict(p) for p in candidate["content"]["parts"]]
    if extras.signature is not None and parts:
        parts[0]["thoughtSignature"] = extras.signature
    if extras.thought_text is not None:
        parts.insert(0, {"text": extras.thought_text, "thought": True})
    return {**candidate, "content": {**candidate["content"], "parts": parts}}
