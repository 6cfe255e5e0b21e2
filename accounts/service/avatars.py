"""Avatar uploads: an allow-list of formats checked by content, size and pixel limits before any
decoding, EXIF dropped (orientation applied first), and square WebP renditions in storage."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import anyio.to_thread
from PIL import Image, ImageOps
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.images import MAX_IMAGE_BYTES, open_upload
from app.media_deletion import MediaDeletions
from app.storage import MediaStorage

MAX_BYTES = MAX_IMAGE_BYTES
RENDITION_SIZES = (512, 128)


@dataclass(frozen=True)
class Renditions:
    digest: str
    images: dict[int, bytes]


def render_avatar(data: bytes) -> Renditions:
    """Pure and blocking: runs in a worker thread."""
    upright = open_upload(data)
    mode = "RGBA" if upright.mode in ("RGBA", "LA", "P") else "RGB"
    square = ImageOps.fit(
        upright.convert(mode), (RENDITION_SIZES[0], RENDITION_SIZES[0]), Image.Resampling.LANCZOS
    )
    images: dict[int, bytes] = {}
    for size in RENDITION_SIZES:
        out = io.BytesIO()
        rendition = (
            square if size == RENDITION_SIZES[0] else square.resize((size, size), Image.Resampling.LANCZOS)
        )
        # Saving a fresh image writes no EXIF, XMP or ICC metadata from the upload.
        rendition.save(out, format="WEBP", quality=85, method=4)
        images[size] = out.getvalue()
    return Renditions(digest=hashlib.sha256(data).hexdigest()[:16], images=images)


class AvatarService:
    def __init__(self, session: AsyncSession, storage: MediaStorage, deletions: MediaDeletions) -> None:
        self.session = session
        self.storage = storage
        self.deletions = deletions

    async def replace(self, user: User, data: bytes) -> str:
        renditions = await anyio.to_thread.run_sync(render_avatar, data)
        base_key = f"avatars/{user.id}/{renditions.digest}"
        for size, image in renditions.images.items():
            await self.storage.put(f"{base_key}-{size}.webp", image, "image/webp")
        previous = user.avatar_key
        user.avatar_key = base_key
        await self.session.flush()
        if previous and previous != base_key:
            self.deletions.after_commit(self.session, [f"{previous}-{size}.webp" for size in RENDITION_SIZES])
        return self.storage.url(f"{base_key}-{RENDITION_SIZES[0]}.webp")
