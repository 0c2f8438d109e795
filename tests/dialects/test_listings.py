"""The model list in each SDK's shape; Anthropic's pages as its SDK walks them."""

import pytest

from seawall.dialects.listings import anthropic_page, gemini_list, openai_list
from seawall.errors import SeawallError

NAMES = ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("query,ids,more", [
    ({}, NAMES, False),
    ({"limit": ["2"]}, ["a", "b"], True),
    ({"limit": ["2"], "after_id": ["b"]}, ["c", "d"], True),
    ({"limit": ["2"], "after_id": ["d"]}, ["e"], False),
    ({"limit": ["2"], "before_id": ["d"]}, ["b", "c"], True),
    ({"limit": ["5"], "before_id": ["c"]}, ["a", "b"], False),
    ({"after_id": ["e"]}, [], False),
])
def test_anthropic_pages(query, ids, more):
    page = anthropic_page(NAMES, 1_700_000_000, query)
    assert [m["id"] for m in page["data"]] == ids and page["has_more"] is more
    assert page["first_id"] == (ids[0] if ids else None) and page["last_id"] == (ids[-1] if ids else None)
    assert all(m["type"] == "model" and m["created_at"] == "2023-11-14T22:13:20Z" for m in page["data"])


def test_walking_the_pages_as_the_sdk_does_lists_every_model_once():
    seen, query = [], {"limit": ["2"]}
    while True:
        page = anthropic_page(NAMES, 0, query)
        seen += [m["id"] for m in page["data"]]
        if not page["has_more"]:
            break
        query = {"limit": ["2"], "after_id": [page["last_id"]]}
    assert seen == NAMES


@pytest.mark.parametrize("query,param", [({"limit": ["0"]}, "limit"), ({"limit": ["1001"]}, "limit"),
                                         ({"limit": ["x"]}, "limit"), ({"after_id": ["zz"]}, "after_id"),
                                         ({"after_id": ["a"], "before_id": ["b"]}, "before_id")])
def test_a_bad_page_request_names_the_parameter(query, param):
    with pytest.raises(SeawallError) as e:
        anthropic_page(NAMES, 0, query)
    assert e.value.status == 400 and e.value.param == param


def test_openai_and_gemini_shapes():
    assert openai_list(["a"], 5) == {"object": "list", "data": [{"id": "a", "object": "model", "created": 5,
                                                                 "owned_by": "seawall"}]}
    [model] = gemini_list(["a"])["models"]
    assert model["name"] == "models/a" and "countTokens" in model["supportedGenerationMethods"]
