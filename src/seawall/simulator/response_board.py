"""The responses the simulator stored (``store: true``, OpenAI's default): what ``GET``,
``DELETE``, ``/cancel``, ``/input_items`` and a later ``previous_response_id`` read.

In memory and bounded (the oldest go first past ``MAX_STORED``), like a provider's retention.
A background response is stored in progress and completes ``job_duration_s`` after it was made
(read off the clock when it is looked at: no task runs); cancelling it before then leaves it
``cancelled``.
"""

from __future__ import annotations

import copy
import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_STORED = 10_000


@dataclass(slots=True)
class StoredResponse:
    final: dict  # the response object as it ends (completed, incomplete or failed)
    input_items: tuple[dict, ...]
    conversation: tuple[dict, ...]  # everything a follow-up sees: earlier turns, this input, this output
    background: bool = False
    done_at: float = 0.0  # monotonic time a background response completes
    cancelled: bool = False

    def view(self, now: float) -> dict:
        """The response object as a GET sees it now."""
        if not self.background or (now >= self.done_at and not self.cancelled):
            return self.final
        status = "cancelled" if self.cancelled else "in_progress"
        return {**copy.copy(self.final), "status": status, "output": [], "usage": None, "completed_at": None,
                "incomplete_details": None}

    def in_progress(self, now: float) -> bool:
        return self.background and not self.cancelled and now < self.done_at


class ResponseBoard:
    """One per app, used from its event loop."""

    def __init__(self) -> None:
        self._stored: OrderedDict[str, StoredResponse] = OrderedDict()

    def put(self, response_id: str, stored: StoredResponse) -> None:
        self._stored[response_id] = stored
        while len(self._stored) > MAX_STORED:
            self._stored.popitem(last=False)

    def get(self, response_id: str) -> StoredResponse | None:
        return self._stored.get(response_id)

    def delete(self, response_id: str) -> bool:
        return self._stored.pop(response_id, None) is not None

    def conversation(self, response_id: str) -> tuple[dict, ...] | None:
        stored = self._stored.get(response_id)
        return stored.conversation if stored is not None else None

    def clear(self) -> None:
        self._stored.clear()


def now() -> float:
    return time.monotonic()
