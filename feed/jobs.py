"""Background jobs of the feed: fan-out of large followings, the popular set, ranking a viewer's
next pool ahead of need, forgetting a kept ranking that Redis could not forget at once, and the
retention of wellbeing check-ins and of teens' daily feed counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app import retention
from app.jobs import Job, JobTurns
from app.resources import Resources
from feed import preferences, queries
from feed.pacing import FeedPacer
from feed.timeline.fanout import FAN_OUT_JOB, fan_out_job, refresh_popular
from feed.timeline.ranking import FORGET_POOL_JOB, RANK_AHEAD_JOB, FeedRanker, pool_key


async def forget_pool(resources: Resources, user_id: str) -> None:
    """A viewer's kept ranking that Redis could not forget when their preferences changed."""
    await resources.redis.delete(pool_key(resources.settings, UUID(user_id)))


# Rankings ahead past those running wait for a turn in the worker's job slots, up to this many; the
# rest come back a little later, so a wave of them leaves the slots to fan-outs and other jobs.
RANKINGS_WAITING = 3
_RANKING_TURNS = "feed.ranking_turns"


def ranking_turns(resources: Resources) -> JobTurns:
    """How many rankings ahead this process runs at once (REMIXFEED_FEED_RANKINGS_AT_ONCE).
    Viewers whose pools were ranked together run low together; a few dozen ranking statements at
    once would take every core from the pages being served meanwhile."""
    return JobTurns.of(
        resources,
        _RANKING_TURNS,
        at_once=resources.settings.feed_rankings_at_once,
        may_wait=RANKINGS_WAITING,
    )


async def rank_ahead(resources: Resources, user_id: str) -> int | dict[str, Any]:
    """RANK_AHEAD_JOB, in turn: how many videos the new pool holds, or when to try again (every
    turn taken and enough waiting)."""
    return await ranking_turns(resources).run(lambda: _rank_ahead(resources, user_id))


async def _rank_ahead(resources: Resources, user_id: str) -> int:
    """The viewer's next ranked pool, for their current feed session (none, or their kept pool
    forgotten, replaced or resumed meanwhile: nothing to do). How many videos it holds."""
    async with resources.session_factory() as session:
        viewer = await session.get(User, UUID(user_id))
        pacer = FeedPacer(resources.redis, resources.settings, session)
        current = await pacer.current(viewer) if viewer else None
        if viewer is None or current is None:
            return 0
        session_id, served = current
        ranker = FeedRanker(session, resources.redis, resources.settings, resources.jobs)
        pool = await ranker.rank_ahead(viewer, session_id, served)
        return len(pool.entries) if pool is not None else 0


async def prune_checkins(resources: Resources) -> int:
    """Wellbeing check-ins older than REMIXFEED_CHECKIN_RETENTION_DAYS; how many went. Their nudge
    stays in the viewer's `mood_bias`, which is all the ranking reads; the export then holds only
    the newer ones."""
    before = datetime.now(UTC) - timedelta(days=resources.settings.checkin_retention_days)

    async def batch(session: AsyncSession, limit: int) -> int:
        return await preferences.delete_expired_checkins(session, before, limit)

    return await retention.prune(resources, "feed_checkins", batch)


# A teen's count is read for today only (feed.pacing); yesterday's is kept a day longer, for a
# process whose clock is behind.
TEEN_DAY_RETENTION_DAYS = 2


async def prune_teen_days(resources: Resources) -> int:
    """Teens' daily feed counts (`feed_teen_days`) of days more than TEEN_DAY_RETENTION_DAYS before
    today (UTC); how many went."""
    before = datetime.now(UTC).date() - timedelta(days=TEEN_DAY_RETENTION_DAYS)

    async def batch(session: AsyncSession, limit: int) -> int:
        return await queries.delete_teen_days_before(session, before, limit)

    return await retention.prune(resources, "feed_teen_days", batch)


jobs = [
    Job(name=FAN_OUT_JOB, function=fan_out_job, timeout_seconds=120),
    Job(name=FORGET_POOL_JOB, function=forget_pool, timeout_seconds=30),
    Job(name=RANK_AHEAD_JOB, function=rank_ahead),
    Job(name="feed.refresh_popular", function=refresh_popular, cron="* * * * *", timeout_seconds=60),
    Job(
        name="retention.feed_checkins",
        function=prune_checkins,
        cron="27 * * * *",
        timeout_seconds=retention.TIMEOUT_SECONDS,
    ),
    Job(
        name="retention.feed_teen_days",
        function=prune_teen_days,
        cron="32 * * * *",
        timeout_seconds=retention.TIMEOUT_SECONDS,
    ),
]
