"""Drafts without generation: the same `feed.service.create_draft` a completed generation calls,
with small real media put into storage under the keys the draft names."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from typing import Any

from PIL import Image

from app.db import in_transaction
from app.resources import Resources
from feed.service import Appearance, RenderedVideo, create_draft
from tests.factories import Actor

# Not a playable video, but bytes that start like an MP4 (an ftyp box) are all these tests need.
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


def thumbnail_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (9, 16), (200, 40, 90)).save(out, format="WEBP")
    return out.getvalue()


@dataclass
class Draft:
    id: str
    author: Actor
    video_key: str
    thumbnail_key: str


class VideoFactory:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def draft(
        self,
        author: Actor,
        *,
        prompt: str = "a corgi surfing at sunset",
        remix_of: str | None = None,
        cameos: list[str] | None = None,
        model: str = "sora-2",
        seconds: int = 8,
        size: str = "720x1280",
        appearances: list[tuple[Actor, str]] | None = None,
    ) -> Draft:
        """A draft of `author`; `appearances` are (owner, cameo id) of cameos cast in it, which
        also name the video's `cameos` unless those are given."""
        base = f"videos/{author.id}/{uuid.uuid4().hex}"
        video_key, thumbnail_key = f"{base}/video.mp4", f"{base}/thumbnail.webp"
        await self.resources.storage.put(video_key, VIDEO_BYTES, "video/mp4")
        await self.resources.storage.put(thumbnail_key, thumbnail_bytes(), "image/webp")
        rendered = RenderedVideo(
            author_id=uuid.UUID(author.id),
            prompt=prompt,
            model=model,
            seconds=seconds,
            size=size,
            video_key=video_key,
            thumbnail_key=thumbnail_key,
            cameos=list(cameos if cameos is not None else [owner.username for owner, _ in appearances or []]),
            remix_of_id=uuid.UUID(remix_of) if remix_of else None,
            appearances=[
                Appearance(user_id=uuid.UUID(owner.id), cameo_id=uuid.UUID(cameo_id))
                for owner, cameo_id in appearances or []
            ],
        )

        async def work(session: Any) -> str:
            video = await create_draft(session, rendered)
            return str(video.id)

        video_id: str = await in_transaction(self.resources.session_factory, work)
        return Draft(id=video_id, author=author, video_key=video_key, thumbnail_key=thumbnail_key)
