"""Jobs kept in PostgreSQL: the outbox of work a commit promised, and jobs waiting out a Redis
outage.

A job is enqueued after its request commits (`app.jobs.JobQueue.enqueue_after_commit`). Work that
must not be lost is written here first, in the request's own transaction (the outbox), and its row
stays until the job has completed: that run deletes it (`app.jobs`). So nothing between the promise
and the work loses it:
- a process that dies between the COMMIT and the enqueue, or a request cancelled there: once
  OUTBOX_GRACE_SECONDS have passed (time enough for the request to have enqueued it), a job worker
  enqueues it;
- Redis unreachable at that moment: the row is marked to be replayed at once, and every job worker
  replays what is here into the queue as soon as Redis answers again (`app.jobs.JobQueue.
  replay_deferred`, polled by the worker every DEFERRED_REPLAY_SECONDS);
- Redis losing the queued job (flushed, or failed over to a replica that never had it): a row still
  here after its grace is enqueued again, and looked at again every QUEUED_LEASE_SECONDS while its
  job has not run. A job still queued or running is not enqueued twice (its key is taken: a job
  kept here without a key of its own is given one), so a long queue costs one cheap check per
  lease;
- the job failing for good, its retries spent within seconds on an outage of what it needs (the
  media store, the database, the mail server) that outlasted them: its row stays, and it is run
  again in full after the row's grace or lease.
A job that never gets to delete its row (it fails each time, or kills its worker and is taken back
until its retries are spent) is enqueued again at most MAX_REPLAYS times, then dropped, logged and
counted.
So a request that was answered 2xx keeps its background work through a crash, a Redis outage and a
Redis that lost its data.

The happy path costs an INSERT in the request's transaction and a DELETE after the job has run (by
the job worker, not the request). Replays are at-least-once (a run whose DELETE fails, or a row
replayed just as its job finished, runs again); jobs with a key collapse into one, and every job
tolerates running twice, as SAQ's own retries already require.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from prometheus_client import Counter
from sqlalchemy import Integer, String, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7

log = structlog.get_logger(__name__)

GIVEN_UP = Counter(
    "remixfeed_deferred_jobs_given_up_total",
    "Kept jobs the replay dropped: enqueued MAX_REPLAYS times without completing (replays), or "
    "impossible to enqueue (unqueueable)",
    ["job", "reason"],
)

# How often a job worker looks for deferred jobs whose time has come (by index: the table holds every
# durable job in flight).
DEFERRED_REPLAY_SECONDS = 2.0
REPLAY_BATCH = 200
# An outbox row is replayed only this long after its transaction: until then, the request that wrote
# it is expected to have enqueued the job (or done the work and deleted the row itself).
OUTBOX_GRACE_SECONDS = 30
# A replayed row's job is in the queue (or was already): the row is looked at again this much later,
# in case Redis has lost the job meanwhile, unless the job has run and deleted it first.
QUEUED_LEASE_SECONDS = 300
# Enqueues of one row by the replay (its key free, so its job was lost or never ran to its end)
# before it is given up.
MAX_REPLAYS = 3


class DeferredJob(UUIDv7AuditBase):
    __tablename__ = "deferred_jobs"

    function: Mapped[str] = mapped_column(String(128))
    job_key: Mapped[str | None] = mapped_column(String(255), default=None)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Not to run before this (a job enqueued with a delay); None: at once.
    run_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    retries: Mapped[int] = mapped_column(Integer)
    # Not to be replayed before this: an outbox row's grace, then its lease once replayed; a job
    # deferred for an outage, at once.
    replay_after: Mapped[datetime] = mapped_column(
        DateTimeUTC(timezone=True), server_default=func.now(), index=True
    )
    # How many times the replay has enqueued it (not counting a check that found its key taken).
    replays: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


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


def keyed(spec: JobSpec) -> JobSpec:
    """`spec` with a key: a kept job is enqueued more than once (after its commit, by replays), and
    only a key lets SAQ tell that a copy is still pending. A job asked for without one gets its own."""
    if spec.key is not None:
        return spec
    return dataclasses.replace(spec, key=f"{spec.function}:{uuid7()}")


def _row(spec: JobSpec, replay_after: Any) -> DeferredJob:
    spec = keyed(spec)
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
    """Keep a job in `session`'s transaction, to be replayed after OUTBOX_GRACE_SECONDS unless its
    work is done by then (`forget`: by the request after its commit, or by the job's run). The
    grace is counted by the database's clock from the INSERT, as `replay` compares it with the
    database's clock."""
    row = _row(spec, text(f"clock_timestamp() + interval '{OUTBOX_GRACE_SECONDS:d} seconds'"))
    session.add(row)
    return row


async def forget(engine: AsyncEngine, row_id: UUID) -> None:
    """The kept job's work is done."""
    async with engine.begin() as connection:
        await connection.execute(delete(DeferredJob).where(DeferredJob.id == row_id))


async def replay_now(engine: AsyncEngine, row_id: UUID) -> bool:
    """The outbox row's job could not be enqueued (Redis is away): replay it as soon as Redis
    answers, without waiting out the grace. False when the row is gone."""
    async with engine.begin() as connection:
        marked = await connection.execute(
            update(DeferredJob).where(DeferredJob.id == row_id).values(replay_after=func.now())
        )
    return bool(marked.rowcount)


class Replayed(enum.Enum):
    """What became of a job `replay` handed on."""

    # In the queue: the row waits for the job to run and delete it.
    QUEUED = "queued"
    # Its key is taken (its own job still pending, or another copy): looked at again a lease later.
    PENDING = "pending"
    # It can never be enqueued (its arguments no longer serialise): the row is deleted.
    DROPPED = "dropped"
    # Redis cannot take it yet: the replay stops here.
    UNAVAILABLE = "unavailable"


async def replay(engine: AsyncEngine, enqueue: Callable[[JobSpec, UUID], Awaitable[Replayed]]) -> int:
    """Hand the oldest deferred jobs whose time has come to `enqueue` (with their row's id, which
    the job deletes once it has run), in order; stops at the first Redis cannot take. A row handed
    on is looked at again after QUEUED_LEASE_SECONDS; one enqueued MAX_REPLAYS times already is
    dropped instead. Returns how many were enqueued.

    The rows are claimed first, in a short transaction of their own (leased, with SKIP LOCKED, so
    workers replaying at the same time share the work instead of doubling it), and enqueued after
    it has committed: no row lock is held while Redis is called, so a job that finishes meanwhile
    deletes its row at once rather than waiting for the batch (up to a Redis timeout). A claim counts
    as a replay until the enqueue says otherwise, so a worker that dies mid-batch still counts
    towards MAX_REPLAYS."""
    claimed = await _claim_due(engine)
    queued: list[UUID] = []
    pending: list[UUID] = []
    dropped: list[UUID] = []
    unreached: list[tuple[UUID, datetime]] = []
    for at, (row, _) in enumerate(claimed):
        if row.replays > MAX_REPLAYS:
            log.error(
                "deferred_job_given_up", function=row.function, key=row.job_key, replays=row.replays - 1
            )
            GIVEN_UP.labels(job=row.function, reason="replays").inc()
            dropped.append(row.id)
            continue
        spec = JobSpec(
            function=row.function,
            key=row.job_key,
            kwargs=dict(row.kwargs),
            run_at=row.run_at,
            timeout_seconds=row.timeout_seconds,
            retries=row.retries,
        )
        outcome = await enqueue(spec, row.id)
        if outcome is Replayed.UNAVAILABLE:
            unreached = [(rest.id, due) for rest, due in claimed[at:]]
            break
        if outcome is Replayed.DROPPED:
            GIVEN_UP.labels(job=row.function, reason="unqueueable").inc()
        {Replayed.QUEUED: queued, Replayed.PENDING: pending}.get(outcome, dropped).append(row.id)
    await _settle_claims(engine, pending=pending, dropped=dropped, unreached=unreached)
    return len(queued)


async def _claim_due(engine: AsyncEngine) -> list[tuple[DeferredJob, datetime]]:
    """Lease up to REPLAY_BATCH due rows (oldest first) and count a replay on each; each with the
    time it was due, to put back the ones the replay does not reach."""
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        due = (
            select(DeferredJob.id, DeferredJob.replay_after)
            .where(DeferredJob.replay_after <= func.now())
            .order_by(DeferredJob.replay_after, DeferredJob.id)
            .limit(REPLAY_BATCH)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        rows = await session.execute(
            update(DeferredJob)
            .where(DeferredJob.id == due.c.id)
            .values(
                replay_after=text(f"now() + interval '{QUEUED_LEASE_SECONDS:d} seconds'"),
                replays=DeferredJob.replays + 1,
            )
            .returning(DeferredJob, due.c.replay_after)
            .execution_options(synchronize_session=False)
        )
        claimed = [(row, was_due) for row, was_due in rows]
    return sorted(claimed, key=lambda claim: (claim[1], claim[0].id))


async def _settle_claims(
    engine: AsyncEngine,
    *,
    pending: list[UUID],
    dropped: list[UUID],
    unreached: list[tuple[UUID, datetime]],
) -> None:
    """After the enqueues: a row whose key was taken was not replayed (its lease stands), a dropped
    row goes, and the rows after a Redis that stopped answering are due again as they were. A row
    its job deleted meanwhile matches nothing."""
    if not (pending or dropped or unreached):
        return
    async with engine.begin() as connection:
        if pending:
            await connection.execute(
                update(DeferredJob).where(DeferredJob.id.in_(pending)).values(replays=DeferredJob.replays - 1)
            )
        if dropped:
            await connection.execute(delete(DeferredJob).where(DeferredJob.id.in_(dropped)))
        if unreached:
            await connection.execute(
                update(DeferredJob)
                .where(DeferredJob.id == bindparam("row_id"))
                .values(replay_after=bindparam("was_due"), replays=DeferredJob.replays - 1),
                [{"row_id": row_id, "was_due": was_due} for row_id, was_due in unreached],
            )


@dataclass(frozen=True)
class Backlog:
    kept: int  # every row: durable jobs in flight, and jobs waiting out a Redis outage
    due: int  # rows whose grace or lease is over, for the replay to enqueue
    oldest_seconds: float  # age of the oldest row (0 when there is none)


async def backlog(engine: AsyncEngine) -> Backlog:
    """What is kept here, for /metrics: `due` staying above zero says the replay cannot enqueue
    (Redis away, no job worker running); a large `oldest_seconds`, a job that does not complete."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(
                    func.count(),
                    func.count().filter(DeferredJob.replay_after <= func.now()),
                    func.coalesce(func.extract("epoch", func.now() - func.min(DeferredJob.created_at)), 0),
                )
            )
        ).one()
    return Backlog(kept=int(row[0]), due=int(row[1]), oldest_seconds=max(0.0, float(row[2])))


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
