"""What one simulator app keeps between requests."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from seawall.simulator.batches import BatchBoard
from seawall.simulator.catalog import Catalog
from seawall.simulator.config import FaultRuleSpec, ModelSpec, SimulatorSettings
from seawall.simulator.faults import FaultScript
from seawall.simulator.files import FileBoard
from seawall.simulator.headers import padding_pool, static_headers
from seawall.simulator.ratelimit import Limits, RateLimiter
from seawall.simulator.recorder import Recorder
from seawall.simulator.response_board import ResponseBoard
from seawall.simulator.stats import Stats


class SimState:
    """Settings plus the mutable parts: buckets, fault script, counters. One per app, used
    from one event loop."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.catalog = Catalog(settings.models)
        self.limiter = RateLimiter()
        self.stats = Stats()
        self.recorder = Recorder(settings.record_requests)
        self.responses = ResponseBoard()  # stored Responses objects (routes_responses.py)
        self.pictures: OrderedDict[str, bytes] = OrderedDict()  # generated images, served at their URLs
        self.files = FileBoard()  # the files API's uploads and batch outputs (routes_files.py)
        self.batches = BatchBoard()
        self.static_headers = static_headers(settings.organization, settings.project)
        self.padding = padding_pool()
        self.default_limits = Limits(settings.rate_limits.rpm, settings.rate_limits.tpm)
        self.fault_specs: tuple[FaultRuleSpec, ...] = ()
        self.script = FaultScript()
        self.replace_faults(settings.faults)

    def replace_faults(self, specs: Sequence[FaultRuleSpec]) -> None:
        self.fault_specs = tuple(specs)
        self.script = FaultScript([spec.to_rule() for spec in self.fault_specs], self.settings.fault_seed)

    def limits_for(self, spec: ModelSpec | None) -> Limits:
        if spec is None or (spec.rpm is None and spec.tpm is None):
            return self.default_limits
        return Limits(spec.rpm or self.default_limits.rpm, spec.tpm or self.default_limits.tpm)

    def reset(self) -> None:
        """``POST /_sim/reset``: forget counters, recorded requests and rate-limit state, restart the
        fault script."""
        self.stats.clear()
        self.recorder.clear()
        self.limiter.clear()
        self.replace_faults(self.fault_specs)
