"""The `responses:` section: the gateway's own store of Responses conversations, which serves
`previous_response_id` on routes translated to another vendor (store/conversations.py). Routes
that pass Responses through to an OpenAI-compatible upstream use that upstream's store instead."""

from __future__ import annotations

from pydantic import Field

from seawall.config.base import _Strict


class ResponsesSettings(_Strict):
    # Keep each translated response's conversation so a later request can continue it with
    # previous_response_id; off: such a request is refused with a clear error (and nothing is kept).
    store: bool = True
    # OpenAI keeps stored responses 30 days; rows older than this are purged and can't be continued.
    retention_days: float = Field(30.0, gt=0)
    purge_interval_s: float = Field(3600.0, gt=0)  # how often expired rows are deleted
    flush_interval_s: float = Field(0.5, gt=0)  # conversations are written in batches, never on the request's path
    batch_size: int = Field(200, gt=0)
    max_pending: int = Field(10_000, gt=0)  # kept in memory while the store is unavailable; the oldest go first
    # Responses passed through to an OpenAI-compatible deployment live in its store: the gateway
    # remembers which deployment made each (and for which key) so previous_response_id, retrieval
    # and cancel go back there. In memory, the oldest forgotten first (with limits.redis_url, in Redis
    # too for every gateway: cluster/ids.py).
    max_upstream_ids: int = Field(100_000, gt=0)
