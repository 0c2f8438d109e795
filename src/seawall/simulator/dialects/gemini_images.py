"""Imagen on the Gemini API: ``POST /v1beta/models/{imagen model}:predict`` (ai.google.dev/
gemini-api/docs/imagen), deterministic like the rest of the simulator: each image is one PNG of a
colour chosen by the prompt and the image's place, of the size Imagen makes for the aspect ratio.

    {"instances": [{"prompt": "..."}], "parameters": {"sampleCount": 1-4, "aspectRatio": "1:1" | "3:4"
     | "4:3" | "9:16" | "16:9", "personGeneration": ..., "outputOptions": {"mimeType": "image/png"}}}
    -> {"predictions": [{"bytesBase64Encoded": "...", "mimeType": "image/png"}, ...]}

A prompt naming "forbidden" is filtered, as Imagen's safety filter does: its images are left out
(none left: ``{}``). Wording of the refusals: [unverified], in the API's INVALID_ARGUMENT shape.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from seawall.simulator.dialects.base import ErrorReply
from seawall.simulator.dialects.gemini_errors import invalid_argument, model_not_found, unknown_name
from seawall.simulator.images import png
from seawall.simulator.text import seed_of

MODELS = ("imagen-4.0-generate-001", "imagen-4.0-fast-generate-001", "imagen-4.0-ultra-generate-001",
          "imagen-3.0-generate-002")
# The sizes Imagen makes per aspect ratio (its model card); the simulator draws them at 1/8 scale,
# so replies stay small.
SIZES = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408), "16:9": (1408, 768)}
_PARAMETERS = {"sampleCount", "aspectRatio", "personGeneration", "outputOptions", "imageSize", "negativePrompt",
               "seed", "addWatermark", "enhancePrompt", "language", "safetySetting"}
_COLOURS = ((70, 130, 180), (240, 128, 128), (60, 179, 113), (238, 130, 238), (255, 215, 0))


def plan_predict(body: Any, model: str, version: str) -> list[tuple[int, int, tuple[int, int, int]]] | ErrorReply:
    """The images to make (width, height, colour), or the API's refusal."""
    if model not in MODELS:
        return model_not_found(model, version, "predict")
    if not isinstance(body, dict):
        return invalid_argument("Invalid JSON payload received. Unexpected token.")
    for name in body:
        if name not in ("instances", "parameters"):
            return unknown_name(name)
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        return invalid_argument("Exactly one instance is supported.", "instances")
    prompt = instances[0].get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return invalid_argument("The prompt is missing or empty.", "instances[0].prompt")
    parameters = body.get("parameters") or {}
    for name in parameters:
        if name not in _PARAMETERS:
            return unknown_name(name, "parameters")
    count = parameters.get("sampleCount", 4)
    if not isinstance(count, int) or not 1 <= count <= 4:
        return invalid_argument("sampleCount must be between 1 and 4.", "parameters.sampleCount")
    ratio = parameters.get("aspectRatio", "1:1")
    if ratio not in SIZES:
        return invalid_argument(f"Unsupported aspect ratio: {ratio}. Supported: {', '.join(SIZES)}.",
                                "parameters.aspectRatio")
    if "forbidden" in prompt.lower():
        return []
    width, height = SIZES[ratio]
    seed = seed_of(prompt + model)
    return [(width // 8, height // 8, _COLOURS[(seed + i) % len(_COLOURS)]) for i in range(count)]


def render_predictions(images: list[tuple[int, int, tuple[int, int, int]]]) -> bytes:
    if not images:
        return b"{}\n"
    predictions = [{"bytesBase64Encoded": base64.b64encode(png(w, h, colour)).decode(), "mimeType": "image/png"}
                   for w, h, colour in images]
    return (json.dumps({"predictions": predictions}, indent=2) + "\n").encode()
