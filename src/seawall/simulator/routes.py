"""OpenAI's endpoints beyond chat, embeddings and models: which handler serves a method and a
path. A handler is ``async (host, exchange, **path_params)``; ``find`` binds the path's
parameters and names the route for the stats (``/v1/responses/{id}``), so ids never grow the
counters."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from seawall.simulator import routes_files as files
from seawall.simulator import routes_media as media
from seawall.simulator import routes_responses as responses

Handler = Callable[..., Awaitable[None]]

_TABLE: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/v1/responses", responses.create),
    ("GET", "/v1/responses/{response_id}", responses.retrieve),
    ("DELETE", "/v1/responses/{response_id}", responses.delete),
    ("POST", "/v1/responses/{response_id}/cancel", responses.cancel),
    ("GET", "/v1/responses/{response_id}/input_items", responses.input_items),
    ("POST", "/v1/completions", media.completions),
    ("POST", "/v1/images/generations", media.image_generations),
    ("POST", "/v1/images/edits", media.image_edits),
    ("POST", "/v1/images/variations", media.image_variations),
    ("POST", "/v1/audio/speech", media.speech),
    ("POST", "/v1/audio/transcriptions", media.transcriptions),
    ("POST", "/v1/audio/translations", media.translations),
    ("POST", "/v1/moderations", media.moderations),
    ("POST", "/v1/files", files.upload),
    ("GET", "/v1/files", files.list_files),
    ("GET", "/v1/files/{file_id}", files.retrieve_file),
    ("GET", "/v1/files/{file_id}/content", files.file_content),
    ("DELETE", "/v1/files/{file_id}", files.delete_file),
    ("POST", "/v1/batches", files.create_batch),
    ("GET", "/v1/batches", files.list_batches),
    ("GET", "/v1/batches/{batch_id}", files.retrieve_batch),
    ("POST", "/v1/batches/{batch_id}/cancel", files.cancel_batch),
)
_EXACT = {(method, pattern): handler for method, pattern, handler in _TABLE if "{" not in pattern}
_PATTERNS = [(method, pattern.split("/"), pattern, handler) for method, pattern, handler in _TABLE if "{" in pattern]


def find(method: str, path: str) -> tuple[Handler, str] | None:
    """The handler (its path parameters bound) and the route's name, or None."""
    handler = _EXACT.get((method, path))
    if handler is not None:
        return handler, path
    parts = path.split("/")
    for wanted, pattern_parts, pattern, candidate in _PATTERNS:
        if wanted != method or len(parts) != len(pattern_parts):
            continue
        params = {}
        for part, expected in zip(parts, pattern_parts):
            if expected.startswith("{"):
                if not part:
                    break
                params[expected[1:-1]] = part
            elif part != expected:
                break
        else:
            return functools.partial(candidate, **params), pattern
    return None
