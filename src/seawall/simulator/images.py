"""Images: generations (JSON), edits and variations (forms), validated like OpenAI, answered
with real PNG files of the asked size (pure).

Per model, what OpenAI accepts: ``dall-e-2`` (the default) sizes 256/512/1024 square, one PNG
under 4 MB to edit or vary; ``dall-e-3`` one image per request, wide and tall sizes, a
``revised_prompt``; ``gpt-image-1`` base64 only (``response_format`` refused), up to 16 PNG,
WEBP or JPEG inputs, token usage in the reply. A picture is one flat colour chosen by the
prompt's hash, so equal prompts give equal files.
"""

from __future__ import annotations

import base64
import functools
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from seawall.simulator.catalog import Catalog
from seawall.simulator.config import ModelSpec
from seawall.simulator.dialects import openai as oai
from seawall.simulator.forms import Form, FormFile
from seawall.simulator.text import count_tokens, seed_of

GENERATION_FIELDS = frozenset({"prompt", "background", "model", "moderation", "n", "output_compression",
                               "output_format", "partial_images", "quality", "response_format", "size", "stream",
                               "style", "user"})
EDIT_FIELDS = frozenset({"prompt", "background", "image", "image[]", "input_fidelity", "mask", "model", "n",
                         "output_compression", "output_format", "partial_images", "quality", "response_format",
                         "size", "stream", "user"})
VARIATION_FIELDS = frozenset({"image", "model", "n", "response_format", "size", "user"})
SIZES = {"dall-e-2": ("256x256", "512x512", "1024x1024"), "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
         "gpt-image-1": ("auto", "1024x1024", "1536x1024", "1024x1536")}
PROMPT_LIMIT = {"dall-e-2": 1000, "dall-e-3": 4000, "gpt-image-1": 32000}
DALL_E_2_BYTES = 4 * 1024 * 1024
GPT_IMAGE_BYTES = 50 * 1024 * 1024
MAX_EDIT_IMAGES = 16
_COLOURS = ((66, 133, 244), (219, 68, 55), (244, 180, 0), (15, 157, 88), (171, 71, 188), (0, 172, 193),
            (255, 112, 67), (158, 157, 36))
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF87a", "gif"), (b"GIF89a", "gif"))


@dataclass(frozen=True, slots=True)
class ImagePlan:
    model: ModelSpec
    count: int
    width: int
    height: int
    colour: tuple[int, int, int]
    as_url: bool
    revised_prompt: str | None
    prompt_tokens: int
    extras: dict  # gpt-image-1's echo of its settings and usage

    @property
    def cost(self) -> int:
        return self.prompt_tokens + self.count


def image_kind(head: bytes) -> str | None:
    """png, jpeg, webp or gif by the file's first bytes, None for anything else."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def invalid_image(index: int) -> oai.ApiError:  # [unverified wording]
    return oai.ApiError(400, f"Invalid image file or mode for image {index}, please check your image file.",
                        param="image", code="invalid_image_file")


def _png_required(param: str) -> oai.ApiError:  # [rec: dall-e-2's wording]
    return oai.ApiError(400, "Uploaded image must be a PNG and less than 4 MB.", param=param)


@functools.lru_cache(maxsize=16)
def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A valid PNG (RGB, 8 bits) of one colour: IHDR, one zlib IDAT, IEND."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(colour) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height, 6)) + \
        chunk(b"IEND", b"")


def _int_value(value: Any, name: str, low: int, high: int) -> int | oai.ApiError:
    if isinstance(value, str) and value.strip().isdigit():  # form fields arrive as text
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return oai.invalid_type(name, "an integer", value)
    if not low <= value <= high:
        return oai.integer_out_of_range(name, value, low, high)
    return value


def _plan(body: dict, catalog: Catalog, default_model: str, models: tuple[str, ...]) -> ImagePlan | oai.ApiError:
    name = body.get("model") or default_model
    spec = catalog.find(name)
    if spec is None:
        return oai.model_not_found(name)
    if spec.kind != "image" or spec.id not in models:  # [unverified wording]
        return oai.ApiError(400, f"Invalid value: '{name}'. The model does not support this operation.",
                            param="model", code="invalid_value")
    prompt = body.get("prompt") or ""
    if len(prompt) > PROMPT_LIMIT[spec.id]:
        return oai.ApiError(400, f"Invalid 'prompt': string too long. Expected a string with maximum length "
                                 f"{PROMPT_LIMIT[spec.id]}, but got a string with length {len(prompt)} instead.",
                            param="prompt", code="string_above_max_length")
    count = _int_value(body.get("n", 1), "n", 1, 10)
    if isinstance(count, oai.ApiError):
        return count
    if spec.id == "dall-e-3" and count != 1:  # [unverified wording]
        return oai.ApiError(400, "You must provide n=1 for this model.", param="n")
    size = body.get("size") or SIZES[spec.id][0 if spec.id != "gpt-image-1" else 1]
    if size not in SIZES[spec.id]:
        return oai.invalid_value("size", size, SIZES[spec.id])
    if size == "auto":
        size = "1024x1024"
    fmt = body.get("response_format")
    if spec.id == "gpt-image-1" and fmt is not None:  # [rec: GPT image models always answer base64]
        return oai.ApiError(400, "Unknown parameter: 'response_format'.", param="response_format",
                            code="unknown_parameter")
    if fmt not in (None, "url", "b64_json"):
        return oai.invalid_value("response_format", fmt, ("url", "b64_json"))
    width, height = (int(side) for side in size.split("x"))
    seed = seed_of(prompt + spec.id)
    tokens = count_tokens(prompt)
    extras: dict = {}
    if spec.id == "gpt-image-1":
        output_tokens = 272 * count
        extras = {"background": "opaque", "output_format": body.get("output_format") or "png",
                  "quality": body.get("quality") or "medium", "size": size,
                  "usage": {"input_tokens": tokens, "input_tokens_details": {"text_tokens": tokens, "image_tokens": 0},
                            "output_tokens": output_tokens, "total_tokens": tokens + output_tokens}}
    revised = f"A picture of {prompt.strip()}" if spec.id == "dall-e-3" else None
    return ImagePlan(spec, count, width, height, _COLOURS[seed % len(_COLOURS)], (fmt or "url") == "url" and
                     spec.id != "gpt-image-1", revised, tokens, extras)


def plan_generation(body: Any, catalog: Catalog) -> ImagePlan | oai.ApiError:
    if not isinstance(body, dict):
        return oai.unparsable_json()
    for name in body:
        if name not in GENERATION_FIELDS:
            return oai.unrecognized_argument(name)
    if not isinstance(body.get("prompt"), str):
        return oai.missing_parameter("prompt") if "prompt" not in body else oai.invalid_type(
            "prompt", "a string", body["prompt"])
    return _plan(body, catalog, "dall-e-2", ("dall-e-2", "dall-e-3", "gpt-image-1"))


def _check_inputs(files: list[FormFile], spec_id: str, param: str) -> oai.ApiError | None:
    for index, part in enumerate(files, start=1):
        kind = image_kind(part.head)
        if spec_id == "dall-e-2":
            if kind != "png" or part.size >= DALL_E_2_BYTES:
                return _png_required(param) if kind is not None else invalid_image(index)
        elif kind not in ("png", "jpeg", "webp") or part.size >= GPT_IMAGE_BYTES:
            return invalid_image(index)
    return None


def _form_body(form: Form, known: frozenset[str]) -> dict | oai.ApiError:
    for name in form.names():
        if name not in known:
            return oai.unrecognized_argument(name)
    return {name: values[-1] for name, values in form.fields.items()}


def plan_edit(form: Form, catalog: Catalog) -> ImagePlan | oai.ApiError:
    body = _form_body(form, EDIT_FIELDS)
    if isinstance(body, oai.ApiError):
        return body
    images = form.files.get("image", []) + form.files.get("image[]", [])
    if not images:
        return oai.missing_parameter("image")
    if "prompt" not in body:
        return oai.missing_parameter("prompt")
    model = body.get("model") or "dall-e-2"
    if model == "dall-e-2" and len(images) > 1:  # [unverified wording]
        return oai.ApiError(400, "dall-e-2 edits take one image.", param="image")
    if len(images) > MAX_EDIT_IMAGES:
        return oai.ApiError(400, f"Invalid 'image': too many images. Expected at most {MAX_EDIT_IMAGES}.",
                            param="image", code="array_above_max_length")
    problem = _check_inputs(images, model, "image") or (
        _check_inputs(form.files["mask"], "dall-e-2", "mask") if form.files.get("mask") else None)
    return problem or _plan(body, catalog, "dall-e-2", ("dall-e-2", "gpt-image-1"))


def plan_variation(form: Form, catalog: Catalog) -> ImagePlan | oai.ApiError:
    body = _form_body(form, VARIATION_FIELDS)
    if isinstance(body, oai.ApiError):
        return body
    image = form.file("image")
    if image is None:
        return oai.missing_parameter("image")
    return _check_inputs([image], "dall-e-2", "image") or _plan({**body, "prompt": image.sha256}, catalog,
                                                                "dall-e-2", ("dall-e-2",))


def render_images(plan: ImagePlan, created: int, url_of) -> dict:
    """The ImagesResponse; ``url_of(png_bytes)`` stores a picture and says where it is served."""
    picture = png(plan.width, plan.height, plan.colour)
    entry: dict = {"url": url_of(picture)} if plan.as_url else {"b64_json": base64.b64encode(picture).decode()}
    if plan.revised_prompt is not None:
        entry["revised_prompt"] = plan.revised_prompt
    return {"created": created, "data": [dict(entry) for _ in range(plan.count)], **plan.extras}
