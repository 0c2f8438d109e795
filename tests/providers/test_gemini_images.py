"""OpenAI image generation as Imagen's :predict (providers/gemini_images.py): a table of what
maps, what is refused by name, and the reply back in OpenAI's shape."""

import orjson
import pytest

from seawall.errors import SeawallError
from seawall.providers.base import ApiRequest
from seawall.providers.gemini_images import aspect_ratio, read_imagen, to_imagen

CASES = [  # id, body, parameters
    ("defaults", {"prompt": "a cat"}, {"sampleCount": 1}),
    ("n and a wide size", {"prompt": "a cat", "n": 3, "size": "1792x1024"}, {"sampleCount": 3, "aspectRatio": "16:9"}),
    ("tall", {"prompt": "a cat", "size": "1024x1792"}, {"sampleCount": 1, "aspectRatio": "9:16"}),
    ("GPT Image's landscape", {"prompt": "a cat", "size": "1536x1024"}, {"sampleCount": 1, "aspectRatio": "4:3"}),
    ("jpeg, b64, auto", {"prompt": "a cat", "output_format": "jpeg", "response_format": "b64_json", "size": "auto",
                         "quality": "auto", "user": "u1", "model": "imagen"},
     {"sampleCount": 1, "outputOptions": {"mimeType": "image/jpeg"}}),
]


@pytest.mark.parametrize("body, parameters", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_to_imagen(body, parameters):
    assert to_imagen(body, "gemini-dep") == {"instances": [{"prompt": "a cat"}], "parameters": parameters}


@pytest.mark.parametrize("body, param", [
    ({"prompt": "x", "response_format": "url"}, "response_format"),
    ({"prompt": "x", "n": 5}, "n"),
    ({"prompt": "x", "quality": "hd"}, "quality"),
    ({"prompt": "x", "style": "natural"}, "style"),
    ({"prompt": "x", "background": "transparent"}, "background"),
    ({"prompt": "x", "output_format": "webp"}, "output_format"),
    ({"prompt": "x", "size": "big"}, "size"),
])
def test_refused_by_name(body, param):
    with pytest.raises(SeawallError) as e:
        to_imagen(body, "gemini-dep")
    assert e.value.param == param


def test_aspect_ratio():
    assert [aspect_ratio(s) for s in ("256x256", "1792x1024", "1024x1536", "0x0", "wide")] == \
        ["1:1", "16:9", "3:4", None, None]


def test_the_reply_in_openais_shape_billed_per_image():
    req = ApiRequest("images", "imagen", {"prompt": "x", "size": "1024x1024"})
    predictions = [{"bytesBase64Encoded": "QUJD", "mimeType": "image/png"}] * 2
    reply = read_imagen(req, orjson.dumps({"predictions": predictions}), now=1700000000)
    assert orjson.loads(reply.body) == {"created": 1700000000, "data": [{"b64_json": "QUJD"}] * 2}
    assert reply.usage.images == 2
    assert orjson.loads(read_imagen(req, b"{}").body)["data"] == []  # every image filtered out
