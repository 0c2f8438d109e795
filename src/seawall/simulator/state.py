"""What one simulator app keeps between requests."""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Sequence

from seawall.simulator.catalog import Catalog
from seawall.simulator.config import FaultRuleSpec, ModelSpec, SimulatorSettings
from seawall.simulator.faults import FaultScript
from seawall.simulator.headers import padding_pool, static_headers
from seawall.simulator.ratelimit import Limits, RateLimiter
from seawall.simulator.stats import Stats

RECEIVED_KEPT = 200


class SimState:
    """Settings plus the mutable parts: buckets, fault script, counters. One per app, used
    from one event loop."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.catalog = Catalog(settings.models)
        self.limiter = RateLimiter()
        self.stats = Stats()
        self.static_headers = static_headers(settings.organization, settings.project)
        self.padding = padding_pool()
        self.default_limits = Limits(settings.rate_limits.rpm, settings.rate_limits.tpm)
        self.fault_specs: tuple[FaultRuleSpec, ...] = ()
        self.script = FaultScript()
        self.replace_faults(settings.faults)
        # The last requests received, as they came (GET /_sim/requests), so a test can compare
        # what a gateway sent with what its client sent, byte for byte.
        self.received: deque[dict] = deque(maxlen=RECEIVED_KEPT)
        # Prompt prefixes cached by Anthropic-style cache_control: key -> expiry (monotonic s)
        self.prompt_cache: dict[str, float] = {}

    def replace_faults(self, specs: Sequence[FaultRuleSpec]) -> None:
        self.fault_specs = tuple(specs)
        self.script = FaultScript([spec.to_rule() for spec in self.fault_specs], self.settings.fault_seed)

    def limits_for(self, spec: ModelSpec | None) -> Limits:
        if spec is None or (spec.rpm is None and spec.tpm is None):
            return self.default_limits
        return Limits(spec.rpm or self.default_limits.rpm, spec.tpm or self.default_limits.tpm)

    def record(self, method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.received.append({"method": method, "path": path, "query": query.decode("latin-1"),
                              "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in headers},
                              "body_b64": base64.b64encode(body).decode()})

    def reset(self) -> None:
        """``POST /_sim/reset``: forget counters, rate-limit state, the requests received and the
        prompt cache; restart the fault script."""
        self.stats.clear()
        self.limiter.clear()
        self.received.clear()
        self.prompt_cache.clear()
        self.replace_faults(self.fault_specs)
