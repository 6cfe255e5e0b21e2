"""Who may see a video. Every read of a video goes through `viewable_video`.

- A deleted video exists for nobody.
- A removed video is visible only to its author and to the people whose cameo is in it, who see it
  as removed (the owner of a likeness must be able to find and delete every use of it, before an
  appeal may restore it).
- A draft is visible to its author and to the people whose cameo is in it (`video_appearances`).
- A published video is visible to every signed-in user; `unlisted` only keeps it out of lists.
- A user blocked by, or blocking, the author never sees it, unless their cameo is in it: the owner
  of a likeness may always see (and delete) a use of it. Seeing it that way does not let them
  engage with it (`engageable_video`).
Anything the caller may not see is reported as 404, never 403. A video shown to someone names no
remix source they may not open nor any cameo owner across a block from them
(`feed.queries.Seen`, applied by `feed.service.present`).
"""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries as account_queries
from accounts.models import User
from feed import queries
from feed.errors import VideoNotFound
from feed.models import Video, VideoStatus


def parse_video_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError as exc:
        raise VideoNotFound() from exc


async def may_view(session: AsyncSession, viewer: User, video: Video) -> bool:
    return (await _sight(session, viewer, video)).visible


class _Sight(NamedTuple):
    visible: bool
    # Whether the viewer and the author block each other, when finding `visible` needed to know.
    across_block: bool | None


async def _sight(session: AsyncSession, viewer: User, video: Video) -> _Sight:
    if video.deleted_at is not None:
        return _Sight(False, None)
    if video.author_id == viewer.id:
        return _Sight(True, False)
    across_block: bool | None = None
    if video.status == VideoStatus.PUBLISHED:
        across_block = await account_queries.is_blocked_either_way(session, viewer.id, video.author_id)
        if not across_block:
            return _Sight(True, False)
    # A draft, a removed video, or a post across a block: only for the people whose cameo is in it.
    return _Sight(await queries.appears_in(session, video.id, viewer.id), across_block)


async def _read(
    session: AsyncSession, viewer: User, video_id: str | UUID, lock: bool, key_share: bool
) -> tuple[Video, _Sight]:
    identifier = video_id if isinstance(video_id, UUID) else parse_video_id(video_id)
    for_update: bool | dict[str, bool] = {"read": True, "key_share": True} if key_share else lock
    video = await session.get(Video, identifier, with_for_update=for_update)
    if video is None:
        raise VideoNotFound()
    sight = await _sight(session, viewer, video)
    if not sight.visible:
        raise VideoNotFound()
    return video, sight


async def viewable_video(
    session: AsyncSession, viewer: User, video_id: str | UUID, *, lock: bool = False, key_share: bool = False
) -> Video:
    """The video as `viewer` may see it, or VideoNotFound. Read FOR UPDATE with `lock`; FOR KEY
    SHARE with `key_share`, for a write that then adds a row naming both the video and the caller:
    the lock its foreign key takes on the video, taken in the read, before the users row (the
    order every change of a video takes them in, an account's deletion included)."""
    video, _ = await _read(session, viewer, video_id, lock, key_share)
    return video


async def engageable_video(
    session: AsyncSession, viewer: User, video_id: str | UUID, *, lock: bool = False, key_share: bool = False
) -> Video:
    """The video when `viewer` may like, comment on, view or remix it: viewable, and not across a
    block (someone who sees it only because their cameo is in it gets the 404 a block gives)."""
    video, sight = await _read(session, viewer, video_id, lock, key_share)
    across_block = sight.across_block
    if across_block is None:  # a draft or a removed video, seen through a cameo in it
        across_block = await account_queries.is_blocked_either_way(session, viewer.id, video.author_id)
    if across_block:
        raise VideoNotFound()
    return video
