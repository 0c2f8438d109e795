import base64
import math
import struct

import orjson
import pytest

from seawall.simulator.catalog import Catalog
from seawall.simulator.config import DEFAULT_MODELS
from seawall.simulator.dialects.openai import ApiError
from seawall.simulator.embeddings import plan_embeddings, render_embeddings, vector

CATALOG = Catalog(DEFAULT_MODELS)


def test_vectors_are_deterministic_unit_vectors():
    a = vector(b"hello", 1536)
    assert a == vector(b"hello", 1536) and a != vector(b"world", 1536)
    assert math.fsum(x * x for x in a) == pytest.approx(1.0)


def test_shorter_dimensions_are_the_normalised_prefix():
    full, short = vector(b"hello", 3072), vector(b"hello", 256)
    scale = math.sqrt(math.fsum(x * x for x in full[:256]))
    assert short == pytest.approx([x / scale for x in full[:256]])


@pytest.mark.parametrize("value,count,tokens", [
    ("one two three", 1, 3),
    (["a b", "c"], 2, 3),
    ([1, 2, 3, 4], 1, 4),
    ([[1, 2], [3]], 2, 3),
])
def test_input_shapes(value, count, tokens):
    plan = plan_embeddings({"model": "text-embedding-3-small", "input": value}, CATALOG)
    assert len(plan.inputs) == count and plan.prompt_tokens == tokens


@pytest.mark.parametrize("request_body,status,fragment", [
    ({"model": "text-embedding-3-small"}, 400, "Missing required parameter: 'input'."),
    ({"model": "text-embedding-3-small", "input": ""}, 400, "'$.input' is invalid"),
    ({"model": "text-embedding-3-small", "input": [1, "a"]}, 400, "'$.input' is invalid"),
    ({"model": "nope", "input": "x"}, 404, "The model `nope` does not exist"),
    ({"model": "text-embedding-3-small", "input": "x", "encoding_format": "hex"}, 400,
     "Supported values are: 'float' and 'base64'."),
    ({"model": "text-embedding-3-small", "input": "x", "dimensions": 5000}, 400, "Expected a value <= 1536"),
    ({"model": "text-embedding-3-small", "input": "w " * 9000}, 400, "maximum context length is 8192 tokens"),
])
def test_errors(request_body, status, fragment):
    error = plan_embeddings(request_body, CATALOG)
    assert isinstance(error, ApiError) and error.status == status and fragment in error.message


def test_base64_is_little_endian_float32_of_the_float_reply():
    request = {"model": "text-embedding-3-large", "input": ["x", "y"], "dimensions": 8}
    floats = orjson.loads(render_embeddings(plan_embeddings(request, CATALOG)))
    packed = orjson.loads(render_embeddings(plan_embeddings({**request, "encoding_format": "base64"}, CATALOG)))
    assert floats["object"] == "list" and floats["model"] == "text-embedding-3-large"
    assert floats["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    for as_float, as_b64 in zip(floats["data"], packed["data"], strict=True):
        assert as_float["object"] == "embedding" and as_float["index"] == as_b64["index"]
        decoded = struct.unpack("<8f", base64.b64decode(as_b64["embedding"]))
        assert decoded == pytest.approx(as_float["embedding"], rel=1e-6)
