"""The `passthrough:` section: OpenAI's endpoints the gateway serves by passing them on, as they
are, to one named OpenAI-compatible deployment (files, batches, anything else under /v1/) —
opt-in, since these keep state at the upstream (pipeline/forward.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from seawall.config.base import _Strict


class PassthroughRule(_Strict):
    # What key permissions name to allow it (keys create --models 'gpt-4o*,openai-files'); a key
    # allowed every model may use it too.
    name: str = Field(min_length=1)
    paths: list[str] = Field(min_length=1)  # globs on the request path: "/v1/files*", "/v1/batches*"
    deployment: str = Field(min_length=1)  # the `name` of a configured deployment (provider openai or simulator)
    methods: list[Literal["GET", "POST", "PUT", "PATCH", "DELETE"]] = Field(
        default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE"])

    @field_validator("paths")
    @classmethod
    def _under_v1(cls, v: list[str]) -> list[str]:
        for path in v:
            if not path.startswith("/v1/"):
                raise ValueError(f"{path!r} must start with /v1/ (the OpenAI API's paths, such as /v1/files*)")
        return v
