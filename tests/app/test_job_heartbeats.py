"""A job worker's own sweep never takes back a job that worker is running (app.job_supervision):
after a stall of the whole process, SAQ's sweep timer may run before the heartbeats' and find the
running jobs' last beat overdue; the worker beats for them right before it sweeps. And a dead
worker's job is retried even when the sweep's wait for its abort fails, and a job just dequeued, not
yet marked active, is left to the worker about to start it (app.job_outage)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from saq.job import Status
from saq.utils import now as saq_now

from app import job_outage
from app.job_outage import OutageTolerantQueue
from app.job_supervision import SupervisedWorker
from tests.harness import RunServers
from tests.processes import eventually


async def test_a_workers_own_sweep_leaves_a_job_it_runs_whose_beat_is_overdue(servers: RunServers) -> None:
    redis = Redis.from_url(servers.redis_url)
    queue = OutageTolerantQueue(redis, name=f"{servers.redis_namespace}-own-sweep")
    started, release = asyncio.Event(), asyncio.Event()

    async def hold(ctx: dict[str, Any]) -> None:
        started.set()
        await release.wait()

    worker = SupervisedWorker(
        queue, functions=[("hold", hold)], concurrency=1, dequeue_timeout=1, timers={"sweep": 1}
    )
    overdue_at_a_sweep = asyncio.Event()
    attempts_when_overdue: list[int] = []

    async def overdue() -> None:
        """What a stall of the process leaves behind when the sweep's timer comes first: the job's
        last beat, in Redis, a minute old. Run before the worker's own beat (hooks run in order)."""
        job = await queue.job("held")
        if overdue_at_a_sweep.is_set() or job is None or job.status != Status.ACTIVE:
            return
        job.touched = saq_now() - 60_000
        await redis.set(job.id, queue.serialize(job), keepttl=True)
        attempts_when_overdue.append(job.attempts)
        overdue_at_a_sweep.set()

    queue.before_sweep.append(overdue)
    running = asyncio.create_task(worker.start())
    try:
        # Beats every 10 s: none comes on its own while the test runs. Retries: should a sweep
        # still take the job back before it starts, it runs again, and the overdue beat comes once
        # it is active; the attempts then show it was not taken back after that.
        await queue.enqueue("hold", key="held", heartbeat=30, timeout=120, retries=5)
        await asyncio.wait_for(started.wait(), timeout=10)
        await asyncio.wait_for(overdue_at_a_sweep.wait(), timeout=20)
        await asyncio.sleep(2.5)  # that sweep and two more

        job = await queue.job("held")
        assert job is not None and job.status == Status.ACTIVE, job
        assert [job.attempts] == attempts_when_overdue, job  # not taken back since
        assert saq_now() - job.touched < 30_000, job

        release.set()

        async def completed() -> bool:
            done = await queue.job("held")
            return done is not None and done.status == Status.COMPLETE

        await eventually(completed, within=10, what="the job completes")
    finally:
        release.set()
        await worker.stop()
        await asyncio.wait_for(running, timeout=15)
        await redis.aclose()
    assert queue.before_sweep == [overdue]  # the worker took its own away when it stopped


async def test_a_sweep_retries_a_dead_workers_job_even_when_its_wait_for_the_abort_fails(
    servers: RunServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = Redis.from_url(servers.redis_url)
    queue = OutageTolerantQueue(redis, name=f"{servers.redis_namespace}-abort-wait")
    try:
        await queue.enqueue("hold", key="orphan", heartbeat=2, timeout=120, retries=3)
        # What a worker killed mid-job leaves: the job dequeued and active, its last beat long gone.
        job = await queue.dequeue()
        assert job is not None
        job.status, job.attempts = Status.ACTIVE, 1
        job.started = job.touched = saq_now() - 60_000
        await redis.set(job.id, queue.serialize(job), keepttl=True)

        async def listener_fails(*channels: str, **options: Any) -> AsyncIterator[Any]:
            # As SAQ's pub/sub listener did in CI when it unsubscribed after the wait ran out.
            raise AttributeError("'NoneType' object has no attribute 'writelines'")
            yield

        monkeypatch.setattr(queue._pubsub, "listen", listener_fails)
        assert await queue.sweep(lock=1, abort=0.5) == [job.id]
        retried = await queue.job("orphan")
        assert retried is not None and retried.status == Status.QUEUED, retried
    finally:
        await redis.aclose()


async def test_a_sweep_leaves_a_job_just_dequeued_and_takes_back_one_left_unstarted(
    servers: RunServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = Redis.from_url(servers.redis_url)
    queue = OutageTolerantQueue(redis, name=f"{servers.redis_namespace}-unstarted")

    async def sweep() -> list[str]:
        await redis.delete(queue._sweep)  # the lock of the sweep before: not waited out here
        return await queue.sweep(lock=60, abort=0.5)

    try:
        # Keys of their own: SAQ keeps a swept job's abort mark under its key alone, whatever the
        # queue, and refuses to enqueue a job with that key while the mark lasts.
        assert await queue.enqueue("hold", key="unstarted-starting", retries=3)
        assert await queue.enqueue("hold", key="unstarted-orphan", retries=3)
        # What a worker holds between its dequeue and marking the job active: in the active list,
        # still queued. SAQ's own sweep took such a job back at once.
        starting, orphan = await queue.dequeue(timeout=5), await queue.dequeue(timeout=5)
        assert starting is not None and orphan is not None
        assert {starting.status, orphan.status} == {Status.QUEUED}
        assert await sweep() == []
        assert await sweep() == []  # seen before, but within the grace

        # One worker starts its job; the other died before it could.
        starting.started, starting.attempts = saq_now(), 1
        await starting.update(status=Status.ACTIVE)
        # A sweep that another process holds the lock for forgets nothing.
        assert await queue.sweep(lock=60, abort=0.5) == []
        monkeypatch.setattr(job_outage, "UNSTARTED_GRACE_SECONDS", 0.0)
        assert await sweep() == [orphan.id]

        retried = await queue.job("unstarted-orphan")
        assert retried is not None and retried.status == Status.QUEUED and retried.error == "swept", retried
        assert await redis.lrange(queue._active, 0, -1) == [starting.id.encode()]
        running = await queue.job("unstarted-starting")
        assert running is not None and running.status == Status.ACTIVE, running

        # Retried, it is a new dequeue: the grace starts again, however long the first one waited.
        again = await queue.dequeue(timeout=5)
        assert again is not None and again.key == "unstarted-orphan"
        assert await sweep() == []
    finally:
        await redis.aclose()
