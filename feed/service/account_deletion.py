"""What a deleted account leaves in the feed domain (registered from the composition root with
`accounts.hooks`).

In the deleting request: every video the account authored (drafts included) and every video its
cameo is in (others' included: nobody is left to police that likeness) gets `deleted_at`, which
every read already filters, so all of them are gone for everyone with the 204. Its comments are
left out when read (`queries.comments_page`) from then on.

In the background purge, in batches of their own transactions, each harmless to run again:
for each of those videos what `VideoService.delete` does after the flag (its author's and its
parent's counts set again from what still counts, the notifications pointing at it retracted,
its media deleted from storage after the commit); the account's likes and views (the counts on
the videos moved), see-less marks, comments (with their replies, counts and notifications), feed
preferences, check-ins and a teen's daily feed counts; and its feed state in Redis (inbox, ranked
pool, pacing). The users row stays (a tombstone), so nothing of this goes by its foreign keys'
ON DELETE CASCADE.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import notifications
from accounts.models import User
from app.db import in_batches, in_transaction
from app.media_deletion import MediaDeletions
from app.redis import key
from app.resources import Resources
from feed import hooks, queries
from feed.models import FeedCheckin, FeedPreferences, Video
from feed.service.engagement import _comment_keys
from feed.timeline.ranking import pool_key

BATCH = 200
MAX_BATCHES = 10_000


async def hide_account_videos(session: AsyncSession, user: User, _deletions: MediaDeletions) -> None:
    """accounts.hooks.on_account_deleted: the videos are gone for everyone at once."""
    await queries.hide_videos_of_account(session, user.id, datetime.now(UTC))


async def purge_account(resources: Resources, user_id: UUID) -> None:
    """accounts.hooks.on_account_purge."""
    factory = resources.session_factory
    deletions = MediaDeletions.of(resources)

    async def hide(session: AsyncSession) -> None:
        # Anything made since the request: a generation step checks the account before it makes
        # a draft (generation.account_deletion), so nothing is expected; harmless either way.
        await queries.hide_videos_of_account(session, user_id, datetime.now(UTC))

    await in_transaction(factory, hide)

    async def settle_after(after: UUID | None) -> UUID | None:
        async def settle(session: AsyncSession) -> UUID | None:
            videos = await queries.deleted_videos_of_account(session, user_id, after, BATCH)
            for video in videos:
                await _settle_deleted_video(session, deletions, video)
            # Counts from what still counts, so settling a video twice moves nothing: parents
            # first, then the authors' users rows (the order every count change takes).
            for parent_id in sorted({video.remix_of_id for video in videos if video.remix_of_id}):
                await queries.recount_remixes(session, parent_id)
            for author_id in sorted({video.author_id for video in videos}):
                await queries.recount_posts(session, author_id)
            return videos[-1].id if len(videos) == BATCH else None

        last: UUID | None = await in_transaction(factory, settle)
        return last

    after = await settle_after(None)
    while after is not None:
        after = await settle_after(after)

    async def unlike(session: AsyncSession) -> int:
        videos = await queries.delete_likes_of(session, user_id, BATCH)
        for video_id in sorted(videos):
            await queries.bump_video(session, video_id, like_count=-1)
        return len(videos)

    async def unview(session: AsyncSession) -> int:
        videos = await queries.delete_views_of(session, user_id, BATCH)
        for video_id in sorted(videos):
            await queries.bump_video(session, video_id, view_count=-1)
        return len(videos)

    async def see_less(session: AsyncSession) -> int:
        return await queries.delete_see_less_of(session, user_id, BATCH)

    async def uncomment(session: AsyncSession) -> int:
        found = await queries.comments_of(session, user_id, BATCH)
        for comment_id, video_id in sorted(found, key=lambda row: row[1]):
            # The video's lock first, as every comment write takes it: no reply slips in under it.
            await session.get(Video, video_id, with_for_update=True)
            deleted = await queries.delete_comment_thread(session, comment_id)
            if deleted:
                await queries.bump_video(session, video_id, comment_count=-len(deleted))
                await notifications.retract(session, _comment_keys(deleted))
        return len(found)

    for work in (unlike, unview, see_less, uncomment):
        await in_batches(factory, work, batch=BATCH, max_batches=MAX_BATCHES)

    async def preferences(session: AsyncSession) -> None:
        await session.execute(delete(FeedPreferences).where(FeedPreferences.user_id == user_id))
        await session.execute(delete(FeedCheckin).where(FeedCheckin.user_id == user_id))
        await queries.delete_teen_days_of(session, user_id)

    await in_transaction(factory, preferences)
    await _forget_feed_state(resources, user_id)


async def _settle_deleted_video(session: AsyncSession, deletions: MediaDeletions, video: Video) -> None:
    """What `VideoService.delete` does once the flag is set, but the counts (set by the caller)."""
    appearing = await queries.appearing_users(session, video.id)
    comments = await queries.comment_ids_on(session, video.id)
    await notifications.video_deleted(
        session,
        video_id=video.id,
        author_id=video.author_id,
        told_of_it=[video.author_id, *appearing],
        dedupe_keys=[f"remix:{video.id}", *_comment_keys(comments)],
    )
    deletions.after_commit(
        session,
        [stored for stored in (video.video_key, video.thumbnail_key, video.spritesheet_key) if stored],
    )
    await hooks.deleted(session, video, deletions)


async def _forget_feed_state(resources: Resources, user_id: UUID) -> None:
    """The account's inbox, ranked pool and pacing (session, served, breaks, and each day's count)."""
    settings, redis, who = resources.settings, resources.redis, str(user_id)
    keys = [
        key(settings, "feed", "inbox", who),
        key(settings, "feed", "inbox_built", who),
        pool_key(settings, user_id),
        key(settings, "feed", "session", who),
        key(settings, "feed", "served", who),
        key(settings, "feed", "breaks", who),
    ]
    keys += [
        found async for found in redis.scan_iter(match=key(settings, "feed", "day", who, "*"), count=500)
    ]
    await redis.delete(*keys)
