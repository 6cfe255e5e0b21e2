"""Fan-out on write: a public video, once its publication has committed, goes into the inbox of
every follower of its author (see `feed.timeline.inbox`).

The first REMIXFEED_FEED_FANOUT_BATCH followers are pushed right after the commit, in the request
(one SQL query, one pipelined Redis round trip). An author with more followers hands the rest to the
`feed.fan_out` job, which walks the followers in keyset order (follow time, follower id) one batch
at a time: one SQL query and one pipeline per batch. A job that runs long hands the remainder on to
a new job, so no single job holds a worker for minutes, and a retried job only repeats pushes
(ZADD of the same member is idempotent).

The whole fan-out is also written as a `feed.fan_out` job into the publishing transaction's outbox
(`app.deferred_jobs`), and forgotten once the inline push has run and handed the rest on. When Redis
is unreachable after the commit, that job waits in PostgreSQL and runs once Redis is back, so
followers' inboxes that outlive the outage still get the post; when the process dies after the
commit, a job worker runs it after the outbox's grace. Each hand-on is kept in the outbox too (in a
transaction of its own), so a later batch's job that fails past its retries or is lost is run again.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import in_transaction
from app.resources import Resources
from feed.models import Video, VideoStatus, Visibility
from feed.timeline import queries
from feed.timeline.inbox import Inboxes

log = structlog.get_logger(__name__)

FAN_OUT_JOB = "feed.fan_out"
# A job hands what is left to a new job after this long.
JOB_SLICE_SECONDS = 30.0


class FanOut:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    def after_publish(self, session: AsyncSession, video: Video) -> None:
        """Once the transaction commits, push `video` (published and public) into its author's
        followers' inboxes."""
        if (
            video.status != VideoStatus.PUBLISHED
            or video.visibility != Visibility.PUBLIC
            or video.published_at is None
        ):
            return
        video_id, author_id, epoch = video.id, video.author_id, video.published_at.timestamp()
        # The whole fan-out as a job, in the publishing transaction: replayed unless the push below
        # settles it, so a process that dies right after the commit does not lose the post.
        kept = self.resources.jobs.keep_in_outbox(
            session,
            FAN_OUT_JOB,
            key=f"{FAN_OUT_JOB}:{video_id}:start",
            video_id=str(video_id),
            author_id=str(author_id),
            published_epoch=epoch,
            after=None,
        )

        async def push() -> None:
            await fan_out(self.resources, video_id, author_id, epoch, after=None, inline=True)

        kept.run_after_commit(session, push)


def _encode(position: tuple[datetime, UUID]) -> list[str]:
    return [position[0].isoformat(), str(position[1])]


def _decode(raw: Any) -> tuple[datetime, UUID] | None:
    if not raw:
        return None
    return datetime.fromisoformat(str(raw[0])), UUID(str(raw[1]))


async def fan_out(
    resources: Resources,
    video_id: UUID,
    author_id: UUID,
    published_epoch: float,
    *,
    after: tuple[datetime, UUID] | None,
    inline: bool,
) -> int:
    """Push one video into its author's followers' inboxes from keyset position `after`: one
    batch when `inline` (the rest goes to a job), else batches until done or the slice is up.
    Returns how many inboxes took it."""
    settings = resources.settings
    batch = settings.feed_fanout_batch
    inboxes = Inboxes(resources.redis, settings)
    started, pushed = time.monotonic(), 0

    async def followers_after(position: tuple[datetime, UUID] | None) -> list[tuple[str, datetime]]:
        async with resources.session_factory() as session:
            return await queries.follower_batch(session, author_id, after=position, limit=batch)

    followers = await followers_after(after)
    while True:
        if not followers:
            return pushed
        last_follower, last_at = followers[-1]
        after = (last_at, UUID(last_follower))
        more = len(followers) == batch
        hand_on = more and (inline or time.monotonic() - started > JOB_SLICE_SECONDS)
        # The next batch is read from PostgreSQL while this one is pushed into Redis.
        following = asyncio.ensure_future(followers_after(after)) if more and not hand_on else None
        try:
            pushed += await inboxes.push([follower for follower, _ in followers], video_id, published_epoch)
        except BaseException:
            if following is not None:
                following.cancel()
                # Awaited, so the read's session is closed and its outcome taken before going on.
                await asyncio.gather(following, return_exceptions=True)
            raise
        if not more:
            return pushed
        if following is not None:
            followers = await following
            continue
        await _hand_on(resources, video_id, author_id, published_epoch, after)
        return pushed


async def _hand_on(
    resources: Resources,
    video_id: UUID,
    author_id: UUID,
    published_epoch: float,
    after: tuple[datetime, UUID],
) -> None:
    """The rest of the fan-out, from `after`, as a job kept in the outbox (a transaction of its
    own, committed before this run ends and deletes its own row or settles the publication's): a
    job that fails past its retries, or that Redis loses, is run again from its row."""

    async def keep(session: AsyncSession) -> None:
        resources.jobs.enqueue_after_commit(
            session,
            FAN_OUT_JOB,
            key=f"{FAN_OUT_JOB}:{video_id}:{after[1]}",
            video_id=str(video_id),
            author_id=str(author_id),
            published_epoch=published_epoch,
            after=_encode(after),
        )

    await in_transaction(resources.session_factory, keep)


async def fan_out_job(
    resources: Resources, *, video_id: str, author_id: str, published_epoch: float, after: Any = None
) -> int:
    pushed = await fan_out(
        resources, UUID(video_id), UUID(author_id), float(published_epoch), after=_decode(after), inline=False
    )
    log.info("feed_fanned_out", video_id=video_id, inboxes=pushed)
    return pushed


async def refresh_popular(resources: Resources) -> int:
    """Recompute the popular set (cron, every minute; a miss also rebuilds it on read)."""
    async with resources.session_factory() as session:
        entries = await queries.popular_entries(session)
    await Inboxes(resources.redis, resources.settings).store_popular(entries)
    return len(entries)
