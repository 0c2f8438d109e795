"""Access: may this principal use this model, from this address?

Seam. Model permissions, IP allowlists and disabled keys arrive with key management (groups,
allowed-model globs, CIDRs); until then every authenticated key may use every configured model,
and this stage says so instead of pretending to check.
"""

from __future__ import annotations

from seawall.pipeline.context import Principal
from seawall.providers.base import CanonicalRequest


def check_access(principal: Principal, request: CanonicalRequest, client_ip: str | None) -> None:
    """Raise a SeawallError (permission.*) to refuse; return to allow."""
    return None
