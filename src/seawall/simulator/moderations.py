"""Moderations (``POST /v1/moderations``): classify text (and image parts, for omni models)
deterministically: a category is flagged when the input holds one of its trigger words, so a
test can ask for a flag ("I will kill it" is violence) and get it every time (pure)."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any

import orjson

from seawall.simulator.catalog import Catalog
from seawall.simulator.config import ModelSpec
from seawall.simulator.dialects import openai as oai
from seawall.simulator.text import count_tokens

KNOWN_FIELDS = frozenset({"input", "model"})
CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
              "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
              "violence/graphic")
TRIGGERS = {"violence": ("kill", "attack"), "harassment": ("idiot", "stupid"), "hate": ("hate",),
            "self-harm": ("hurt myself",), "illicit": ("shoplift",)}
IMAGE_CATEGORIES = frozenset({"self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence",
                              "violence/graphic"})
_ids = random.Random()


@dataclass(frozen=True, slots=True)
class ModerationPlan:
    model: ModelSpec
    inputs: tuple[tuple[str, bool], ...]  # (text, has an image) per result
    tokens: int


def plan_moderation(body: Any, catalog: Catalog) -> ModerationPlan | oai.ApiError:
    if not isinstance(body, dict):
        return oai.unparsable_json()
    for name in body:
        if name not in KNOWN_FIELDS:
            return oai.unrecognized_argument(name)
    if "input" not in body:
        return oai.missing_parameter("input")
    name = body.get("model") or "omni-moderation-latest"
    spec = catalog.find(name)
    if spec is None or spec.kind != "moderation":
        return oai.model_not_found(name)
    value = body["input"]
    if isinstance(value, str):
        inputs = [(value, False)]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        inputs = [(v, False) for v in value]
    elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
        if not spec.id.startswith("omni"):  # [unverified wording]
            return oai.ApiError(400, f"Model {spec.id} does not support image inputs.", param="input")
        text = " ".join(v.get("text", "") for v in value if v.get("type") == "text")
        inputs = [(text, any(v.get("type") == "image_url" for v in value))]
    else:
        return oai.invalid_input()
    return ModerationPlan(spec, tuple(inputs), sum(count_tokens(text) for text, _ in inputs))


def _result(text: str, image: bool, omni: bool) -> dict:
    lowered = text.lower()
    flagged = {c for c, words in TRIGGERS.items() if any(w in lowered for w in words)}
    categories = {c: c in flagged for c in CATEGORIES}
    scores = {c: (0.91 if c in flagged else 0.0004) for c in CATEGORIES}
    result: dict = {"flagged": bool(flagged), "categories": categories, "category_scores": scores}
    if omni:
        result["category_applied_input_types"] = {
            c: ["text", "image"] if image and c in IMAGE_CATEGORIES else ["text"] for c in CATEGORIES}
    return result


def render_moderation(plan: ModerationPlan) -> bytes:
    omni = plan.model.id.startswith("omni")
    return orjson.dumps({
        "id": "modr-" + "".join(_ids.choices(string.ascii_letters + string.digits, k=24)),
        "model": plan.model.reported,
        "results": [_result(text, image, omni) for text, image in plan.inputs],
    })
