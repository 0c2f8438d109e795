"""Validate: is the request well-formed for the model that will serve it, and does it fit?

In order, each a specific 4xx naming the field:
1. message count (413), before anything walks the messages;
2. the body against OpenAI's published schema (decide/schema.py);
3. images: count, inline size, and whether the model reads them (decide/sizes.py);
4. the model's parameter rules from the catalog (reasoning models: max_completion_tokens only,
   temperature and top_p fixed);
5. context fit (decide/fit.py): prompt tokens (catalog/tokens.py) + max tokens against the
   smallest window among the model's deployments, since any of them may end up serving it;
   the model's context_policy then rejects, trims, lowers max tokens or falls back to another
   model (whose own window and policy are checked in turn).
The calling key's (or its group's) context_policy and size limits override the model's, field by
field (decide/key_policy.py); they were compiled into the Principal when the key cache loaded.

A model the catalog doesn't know (and the config says nothing about) gets steps 1-3 only.
A body in a vendor's own shape, on its way to a deployment of that vendor (pass-through), gets
steps 1 and 5 only, counted in its own shape (dialects/shapes.py): the upstream judges the rest
(OpenAI's schema is not its schema), and a field the gateway has never heard of stays its business.
Counting requests (count_tokens) get step 1 only. The rest of OpenAI's API (a Responses request
passed through, legacy completions, images, audio, moderations) gets none: the upstream judges it
(a Responses request translated for another vendor is checked as the chat request it becomes).
The body is never rebuilt unless a policy repairs it: what goes upstream is the client's dict.
Counting is inline for small bodies and past INLINE_COUNT_BYTES in one worker thread (tiktoken
releases the GIL while it encodes): prompts queue for it instead of taking every core from the
event loop. Past MAX_COUNT_BYTES a prompt is not counted but estimated (catalog/tokens.py LARGE),
so one request's counting costs at most ~0.15 s of CPU. It runs after admission (flow.py): a key
past its rate limit never makes the gateway count.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from seawall.catalog.models import Catalog, ModelInfo, load_catalog, with_overrides
from seawall.catalog.tokens import ENCODINGS, LARGE, embeddings_tokens, is_loaded
from seawall.config import RequestLimits, ResolvedDeployment, ServerSettings
from seawall.decide.fit import (
    FallBack,
    Fits,
    OutputTooLarge,
    Policy,
    Prompt,
    TooLong,
    Trimmed,
    Truncated,
    Window,
    fit_context,
    surely_fits,
)
from seawall.decide.key_policy import KeyPolicy, context_policy, sizes
from seawall.decide.schema import check_body, reasoning_problem
from seawall.decide.sizes import content_problem, too_many_messages
from seawall.dialects import shapes
from seawall.errors import SeawallError, error
from seawall.pipeline.quota import Price
from seawall.pipeline.route import Router
from seawall.providers.base import ApiRequest

# Measured here: tiktoken encodes 3-6 MB/s of English prose (o200k faster than cl100k), so 4 KiB
# is under ~1 ms inline; past it the count moves to a thread (tiktoken releases the GIL).
INLINE_COUNT_BYTES = 4 * 1024
# Past this a prompt is estimated (bytes / 4), not counted: 512 KiB is ~0.1-0.15 s of tiktoken and
# already more than a 128k-token window holds, so only windows past ~128k tokens ever see the estimate.
MAX_COUNT_BYTES = 512 * 1024
MAX_FALLBACK_HOPS = 3  # fallback chains are config-checked for names, not for cycles
TRIMMED_HEADER = b"x-seawall-trimmed-messages"
TRUNCATED_HEADER = b"x-seawall-max-tokens"
FALLBACK_HEADER = b"x-seawall-fallback-model"
_NO_HEADERS: list[tuple[bytes, bytes]] = []
# The operations pre-flight knows: chat and embeddings in every dialect's shape. Another (a
# Responses request passed through, legacy completions, images, audio) is its upstream's to judge.
CHECKED = frozenset({"chat", "embeddings", "count_tokens", "embed", "batch_embed"})
# What a client dialect calls what its translation carries as reasoning_effort (dialects/).
THINKING_FIELDS = {"anthropic": "thinking", "gemini": "generationConfig.thinkingConfig"}


@dataclass(frozen=True, slots=True)
class Target:
    """What pre-flight knows about one configured model, computed once at start."""

    name: str
    info: ModelInfo | None  # the tightest of its deployments' catalog entries; None: unknown
    policy: Policy
    limits: RequestLimits


@dataclass(frozen=True, slots=True)
class Checked:
    request: ApiRequest  # what the client asked, possibly repaired (trimmed, max tokens lowered)
    routed: ApiRequest  # the same, naming the model to route to (a fallback's, when it falls back)
    headers: list[tuple[bytes, bytes]]  # response headers saying what was repaired
    # The prompt's tokens when they were counted (near the window), else None: what admission's
    # token estimate (pipeline/admit.py, bytes / 4 today) can use instead when it is known.
    prompt_tokens: int | None = None


class Preflight:
    """One per gateway; holds only config-derived, read-only state (safe across requests)."""

    def __init__(self, server: ServerSettings, router: Router, catalog: Catalog | None = None):
        self.router = router
        catalog = catalog or load_catalog()
        self.targets = {name: target_for(name, router.require(name), catalog, server.request_limits)
                        for name in router.model_names}
        self._prices = {name: price_for(target.info) for name, target in self.targets.items()}
        # Encodings load on the first prompt that needs counting, in a thread (~0.5 s, 25-50 MB
        # each): a prompt whose bytes already prove it fits, the usual case, never needs them.
        self._counter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seawall-count")

    def price_of(self, model: str) -> Price | None:
        """USD per token of a configured model, from the catalog or the config; None when the
        input or output price is unknown. For quotas and the request log (pipeline/quota.py)."""
        return self._prices.get(model)

    def tokenizer(self, model: str) -> str:
        """The tokenizer the catalog names for a configured model ("estimate" when unknown)."""
        target = self.targets.get(model)
        return target.info.tokenizer if target is not None and target.info is not None else "estimate"

    async def check(self, req: ApiRequest, body_bytes: int, key: KeyPolicy | None = None) -> Checked:
        """`key`: the calling key's own context policy and size limits (Principal.request_policy),
        over the model's; None (most keys) costs nothing."""
        if req.operation not in CHECKED:  # the rest of OpenAI's API: the upstream's to judge
            return Checked(req, req, _NO_HEADERS)
        target = self.targets.get(req.model)
        canonical = req.shape == "openai"
        if target is None:  # not configured: routing answers model_not_found
            problem = check_body(req.operation, req.body) if canonical else None
            if problem:
                raise problem
            return Checked(req, req, _NO_HEADERS)
        limits = target.limits if key is None else sizes(target.limits, key)
        if not canonical:
            count = len(shapes.turns(req))
            if count > limits.max_messages:
                raise error("too_many_messages", param="contents" if req.shape == "gemini" else "messages",
                            count=count, limit=limits.max_messages, model=req.model)
            if target.info is None or req.operation != "chat":
                return Checked(req, req, _NO_HEADERS)
            return await self._fit(req, target, body_bytes, key.context_policy if key is not None else None)
        raise_if(too_many_messages(req.body, limits.max_messages, req.model))
        raise_if(check_body(req.operation, req.body))
        info = target.info
        if req.operation == "chat":
            raise_if(content_problem(req.body, limits.max_images, limits.max_image_bytes, req.model,
                                     info.modalities if info is not None else None))
            if info is not None and info.reasoning:
                raise_if(reasoning_problem(req.body, req.model))
            elif info is not None and req.dialect != "openai" and "reasoning_effort" in req.body:
                req = self._without_reasoning(req)
        if info is None:
            return Checked(req, req, _NO_HEADERS)
        return await self._fit(req, target, body_bytes, key.context_policy if key is not None else None)

    def _without_reasoning(self, req: ApiRequest) -> ApiRequest:
        """A thinking budget translated for a model that does not reason: refused by the name the
        client gave it, or dropped when the model's translation is lossy."""
        if not self.router.lossy(req.model):
            raise error("unsupported_parameter", param=THINKING_FIELDS.get(req.dialect, "reasoning_effort"),
                        deployment=f"`{req.model}`", detail="that model does not reason, so a thinking budget has "
                                                          "no counterpart there")
        return replace(req, body={k: v for k, v in req.body.items() if k != "reasoning_effort"}, raw=None)

    async def _fit(self, req: ApiRequest, target: Target, body_bytes: int,
                   key_policy: str | None = None) -> Checked:
        hops = 0
        current = target
        while True:
            info = current.info
            assert info is not None
            window = Window(info.context_window, info.max_output_tokens or info.context_window)
            if surely_fits(shapes.ceiling(req, body_bytes), requested_output(req), window):
                return apply(req, Fits(0), current.name, target.name)
            tokenizer = info.tokenizer if body_bytes <= MAX_COUNT_BYTES else LARGE
            inline = (body_bytes <= INLINE_COUNT_BYTES and (tokenizer not in ENCODINGS or is_loaded(tokenizer))
                      or tokenizer == LARGE)
            prompt = (prompt_of(req, tokenizer) if inline else
                      await asyncio.get_running_loop().run_in_executor(self._counter, prompt_of, req, tokenizer))
            policy = current.policy if key_policy is None else context_policy(current.policy, key_policy)
            policy = policy if req.operation == "chat" else _embeddings_policy(policy)
            decision = fit_context(prompt, window, policy)
            if isinstance(decision, FallBack) and hops < MAX_FALLBACK_HOPS:
                fallback = self.targets.get(decision.model)
                if fallback is not None and fallback.info is not None:
                    hops += 1
                    current = fallback
                    continue
                decision = _too_long(prompt, window)
            return apply(req, decision, current.name, target.name)


def price_for(info: ModelInfo | None) -> Price | None:
    """USD per token (cache reads and writes without a price of their own cost the input price),
    and per unit for a model billed by what it makes; None when neither is known."""
    if info is None:
        return None
    units = info.price_image is not None or info.price_audio_second is not None or info.price_characters is not None
    if (info.price_in is None or info.price_out is None) and not units:
        return None
    price_in, price_out = info.price_in or 0.0, info.price_out or 0.0
    read = info.price_cache_read if info.price_cache_read is not None else price_in
    write = info.price_cache_write if info.price_cache_write is not None else price_in
    return Price(price_in / 1e6, price_out / 1e6, read / 1e6, write / 1e6, info.price_image,
                 info.price_audio_second or 0.0, (info.price_characters or 0.0) / 1e6)


def target_for(name: str, deployments: list[ResolvedDeployment], catalog: Catalog,
               server_limits: RequestLimits) -> Target:
    route = deployments[0].model_route if deployments else None
    infos = []
    for dep in deployments:
        base = catalog.find(dep.spec.model) or catalog.find(name)
        infos.append(with_overrides(base, dep.spec.model, _fields(route.catalog if route else None),
                                    _fields(dep.spec.catalog)))
    known = [i for i in infos if i is not None]
    policy = Policy(route.context_policy, route.fallback_model, route.trim_keep_first) if route else Policy()
    limits = (route.request_limits if route and route.request_limits else None) or server_limits
    return Target(name, tightest(known) if known else None, policy, limits)


def _fields(override: object) -> dict | None:
    return override.model_dump(exclude_none=True) if override is not None else None  # type: ignore[attr-defined]


def tightest(infos: list[ModelInfo]) -> ModelInfo:
    """One ModelInfo every deployment can honour: smallest window and output ceiling, only the
    modalities all read, reasoning rules if any has them; one shared tokenizer, or the estimate
    when they differ."""
    first = infos[0]
    tokenizers = {i.tokenizer for i in infos}
    modalities = tuple(m for m in first.modalities if all(m in i.modalities for i in infos))
    return replace(first, context_window=min(i.context_window for i in infos),
                   max_output_tokens=min(i.max_output_tokens or i.context_window for i in infos),
                   tokenizer=first.tokenizer if len(tokenizers) == 1 else "estimate",
                   modalities=modalities, reasoning=any(i.reasoning for i in infos))


def _embeddings_policy(policy: Policy) -> Policy:
    """Embeddings can fall back to another model, but there is nothing to trim or truncate."""
    return policy if policy.name == "fallback" else Policy()


def prompt_of(req: ApiRequest, tokenizer: str) -> Prompt:
    if req.operation == "embeddings":
        return Prompt((), (), embeddings_tokens(req.body, tokenizer), None)
    return shapes.prompt(req, tokenizer)


def requested_output(req: ApiRequest) -> int | None:
    return shapes.output_limit(req)[1] if req.operation == "chat" else None


def _too_long(prompt: Prompt, window: Window) -> TooLong:
    output = prompt.output or 0
    return TooLong(window.context, prompt.total, output, prompt.total + output - window.context)


def apply(req: ApiRequest, decision: object, serving: str, asked: str) -> Checked:
    """Turn the decision into the request to send and the headers that say what changed."""
    routed = req
    headers: list[tuple[bytes, bytes]] = _NO_HEADERS
    if serving != asked:  # it fell back: route to the fallback model, keep the asked name for the log
        headers = [(FALLBACK_HEADER, serving.encode())]
    if isinstance(decision, Fits):
        pass
    elif isinstance(decision, Trimmed):
        req = shapes.without_turns(req, set(decision.dropped))
        headers = [*headers, (TRIMMED_HEADER, str(len(decision.dropped)).encode())]
    elif isinstance(decision, Truncated):
        req = shapes.with_output_limit(req, decision.output)
        headers = [*headers, (TRUNCATED_HEADER, str(decision.output).encode())]
    elif isinstance(decision, TooLong):
        raise context_error(decision, serving, "contents" if req.shape == "gemini" else "messages")
    elif isinstance(decision, OutputTooLarge):
        raise error("output_too_large", param=shapes.output_limit(req)[0], got=decision.requested,
                    limit=decision.limit, model=serving)
    routed = replace(req, model=serving) if serving != asked else req
    return Checked(req, routed, headers, getattr(decision, "prompt_tokens", None) or None)


def context_error(d: TooLong, model: str, param: str = "messages") -> SeawallError:
    return error("context_length_exceeded", param=param, window=d.window, total=d.prompt_tokens + d.output,
                 prompt=d.prompt_tokens, completion=d.output, excess=d.excess, model=model,
                 or_output=", or lower max_tokens" if d.output else "")


def raise_if(problem: SeawallError | None) -> None:
    if problem is not None:
        raise problem
