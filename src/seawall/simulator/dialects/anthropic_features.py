"""Extended thinking and prompt caching, as the simulator plays them on Anthropic's Messages API.

Thinking (docs.anthropic.com "Extended thinking"): `thinking: {type: "enabled", budget_tokens}`
needs a budget of at least 1,024 tokens and below `max_tokens`, and `temperature` left at 1; the
reply opens with a `thinking` block whose `signature` the API checks when a conversation sends it
back (`display: "omitted"` leaves the thinking text empty, the signature stays). The simulator's
signatures are a nonce and its HMAC under a key of this process: a block signed by another
vendor, another simulator or nobody is refused as Anthropic refuses it. `type: "adaptive"` thinks
as `enabled` does, with no budget.

Prompt caching (docs.anthropic.com "Prompt caching"): a `cache_control` on a tool, a system block
or a message's content block marks the end of a cacheable prefix (tools, then system, then
messages, in that order). The longest marked prefix already cached (and not expired: 5 minutes,
or `ttl: "1h"`) is read (`cache_read_input_tokens`); the rest up to the last mark is written
(`cache_creation_input_tokens`); the remainder is `input_tokens`. As at Anthropic, a prefix under
MIN_CACHEABLE tokens is not cached. Tokens are the simulator's count (text.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time

from seawall.simulator.dialects.anthropic_errors import invalid
from seawall.simulator.dialects.base import ErrorContext, ErrorReply
from seawall.simulator.signatures import sign, signed
from seawall.simulator.text import compose, count_tokens

MIN_BUDGET = 1024
MIN_CACHEABLE = 1024  # Anthropic's minimum for Sonnet and Opus models (Haiku's is 2,048)
TTL_S = {"5m": 300.0, "1h": 3600.0}
THINKING_WORDS = 12  # a thought's length, in the simulator's tokens


@dataclasses.dataclass(frozen=True, slots=True)
class Thinking:
    pieces: tuple[str, ...]  # the thinking text as a stream sends it ("" pieces when display is omitted)
    signature: str
    tokens: int  # billed as output

    @property
    def text(self) -> str:
        return "".join(self.pieces)


@dataclasses.dataclass(frozen=True, slots=True)
class CacheUse:
    read: int = 0
    written: int = 0


def plan_thinking(body: dict, max_tokens: int, seed: int, ctx: ErrorContext) -> Thinking | ErrorReply | None:
    thinking = body.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled", "adaptive"):
        return invalid("thinking: Input tag found using 'type' does not match any of the expected tags: 'enabled', "
                       "'disabled', 'adaptive'", ctx)
    if thinking["type"] == "disabled":
        return None
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < MIN_BUDGET:
            return invalid(f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET}",
                           ctx)
        if budget >= max_tokens:
            return invalid("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                           "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
                           "#max-tokens-and-context-window-size", ctx)
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return invalid("`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation "
                       "at https://docs.claude.com/en/docs/build-with-claude/extended-thinking", ctx)
    pieces = compose(seed ^ 0x7468696E6B, THINKING_WORDS)
    shown = pieces if thinking.get("display") != "omitted" else ("",)
    return Thinking(tuple(shown), sign(), len(pieces))


def check_signatures(messages: list, ctx: ErrorContext) -> ErrorReply | None:
    """Every thinking or redacted_thinking block sent back must carry a signature this
    simulator made."""
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), list):
            continue
        for j, block in enumerate(message["content"]):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "thinking" and not signed(block.get("signature")):
                return invalid(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block", ctx)
            if kind == "redacted_thinking" and not signed(block.get("data")):
                return invalid(f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block", ctx)
    return None


def _marks(body: dict) -> list[tuple[int, str, float]]:
    """(prefix tokens, prefix digest, ttl) at each cache_control, in prompt order."""
    digest = hashlib.blake2b(str(body.get("model")).encode(), digest_size=16)
    tokens, marks = 0, []

    def take(block: object, text: str) -> None:
        nonlocal tokens
        tokens += count_tokens(text)
        digest.update(text.encode("utf-8", "surrogatepass"))
        control = block.get("cache_control") if isinstance(block, dict) else None
        if isinstance(control, dict):
            marks.append((tokens, digest.copy().hexdigest(), TTL_S.get(str(control.get("ttl", "5m")), 300.0)))

    for tool in body.get("tools") or ():
        take(tool, json.dumps({k: v for k, v in tool.items() if k != "cache_control"}, sort_keys=True)
             if isinstance(tool, dict) else "")
    system = body.get("system")
    for block in system if isinstance(system, list) else ([{"text": system}] if isinstance(system, str) else []):
        take(block, str(block.get("text", "")) if isinstance(block, dict) else "")
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        blocks = content if isinstance(content, list) else [{"text": content}] if isinstance(content, str) else []
        for block in blocks:
            take(block, json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)
                 if isinstance(block, dict) else "")
    return marks


def use_cache(cache: dict[str, float], body: dict, now: float | None = None) -> CacheUse:
    """Read the longest cached prefix, write up to the last mark; remember what was written."""
    now = time.monotonic() if now is None else now
    marks = [m for m in _marks(body) if m[0] >= MIN_CACHEABLE]
    if not marks:
        return CacheUse()
    read = next((tokens for tokens, key, _ in reversed(marks) if cache.get(key, 0.0) > now), 0)
    for _, key, ttl in marks:
        cache[key] = max(cache.get(key, 0.0), now + ttl)  # a read refreshes the entry's lifetime
    return CacheUse(read, marks[-1][0] - read)
