"""decide/scrub.py: the credentials a request carried, taken out of what the upstream says."""

import pytest

from seawall.decide.scrub import REDACTED, StreamScrub, credentials, scrub, scrub_text

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"


@pytest.mark.parametrize("headers,expected", [
    ({"authorization": f"Bearer {KEY}", "content-type": "application/json"}, {f"Bearer {KEY}", KEY}),
    ({"x-api-key": KEY, "anthropic-version": "2023-06-01"}, {KEY}),
    ({"api-key": KEY}, {KEY}),
    ({"x-goog-api-key": KEY}, {KEY}),
    ({"mj-api-secret": KEY}, {KEY}),
    ({"Helicone-Auth": f"Bearer {KEY}"}, {f"Bearer {KEY}", KEY}),  # a configured extra header
    ({"x-custom-token": "tok/with/slashes"}, {"tok/with/slashes", "tok\\/with\\/slashes"}),
    ({"authorization": "Bearer short"}, {"Bearer short"}),  # the token alone is too short to scrub
    ({"content-type": "application/json", "accept": "text/event-stream"}, set()),
])
def test_credentials(headers, expected):
    found = credentials(headers)
    assert {s.decode() for s in found} == expected
    assert list(found) == sorted(found, key=len, reverse=True)


SECRETS = credentials({"authorization": f"Bearer {KEY}"})


@pytest.mark.parametrize("text,expected", [
    (f'{{"error": {{"message": "invalid token: Bearer {KEY}"}}}}',
     '{"error": {"message": "invalid token: [redacted credential]"}}'),
    (f"key {KEY} and again {KEY}", "key [redacted credential] and again [redacted credential]"),
    ("nothing to see", "nothing to see"),
    (f"almost {KEY[:-1]}", f"almost {KEY[:-1]}"),
])
def test_scrub(text, expected):
    assert scrub(text.encode(), SECRETS).decode() == expected
    assert scrub_text(text, SECRETS) == expected


@pytest.mark.parametrize("cut", [1, 2, 5, len(KEY) // 2, len(KEY) - 1, len(KEY), len(KEY) + 3])
def test_a_credential_split_between_chunks_is_still_scrubbed(cut):
    body = f'data: {{"error": {{"message": "bad key {KEY}"}}}}\n\n'.encode()
    start = body.index(KEY.encode())
    streamer = StreamScrub(SECRETS)
    out = streamer.feed(body[:start + cut]) + streamer.feed(body[start + cut:]) + streamer.end()
    assert KEY.encode() not in out and REDACTED in out
    assert out == body.replace(KEY.encode(), REDACTED)


def test_a_stream_without_credentials_is_passed_chunk_for_chunk():
    streamer = StreamScrub(SECRETS)
    chunks = [b'data: {"choices": [{"delta": {"content": "s"}}]}\n\n', b"data: [DONE]\n\n"]
    assert [streamer.feed(c) for c in chunks] == chunks and streamer.end() == b""


def test_a_held_back_end_that_was_no_credential_comes_out_at_the_end():
    streamer = StreamScrub(SECRETS)
    assert streamer.feed(b"text ending in sk-pr") == b"text ending in "
    assert streamer.end() == b"sk-pr"
