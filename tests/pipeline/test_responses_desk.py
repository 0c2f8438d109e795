"""The routes naming a response, and who may see one: pure parts of pipeline/responses.py."""

import pytest

from seawall.config import Deployment, ResolvedDeployment
from seawall.errors import SeawallError
from seawall.pipeline.responses import item_ids, page, route_of
from seawall.store.conversations import conversation

TARGET = ResolvedDeployment("gpt-4o-mini", Deployment(provider="simulator", model="gpt-4o-mini"), "http://sim/v1",
                            "sk-sim")


@pytest.mark.parametrize("method, path, expected", [
    ("GET", "/v1/responses/resp_1", ("retrieve", "resp_1")),
    ("DELETE", "/v1/responses/resp_1", ("delete", "resp_1")),
    ("POST", "/v1/responses/resp_1/cancel", ("cancel", "resp_1")),
    ("GET", "/v1/responses/resp_1/input_items", ("input_items", "resp_1")),
    ("POST", "/v1/responses/resp_1", "method_not_allowed"),
    ("GET", "/v1/responses/resp_1/cancel", "method_not_allowed"),
    ("GET", "/v1/responses/resp_1/outputs", "route_not_found"),
    ("GET", "/v1/responses/", "route_not_found"),
])
def test_route_of(method, path, expected):
    found = route_of(method, path)
    assert (found.code if isinstance(found, SeawallError) else found) == expected


def test_input_items_get_stable_ids_and_their_full_form():
    record = conversation("resp_9", "key_a", "m", [], [{"role": "user", "content": "hi"},
                                                       {"type": "function_call_output", "call_id": "c", "output": "x"},
                                                       {"type": "message", "id": "msg_own", "role": "user",
                                                        "content": [{"type": "input_text", "text": "yo"}]}],
                          [], now=0, retention_days=1)
    items = item_ids(record)
    assert items == item_ids(record)  # the same ids at every listing: `after` pages through them
    assert items[0]["type"] == "message" and items[0]["content"] == [{"type": "input_text", "text": "hi"}]
    assert items[0]["id"].startswith("msg_") and items[1]["id"].startswith("item_")
    assert items[2]["id"] == "msg_own"


def test_pages_of_input_items():
    items = [{"id": f"i{n}"} for n in range(5)]
    first = page(items, {"limit": "2"})
    assert [i["id"] for i in first["data"]] == ["i4", "i3"] and first["has_more"]
    rest = page(items, {"limit": "2", "after": "i3"})
    assert [i["id"] for i in rest["data"]] == ["i2", "i1"] and rest["first_id"] == "i2"
    assert [i["id"] for i in page(items, {"order": "asc"})["data"]] == ["i0", "i1", "i2", "i3", "i4"]
    for bad in ({"order": "up"}, {"limit": "0"}, {"limit": "101"}, {"limit": "x"}):
        with pytest.raises(SeawallError) as e:
            page(items, bad)
        assert e.value.param in ("order", "limit")
