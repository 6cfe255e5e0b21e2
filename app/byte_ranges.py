"""Serving stored media as video players need it: one byte range at a time, the body streamed in
pieces, and HEAD answered from the object's size without reading it.

- `Range: bytes=a-b`, `bytes=a-` and `bytes=-n` (a single range, on GET) answer 206 with
  `Content-Range: bytes a-b/size` and only those bytes. A range starting past the end, or the last
  0 bytes, is 416 `range_not_satisfiable` with `Content-Range: bytes */size`. A Range header that
  is malformed, names several ranges or another unit is ignored (200 and the whole object), as
  RFC 9110 allows.
- Every answer says `Accept-Ranges: bytes` and its Content-Length, and carries validators: a
  strong `ETag` and `Last-Modified` (`entity_tag`). The ETag is a digest of the key and the store's
  own ETag of this version of the object (S3's; a local file's is its inode, mtime and size, and a
  write replaces the file, so a new inode), or, from a store that gives none, of the key, size and
  modification time: it changes whenever the bytes can.
- `If-None-Match` naming the ETag (weak comparison, or `*`) is 304 with no body, on GET and HEAD,
  with the ETag and the route's Cache-Control: a client revalidates its copy instead of
  downloading it again. `If-Modified-Since` is looked at only without If-None-Match (RFC 9110).
  A 304 reads none of the object, and comes before the range is looked at (no 416).
- `If-Range` with the ETag (strong comparison) is the range as usual; anything else (another or a
  weak ETag, a date) is 200 with the whole object, so a client resuming a download never joins
  bytes of two versions. A date is never taken as a match: a second is too coarse to tell two
  versions written within it apart.
- Validators are looked at only once the route has decided the caller may see the object: one who
  may not gets the route's 404 whatever they send, as without them.
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

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import structlog
from litestar import Request, Response
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_206_PARTIAL_CONTENT, HTTP_304_NOT_MODIFIED

from app.errors import AppError
from app.head import requested_method
from app.storage import MediaInfo, MediaStorage

log = structlog.get_logger(__name__)

PIECE_BYTES = 1024 * 1024

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)
# The opaque tags of an If-None-Match list, weak or strong (a comma may be inside one).
_LISTED_TAG = re.compile(r'(?:W/)?("[^"]*")')
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
    """What a request wants of a stored object: all of it, one range, or only the headers; and the
    validators of the copy it may already hold (each field's value as sent, None when absent)."""

    range: ByteRange | None = None
    head: bool = False
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_range: str | None = None


def media_ask(request: Request[Any, Any, Any]) -> MediaAsk:
    headers = request.headers
    # Several If-None-Match fields are one list; several If-Modified-Since are to be ignored.
    none_match = ", ".join(headers.getall("if-none-match", [])) or None
    modified_since = headers.getall("if-modified-since", [])
    since = modified_since[0] if len(modified_since) == 1 else None
    if requested_method(request) == "HEAD":
        # Range is defined for GET only; a HEAD gets the whole object's headers.
        return MediaAsk(head=True, if_none_match=none_match, if_modified_since=since)
    ranges = request.headers.getall("range", [])
    # Two Range fields are a list of ranges, as a comma is.
    if len(ranges) != 1:
        return MediaAsk(if_none_match=none_match, if_modified_since=since)
    # Several If-Range fields match nothing: `_if_range_holds` compares the joined value.
    if_range = ", ".join(headers.getall("if-range", [])) or None
    return MediaAsk(
        range=parse_range(ranges[0]), if_none_match=none_match, if_modified_since=since, if_range=if_range
    )


def _strong(store_etag: str | None) -> str | None:
    """The store's ETag when it is strong: a weak one (`W/...`) names no exact bytes, and a read
    pinned to it (If-Match, compared strongly) is refused by the store every time."""
    return store_etag if store_etag and not store_etag.startswith("W/") else None


def entity_tag(key: str, info: MediaInfo) -> str | None:
    """A strong ETag of this version of the object at `key`, quoted as RFC 9110 asks; None when the
    store gives nothing that changes with its bytes."""
    if (store_etag := _strong(info.etag)) is not None:
        basis = f"{key}\n{store_etag}"
    elif info.last_modified is not None:
        basis = f"{key}\n{info.size}\n{info.last_modified.isoformat()}"
    else:
        return None
    # A digest rather than the store's tag as it is: always a valid quoted tag, whatever a store
    # answers, and nothing of the local file system (an inode) in it.
    return '"' + hashlib.sha256(basis.encode()).hexdigest()[:32] + '"'


def _http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _not_modified(ask: MediaAsk, etag: str | None, last_modified: datetime | None) -> bool:
    """RFC 9110 13.1.2 and 13.1.3, for GET and HEAD: whether the client's copy is current."""
    if ask.if_none_match is not None:
        if any(member.strip() == "*" for member in ask.if_none_match.split(",")):
            return True
        return etag is not None and etag in _LISTED_TAG.findall(ask.if_none_match)
    if ask.if_modified_since is not None and last_modified is not None:
        since = _http_date(ask.if_modified_since)
        # Last-Modified is sent in whole seconds.
        return since is not None and last_modified.replace(microsecond=0) <= since
    return False


def _if_range_holds(value: str, etag: str | None) -> bool:
    """RFC 9110 13.1.5: our ETag, compared strongly. A weak tag never matches, and neither does a
    date here (see the module's docstring)."""
    return etag is not None and value.strip() == etag


@dataclass(frozen=True)
class MediaBody:
    """A stored object ready to be answered: its size and type, the span sent (start to end,
    exclusive), its bytes (None for a HEAD or a 304), its validators, and whether the client's copy
    is current (304)."""

    size: int
    content_type: str
    start: int
    end: int
    partial: bool
    pieces: AsyncIterator[bytes] | None
    etag: str | None = None
    last_modified: datetime | None = None
    not_modified: bool = False


async def open_media(storage: MediaStorage, key: str, ask: MediaAsk) -> MediaBody:
    """Looks the object up and reads its first piece (none for a HEAD or a 304). MediaNotFound,
    StorageUnavailable or RangeNotSatisfiable before anything is answered."""
    info = await storage.stat(key)
    etag = entity_tag(key, info)
    if _not_modified(ask, etag, info.last_modified):
        return MediaBody(
            size=info.size,
            content_type=info.content_type,
            start=0,
            end=0,
            partial=False,
            pieces=None,
            etag=etag,
            last_modified=info.last_modified,
            not_modified=True,
        )
    byte_range = ask.range
    if byte_range is not None and ask.if_range is not None and not _if_range_holds(ask.if_range, etag):
        # The client's bytes are of another version: it gets this one whole.
        byte_range = None
    start, end = byte_range.span(info.size) if byte_range is not None else (0, info.size)
    pieces = None
    if not ask.head:
        pin = _strong(info.etag)
        first = b""
        if end > start:
            first = await storage.get_range(key, start, min(end, start + PIECE_BYTES), etag=pin)
        pieces = _pieces(storage, key, pin, first, start + len(first), end)
    return MediaBody(
        size=info.size,
        content_type=info.content_type,
        start=start,
        end=end,
        partial=byte_range is not None,
        pieces=pieces,
        etag=etag,
        last_modified=info.last_modified,
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
    """200 with the whole object, 206 with the range asked for, or 304 when the client's copy is
    current; headers only for a HEAD. `headers` are the route's (its Cache-Control), on every one."""
    validators = {"ETag": body.etag} if body.etag is not None else {}
    if body.not_modified:
        # RFC 9110 15.4.5: what a 200 would say to update a cached copy (ETag, Cache-Control), and no
        # representation metadata (no Content-Type or Content-Length).
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers={**headers, **validators})
    if body.last_modified is not None:
        validators["Last-Modified"] = format_datetime(body.last_modified.astimezone(UTC), usegmt=True)
    answered = {
        **headers,
        **validators,
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
