"""Token counts the gateway answers itself: Anthropic's `POST /v1/messages/count_tokens` and
Gemini's `:countTokens` for a model no deployment of the client's vendor serves (a deployment of
that vendor is asked instead: its count is exact).

The count is the pre-flight's (dialects/shapes.py): exact text tokens for a model whose catalog
tokenizer is OpenAI's (o200k_base, cl100k_base), else the estimate (UTF-8 bytes / 3), which runs
about a third over a real tokenizer's count on English text; images and documents at a fixed
cost each. The reply says which in `x-seawall-token-count` ("exact:<tokenizer>" or
"estimate:bytes/3"), so a client can tell a vendor's own count from the gateway's.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from seawall.catalog.tokens import ENCODINGS
from seawall.dialects import shapes
from seawall.providers.base import ApiRequest

COUNT_HEADER = b"x-seawall-token-count"


def count_locally(req: ApiRequest, tokenizer: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The count_tokens reply in the client's dialect, and the header saying how it was counted.
    Runs in a worker thread for large bodies (the caller's choice): counting is CPU work."""
    body = req.body
    if req.shape == "gemini" and isinstance(body.get("generateContentRequest"), dict):
        req = replace(req, body=body["generateContentRequest"])  # countTokens' other form
    tokens = shapes.prompt(replace(req, operation="chat"), tokenizer).total
    how = f"exact:{tokenizer}" if tokenizer in ENCODINGS else "estimate:bytes/3"
    reply = {"totalTokens": tokens} if req.shape == "gemini" else {"input_tokens": tokens}
    return orjson.dumps(reply), [(COUNT_HEADER, how.encode())]
