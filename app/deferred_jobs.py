"""Jobs kept in PostgreSQL: the outbox of work a commit promised, and jobs waiting out a Redis
outage.

A job is enqueued after its request commits (`app.jobs.JobQueue.enqueue_after_commit`). Work that
must not be lost is written here first, in the request's own transaction (the outbox): once the
commit has succeeded and the job is in the queue, its row is deleted. So a process that dies
between the COMMIT and the enqueue, or a request cancelled there, loses nothing: the row outlives
it, and once OUTBOX_GRACE_SECONDS have passed (time enough for the request to have deleted it) a
job worker enqueues it. When Redis is unreachable at that moment, the row is marked to be replayed
at once, and every job worker replays what is here into the queue as soon as Redis answers again
(`app.jobs.JobQueue.replay_deferred`, polled by the worker every DEFERRED_REPLAY_SECONDS). So a
request that was answered 2xx keeps its background work through a crash and a Redis outage.

The happy path costs an INSERT in the request's transaction and a DELETE after it. Replays are
at-least-once (a replay whose delete does not commit is replayed again, and so is an outbox row
whose job was enqueued but whose delete failed); jobs with a key collapse into one, and every job
tolerates running twice, as SAQ's own retries already require.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Integer, String, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7

log = structlog.get_logger(__name__)

# How often a job worker looks for deferred jobs (a cheap query on a table that is nearly always empty).
DEFERRED_REPLAY_SECONDS = 2.0
REPLAY_BATCH = 200
# An outbox row is replayed only this long after its transaction: until then, the request that wrote
# it is expected to enqueue the job and delete the row itself.
OUTBOX_GRACE_SECONDS = 30


class DeferredJob(UUIDv7AuditBase):
    __tablename__ = "deferred_jobs"

    function: Mapped[str] = mapped_column(String(128))
    job_key: Mapped[str | None] = mapped_column(String(255), default=None)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Not to run before this (a job enqueued with a delay); None: at once.
    run_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    retries: Mapped[int] = mapped_column(Integer)
    # Not to be replayed before this: an outbox row's grace; a job deferred for an outage, at once.
    replay_after: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=func.now())


@dataclass(frozen=True)
class JobSpec:
    """Everything `JobQueue.enqueue` needs to enqueue a job again."""

    function: str
    key: str | None
    kwargs: dict[str, Any]
    run_at: datetime | None
    timeout_seconds: int
    retries: int

    @property
    def delay_seconds(self) -> float:
        if self.run_at is None:
            return 0.0
        return max(0.0, (self.run_at - datetime.now(UTC)).total_seconds())


def _row(spec: JobSpec, replay_after: Any) -> DeferredJob:
    return DeferredJob(
        # Set here, not at flush: the request reads it back after its session has committed.
        id=uuid7(),
        function=spec.function,
        job_key=spec.key,
        kwargs=spec.kwargs,
        run_at=spec.run_at,
        timeout_seconds=spec.timeout_seconds,
        retries=spec.retries,
        replay_after=replay_after,
    )


async def store(engine: AsyncEngine, spec: JobSpec) -> None:
    """Keep a job to be replayed as soon as Redis answers, in a transaction of its own."""
    async with AsyncSession(engine) as session, session.begin():
        session.add(_row(spec, func.now()))


def add_to_outbox(session: AsyncSession, spec: JobSpec) -> DeferredJob:
    """Keep a job in `session`'s transaction, to be replayed after OUTBOX_GRACE_SECONDS unless
    `forget` deletes it first (the job was enqueued after the commit). The grace is counted by the
    database's clock from the INSERT, as `replay` compares it with the database's clock."""
    row = _row(spec, text(f"clock_timestamp() + interval '{OUTBOX_GRACE_SECONDS:d} seconds'"))
    session.add(row)
    return row


async def forget(engine: AsyncEngine, row_id: UUID) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(DeferredJob).where(DeferredJob.id == row_id))


async def replay_now(engine: AsyncEngine, row_id: UUID) -> None:
    """The outbox row's job could not be enqueued (Redis is away): replay it as soon as Redis
    answers, without waiting out the grace."""
    async with engine.begin() as connection:
        await connection.execute(
            update(DeferredJob).where(DeferredJob.id == row_id).values(replay_after=func.now())
        )


async def replay(engine: AsyncEngine, enqueue: Callable[[JobSpec], Awaitable[bool]]) -> int:
    """Hand the oldest deferred jobs to `enqueue` in order, deleting each one it took; stops at
    the first it could not take (Redis still down). Rows are locked with SKIP LOCKED, so workers
    replaying at the same time share the work instead of doubling it. Returns how many were taken."""
    async with AsyncSession(engine) as session, session.begin():
        rows = (
            await session.scalars(
                select(DeferredJob)
                .where(DeferredJob.replay_after <= func.now())
                .order_by(DeferredJob.id)
                .limit(REPLAY_BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        taken = []
        for row in rows:
            spec = JobSpec(
                function=row.function,
                key=row.job_key,
                kwargs=dict(row.kwargs),
                run_at=row.run_at,
                timeout_seconds=row.timeout_seconds,
                retries=row.retries,
            )
            if not await enqueue(spec):
                break
            taken.append(row.id)
        if taken:
            await session.execute(delete(DeferredJob).where(DeferredJob.id.in_(taken)))
    return len(taken)


Hook = Callable[[dict[str, Any]], Awaitable[None]]


def replay_while_working(replay_once: Callable[[], Awaitable[int]]) -> tuple[Hook, Hook]:
    """SAQ startup and shutdown hooks that run `replay_once` (JobQueue.replay_deferred) every
    DEFERRED_REPLAY_SECONDS for as long as the worker runs, and at once again after a full batch."""
    running: list[asyncio.Task[None]] = []

    async def loop() -> None:
        while True:
            try:
                replayed = await replay_once()
            except Exception as exc:  # PostgreSQL away too: try again later
                log.warning("deferred_jobs_replay_failed", error=str(exc) or type(exc).__name__)
                replayed = 0
            if replayed < REPLAY_BATCH:
                await asyncio.sleep(DEFERRED_REPLAY_SECONDS)

    async def start(_: dict[str, Any]) -> None:
        running.append(asyncio.create_task(loop(), name="remixfeed-deferred-jobs"))

    async def stop(_: dict[str, Any]) -> None:
        for task in running:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        running.clear()

    return start, stop
