"""Videos as the API shows them to one viewer, built for many videos in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.service import avatar_url
from app.storage import MediaStorage
from feed import queries
from feed.models import Video
from feed.schemas import Author, Media, VideoOut
from feed.timeline.queries import Byline


def content_url(video: Video, variant: str) -> str:
    """Media is private like the video itself, so it is served by this API, never a public URL."""
    return f"/v1/videos/{video.id}/content?variant={variant}"


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
        """One query whatever the number of videos: their authors, and which the viewer liked."""
        authors, liked = await queries.authors_and_liked(self.session, viewer.id, videos)
        return [self.show(viewer, video, authors[video.author_id], video.id in liked) for video in videos]

    def show(self, viewer: User, video: Video, author: User | Byline, liked: bool) -> VideoOut:
        """`video` as `viewer` sees it, its author and the viewer's like already read."""
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
            cameos=list(video.cameos),
            remix_of=str(video.remix_of_id) if video.remix_of_id else None,
            remix_root=str(video.remix_root_id) if video.remix_root_id else None,
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
