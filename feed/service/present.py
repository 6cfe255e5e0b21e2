"""Videos as the API shows them to one viewer, built for many videos in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.service import avatar_url
from app.storage import MediaStorage
from feed import queries
from feed.models import Video
from feed.queries import Seen
from feed.schemas import Author, Media, VideoOut
from feed.timeline.queries import Byline


def content_url(video: Video, variant: str) -> str:
    """Media is private like the video itself, so it is served by this API, never a public URL."""
    return f"/v1/videos/{video.id}/content?variant={variant}"


def _shown(video_id: UUID | None, seen: Seen) -> str | None:
    return str(video_id) if video_id is not None and video_id in seen.videos else None


class VideoPresenter:
    def __init__(self, session: AsyncSession, storage: MediaStorage) -> None:
        self.session = session
        self.storage = storage

    def author(self, user: User | Byline) -> Author:
        return Author(
            username=user.username,
            display_name=user.display_name,
            avatar_url=avatar_url(self.storage, user.avatar_key),
        )

    async def one(self, viewer: User, video: Video) -> VideoOut:
        return (await self.many(viewer, [video]))[0]

    async def many(self, viewer: User, videos: Sequence[Video]) -> list[VideoOut]:
        """One query whatever the number of videos: their authors, which the viewer liked, and
        what they refer to that the viewer may see."""
        authors, liked, seen = await queries.presentation(self.session, viewer.id, videos)
        return [
            self.show(viewer, video, authors[video.author_id], video.id in liked, seen) for video in videos
        ]

    async def seen(self, viewer: User, videos: Sequence[Video]) -> Seen:
        """For `show` on a page read with its authors and likes already (the feed): one query."""
        return await queries.seen_by(self.session, viewer.id, videos)

    def show(self, viewer: User, video: Video, author: User | Byline, liked: bool, seen: Seen) -> VideoOut:
        """`video` as `viewer` sees it, its author, the viewer's like and `seen` already read. Every
        video shown to anyone comes through here, so what `seen` hides is hidden everywhere."""
        return VideoOut(
            id=str(video.id),
            author=self.author(author),
            status=video.status,  # type: ignore[arg-type]
            visibility=video.visibility,  # type: ignore[arg-type]
            caption=video.caption,
            prompt=video.prompt if video.show_prompt or video.author_id == viewer.id else None,
            show_prompt=video.show_prompt,
            model=video.model,
            seconds=video.seconds,
            size=video.size,
            media=Media(video_url=content_url(video, "video"), thumbnail_url=content_url(video, "thumbnail")),
            # No one who blocks the viewer or whom they block is named, as no list or comment does.
            cameos=[name for name in video.cameos if name not in seen.blocked_names],
            # A source the viewer may not open is null, not an id that answers 404 (which would
            # still say that a hidden video exists there). The depth stays: it is this video's.
            remix_of=_shown(video.remix_of_id, seen),
            remix_root=_shown(video.remix_root_id, seen),
            remix_depth=video.remix_depth,
            allow_remix=video.allow_remix,
            like_count=video.like_count,
            comment_count=video.comment_count,
            remix_count=video.remix_count,
            view_count=video.view_count,
            liked_by_me=liked,
            created_at=video.created_at,
            published_at=video.published_at,
        )
