"""Size limits and input kinds of a chat body, checked before anything is counted or sent:
too many messages or images, an inline image too large (413 request.too_large), content a model
can't read (an image to a text-only model: 400). Pure: the body and the limits in, an error out.
"""

from __future__ import annotations

from collections.abc import Iterable

from seawall.errors import SeawallError, error

# Content part type -> the modality a model must accept for it (catalog `modalities`).
_PART_MODALITY = {"image_url": "image", "input_audio": "audio", "file": "file"}


def too_many_messages(body: dict, limit: int, model: str) -> SeawallError | None:
    messages = body.get("messages")
    if isinstance(messages, list) and len(messages) > limit:
        return error("too_many_messages", param="messages", count=len(messages), limit=limit, model=model)
    return None


def content_problem(body: dict, max_images: int, max_image_bytes: int, model: str,
                    modalities: Iterable[str] | None) -> SeawallError | None:
    """Images counted and measured (a data URL's decoded size, from its base64 length), and each
    non-text part checked against what the model reads (None: unknown model, not checked)."""
    accepted = set(modalities) if modalities is not None else None
    images = 0
    for i, message in enumerate(body.get("messages") or ()):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            modality = _PART_MODALITY.get(kind)  # type: ignore[arg-type]
            if modality is None:
                continue
            param = f"messages[{i}].content[{j}]"
            if accepted is not None and modality not in accepted:
                return error("modality_not_supported", param=param, model=model, modality=modality)
            if kind != "image_url":
                continue
            images += 1
            if images > max_images:
                return error("too_many_images", param=param, count=images, limit=max_images, model=model)
            size = data_url_bytes(part.get("image_url"))
            if size > max_image_bytes:
                return error("image_too_large", param=f"{param}.image_url.url", size=size, limit=max_image_bytes)
    return None


def data_url_bytes(image: object) -> int:
    """Decoded bytes of a base64 data URL (0 for an http(s) URL: its size is the provider's concern)."""
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str) or not url.startswith("data:"):
        return 0
    comma = url.find(",")
    payload = len(url) - comma - 1 if comma >= 0 else 0
    return payload * 3 // 4
