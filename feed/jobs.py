"""Background jobs of the feed: fan-out of large followings, and the popular set."""

from __future__ import annotations

from app.jobs import Job
from feed.timeline.fanout import FAN_OUT_JOB, fan_out_job, refresh_popular

jobs = [
    Job(name=FAN_OUT_JOB, function=fan_out_job, timeout_seconds=120),
    Job(name="feed.refresh_popular", function=refresh_popular, cron="* * * * *", timeout_seconds=60),
]
