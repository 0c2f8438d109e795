"""The models the simulator serves: name lookup and the ``/v1/models`` bodies.

A request may name a model by its alias (``gpt-4o-mini``) or its dated snapshot id
(``gpt-4o-mini-2024-07-18``); both resolve to the same spec, rate-limit bucket and reply
``model``. The list shows both ids, as OpenAI's does.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from seawall.simulator.config import ModelSpec


def _entry(name: str, spec: ModelSpec) -> dict[str, object]:
    return {"id": name, "object": "model", "created": spec.created, "owned_by": spec.owned_by}


class Catalog:
    def __init__(self, specs: Iterable[ModelSpec]) -> None:
        self._by_name: dict[str, ModelSpec] = {}
        entries = []
        for spec in specs:
            for name in dict.fromkeys((spec.id, spec.reported)):
                self._by_name[name] = spec
                entries.append(_entry(name, spec))
        self._model_bodies = {name: orjson.dumps(entry) for name, entry in zip(self._by_name, entries, strict=True)}
        self.list_body = orjson.dumps({"object": "list", "data": entries})

    def find(self, name: str) -> ModelSpec | None:
        return self._by_name.get(name)

    def model_body(self, name: str) -> bytes | None:
        return self._model_bodies.get(name)
