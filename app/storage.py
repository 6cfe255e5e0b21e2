"""Media storage behind one small interface, on obstore.

The default keeps files under REMIXFEED_DATA_DIR/media and this API serves them at /media/{key}.
Production points REMIXFEED_MEDIA_URL at the public base of the same keys (a CDN or bucket).
"""

from __future__ import annotations

import contextlib
import mimetypes
from pathlib import Path
from typing import Protocol, runtime_checkable

import obstore
from obstore.store import LocalStore

from app.settings import Settings


class MediaNotFound(LookupError):
    pass


@runtime_checkable
class MediaStorage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def get(self, key: str) -> tuple[bytes, str]: ...
    async def delete(self, key: str) -> None: ...
    def url(self, key: str) -> str: ...


class ObjectStorage:
    """Any obstore store; keys are relative paths such as `avatars/<user>/<digest>-512.webp`."""

    def __init__(self, store: LocalStore, public_base: str) -> None:
        self._store = store
        self._public_base = public_base.rstrip("/")

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await obstore.put_async(self._store, key, data)

    async def get(self, key: str) -> tuple[bytes, str]:
        try:
            result = await obstore.get_async(self._store, key)
        except (FileNotFoundError, ValueError) as exc:  # ValueError: a key the store cannot parse
            raise MediaNotFound(key) from exc
        data = await result.bytes_async()
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        return bytes(data), content_type

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await obstore.delete_async(self._store, key)

    def url(self, key: str) -> str:
        return f"{self._public_base}/{key}"


def create_storage(settings: Settings) -> MediaStorage:
    media_dir = Path(settings.media_dir).resolve()
    media_dir.mkdir(parents=True, exist_ok=True)
    public_base = settings.media_url or "/media"
    return ObjectStorage(LocalStore(str(media_dir), mkdir=True), public_base)
