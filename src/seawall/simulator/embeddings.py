"""Embeddings: validate like OpenAI, make deterministic unit vectors, render the list reply.

A vector is SHAKE-256 of the input, read as signed 32-bit integers and scaled to unit length.
Asking for fewer ``dimensions`` gives the normalised prefix of the full vector, which is how
text-embedding-3 shortening behaves. ``base64`` is little-endian float32, what the openai SDK
asks for by default and decodes.
"""

from __future__ import annotations

import base64
import hashlib
import math
import sys
from array import array
from dataclasses import dataclass
from typing import Any

import orjson

from seawall.simulator.catalog import Catalog
from seawall.simulator.config import ModelSpec
from seawall.simulator.dialects import openai as oai
from seawall.simulator.text import count_tokens

KNOWN_FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})
MAX_INPUTS = 2048  # OpenAI's documented cap on inputs per request
FORMATS = ("float", "base64")


@dataclass(frozen=True, slots=True)
class EmbeddingPlan:
    model: ModelSpec
    inputs: tuple[bytes, ...]  # hash keys, one per input
    dimensions: int
    encoding: str
    prompt_tokens: int


def _inputs(value: Any) -> list[tuple[bytes, int]] | None:
    """(hash key, tokens) per input, or None when the shape is not one OpenAI accepts."""
    if isinstance(value, str):
        return [(value.encode(), count_tokens(value))] if value else None
    if not isinstance(value, list) or not value or len(value) > MAX_INPUTS:
        return None
    if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return [(b"tokens:" + ",".join(map(str, value)).encode(), len(value))]
    out = []
    for item in value:
        if isinstance(item, str) and item:
            out.append((item.encode(), count_tokens(item)))
        elif isinstance(item, list) and item and all(isinstance(t, int) and not isinstance(t, bool) for t in item):
            out.append((b"tokens:" + ",".join(map(str, item)).encode(), len(item)))
        else:
            return None
    return out


def plan_embeddings(body: Any, catalog: Catalog) -> EmbeddingPlan | oai.ApiError:
    model_name = oai.check_request(body, KNOWN_FIELDS, "input")
    if isinstance(model_name, oai.ApiError):
        return model_name
    inputs = _inputs(body["input"])
    if inputs is None:
        return oai.invalid_input()
    spec = catalog.find(model_name)
    if spec is None or spec.kind != "embedding":  # [unverified: what a chat model gets here]
        return oai.model_not_found(model_name)
    encoding = body.get("encoding_format") or "float"
    if encoding not in FORMATS:
        return oai.invalid_value("encoding_format", encoding, FORMATS)
    native = spec.dimensions or 1536
    dimensions = body.get("dimensions")
    if dimensions is None:
        dimensions = native
    elif isinstance(dimensions, bool) or not isinstance(dimensions, int):
        return oai.invalid_type("dimensions", "an integer", dimensions)
    elif not 1 <= dimensions <= native:
        return oai.integer_out_of_range("dimensions", dimensions, 1, native)
    for _, tokens in inputs:
        if tokens > spec.context_window:
            return oai.embedding_input_too_long(spec.context_window, tokens)
    return EmbeddingPlan(spec, tuple(key for key, _ in inputs), dimensions, encoding,
                         sum(tokens for _, tokens in inputs))


def vector(key: bytes, dimensions: int) -> list[float]:
    raw = array("i", hashlib.shake_256(key).digest(4 * dimensions))
    norm = math.sqrt(math.fsum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def _base64(values: list[float]) -> str:
    packed = array("f", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode()


def render_embeddings(plan: EmbeddingPlan) -> bytes:
    data = []
    for index, key in enumerate(plan.inputs):
        values = vector(key, plan.dimensions)
        data.append({"object": "embedding", "index": index,
                     "embedding": _base64(values) if plan.encoding == "base64" else values})
    return orjson.dumps({
        "object": "list",
        "data": data,
        "model": plan.model.reported,
        "usage": {"prompt_tokens": plan.prompt_tokens, "total_tokens": plan.prompt_tokens},
    })
