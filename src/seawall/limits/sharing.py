"""What gateways on one Redis share beyond the rate limits: quota balances (limits/quota_redis.py),
deployment caps (pipeline/gate_shared.py), and the count of gateways the retry budgets' floor is
divided by (decide/retry.py floor_share). Wired once at start (server.py)."""

from __future__ import annotations

from seawall.limits.quota import QuotaLedger
from seawall.limits.quota_redis import SharedBalances
from seawall.limits.redis import RedisLimiter
from seawall.pipeline.attempt import Retrier
from seawall.pipeline.gate_shared import shared_gates


def share(limiter: RedisLimiter, quotas: QuotaLedger, retrier: Retrier) -> None:
    # A quota is a key's: it fails open or closed as the key scope's limits do.
    quotas.shared = SharedBalances(quotas, limiter, limiter.fails_closed("key"))
    retrier.gates.make = shared_gates(limiter)
    retrier.instances = lambda: limiter.local.instances
