"""Context fit: does prompt + requested output fit the window of the deployment that will serve
it, and if not, what does the model's policy do about it? Pure: counts in, a decision out.

    fit_context(prompt, window, policy) -> Fits | Trimmed | Truncated | FallBack | TooLong | OutputTooLarge

Rules (OpenAI's own check): a request fits when prompt tokens + max tokens <= context window
(equality fits); with no max tokens set, the prompt alone must fit. A max tokens above the
model's output ceiling is refused by the provider whatever the prompt, so it is refused here too
(truncate_output lowers it instead).

Policies:
- reject: TooLong, with both numbers and how many tokens to cut.
- fallback: FallBack(model); the caller checks the fallback model's window in turn.
- trim: drop the oldest messages until it fits. Never dropped: system and developer messages
  (wherever they are), the first `keep_first` other messages (pinned by config), and the last
  message (the turn being answered). An assistant message with tool_calls and the tool results
  that follow it are one unit: dropped together or kept together, since a tool result without its
  call (or a call without its results) is a 400 at every provider.
- truncate_output: lower max tokens to what fits (and to the output ceiling); a prompt that
  leaves no room for even one token is TooLong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PINNED_ROLES = frozenset({"system", "developer"})


@dataclass(frozen=True, slots=True)
class Window:
    context: int  # input + output tokens per request
    max_output: int  # the most completion tokens the model generates


@dataclass(frozen=True, slots=True)
class Prompt:
    roles: Sequence[str]  # each message's role
    tokens: Sequence[int]  # each message's tokens, frame included
    fixed: int  # tokens outside the messages: reply primer, tool definitions
    output: int | None  # max tokens the client asked for (None: not set)
    calls_tools: Sequence[bool] = ()  # per message: an assistant message carrying tool_calls

    @property
    def total(self) -> int:
        return sum(self.tokens) + self.fixed


@dataclass(frozen=True, slots=True)
class Policy:
    name: str = "reject"  # reject | fallback | trim | truncate_output
    fallback_model: str | None = None
    keep_first: int = 0


@dataclass(frozen=True, slots=True)
class Fits:
    prompt_tokens: int


@dataclass(frozen=True, slots=True)
class Trimmed:
    dropped: tuple[int, ...]  # message indexes to drop, ascending
    prompt_tokens: int  # after the drop


@dataclass(frozen=True, slots=True)
class Truncated:
    output: int  # the lowered max tokens
    prompt_tokens: int


@dataclass(frozen=True, slots=True)
class FallBack:
    model: str
    prompt_tokens: int


@dataclass(frozen=True, slots=True)
class TooLong:
    window: int
    prompt_tokens: int
    output: int  # what the client asked for (0: not set)
    excess: int  # tokens to cut so it fits


@dataclass(frozen=True, slots=True)
class OutputTooLarge:
    requested: int
    limit: int


Decision = Fits | Trimmed | Truncated | FallBack | TooLong | OutputTooLarge


def surely_fits(ceiling: int, output: int | None, window: Window) -> bool:
    """True when a bound on the prompt's tokens (catalog/tokens.py token_ceiling) already fits
    with the requested output: then no policy can have anything to do, and nothing is counted."""
    wanted = output or 0
    return ceiling + wanted <= window.context and wanted <= window.max_output


def fit_context(prompt: Prompt, window: Window, policy: Policy) -> Decision:
    total = prompt.total
    output = prompt.output or 0
    if policy.name == "truncate_output" and prompt.output is not None:
        room = min(window.context - total, window.max_output)
        if room < 1:
            return TooLong(window.context, total, output, total + 1 - window.context)
        return Truncated(room, total) if room < output else Fits(total)
    if output > window.max_output:
        return OutputTooLarge(output, window.max_output)
    if total + output <= window.context:
        return Fits(total)
    too_long = TooLong(window.context, total, output, total + output - window.context)
    if policy.name == "fallback" and policy.fallback_model:
        return FallBack(policy.fallback_model, total)
    if policy.name == "trim":
        return trim(prompt, window.context - output, policy.keep_first) or too_long
    return too_long


def trim(prompt: Prompt, budget: int, keep_first: int) -> Trimmed | None:
    """Drop the oldest droppable units until the prompt fits `budget`; None if it can't."""
    units = tool_units(prompt.roles, prompt.calls_tools)
    pinned = _pinned(units, prompt.roles, keep_first)
    total = prompt.total
    dropped: list[int] = []
    for index, unit in enumerate(units):
        if total <= budget:
            break
        if index in pinned:
            continue
        total -= sum(prompt.tokens[i] for i in unit)
        dropped.extend(unit)
    if total > budget:
        return None
    return Trimmed(tuple(dropped), total)


def tool_units(roles: Sequence[str], calls_tools: Sequence[bool]) -> list[list[int]]:
    """Messages grouped so a tool call and its results stay together: an assistant message with
    tool_calls (or a function_call) plus the tool/function messages right after it form one unit;
    every other message is a unit of its own."""
    units: list[list[int]] = []
    for i, role in enumerate(roles):
        if role in ("tool", "function") and units and _opens_calls(units[-1][0], roles, calls_tools):
            units[-1].append(i)
        else:
            units.append([i])
    return units


def _opens_calls(first: int, roles: Sequence[str], calls_tools: Sequence[bool]) -> bool:
    return roles[first] == "assistant" and first < len(calls_tools) and calls_tools[first]


def _pinned(units: list[list[int]], roles: Sequence[str], keep_first: int) -> set[int]:
    pinned = {len(units) - 1} if units else set()
    kept = 0
    for index, unit in enumerate(units):
        if any(roles[i] in PINNED_ROLES for i in unit):
            pinned.add(index)
        elif kept < keep_first:
            pinned.add(index)
            kept += 1
    return pinned
