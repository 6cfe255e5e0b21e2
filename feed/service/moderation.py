"""What a moderator's decision does to videos and comments. Moderation calls these, inside the
request's transaction; feed knows nothing of moderation itself.

A removed video keeps its row: it leaves every list at once (they only show `published`), is 404
to everyone but its author and the owners of cameos in it (who see it `removed`, the owners in
their appearances, so they may delete it before an appeal could restore it), and stops counting
on its author's `post_count` and its parent's `remix_count`, exactly as a delete does
(`feed.service.counts`).
Restoring undoes that, by the visibility it has then (its author may change it while it is down),
unless a widening hook refuses it (a cameo in it revoked since): it then stays removed.
A removed comment is hidden with its replies (kept, so a granted appeal restores the thread),
keeping the video's `comment_count` exact.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import notifications
from accounts.models import User
from feed import hooks, queries
from feed.models import Comment, Video, VideoStatus
from feed.service.counts import counted, recount
from feed.service.engagement import _comment_keys


async def remove_video(session: AsyncSession, video: Video) -> bool:
    """Take a video down (the caller holds its row lock). False when there was nothing to do:
    it is already removed, or its author deleted it."""
    if video.deleted_at is not None or video.status == VideoStatus.REMOVED:
        return False
    was_counted = counted(video)
    video.status = VideoStatus.REMOVED.value
    video.removed_at = datetime.now(UTC)
    await session.flush()
    await recount(session, video, was_counted=was_counted)
    # Gone from every listing, notifications included (as a deletion does), but for the decisions
    # on it the author was told of (`notifications.outlive_their_video`): they may appeal those.
    await notifications.video_removed(
        session, video_id=video.id, author_id=video.author_id, dedupe_keys=[f"remix:{video.id}"]
    )
    return True


async def restore_video(session: AsyncSession, video: Video) -> bool:
    """Undo a removal (the caller holds its row lock): a video that had been published is published
    again, one taken down as a draft goes back to being a draft. False when it was not removed, or
    was deleted since (by its author or a cameo owner in it: that stands, whatever the appeal).

    Published again, a video reaches everyone its visibility lets in, where only its author and its
    cameos' owners saw it while it was down: a widening like publishing, so the widening hooks
    check it (`feed.hooks`). One featuring a cameo revoked since (its owner said no to every new
    viewer; no moderator overrules that) stays removed: the hook's problem is raised before
    anything changes, for the caller to decide what it means."""
    if video.deleted_at is not None or video.status != VideoStatus.REMOVED:
        return False
    republished = video.published_at is not None
    if republished:
        author = await session.get(User, video.author_id)
        if author is not None:  # the foreign key keeps it
            await hooks.widening(session, author, video)
    video.status = (VideoStatus.PUBLISHED if republished else VideoStatus.DRAFT).value
    video.removed_at = None
    await session.flush()
    await recount(session, video, was_counted=False)
    return True


async def lock_video(session: AsyncSession, video_id: UUID) -> Video | None:
    return await session.get(Video, video_id, with_for_update=True)


async def lock_video_of(session: AsyncSession, target_type: str, target_id: UUID) -> None:
    """Take the row lock of a video, or of a comment's video (what removals and restores take)."""
    if target_type == "comment":
        comment = await session.get(Comment, target_id)  # removed ones too
        if comment is None:
            return
        target_id = comment.video_id
    await lock_video(session, target_id)


async def remove_comment(session: AsyncSession, comment_id: UUID) -> int:
    """Hide a comment and its replies from everyone (kept, so an appeal can bring them back); the
    number hidden (0 when it was already gone or removed). The video's row lock is taken first, as
    every comment write does."""
    comment = await queries.comment_by_id(session, comment_id)
    if comment is None:
        return 0
    video = await session.get(Video, comment.video_id, with_for_update=True)
    if video is None:
        return 0
    removed = await queries.remove_comment_thread(session, comment_id, datetime.now(UTC))
    if removed:
        await queries.bump_video(session, video.id, comment_count=-len(removed))
        await notifications.retract(session, _comment_keys(removed))
    return len(removed)


async def restore_comment(session: AsyncSession, comment_id: UUID) -> int:
    """Undo a removal: the comment and the replies removed with it are shown again; the number
    restored (0 when it is not removed, or was deleted since). While a comment above it is still
    removed, they stay hidden with that one and come back when it does (0 now)."""
    comment = await session.get(Comment, comment_id)
    if comment is None or comment.removed_at is None:
        return 0
    video = await session.get(Video, comment.video_id, with_for_update=True)
    if video is None:
        return 0
    hidden_above = await queries.removed_above(session, comment)
    if hidden_above == comment.removed_at:  # removed with that one, not on its own
        return 0
    restored = await queries.restore_comment_thread(session, comment, still_hidden_at=hidden_above)
    if hidden_above is not None:
        return 0
    if restored:
        await queries.bump_video(session, video.id, comment_count=len(restored))
    return len(restored)
