"""Serving stored media as video players need it: one byte range at a time, the body streamed in
pieces, and HEAD answered from the object's size without reading it.

- `Range: bytes=a-b`, `bytes=a-` and `bytes=-n` (a single range, on GET) answer 206 with
  `Content-Range: bytes a-b/size` and only those bytes. A range starting past the end, or the last
  0 bytes, is 416 `range_not_satisfiable` with `Content-Range: bytes */size`. A Range header that
  is malformed, names several ranges or another unit is ignored (200 and the whole object), as
  RFC 9110 allows. So is Range with `If-Range`: these answers carry no validator (no ETag, no
  Last-Modified), so no If-Range can match one of ours, and RFC 9110 then asks for the whole object.
- Every answer says `Accept-Ranges: bytes` and its Content-Length.
- The object is read in pieces of PIECE_BYTES, each a bounded ranged get of its own: a slow
  client holds one piece in memory, never the object, and never one store call open longer than
  a piece takes to read (a single streamed get would run into the store's per-call timeout
  against a slow client). Every piece is read from the version of the object the answer began
  with (its ETag).
- The size, the type and the first piece are read while the request is handled, so a missing
  object or a failing store is still its 404 or 503 problem. The rest is read while the answer is
  sent, after the request's transaction has ended (the dependency that holds it is cleaned up
  once the handler has returned its response, before the body is sent): a slow client holds no
  database connection. A store failing then can no longer change the answer: it is logged
  (`media_stream_failed`) and the body ends short of its Content-Length, which makes the server
  close the connection, so the client knows its copy is incomplete.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from litestar import Request, Response
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_206_PARTIAL_CONTENT

from app.errors import AppError
from app.head import requested_method
from app.storage import MediaStorage

log = structlog.get_logger(__name__)

PIECE_BYTES = 1024 * 1024

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)
# No stored object comes near this; longer numbers are read as it (Python refuses to convert
# numbers of thousands of digits).
_HUGE = 10**18


class RangeNotSatisfiable(AppError):
    status = 416
    code = "range_not_satisfiable"
    title = "The requested range is not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(
            f"The range asked for holds none of the {size} bytes there are",
            headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
        )


@dataclass(frozen=True)
class ByteRange:
    """One range as HTTP asks for it: bytes `first` to `last` (inclusive; `last` None: to the
    end), or with `suffix` the last `suffix` bytes."""

    first: int = 0
    last: int | None = None
    suffix: int | None = None

    def span(self, size: int) -> tuple[int, int]:
        """Start and end (exclusive) in an object of `size` bytes, or RangeNotSatisfiable."""
        if self.suffix is not None:
            if self.suffix == 0 or size == 0:
                raise RangeNotSatisfiable(size)
            return max(0, size - self.suffix), size
        if self.first >= size:
            raise RangeNotSatisfiable(size)
        return self.first, size if self.last is None else min(self.last + 1, size)


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else _HUGE


def parse_range(value: str) -> ByteRange | None:
    """The single byte range a Range header names, or None when it is to be ignored: malformed,
    several ranges, another unit, or a last byte before the first."""
    matched = _RANGE.fullmatch(value.strip())
    if matched is None:
        return None
    first, last = matched.groups()
    if not first:
        return ByteRange(suffix=_number(last)) if last else None
    if not last:
        return ByteRange(first=_number(first))
    if _number(last) < _number(first):
        return None
    return ByteRange(first=_number(first), last=_number(last))


@dataclass(frozen=True)
class MediaAsk:
    """What a request wants of a stored object: all of it, one range, or only the headers."""

    range: ByteRange | None = None
    head: bool = False


def media_ask(request: Request[Any, Any, Any]) -> MediaAsk:
    if requested_method(request) == "HEAD":
        # Range is defined for GET only; a HEAD gets the whole object's headers.
        return MediaAsk(head=True)
    ranges = request.headers.getall("range", [])
    # Two Range fields are a list of ranges, as a comma is.
    if len(ranges) != 1 or "if-range" in request.headers:
        return MediaAsk()
    return MediaAsk(range=parse_range(ranges[0]))


@dataclass(frozen=True)
class MediaBody:
    """A stored object ready to be answered: its size and type, the span sent (start to end,
    exclusive), and its bytes (None for a HEAD)."""

    size: int
    content_type: str
    start: int
    end: int
    partial: bool
    pieces: AsyncIterator[bytes] | None


async def open_media(storage: MediaStorage, key: str, ask: MediaAsk) -> MediaBody:
    """Looks the object up and reads its first piece (none for a HEAD). MediaNotFound,
    StorageUnavailable or RangeNotSatisfiable before anything is answered."""
    info = await storage.stat(key)
    start, end = ask.range.span(info.size) if ask.range is not None else (0, info.size)
    pieces = None
    if not ask.head:
        first = b""
        if end > start:
            first = await storage.get_range(key, start, min(end, start + PIECE_BYTES), etag=info.etag)
        pieces = _pieces(storage, key, info.etag, first, start + len(first), end)
    return MediaBody(
        size=info.size,
        content_type=info.content_type,
        start=start,
        end=end,
        partial=ask.range is not None,
        pieces=pieces,
    )


async def _pieces(
    storage: MediaStorage, key: str, etag: str | None, first: bytes, at: int, end: int
) -> AsyncIterator[bytes]:
    yield first
    while at < end:
        try:
            piece = await storage.get_range(key, at, min(end, at + PIECE_BYTES), etag=etag)
        except Exception as exc:
            # The status and headers are sent: ending short of Content-Length makes the server close
            # the connection, and the client sees an incomplete answer.
            log.error("media_stream_failed", key=key, at=at, end=end, error=repr(exc))
            return
        if not piece:
            log.error("media_stream_failed", key=key, at=at, end=end, error="the object ended early")
            return
        at += len(piece)
        yield piece


def media_response(body: MediaBody, headers: dict[str, str]) -> Response[Any]:
    """200 with the whole object or 206 with the range asked for; headers only for a HEAD."""
    answered = {
        **headers,
        # Named here: Litestar would type a Stream with the route's media type instead of its own.
        "Content-Type": body.content_type,
        "Accept-Ranges": "bytes",
        "Content-Length": str(body.end - body.start),
    }
    status = HTTP_200_OK
    if body.partial:
        status = HTTP_206_PARTIAL_CONTENT
        answered["Content-Range"] = f"bytes {body.start}-{body.end - 1}/{body.size}"
    if body.pieces is None:
        # app.head drops the body of a HEAD; the Content-Length stays the GET's.
        return Response(b"", status_code=status, media_type=body.content_type, headers=answered)
    return Stream(body.pieces, status_code=status, media_type=body.content_type, headers=answered)
