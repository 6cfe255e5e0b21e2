"""Avatar uploads: an allow-list of formats checked by content, size and pixel limits before any
decoding, EXIF dropped (orientation applied first), and square WebP renditions in storage."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import anyio.to_thread
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import ImageTooLarge, InvalidImage, UnsupportedMedia
from accounts.models import User
from app.db import after_commit
from app.storage import MediaStorage

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}
RENDITION_SIZES = (512, 128)
# Pillow warns above this many pixels and refuses above twice it; both become image_too_large.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass(frozen=True)
class Renditions:
    digest: str
    images: dict[int, bytes]


def render_avatar(data: bytes) -> Renditions:
    """Pure and blocking: runs in a worker thread."""
    if len(data) > MAX_BYTES:
        raise ImageTooLarge(f"Images may be at most {MAX_BYTES // (1024 * 1024)} MB")
    with warnings.catch_warnings():
        # Pillow warns between MAX_IMAGE_PIXELS and twice that, and raises beyond; we refuse both.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS))
        except UnidentifiedImageError as exc:
            raise UnsupportedMedia("Upload a JPEG, PNG or WebP image") from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"Images may be at most {MAX_PIXELS // 1_000_000} megapixels") from exc
        if image.format not in ALLOWED_FORMATS:
            raise UnsupportedMedia("Upload a JPEG, PNG or WebP image")
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ImageTooLarge(f"Images may be at most {MAX_PIXELS // 1_000_000} megapixels")
        if width < 1 or height < 1:
            raise InvalidImage()
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
            raise InvalidImage("The image is truncated or corrupt") from exc
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
    def __init__(self, session: AsyncSession, storage: MediaStorage) -> None:
        self.session = session
        self.storage = storage

    async def replace(self, user: User, data: bytes) -> str:
        renditions = await anyio.to_thread.run_sync(render_avatar, data)
        base_key = f"avatars/{user.id}/{renditions.digest}"
        for size, image in renditions.images.items():
            await self.storage.put(f"{base_key}-{size}.webp", image, "image/webp")
        previous = user.avatar_key
        user.avatar_key = base_key
        await self.session.flush()
        if previous and previous != base_key:

            async def delete_previous() -> None:
                for size in RENDITION_SIZES:
                    await self.storage.delete(f"{previous}-{size}.webp")

            after_commit(self.session, delete_previous)
        return self.storage.url(f"{base_key}-{RENDITION_SIZES[0]}.webp")
