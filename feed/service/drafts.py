"""Drafts come from completed generations; remixes record their lineage, and cameos cast in them
record who appears."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from feed import queries
from feed.errors import RemixNotAllowed, VideoNotFound
from feed.models import Video, VideoStatus, video_appearances
from feed.visibility import engageable_video


@dataclass(frozen=True)
class Appearance:
    """Someone whose cameo is cast in a video: the cameo's owner and the cameo."""

    user_id: UUID
    cameo_id: UUID


@dataclass(frozen=True)
class RenderedVideo:
    """What a finished generation hands over to become a draft."""

    author_id: UUID
    prompt: str
    model: str
    seconds: int
    size: str
    video_key: str
    thumbnail_key: str
    spritesheet_key: str | None = None
    provider_video_id: str | None = None
    cameos: list[str] = field(default_factory=list)
    remix_of_id: UUID | None = None
    appearances: list[Appearance] = field(default_factory=list)


async def cameos_in(session: AsyncSession, video: Video) -> list[UUID]:
    """The cameos a video features. A remix is made from the video itself, so it features them
    too: each is cast again, by whoever remixes it."""
    return await queries.appearing_cameos(session, video.id)


async def remix_source(session: AsyncSession, viewer: User, video_id: str | UUID) -> Video:
    """The video `viewer` asks to remix: others' published videos that allow it, or the viewer's
    own drafts and videos. Invisible (or across a block) is 404; visible but not remixable is 403
    remix_not_allowed, also when its lineage may not be remixed (`_refuse_lineage`)."""
    video = await engageable_video(session, viewer, video_id)
    if video.author_id == viewer.id:
        if video.status == VideoStatus.REMOVED:
            raise RemixNotAllowed("A removed video cannot be remixed")
    elif video.status != VideoStatus.PUBLISHED or not video.allow_remix:
        raise RemixNotAllowed()
    await _refuse_lineage(session, viewer, video)
    return video


async def _refuse_lineage(session: AsyncSession, viewer: User, source: Video) -> None:
    """A remix of `source` is made from it, which was made from its own source in turn, and it
    joins the tree of `source`'s root. 403 remix_not_allowed when a video above `source`, up to
    the root, was removed by a moderator (a removed video cannot be remixed, and neither can what
    was made from it while that removal stands, or remixing would be the way to spread it), or when
    the root's author and `viewer` have blocked each other (the source's own author is checked by
    `engageable_video`). Checked again before the provider is asked, and when the remix is
    published or made public (`lineage_blocked`, `removed_in_lineage`)."""
    if source.remix_of_id is None:
        return
    if await queries.removed_in_lineage(session, source.remix_of_id, max_hops=source.remix_depth + 1):
        raise RemixNotAllowed("This video was made from one a moderator removed: it cannot be remixed")
    if await lineage_blocked(session, viewer, [source.remix_root_id]):
        raise RemixNotAllowed(
            "The video this one was first made from is across a block: it cannot be remixed"
        )


async def lineage_blocked(session: AsyncSession, viewer: User, video_ids: Sequence[UUID | None]) -> bool:
    """Whether `viewer` and the author of any of these videos (a remix's parent, its root) have
    blocked each other, either way; one's own videos never are."""
    ids = [video_id for video_id in video_ids if video_id is not None]
    for author_id in await queries.author_ids(session, ids):
        if author_id != viewer.id and await queries.is_blocked_either_way(session, viewer.id, author_id):
            return True
    return False


async def create_draft(session: AsyncSession, rendered: RenderedVideo) -> Video:
    """A private draft owned by the generation's creator, with its lineage worked out from the
    parent as it is now (the parent may have been deleted since the remix was requested)."""
    parent = await session.get(Video, rendered.remix_of_id) if rendered.remix_of_id else None
    if rendered.remix_of_id is not None and parent is None:
        raise VideoNotFound("The video this remixes no longer exists")
    video = Video(
        author_id=rendered.author_id,
        status=VideoStatus.DRAFT.value,
        prompt=rendered.prompt,
        model=rendered.model,
        seconds=rendered.seconds,
        size=rendered.size,
        cameos=list(rendered.cameos),
        video_key=rendered.video_key,
        thumbnail_key=rendered.thumbnail_key,
        spritesheet_key=rendered.spritesheet_key,
        provider_video_id=rendered.provider_video_id,
        remix_of_id=parent.id if parent else None,
        remix_root_id=(parent.remix_root_id or parent.id) if parent else None,
        remix_depth=parent.remix_depth + 1 if parent else 0,
    )
    session.add(video)
    await session.flush()
    if rendered.appearances:
        await session.execute(
            insert(video_appearances),
            [
                {"video_id": video.id, "user_id": appearance.user_id, "cameo_id": appearance.cameo_id}
                for appearance in rendered.appearances
            ],
        )
    return video
