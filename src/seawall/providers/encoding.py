"""Compressed replies. The client asks for `Accept-Encoding: identity`, but some proxies and CDNs
compress anyway; such a body is decoded as it arrives (zlib for gzip and deflate, Google's
brotli binding for br) rather than called malformed. Anything else is refused by name.
"""

from __future__ import annotations

import zlib

import brotli

from multidict import CIMultiDictProxy

from seawall.providers.http1 import Exchange, Response, Unreadable, reply_headers


class UnreadableEncoding(Exception):
    """The body's Content-Encoding is unknown, or its bytes don't decode."""


class _Zlib:
    __slots__ = ("_d", "_first", "_raw")

    def __init__(self, wbits: int):
        self._d = zlib.decompressobj(wbits)
        self._first, self._raw = True, wbits == zlib.MAX_WBITS

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._d.decompress(data)
        except zlib.error as e:
            if not (self._first and self._raw):
                raise UnreadableEncoding(f"the deflate body does not decode ({e})") from None
            # RFC 9110 8.4.1.2: deflate is zlib-wrapped, but some servers send the raw stream
            self._d, self._raw = zlib.decompressobj(-zlib.MAX_WBITS), False
            out = self.feed(data)
        self._first = False
        return out

    def end(self) -> bytes:
        if not self._d.eof and not self._first:
            raise UnreadableEncoding("the compressed body ended before its end marker")
        return self._d.flush()


class _Brotli:
    __slots__ = ("_d",)

    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def feed(self, data: bytes) -> bytes:
        try:
            return self._d.process(data)
        except brotli.error as e:
            raise UnreadableEncoding(f"the br body does not decode ({e})") from None

    def end(self) -> bytes:
        if not self._d.is_finished():
            raise UnreadableEncoding("the br body ended before its end marker")
        return b""


def decoder(content_encoding: str) -> _Zlib | _Brotli | None:
    """A decoder for the header's value (None: identity); UnreadableEncoding for one we can't read."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) > 1:
        raise UnreadableEncoding(f"the body is encoded twice ({content_encoding}), which no upstream should do")
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        return _Zlib(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _Zlib(zlib.MAX_WBITS)
    if coding == "br":
        return _Brotli()
    raise UnreadableEncoding(f"the body is compressed with {coding!r}, which the gateway can't decode "
                             "(it asked for identity; it reads gzip, deflate and br)")


class DecodedResponse(Response):
    """A Response whose body is compressed: the same reads, the bytes decoded. A class of its own
    so an identity reply's reads (nearly all) pay nothing for it."""

    __slots__ = ("_decoder",)

    def __init__(self, ex: Exchange, headers: CIMultiDictProxy[str], coding: _Zlib | _Brotli):
        super().__init__(ex, headers)
        self._decoder = coding

    def buffered(self) -> bytes:
        data = super().buffered()
        return self._decode(data) if data else b""

    async def next_chunk(self) -> bytes:
        while True:
            data = await super().next_chunk()
            if not data:
                return self._end()
            if out := self._decode(data):
                return out

    def _decode(self, data: bytes) -> bytes:
        try:
            return self._decoder.feed(data)
        except UnreadableEncoding as e:
            self.close()
            raise Unreadable(str(e)) from None

    def _end(self) -> bytes:
        try:
            return self._decoder.end()
        except UnreadableEncoding as e:
            raise Unreadable(str(e)) from None


def response(ex: Exchange) -> Response:
    """The reply's Response, decoding its body if it came compressed; Unreadable if it can't be."""
    headers = reply_headers(ex)
    coding = headers.get("Content-Encoding")
    if coding is None:
        return Response(ex, headers)
    try:
        found = decoder(coding)
    except UnreadableEncoding as e:
        Response(ex, headers).close()
        raise Unreadable(str(e)) from None
    return Response(ex, headers) if found is None else DecodedResponse(ex, headers, found)
