"""Media storage behind one small interface, on obstore.

The default keeps files under REMIXFEED_DATA_DIR/media and this API serves them at /media/{key}.
With REMIXFEED_STORAGE_BACKEND=s3 the same keys live in an S3-compatible bucket (AWS, MinIO, ...),
shared by every API process and worker; /media/{key} still serves them (`stat` and `get_range`,
see app.byte_ranges), unless REMIXFEED_MEDIA_URL points clients at the public base of the same keys
(a CDN or the bucket).
"""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import obstore
import obstore.exceptions
import structlog
from obstore.store import LocalStore, S3Store

from app.errors import ServiceUnavailable
from app.settings import Settings

if TYPE_CHECKING:
    from obstore import GetOptions
    from obstore.store import ClientConfig, RetryConfig, S3Config

log = structlog.get_logger(__name__)

S3_CONNECT_TIMEOUT = timedelta(seconds=5)
S3_REQUEST_TIMEOUT = timedelta(seconds=30)
S3_MAX_RETRIES = 3
S3_RETRY_TIMEOUT = timedelta(seconds=60)
# Large uploads from a file go up in parts of this size, this many at once: what one upload holds in
# memory is about their product, whatever the file's size.
UPLOAD_PART_BYTES = 8 * 1024 * 1024
UPLOAD_PARTS_AT_ONCE = 2
# What `stream` hands over at a time.
STREAM_CHUNK_BYTES = 1024 * 1024


class MediaNotFound(LookupError):
    pass


class StorageUnavailable(ServiceUnavailable):
    """The store failed or did not answer in time: the request is refused, nothing is half-done."""

    code = "storage_unavailable"
    title = "Media storage is unavailable"

    def __init__(self, operation: str, error: Exception) -> None:
        log.error("storage_unavailable", operation=operation, error=str(error))
        super().__init__("Media storage is unavailable; try again shortly", headers={"Retry-After": "5"})


@contextlib.contextmanager
def _store_call(operation: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise
    except (obstore.exceptions.BaseError, OSError) as exc:
        raise StorageUnavailable(operation, exc) from exc


@dataclass(frozen=True)
class MediaInfo:
    """What the store knows of an object without reading it."""

    size: int
    content_type: str
    # The store's validator of this version of the object, so that the pieces of one answer are
    # read from one version (None when the store gives none).
    etag: str | None
    # When this version was written (S3's Last-Modified, a local file's mtime).
    last_modified: datetime | None


@runtime_checkable
class MediaStorage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def put_file(self, key: str, path: Path, content_type: str) -> None: ...
    async def get(self, key: str) -> tuple[bytes, str]: ...
    def stream(self, key: str) -> AsyncIterator[bytes]: ...
    async def stat(self, key: str) -> MediaInfo: ...
    async def get_range(self, key: str, start: int, end: int, *, etag: str | None = None) -> bytes: ...
    async def delete(self, key: str) -> None: ...
    def url(self, key: str) -> str: ...


class ObjectStorage:
    """A local or S3 obstore store; keys are relative paths such as `avatars/<user>/<digest>-512.webp`."""

    def __init__(self, store: LocalStore | S3Store, public_base: str) -> None:
        self._store = store
        self._public_base = public_base.rstrip("/")
        # LocalStore refuses object attributes (NotImplementedError); there the type comes from the key.
        self._keeps_attributes = not isinstance(store, LocalStore)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        with _store_call("put"):
            if self._keeps_attributes:
                await obstore.put_async(self._store, key, data, attributes={"Content-Type": content_type})
            else:
                await obstore.put_async(self._store, key, data)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Upload a local file without reading it whole: S3 takes it in parts (multipart upload)
        past UPLOAD_PART_BYTES."""
        with _store_call("put_file"):
            if self._keeps_attributes:
                await obstore.put_async(
                    self._store,
                    key,
                    path,
                    attributes={"Content-Type": content_type},
                    chunk_size=UPLOAD_PART_BYTES,
                    max_concurrency=UPLOAD_PARTS_AT_ONCE,
                )
            else:
                await obstore.put_async(
                    self._store, key, path, chunk_size=UPLOAD_PART_BYTES, max_concurrency=UPLOAD_PARTS_AT_ONCE
                )

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of about STREAM_CHUNK_BYTES, so that copying a large one
        holds one chunk at a time. MediaNotFound before the first chunk when it is missing."""
        try:
            with _store_call("stream"):
                result = await obstore.get_async(self._store, key)
        except (FileNotFoundError, ValueError) as exc:
            raise MediaNotFound(key) from exc
        with _store_call("stream"):
            async for chunk in result.stream(min_chunk_size=STREAM_CHUNK_BYTES):
                yield bytes(chunk)

    async def get(self, key: str) -> tuple[bytes, str]:
        try:
            with _store_call("get"):
                result = await obstore.get_async(self._store, key)
                data = await result.bytes_async()
        # obstore reports a missing object as FileNotFoundError for every store (its NotFoundError
        # is deprecated); ValueError is a key the store cannot parse.
        except (FileNotFoundError, ValueError) as exc:
            raise MediaNotFound(key) from exc
        return bytes(data), _content_type(key, result.attributes.get("Content-Type"))

    async def stat(self, key: str) -> MediaInfo:
        """Size, type, ETag and modification time without reading the bytes: a HEAD request to S3,
        a stat of a local file (whose ETag obstore makes of its inode, mtime and size)."""
        try:
            with _store_call("stat"):
                # A get asking for no content, rather than obstore's `head`: on S3 it also answers
                # the object's attributes, its Content-Type among them.
                result = await obstore.get_async(self._store, key, options={"head": True})
        except (FileNotFoundError, ValueError) as exc:
            raise MediaNotFound(key) from exc
        meta = result.meta
        return MediaInfo(
            size=meta["size"],
            content_type=_content_type(key, result.attributes.get("Content-Type")),
            etag=meta["e_tag"],
            last_modified=meta["last_modified"],
        )

    async def get_range(self, key: str, start: int, end: int, *, etag: str | None = None) -> bytes:
        """Bytes `start` to `end` (exclusive; `start` must be before the object's end; an `end` past
        it reads to the end). With `etag`, only from that version of the object: another is a
        StorageUnavailable, never bytes of two versions in one answer."""
        options: GetOptions = {"range": (start, end)}
        if etag is not None:
            options["if_match"] = etag
        try:
            with _store_call("get_range"):
                result = await obstore.get_async(self._store, key, options=options)
                data = await result.bytes_async()
        except (FileNotFoundError, ValueError) as exc:
            raise MediaNotFound(key) from exc
        return bytes(data)

    async def delete(self, key: str) -> None:
        # S3 answers a delete of a missing key with success; LocalStore raises FileNotFoundError.
        with contextlib.suppress(FileNotFoundError), _store_call("delete"):
            await obstore.delete_async(self._store, key)

    def url(self, key: str) -> str:
        return f"{self._public_base}/{key}"


def _content_type(key: str, stored: str | None) -> str:
    # LocalStore keeps no attributes: there the type comes from the key's extension.
    return stored or mimetypes.guess_type(key)[0] or "application/octet-stream"


def create_storage(settings: Settings) -> MediaStorage:
    public_base = settings.media_url or "/media"
    if settings.storage_backend == "s3":
        return ObjectStorage(_s3_store(settings), public_base)
    media_dir = Path(settings.media_dir).resolve()
    media_dir.mkdir(parents=True, exist_ok=True)
    return ObjectStorage(LocalStore(str(media_dir), mkdir=True), public_base)


def _s3_store(settings: Settings) -> S3Store:
    """Only what is set is passed, so anything left empty falls back to obstore's own defaults
    (the AWS_* environment, an instance or container role, the AWS endpoint)."""
    config: S3Config = {"region": settings.s3_region}
    if settings.s3_endpoint_url:
        config["endpoint"] = settings.s3_endpoint_url
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        config["access_key_id"] = settings.s3_access_key_id
        config["secret_access_key"] = settings.s3_secret_access_key
    # Bounded, because a media call runs inside a request: without these a stalled store would hold
    # the request (and its transaction) for obstore's default of ten retries over three minutes.
    client_options: ClientConfig = {
        "allow_http": settings.s3_allow_http,
        "connect_timeout": S3_CONNECT_TIMEOUT,
        "timeout": S3_REQUEST_TIMEOUT,
    }
    retry: RetryConfig = {"max_retries": S3_MAX_RETRIES, "retry_timeout": S3_RETRY_TIMEOUT}
    return S3Store(
        settings.s3_bucket,
        prefix=settings.s3_prefix.strip("/") or None,
        config=config,
        client_options=client_options,
        retry_config=retry,
    )
