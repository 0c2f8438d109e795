"""OpenAI's image generation (POST /v1/images/generations) served by a Gemini deployment of an
Imagen model, through Gemini API's `models/{model}:predict` (ai.google.dev/gemini-api/docs/imagen).

    OpenAI                          Imagen :predict
    prompt                      ->  instances[0].prompt
    n (1-4)                     ->  parameters.sampleCount
    size                        ->  parameters.aspectRatio (the ratio nearest the size's: 1:1, 3:4,
                                    4:3, 9:16, 16:9)
    output_format png / jpeg    ->  parameters.outputOptions.mimeType
    response_format b64_json    ->  (Imagen answers image bytes, as GPT Image does)
    predictions[].bytesBase64Encoded  ->  data[].b64_json

Strict, like every translation: what Imagen has no counterpart for (an image URL reply, DALL-E's
quality and style, transparent backgrounds, WEBP) is a 400 naming the field, never dropped.
`user` (OpenAI's abuse-monitoring tag) changes no image and is not sent.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import orjson

from seawall.config import ResolvedDeployment
from seawall.errors import SeawallError, error
from seawall.providers.base import ApiRequest, MalformedReply, Reply, UpstreamRequest, Usage, reply_json

# Imagen's aspect ratios (width / height), and OpenAI's sizes mapped to the nearest.
_RATIOS = {"1:1": 1.0, "3:4": 0.75, "4:3": 4 / 3, "9:16": 9 / 16, "16:9": 16 / 9}
_MIME = {"png": "image/png", "jpeg": "image/jpeg"}
_IGNORED = frozenset({"model", "prompt", "user"})
MAX_IMAGES = 4  # Imagen's sampleCount


def aspect_ratio(size: str) -> str | None:
    """The Imagen ratio nearest a "WxH" size; None if it isn't one."""
    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit()) or int(height) == 0:
        return None
    ratio = int(width) / int(height)
    return min(_RATIOS, key=lambda name: abs(_RATIOS[name] - ratio))


def to_imagen(body: dict, deployment: str) -> dict:
    """The :predict request for an OpenAI image generation body, or the 400 naming the field."""
    def refuse(param: str, detail: str) -> SeawallError:
        return error("unsupported_parameter", param, deployment=deployment, detail=detail)

    parameters: dict = {"sampleCount": 1}
    for name, value in body.items():
        if name in _IGNORED or value is None:
            continue
        if name == "n":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_IMAGES:
                raise refuse("n", f"Imagen makes 1 to {MAX_IMAGES} images a request")
            parameters["sampleCount"] = value
        elif name == "size":
            if value == "auto":
                continue
            ratio = aspect_ratio(value) if isinstance(value, str) else None
            if ratio is None:
                raise error("invalid_value", param="size", expected="a size such as \"1024x1024\"", got=repr(value))
            parameters["aspectRatio"] = ratio
        elif name == "response_format":
            if value != "b64_json":
                raise refuse("response_format", "Imagen answers with the image itself, not a URL: ask for b64_json")
        elif name == "output_format":
            if value not in _MIME:
                raise refuse("output_format", "Imagen writes PNG or JPEG")
            parameters["outputOptions"] = {"mimeType": _MIME[value]}
        elif name == "quality" and value in ("auto", "standard"):
            continue
        else:
            raise refuse(name, "Imagen has no counterpart for it")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise error("missing_field", param="prompt", endpoint="POST /v1/images/generations")
    return {"instances": [{"prompt": prompt}], "parameters": parameters}


def build_imagen(req: ApiRequest, target: ResolvedDeployment) -> UpstreamRequest:
    url = f"{target.base_url}/models/{quote(target.spec.model, safe='')}:predict"
    headers = {"content-type": "application/json", "accept": "application/json"}
    if target.api_key:
        headers["x-goog-api-key"] = target.api_key
    headers.update(target.spec.headers)
    return UpstreamRequest("POST", url, headers, orjson.dumps(to_imagen(req.body, target.label)))


def read_imagen(req: ApiRequest, body: bytes, now: float | None = None) -> Reply:
    """The :predict reply as OpenAI's images response, billed per image made."""
    data = reply_json(body)
    predictions = data.get("predictions") if isinstance(data, dict) else None
    if predictions is None and isinstance(data, dict):
        predictions = []  # every image filtered out: Imagen answers {} (its RAI filter)
    if not isinstance(predictions, list):
        raise MalformedReply(f"a 2xx reply without 'predictions': {body[:120]!r}")
    images = [{"b64_json": p["bytesBase64Encoded"]} for p in predictions
              if isinstance(p, dict) and isinstance(p.get("bytesBase64Encoded"), str)]
    reply = {"created": int(time.time() if now is None else now), "data": images}
    usage = Usage(images=len(images), image_kind=req.body.get("size") or "1024x1024")
    return Reply(orjson.dumps(reply), usage, None)
