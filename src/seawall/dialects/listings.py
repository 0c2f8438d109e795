"""The model list in each SDK's shape: the models a key may use, as OpenAI's `GET /v1/models`,
Anthropic's (the same path, asked with `anthropic-version` / `x-api-key`) and Gemini's
`GET /v1beta/models`. Pure: names in, a body out.

Anthropic's list is paginated (docs.anthropic.com "List Models"): `limit` (1-1000, default 20),
`after_id` or `before_id` (an id of the list), and each page says `has_more`, `first_id` and
`last_id`; the SDK's auto-pagination asks for the next page with `after_id=last_id` until
`has_more` is false. Models come in the configured order.
"""

from __future__ import annotations

import time

from seawall.errors import SeawallError, error

DEFAULT_LIMIT, MAX_LIMIT = 20, 1000


def openai_list(names: list[str], created: int) -> dict:
    return {"object": "list", "data": [openai_model(name, created) for name in names]}


def openai_model(name: str, created: int) -> dict:
    return {"id": name, "object": "model", "created": created, "owned_by": "seawall"}


def anthropic_model(name: str, created: int) -> dict:
    return {"type": "model", "id": name, "display_name": name,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))}


def anthropic_page(names: list[str], created: int, query: dict[str, list[str]]) -> dict:
    """One page of Anthropic's list, or a 400 naming the query parameter that is wrong."""
    limit = _limit(query.get("limit", [str(DEFAULT_LIMIT)])[0])
    after, before = query.get("after_id", [None])[0], query.get("before_id", [None])[0]
    if after is not None and before is not None:
        raise error("invalid_value", param="before_id", got="both after_id and before_id",
                    expected="one of after_id or before_id")
    if before is not None:
        end = _index(names, before, "before_id")
        start = max(0, end - limit)
        page, more = names[start:end], start > 0
    else:
        start = _index(names, after, "after_id") + 1 if after is not None else 0
        page, more = names[start:start + limit], start + limit < len(names)
    return {"data": [anthropic_model(name, created) for name in page], "has_more": more,
            "first_id": page[0] if page else None, "last_id": page[-1] if page else None}


def gemini_list(names: list[str]) -> dict:
    return {"models": [{"name": f"models/{name}", "displayName": name,
                        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens",
                                                       "embedContent", "batchEmbedContents"]}
                       for name in names]}


def _limit(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise error("invalid_value", param="limit", got=repr(raw), expected=f"an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def _index(names: list[str], model_id: str, param: str) -> int:
    try:
        return names.index(model_id)
    except ValueError:
        raise SeawallError("invalid_value", {"param": param, "got": repr(model_id),
                                             "expected": "the id of a model in this list"}, param=param) from None
