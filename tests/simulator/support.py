"""Small helpers shared by the simulator's HTTP tests."""

from __future__ import annotations

from typing import Any


def user(text: str = "Say something about gateways.") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def fault(spec: str) -> dict[str, Any]:
    """SDK keyword arguments that send ``x-sim-fault: spec``."""
    return {"extra_headers": {"x-sim-fault": spec}}
