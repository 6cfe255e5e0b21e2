"""Helpers of the screening and suspension tests: the flag jobs in the SAQ queue, suspensions set
in the database, and published videos."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from saq.job import Status
from sqlalchemy import update

from accounts.models import User
from app.resources import Resources
from app.screening import FLAG_CONTENT_JOB
from tests.factories import Actor
from tests.feed.factories import VideoFactory
from tests.feed.helpers import publish

SETTLED = {Status.COMPLETE, Status.FAILED, Status.ABORTED}


async def flag_jobs(resources: Resources, within: float = 15.0) -> list[dict[str, Any]]:
    """The kwargs of every `moderation.flag_content` job in the app's queue, in no set order, once
    each has settled: the in-process worker runs them (moderation's handler files an `automated`
    item), and a test must not end, and wipe the tables, under a job that is still running."""
    deadline = time.monotonic() + within
    while True:
        jobs = [job async for job in resources.jobs.queue.iter_jobs() if job.function == FLAG_CONTENT_JOB]
        if all(job.status in SETTLED for job in jobs):
            return sorted((dict(job.kwargs or {}) for job in jobs), key=lambda kwargs: str(kwargs))
        assert time.monotonic() < deadline, [(job.kwargs, job.status) for job in jobs]
        await asyncio.sleep(0.05)


async def suspend(resources: Resources, actor: Actor, until: datetime | None) -> None:
    async with resources.session_factory() as session, session.begin():
        await session.execute(update(User).where(User.id == UUID(actor.id)).values(suspended_until=until))


async def published_video(client: httpx.AsyncClient, videos: VideoFactory, author: Actor) -> str:
    draft = await videos.draft(author)
    response = await publish(client, author, draft.id)
    assert response.status_code == 200, response.text
    return draft.id
