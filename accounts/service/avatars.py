"""Avatar uploads: an allow-list of formats checked by content, size and pixel limits before any
decoding, EXIF dropped (orientation applied first), and square WebP renditions in storage."""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import dataclass
from uuid import UUID

import anyio.to_thread
import structlog
from PIL import Image, ImageOps
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries
from accounts.models import User
from app.db import after_rollback, commit_outcome_unknown, confirming_transaction
from app.images import MAX_IMAGE_BYTES, open_upload
from app.media_deletion import MediaDeletions, delete_keys
from app.storage import MediaStorage

log = structlog.get_logger(__name__)

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
        # A key of its own for every upload (half the content's digest, half random; 16 hex digits,
        # as /media serves), never one another upload may be writing or deleting: the same picture
        # put back while another replaced it would have had its files deleted by the other's commit.
        base_key = f"avatars/{user.id}/{renditions.digest[:8]}{secrets.token_hex(4)}"
        keys = [f"{base_key}-{size}.webp" for size in renditions.images]

        user_id = user.id  # the rollback expires `user`: no reading it in the callback

        async def delete_unused() -> None:
            if commit_outcome_unknown(self.session) and await self._committed(user_id, base_key):
                return
            await delete_keys(self.storage, keys)

        after_rollback(self.session, delete_unused)
        for key, image in zip(keys, renditions.images.values(), strict=True):
            await self.storage.put(key, image, "image/webp")
        # The avatar replaced is the one on the row now, under its lock (taken once the files are
        # stored, so a slow store holds up nobody): not the one the request began with, which
        # another upload committing meanwhile has replaced (its files were then never deleted).
        previous = await queries.avatar_for_update(self.session, user.id)
        user.avatar_key = base_key
        await self.session.flush()
        if previous:
            self.deletions.after_commit(self.session, [f"{previous}-{size}.webp" for size in RENDITION_SIZES])
        return self.storage.url(f"{base_key}-{RENDITION_SIZES[0]}.webp")

    async def _committed(self, user_id: UUID, base_key: str) -> bool:
        """After a COMMIT that raised, which may have committed all the same: whether the account
        points at the upload's files, read under the row lock the upload held (so once its
        transaction has ended). Not sure (the database unreachable, the lock still held), the files
        are kept: a leaked file is better than a committed avatar answering 404 for good."""
        try:
            async with confirming_transaction(self.session) as check:
                return await queries.avatar_for_update(check, user_id) == base_key
        except (SQLAlchemyError, OSError) as exc:
            log.warning("avatar_files_kept_commit_unknown", avatar_key=base_key, error=str(exc))
            return True
