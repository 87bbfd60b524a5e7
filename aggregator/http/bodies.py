"""Body limits: the size cap holds *after* decompression, in bounded steps.

A small gzip bomb must not expand in memory, so bodies are inflated step by step
and refused as soon as they pass ``network.max_bytes``.
"""

from __future__ import annotations

import zlib

import httpcore

from aggregator.exceptions import BodyTooLargeError, FetchError, FetchProtocolError

MiB = 1024 * 1024
_DRAIN_LIMIT = 64 * 1024  # read at most this much of an error/redirect body to keep the connection
_STEP = 256 * 1024  # largest decompression step: bounds memory per step


def content_encoding(headers: dict[str, str], url: str) -> str | None:
    """The one content coding of a body, or None; stacked or unknown codings are refused.

    Stacking ('gzip, gzip') multiplies a bomb's expansion and has no honest use.
    """
    codings = [c.strip().lower() for c in headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(codings) > 1:
        raise FetchProtocolError(
            f"the server sent the body with {len(codings)} content encodings "
            f"({', '.join(codings)}); at most one is accepted",
            url=url,
        )
    if codings and codings[0] not in ("gzip", "x-gzip", "deflate"):
        raise FetchProtocolError(
            f"the server used an unsupported content encoding {codings[0]!r}",
            url=url,
        )
    return codings[0] if codings else None


def _size(n: int) -> str:
    """Sizes as a person writes them: 10 MiB, 512 KiB, 300 bytes."""
    for unit, scale in (("MiB", MiB), ("KiB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


class Body:
    """Collects a body, decompressing in bounded steps and stopping past `limit` bytes.

    httpx's decoders inflate a whole network chunk at once (64 KB of gzip can be
    64 MB of zeros); zlib's max_length keeps each step, and so memory, bounded.
    """

    def __init__(self, encoding: str | None, limit: int, url: str) -> None:
        self._limit = limit
        self._url = url
        self._parts: list[bytes] = []
        self._size = 0
        self._z = _inflater(encoding)
        self._raw_deflate = encoding == "deflate"  # try zlib-wrapped first, then raw
        self._fed = False

    def feed(self, data: bytes) -> None:
        if self._z is None:
            self._add(data)
            return
        self._fed = self._fed or bool(data)
        while data:
            self._add(self._inflate(data))
            data = self._z.unconsumed_tail

    def _inflate(self, data: bytes) -> bytes:
        """One bounded step; a 'deflate' body that is really raw deflate gets a second chance."""
        assert self._z is not None
        room = min(self._limit - self._size + 1, _STEP)
        try:
            out = self._z.decompress(data, room)
        except zlib.error as e:
            if not self._raw_deflate:
                raise self._corrupt(e) from e
        else:
            self._raw_deflate = False
            return out
        self._raw_deflate = False
        self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            return self._z.decompress(data, room)
        except zlib.error as e:
            raise self._corrupt(e) from e

    def _add(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            raise too_large(self._limit, self._url, decompressed=self._z is not None)
        if chunk:
            self._parts.append(chunk)

    def _corrupt(self, e: zlib.error) -> FetchError:
        return FetchProtocolError(f"the compressed body is corrupt ({e})", url=self._url)

    def finish(self) -> bytes:
        """The whole body; a compressed stream that stops early is an error, not a short feed."""
        if self._z is not None and self._fed:
            try:
                self._add(self._z.flush())
            except zlib.error as e:
                raise self._corrupt(e) from e
            if not self._z.eof:
                raise FetchProtocolError("the compressed body is truncated", url=self._url)
        return b"".join(self._parts)


def _inflater(encoding: str | None) -> zlib._Decompress | None:
    if encoding is None:
        return None
    return zlib.decompressobj(zlib.MAX_WBITS | (16 if "gzip" in encoding else 0))


def too_large(limit: int, url: str, *, decompressed: bool) -> FetchError:
    after = " after decompression" if decompressed else ""
    return BodyTooLargeError(
        f"body exceeds {_size(limit)}{after}",
        url=url,
        hint="raise network.max_bytes in feeds.yaml if this source is really that large",
    )


async def drain(response: httpcore.Response) -> None:
    """Read a small unwanted body so the connection can be reused; give up on big ones."""
    read = 0
    async for chunk in response.aiter_stream():
        read += len(chunk)
        if read > _DRAIN_LIMIT:
            return
