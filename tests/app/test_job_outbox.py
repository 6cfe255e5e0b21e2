"""The job outbox (`app.deferred_jobs`): the background work a request's commit promises (here a
post's fan-out and a caption's moderation flag) is written in that same transaction, and deleted
once it is queued. A process that dies between the COMMIT and the enqueue loses none of it: a job
worker queues it once the outbox's grace has passed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

import app.db
from accounts.models import Role
from app.deferred_jobs import DEFERRED_REPLAY_SECONDS, OUTBOX_GRACE_SECONDS, DeferredJob
from app.resources import Resources
from app.screening import FLAG_CONTENT_JOB
from feed.timeline.fanout import FAN_OUT_JOB
from tests.accounts.helpers import follow
from tests.factories import Actor, UserFactory
from tests.moderation.helpers import queues
from tests.processes import eventually
from tests.screening.helpers import flag_jobs

# The local screener flags this caption (harassment), so publishing it promises a flag job too.
FLAGGED_CAPTION = "pure trashtalk"


async def kept_jobs(resources: Resources) -> list[DeferredJob]:
    async with resources.session_factory() as session:
        return list((await session.scalars(select(DeferredJob).order_by(DeferredJob.function))).all())


async def in_inbox(resources: Resources, actor: Actor, video_id: str) -> bool:
    key = f"{resources.settings.redis_namespace}:feed:inbox:{actor.id}"
    return await resources.redis.zscore(key, video_id) is not None


async def author_and_follower(client: httpx.AsyncClient, users: UserFactory) -> tuple[Actor, Actor]:
    author = await users.create("author")
    reader = await users.create("reader")
    assert (await follow(client, reader.headers, "author")).status_code == 204
    response = await client.get("/v1/feed", headers=reader.headers)  # builds the reader's inbox
    assert response.status_code == 200, response.text
    return author, reader


async def test_a_request_that_queued_its_jobs_leaves_nothing_in_the_outbox(
    client: httpx.AsyncClient, users: UserFactory, published: Any, resources: Resources
) -> None:
    author, reader = await author_and_follower(client, users)
    video_id = await published(author, caption=FLAGGED_CAPTION)

    # The response comes after the after-commit work: fanned out, the flag queued, the rows gone.
    assert await in_inbox(resources, reader, video_id)
    assert [job["target_id"] for job in await flag_jobs(resources)] == [video_id]
    assert await kept_jobs(resources) == []


async def test_jobs_a_commit_promised_outlive_a_process_that_died_before_queueing_them(
    client: httpx.AsyncClient,
    users: UserFactory,
    published: Any,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    author, reader = await author_and_follower(client, users)
    mod = await users.create("mod", role=Role.MODERATOR)

    async def dies_after_commit(session: AsyncSession) -> None:
        session.info.clear()  # the after-commit work never runs, as when the process dies there

    monkeypatch.setattr(app.db, "run_after_commit", dies_after_commit)
    video_id = await published(author, caption=FLAGGED_CAPTION)
    monkeypatch.undo()

    kept = await kept_jobs(resources)
    assert [(job.function, job.job_key) for job in kept] == [
        (FAN_OUT_JOB, f"{FAN_OUT_JOB}:{video_id}:start"),
        (FLAG_CONTENT_JOB, f"{FLAG_CONTENT_JOB}:video:{video_id}:caption"),
    ]
    soon = datetime.now(UTC) + timedelta(seconds=OUTBOX_GRACE_SECONDS)
    assert all(soon - timedelta(seconds=10) < job.replay_after <= soon + timedelta(seconds=1) for job in kept)

    # Within the grace the rows are left alone (the request they came from might still queue them).
    await asyncio.sleep(DEFERRED_REPLAY_SECONDS * 2)
    assert len(await kept_jobs(resources)) == 2
    assert not await in_inbox(resources, reader, video_id)

    # The grace passes (moved rather than waited for): a job worker queues both, and they run.
    async with resources.session_factory() as session, session.begin():
        await session.execute(
            update(DeferredJob).values(replay_after=datetime.now(UTC) - timedelta(seconds=1))
        )

    async def fanned_out() -> bool:
        return await in_inbox(resources, reader, video_id)

    await eventually(fanned_out, within=15, what="the fan-out the dead process owed reaches the inbox")

    async def replayed() -> bool:
        return await kept_jobs(resources) == []

    await eventually(replayed, within=15, what="the outbox is emptied")
    assert [job["target_id"] for job in await flag_jobs(resources)] == [video_id]
    assert (await queues(client, mod))["automated"]["open_count"] == 1
