"""How `seawall doctor` calls an endpoint, per API family: where the key goes, and the smallest
completion (or stream) that proves a point. OpenAI's chat completions (OpenAI, Azure through its
OpenAI-compatible path, gateways, Seawall), Anthropic's Messages and Gemini's generateContent, so
a provider's native API is probed as its own SDK would call it. Pure: doctor.py does the I/O."""

from __future__ import annotations

from dataclasses import dataclass

PROMPT = "Say OK."
ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True, slots=True)
class Api:
    name: str  # openai | anthropic | gemini

    def base(self, base_url: str) -> str:
        """The versioned base the calls hang off: Anthropic's and Gemini's SDKs take the bare host."""
        base = base_url.rstrip("/")
        if self.name == "anthropic" and not base.endswith("/v1"):
            return base + "/v1"
        if self.name == "gemini" and not base.endswith(("/v1beta", "/v1")):
            return base + "/v1beta"
        return base

    def headers(self, key: str) -> dict[str, str]:
        if self.name == "anthropic":
            return {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
        if self.name == "gemini":
            return {"x-goog-api-key": key}
        return {"authorization": f"Bearer {key}"}

    def call(self, base: str, model: str, max_tokens: int, stream: bool = False) -> tuple[str, dict]:
        """(url, body) of the smallest completion of `model`."""
        if self.name == "anthropic":
            body: dict = {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": PROMPT}]}
            if stream:
                body["stream"] = True
            return base + "/messages", body
        if self.name == "gemini":
            method = "streamGenerateContent?alt=sse" if stream else "generateContent"
            return (f"{base}/models/{model}:{method}",
                    {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
                     "generationConfig": {"maxOutputTokens": max_tokens}})
        body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens}
        if stream:
            body["stream"] = True
        return base + "/chat/completions", body


def api_for(endpoint: str | None) -> Api:
    """The API family of a provider name (`--provider`, or the host's provider)."""
    if endpoint in ("anthropic",):
        return Api("anthropic")
    if endpoint in ("gemini", "google"):
        return Api("gemini")
    return Api("openai")
