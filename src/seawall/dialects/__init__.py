"""Client dialects: what the gateway speaks to the SDKs that call it (providers/ is the other
side: what it speaks to upstreams). One module per dialect; base.py says what each provides."""

from __future__ import annotations

from seawall.dialects.anthropic import AnthropicDialect
from seawall.dialects.base import ClientDialect
from seawall.dialects.gemini import GeminiDialect
from seawall.dialects.openai import OpenAIDialect
from seawall.dialects.responses_face import ResponsesFace

OPENAI = OpenAIDialect()
DIALECTS: dict[str, ClientDialect] = {"openai": OPENAI, "anthropic": AnthropicDialect(), "gemini": GeminiDialect(),
                                      "responses": ResponsesFace()}  # a request's own is made per request
