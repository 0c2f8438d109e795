"""pipeline/ingress.py load_json: nesting past MAX_JSON_DEPTH is a 400 naming the depth."""

import orjson
import pytest

from seawall.errors import SeawallError
from seawall.pipeline.ingress import MAX_JSON_DEPTH, load_json, nesting_depth


@pytest.mark.parametrize("value,depth", [
    (3, 0), ("x", 0), ([], 1), ({}, 1), ({"a": [1, {"b": []}]}, 4), ([[], [[[]]], {}], 4),
    ({"a": "[[[[[[", "b": ["{{{{"]}, 2),  # brackets inside strings are text
])
def test_nesting_depth(value, depth):
    assert nesting_depth(value) == depth


def body(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [1, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_up_to_the_limit_is_read(depth):
    assert nesting_depth(load_json(body(depth))) == depth


@pytest.mark.parametrize("depth,named", [(MAX_JSON_DEPTH + 1, f"{MAX_JSON_DEPTH + 1} levels"),
                                         (255, "255 levels"), (1024, "1024 levels"),
                                         (1025, "more than 1024 levels"), (5000, "more than 1024 levels")])
def test_past_the_limit_is_refused_naming_the_depth(depth, named):
    with pytest.raises(SeawallError) as e:
        load_json(body(depth))
    assert e.value.code == "json_too_deep" and e.value.status == 400 and named in e.value.message


def test_many_brackets_without_depth_are_read():
    doc = [{"a": [1]} for _ in range(1000)]
    assert load_json(orjson.dumps(doc)) == doc


def test_other_bad_json_is_still_a_decode_error():
    with pytest.raises(orjson.JSONDecodeError):
        load_json(b'{"a": ')
