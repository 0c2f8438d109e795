"""Validate: is the request well-formed for the model that will serve it, and does it fit?

Seam. Ingress already refuses what can't be routed (not JSON, no model, no messages). Schema
validation against the published API, token counting and context-window policies (reject,
trim, fall back, truncate output) arrive with the pre-flight issue and plug in here.
"""

from __future__ import annotations

from seawall.providers.base import CanonicalRequest


def validate(request: CanonicalRequest) -> CanonicalRequest:
    """Return the request to send (possibly repaired) or raise a SeawallError (request.*)."""
    return request
