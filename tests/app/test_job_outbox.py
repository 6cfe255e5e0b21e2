"""The job outbox (`app.deferred_jobs`): the background work a request's commit promises (here a
post's fan-out and a caption's moderation flag) is written in that same transaction, and deleted
once it is done. A process that dies between the COMMIT and the enqueue loses none of it, and
neither does a Redis that loses a queued job: a job worker queues it again once the outbox's grace
has passed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from saq.job import Job as SaqJob
from saq.job import Status
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

import app.db
from accounts.models import Role
from app import deferred_jobs
from app.deferred_jobs import (
    DEFERRED_REPLAY_SECONDS,
    MAX_REPLAYS,
    OUTBOX_GRACE_SECONDS,
    QUEUED_LEASE_SECONDS,
    DeferredJob,
    JobSpec,
    Replayed,
)
from app.jobs import OUTBOX_ROW, build_worker, run_again_in
from app.resources import Resources
from app.screening import FLAG_CONTENT_JOB, flag_job_key, text_fingerprint
from feed.timeline.fanout import FAN_OUT_JOB
from tests.accounts.helpers import follow
from tests.conftest import wipe
from tests.factories import Actor, UserFactory
from tests.metrics import sample
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


async def replay_due(resources: Resources) -> None:
    """Every kept row's grace or lease is over (moved rather than waited for)."""
    async with resources.session_factory() as session, session.begin():
        await session.execute(
            update(DeferredJob).values(replay_after=datetime.now(UTC) - timedelta(seconds=1))
        )


async def outbox_emptied(resources: Resources) -> None:
    async def empty() -> bool:
        return await kept_jobs(resources) == []

    await eventually(empty, within=15, what="the outbox is emptied")


async def test_a_request_whose_jobs_have_run_leaves_nothing_in_the_outbox(
    client: httpx.AsyncClient, users: UserFactory, published: Any, resources: Resources
) -> None:
    author, reader = await author_and_follower(client, users)
    video_id = await published(author, caption=FLAGGED_CAPTION)

    # The response comes after the after-commit work: fanned out (its row gone), the flag queued.
    assert await in_inbox(resources, reader, video_id)
    assert [job["target_id"] for job in await flag_jobs(resources)] == [video_id]
    # The flag's row goes once its job has run.
    await outbox_emptied(resources)


async def test_a_queued_job_that_redis_lost_is_queued_again_from_the_outbox(
    client: httpx.AsyncClient,
    users: UserFactory,
    published: Any,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis took the flag job and then lost it (flushed, or failed over to a replica that never
    had it): the flag is filed all the same, from the row the job would have deleted."""
    author = await users.create("author")
    mod = await users.create("mod", role=Role.MODERATOR)
    queue = resources.jobs.queue
    enqueue = queue.enqueue

    async def acknowledged_then_lost(function: str, **kwargs: Any) -> SaqJob | None:
        if function != FLAG_CONTENT_JOB:
            return await enqueue(function, **kwargs)
        return SaqJob(function=function, queue=queue)

    monkeypatch.setattr(queue, "enqueue", acknowledged_then_lost)
    video_id = await published(author, caption=FLAGGED_CAPTION)
    monkeypatch.undo()
    assert await flag_jobs(resources) == []

    # Within its grace the row is left alone: it stands for a job that might still be in the queue.
    (kept,) = await kept_jobs(resources)
    key = flag_job_key("video", video_id, "caption", text_fingerprint(FLAGGED_CAPTION))
    assert (kept.function, kept.job_key) == (FLAG_CONTENT_JOB, key)
    await asyncio.sleep(DEFERRED_REPLAY_SECONDS * 2)
    assert await flag_jobs(resources) == []
    metrics = (await client.get("/metrics")).text
    assert sample(metrics, "remixfeed_deferred_jobs", state="kept") == 1
    assert sample(metrics, "remixfeed_deferred_jobs", state="due") == 0
    assert sample(metrics, "remixfeed_deferred_job_oldest_seconds") >= DEFERRED_REPLAY_SECONDS * 2

    # The grace passes (moved rather than waited for): a job worker queues it again, and it runs.
    await replay_due(resources)
    await outbox_emptied(resources)
    assert [job["target_id"] for job in await flag_jobs(resources)] == [video_id]
    assert (await queues(client, mod))["automated"]["open_count"] == 1
    metrics = (await client.get("/metrics")).text
    assert sample(metrics, "remixfeed_deferred_jobs", state="kept") == 0
    assert sample(metrics, "remixfeed_deferred_job_oldest_seconds") == 0


async def test_a_replayed_job_still_in_the_queue_is_not_queued_twice(
    client: httpx.AsyncClient,
    users: UserFactory,
    published: Any,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A row whose job is still waiting in the queue when its grace ends (a long queue) is looked
    at again a lease later; the job, queued once, deletes it when it runs."""
    author = await users.create("author")
    mod = await users.create("mod", role=Role.MODERATOR)
    kept_ids: list[str] = []
    queue = resources.jobs.queue
    enqueue = queue.enqueue

    async def queued_for_later(function: str, **kwargs: Any) -> SaqJob | None:
        if function == FLAG_CONTENT_JOB:
            kept_ids.append(kwargs["meta"]["outbox_row"])
            # Scheduled an hour ahead: still queued when the replay comes.
            kwargs["scheduled"] = int(datetime.now(UTC).timestamp()) + 3600
        return await enqueue(function, **kwargs)

    monkeypatch.setattr(queue, "enqueue", queued_for_later)
    video_id = await published(author, caption=FLAGGED_CAPTION)
    monkeypatch.undo()
    (kept,) = await kept_jobs(resources)
    assert kept_ids == [str(kept.id)]

    await replay_due(resources)

    async def leased() -> bool:
        (row,) = await kept_jobs(resources)
        return row.replay_after > datetime.now(UTC) + timedelta(seconds=QUEUED_LEASE_SECONDS - 30)

    await eventually(leased, within=15, what="the replay leases the row")
    (job,) = [job async for job in queue.iter_jobs() if job.function == FLAG_CONTENT_JOB]
    assert job.status == Status.QUEUED and job.meta == {"outbox_row": str(kept.id)}
    assert job.kwargs is not None and job.kwargs["target_id"] == video_id

    # Its time comes (moved rather than waited for): it runs, once, and deletes the row.
    await resources.redis.zadd(queue._incomplete, {job.id: 1})
    await outbox_emptied(resources)
    assert [job["target_id"] for job in await flag_jobs(resources)] == [video_id]
    assert (await queues(client, mod))["automated"]["open_count"] == 1


# A job no worker knows, kept far in the future by its delay, so nothing runs it during the test.
PROBE_JOB = "tests.outbox_probe"
LATER = 3600


async def probe_jobs(resources: Resources) -> list[SaqJob]:
    return [job async for job in resources.jobs.queue.iter_jobs() if job.function == PROBE_JOB]


async def test_a_job_deletes_its_row_only_once_it_has_run_to_its_end(
    users: UserFactory, resources: Resources
) -> None:
    """A retry, a continuation (which carries the row on), an abort (a job the sweep took back)
    and a failure for good (its retries spent, replayed from the row after its lease) keep the
    row; only a run that completes without continuing deletes it."""
    for status, result, kept in (
        (Status.QUEUED, None, True),  # queued again for a retry
        (Status.COMPLETE, run_again_in(LATER), True),
        (Status.ABORTED, None, True),
        (Status.FAILED, None, True),
        (Status.COMPLETE, None, False),
    ):
        await wipe(resources)
        await resources.jobs.defer(PROBE_JOB, key="probe", delay_seconds=LATER)
        (row,) = await kept_jobs(resources)
        job = SaqJob(
            function=PROBE_JOB, key="probe", kwargs={"n": 1}, queue=resources.jobs.queue, status=status,
            result=result, meta={OUTBOX_ROW: str(row.id)}, timeout=60, retries=2,
        )  # fmt: skip
        ctx = {"job": job, "resources": resources}
        for hook in build_worker(resources, [], in_process=True).after_process or []:
            await hook(ctx)
        assert [r.id for r in await kept_jobs(resources)] == ([row.id] if kept else []), (status, result)
        if result is not None:
            (again,) = await probe_jobs(resources)
            assert again.meta == {OUTBOX_ROW: str(row.id)} and again.kwargs == {"n": 1}


async def test_a_row_whose_job_never_completes_is_given_up_after_its_replays(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    """A job asked for without a key is given one, so a replay finds its copy still pending; one
    that keeps coming back with its key free (it kills its worker each time) is enqueued again at
    most MAX_REPLAYS times."""
    await resources.jobs.defer(PROBE_JOB, delay_seconds=LATER)
    (row,) = await kept_jobs(resources)
    assert row.job_key is not None and row.job_key.startswith(f"{PROBE_JOB}:")

    for replays in (1, 1):  # the second replay finds the first copy pending
        await replay_due(resources)
        await resources.jobs.replay_deferred()
        (row,) = await kept_jobs(resources)
        assert row.replays == replays
    assert [job.key for job in await probe_jobs(resources)] == [row.job_key]

    given_up = {"job": PROBE_JOB, "reason": "replays"}
    before = sample((await client.get("/metrics")).text, "remixfeed_deferred_jobs_given_up_total", **given_up)
    async with resources.session_factory() as session, session.begin():
        await session.execute(update(DeferredJob).values(replays=MAX_REPLAYS))
    await replay_due(resources)
    await resources.jobs.replay_deferred()
    assert await kept_jobs(resources) == []
    after = sample((await client.get("/metrics")).text, "remixfeed_deferred_jobs_given_up_total", **given_up)
    assert after == before + 1


async def test_the_replay_holds_no_lock_on_its_rows_while_it_calls_redis(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replay claims its rows and commits before it enqueues: a job that finishes meanwhile
    deletes its row at once instead of waiting for the batch. The rows after a Redis that stopped
    answering are due again as they were, with no replay counted."""
    replay = deferred_jobs.replay

    async def idle(*_: Any) -> int:
        return 0

    monkeypatch.setattr(deferred_jobs, "replay", idle)  # the app's own worker keeps out of the way
    for n in range(3):
        await resources.jobs.defer(PROBE_JOB, key=f"probe-{n}", delay_seconds=LATER)
    await replay_due(resources)
    rows = sorted(await kept_jobs(resources), key=lambda row: row.id)
    asked: list[UUID] = []

    async def enqueue(spec: JobSpec, row_id: UUID) -> Replayed:
        asked.append(row_id)
        if len(asked) > 1:
            return Replayed.UNAVAILABLE
        # Its job runs and completes meanwhile: the row's DELETE (as `_settle_outbox_row` sends it)
        # would wait for the replay's transaction if that still held the row.
        async with resources.engine.begin() as connection:
            await connection.execute(text("SET LOCAL lock_timeout = '2s'"))
            await connection.execute(delete(DeferredJob).where(DeferredJob.id == row_id))
        return Replayed.QUEUED

    assert await replay(resources.engine, enqueue) == 1
    assert asked == [rows[0].id, rows[1].id]
    left = sorted(await kept_jobs(resources), key=lambda row: row.id)
    assert [(row.id, row.replay_after, row.replays) for row in left] == [
        (row.id, row.replay_after, 0) for row in rows[1:]
    ]


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
        (FLAG_CONTENT_JOB, flag_job_key("video", video_id, "caption", text_fingerprint(FLAGGED_CAPTION))),
    ]
    soon = datetime.now(UTC) + timedelta(seconds=OUTBOX_GRACE_SECONDS)
    assert all(soon - timedelta(seconds=10) < job.replay_after <= soon + timedelta(seconds=1) for job in kept)

    # Within the grace the rows are left alone (the request they came from might still queue them).
    await asyncio.sleep(DEFERRED_REPLAY_SECONDS * 2)
    assert len(await kept_jobs(resources)) == 2
    assert not await in_inbox(resources, reader, video_id)

    # The grace passes (moved rather than waited for): a job worker queues both, and they run.
    await replay_due(resources)

    async def fanned_out() -> bool:
        return await in_inbox(resources, reader, video_id)

    await eventually(fanned_out, within=15, what="the fan-out the dead process owed reaches the inbox")

    async def replayed() -> bool:
        return await kept_jobs(resources) == []

    await eventually(replayed, within=15, what="the outbox is emptied")
    assert [job["target_id"] for job in await flag_jobs(resources)] == [video_id]
    assert (await queues(client, mod))["automated"]["open_count"] == 1
