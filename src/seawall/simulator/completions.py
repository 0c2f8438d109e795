"""Legacy completions (``POST /v1/completions``): validate like OpenAI, plan, render (pure).

Only completion models (``gpt-3.5-turbo-instruct``, ``davinci-002``) answer here, and they
answer nowhere else; ``max_tokens`` defaults to 16, as OpenAI's does, so an unbounded prompt
often ends with ``finish_reason: "length"``. ``echo`` repeats the prompt before the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from seawall.simulator.catalog import Catalog
from seawall.simulator.chat import check_int, fingerprint
from seawall.simulator.config import ModelSpec
from seawall.simulator.dialects import openai as oai
from seawall.simulator.text import compose, count_tokens, seed_of

KNOWN_FIELDS = frozenset({"model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs",
                          "max_tokens", "n", "presence_penalty", "seed", "stop", "stream", "stream_options",
                          "suffix", "temperature", "top_p", "user"})
DEFAULT_MAX_TOKENS = 16  # OpenAI's default for legacy completions
MAX_N = 128


@dataclass(frozen=True, slots=True)
class CompletionPlan:
    model: ModelSpec
    stream: bool
    include_usage: bool
    choices: tuple[tuple[str, tuple[str, ...], str], ...]  # (echoed prompt, pieces, finish_reason)
    prompt_tokens: int
    completion_tokens: int

    @property
    def cost(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def chat_model_here() -> oai.ApiError:  # [rec: what gpt-4o answers on /v1/completions]
    return oai.ApiError(404, "This is a chat model and not supported in the v1/completions endpoint. Did you mean to "
                             "use v1/chat/completions?", param="model")


def _prompts(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(p, str) for p in value):
            return list(value)
        if all(isinstance(t, int) and not isinstance(t, bool) for t in value):
            return [" ".join(map(str, value))]
        if all(isinstance(p, list) and all(isinstance(t, int) for t in p) for p in value):
            return [" ".join(map(str, p)) for p in value]
    return None


def plan_completion(body: Any, catalog: Catalog, reply_tokens: int | None = None) -> CompletionPlan | oai.ApiError:
    model_name = oai.check_request(body, KNOWN_FIELDS, "prompt")
    if isinstance(model_name, oai.ApiError):
        return model_name
    prompts = _prompts(body["prompt"])
    if prompts is None:
        return oai.invalid_type("prompt", "a string or an array", body["prompt"])
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        return oai.invalid_type("stream", "a boolean", stream)
    if body.get("stream_options") is not None and not stream:
        return oai.stream_options_without_stream()
    spec = catalog.find(model_name)
    if spec is None:
        return oai.model_not_found(model_name)
    if spec.kind != "completion":
        return chat_model_here()
    n, max_tokens = check_int(body, "n", 1, MAX_N), check_int(body, "max_tokens", 0, None)
    for value in (n, max_tokens):
        if isinstance(value, oai.ApiError):
            return value
    n = 1 if n is None else n
    max_tokens = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    prompt_tokens = sum(count_tokens(p) for p in prompts)
    if prompt_tokens + max_tokens > spec.context_window:
        return oai.ApiError(400, f"This model's maximum context length is {spec.context_window} tokens, however you "
                                 f"requested {prompt_tokens + max_tokens} tokens ({prompt_tokens} in your prompt; "
                                 f"{max_tokens} for the completion). Please reduce your prompt; or completion length.",
                            param="prompt", code="context_length_exceeded")
    echo = body.get("echo") is True
    length = None if reply_tokens is None else min(reply_tokens, max_tokens + 1)
    choices = []
    for prompt in prompts:
        for index in range(n):
            pieces = compose(seed_of(prompt) + index, length)
            finish = "stop"
            if len(pieces) > max_tokens:
                pieces, finish = pieces[:max_tokens], "length"
            choices.append((prompt if echo else "", pieces, finish))
    options = body.get("stream_options") or {}
    return CompletionPlan(spec, bool(stream), options.get("include_usage") is True, tuple(choices), prompt_tokens,
                          sum(len(pieces) for _, pieces, _ in choices))


def _usage(plan: CompletionPlan) -> dict:
    return {"prompt_tokens": plan.prompt_tokens, "completion_tokens": plan.completion_tokens,
            "total_tokens": plan.prompt_tokens + plan.completion_tokens}


def render_completion(plan: CompletionPlan, completion_id: str, created: int) -> bytes:
    return orjson.dumps({
        "id": completion_id, "object": "text_completion", "created": created, "model": plan.model.reported,
        "choices": [{"text": echo + "".join(pieces), "index": i, "logprobs": None, "finish_reason": finish}
                    for i, (echo, pieces, finish) in enumerate(plan.choices)],
        "usage": _usage(plan), "system_fingerprint": fingerprint(plan.model),
    })


def render_completion_events(plan: CompletionPlan, completion_id: str, created: int) -> list[bytes]:
    """One chunk per token (choices interleaved), a finish chunk per choice, the usage chunk
    when asked for, ``[DONE]``."""
    def chunk(choices: list[dict], **extra: Any) -> bytes:
        body = {"id": completion_id, "object": "text_completion", "created": created, "model": plan.model.reported,
                "choices": choices, "system_fingerprint": fingerprint(plan.model), **extra}
        return b"data: " + orjson.dumps(body) + b"\n\n"

    events = [chunk([{"text": echo, "index": i, "logprobs": None, "finish_reason": None}])
              for i, (echo, _, _) in enumerate(plan.choices) if echo]
    longest = max(len(pieces) for _, pieces, _ in plan.choices)
    for position in range(longest):
        for i, (_, pieces, _) in enumerate(plan.choices):
            if position < len(pieces):
                events.append(chunk([{"text": pieces[position], "index": i, "logprobs": None, "finish_reason": None}]))
    for i, (_, _, finish) in enumerate(plan.choices):
        events.append(chunk([{"text": "", "index": i, "logprobs": None, "finish_reason": finish}]))
    if plan.include_usage:
        events.append(chunk([], usage=_usage(plan)))
    events.append(b"data: [DONE]\n\n")
    return events
