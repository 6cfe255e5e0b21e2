"""Background jobs of the feed: fan-out of large followings, the popular set, and forgetting a kept
ranking that Redis could not forget at once."""

from __future__ import annotations

from uuid import UUID

from app.jobs import Job
from app.resources import Resources
from feed.timeline.fanout import FAN_OUT_JOB, fan_out_job, refresh_popular
from feed.timeline.ranking import FORGET_POOL_JOB, pool_key


async def forget_pool(resources: Resources, user_id: str) -> None:
    """A viewer's kept ranking that Redis could not forget when their preferences changed."""
    await resources.redis.delete(pool_key(resources.settings, UUID(user_id)))


jobs = [
    Job(name=FAN_OUT_JOB, function=fan_out_job, timeout_seconds=120),
    Job(name=FORGET_POOL_JOB, function=forget_pool, timeout_seconds=30),
    Job(name="feed.refresh_popular", function=refresh_popular, cron="* * * * *", timeout_seconds=60),
]
