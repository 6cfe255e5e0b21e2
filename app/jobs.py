"""Background jobs on SAQ (Redis).

Domains declare their jobs as `Job` specs with stable names such as `accounts.purge_tokens`;
`app.composition` gathers them. Jobs take IDs, never objects, and are enqueued only after the
request's transaction commits (`JobQueue.enqueue_after_commit`), from an outbox row written in that
transaction and deleted once the job has completed, so neither a process that dies in between, nor a
Redis that loses the queued job, nor an outage that outlasts the job's retries loses it
(`app.deferred_jobs`). The worker runs
inside `remixfeed serve` in the embedded default and as `remixfeed worker` processes in production.

Redis outages: a job that cannot be enqueued after its commit because Redis is unreachable is
kept in PostgreSQL and replayed by the workers once Redis answers (`app.deferred_jobs`); workers
wait the outage out without spinning, and record the outcome of jobs that ran meanwhile once Redis
is back (`app.job_outage`).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import structlog
from prometheus_client import Counter, Gauge, Histogram
from redis.asyncio import Redis
from redis.exceptions import RedisError
from saq import CronJob, Worker
from saq.job import Job as SaqJob
from saq.job import Status
from saq.types import PartialTimersDict
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app import deferred_jobs
from app.db import after_commit
from app.deferred_jobs import JobSpec, Replayed
from app.job_outage import OutageTolerantQueue, redis_unavailable
from app.job_supervision import SupervisedWorker
from app.redis import SOCKET_TIMEOUT_SECONDS
from app.settings import Settings

if TYPE_CHECKING:
    from app.resources import Resources

log = structlog.get_logger(__name__)

JobFunction = Callable[..., Awaitable[Any]]
T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    name: str
    function: JobFunction
    cron: str | None = None
    timeout_seconds: int = 300
    retries: int = 3


RUN_AGAIN = "run_again_in"
# Set beside RUN_AGAIN by a job sent back for want of a turn (JobTurns): counted apart, not as a run.
TURNED_BACK = "turned_back"
# In a job's SAQ meta (not its arguments): the id of the deferred_jobs row it settles once it has run.
OUTBOX_ROW = "outbox_row"

# Observed by the process that runs the job: the API process in the embedded default, else each
# `remixfeed worker` (which serves them on REMIXFEED_WORKER_METRICS_PORT).
JOB_RUNS = Counter(
    "remixfeed_jobs_total",
    "Job runs by job name and outcome (complete, failed, queued again for a retry, aborted, "
    "turned_back: sent back to the queue for want of a turn)",
    ["job", "outcome"],
)
JOB_SECONDS = Histogram(
    "remixfeed_job_seconds",
    "How long one job run took",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
# Read from Redis whenever /metrics is scraped, so every process reports the same numbers.
QUEUE_JOBS = Gauge(
    "remixfeed_job_queue_jobs",
    "Jobs in the queue: queued (ready), active (running), incomplete (queued, scheduled or running)",
    ["state"],
)
KEPT_JOBS = Gauge(
    "remixfeed_deferred_jobs",
    "Jobs kept in PostgreSQL (deferred_jobs): kept (durable jobs in flight, and jobs waiting out a "
    "Redis outage), due (their grace or lease over, waiting for the replay to enqueue them)",
    ["state"],
)
OLDEST_KEPT_JOB = Gauge(
    "remixfeed_deferred_job_oldest_seconds", "Age of the oldest job kept in PostgreSQL (0 when none)"
)

# How long one dequeue waits on the server (BLMOVE's own timeout). It must end before the client's
# socket timeout: a BLMOVE the client gives up on can still move a job into SAQ's active list on
# the server, and its answer is then lost with the closed connection, stranding the job until
# SAQ's sweep finds it a minute later.
DEQUEUE_WAIT_SECONDS = 1.0
assert DEQUEUE_WAIT_SECONDS < SOCKET_TIMEOUT_SECONDS


def run_again_in(seconds: float) -> dict[str, float]:
    """A job's return value asking to run again, with the same key and arguments, `seconds` later.
    The worker re-enqueues it once this run is recorded as complete, so the key is free again."""
    return {RUN_AGAIN: max(0.0, seconds)}


# A job sent back for want of a turn comes back this many seconds later. SAQ schedules at whole
# seconds: the range spreads a wave of them over a few.
TURN_AGAIN_SECONDS = (1.0, 3.0)


@dataclass
class JobTurns:
    """At most `at_once` runs of one kind of job at a time in this process. Up to `may_wait` more
    wait for a turn in their job slots; the rest are sent back to the queue for a moment, so a wave
    of one kind (or one kind stuck on something slow) leaves the worker's slots to the others."""

    running: asyncio.Semaphore
    may_wait: int
    waiting: int = 0

    @classmethod
    def of(cls, resources: Resources, name: str, *, at_once: int, may_wait: int) -> JobTurns:
        return resources.per_process(name, lambda: cls(asyncio.Semaphore(at_once), may_wait))

    async def run(self, work: Callable[[], Awaitable[T]]) -> T | dict[str, float]:
        """What `work` returns, once a turn is free; or, every turn taken and enough waiting,
        `run_again_in` a moment."""
        if self.running.locked() and self.waiting >= self.may_wait:
            return {**run_again_in(random.uniform(*TURN_AGAIN_SECONDS)), TURNED_BACK: True}
        self.waiting += 1
        try:
            await self.running.acquire()
        finally:
            self.waiting -= 1
        try:
            return await work()
        finally:
            self.running.release()


def _spec(
    name: str,
    key: str | None,
    delay_seconds: float,
    timeout_seconds: int,
    retries: int,
    kwargs: dict[str, Any],
) -> JobSpec:
    """What `JobQueue.enqueue` and `JobQueue.defer` are asked for, as the spec both work from."""
    run_at = datetime.now(UTC) + timedelta(seconds=delay_seconds) if delay_seconds > 0 else None
    return JobSpec(name, key, kwargs, run_at, timeout_seconds, retries)


class JobQueue:
    def __init__(self, redis: Redis, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.queue = OutageTolerantQueue(redis, name=f"{settings.redis_namespace}-jobs")
        # Every job carries it: a running job its worker stops touching this long (the worker died)
        # is taken back by SAQ's sweep and run again (app.job_supervision).
        self.heartbeat_seconds = settings.job_heartbeat_seconds
        # Where jobs wait while Redis cannot take them (app.deferred_jobs).
        self.engine = engine

    async def enqueue(
        self,
        name: str,
        *,
        key: str | None = None,
        delay_seconds: float = 0.0,
        timeout_seconds: int = 300,
        retries: int = 3,
        **kwargs: Any,
    ) -> None:
        """Enqueue `name` with keyword arguments (ids, never objects). A job whose `key` is
        already queued, scheduled or running is not enqueued again."""
        await self._enqueue(_spec(name, key, delay_seconds, timeout_seconds, retries, kwargs))

    async def enqueue_or_defer(
        self,
        name: str,
        *,
        key: str | None = None,
        delay_seconds: float = 0.0,
        timeout_seconds: int = 300,
        retries: int = 3,
        **kwargs: Any,
    ) -> None:
        """`enqueue`, or, when Redis is unreachable, `defer`: for work that must not be lost
        because Redis was away when it was asked for."""
        await self._enqueue_or_defer(_spec(name, key, delay_seconds, timeout_seconds, retries, kwargs))

    async def _enqueue_or_defer(self, spec: JobSpec) -> None:
        try:
            await self._enqueue(spec)
        except RedisError as exc:
            if not redis_unavailable(exc):
                raise
            await self._defer(spec, reason=exc)

    async def defer(
        self,
        name: str,
        *,
        key: str | None = None,
        delay_seconds: float = 0.0,
        timeout_seconds: int = 300,
        retries: int = 3,
        reason: BaseException | None = None,
        **kwargs: Any,
    ) -> None:
        """Keep the job in PostgreSQL; a worker enqueues it once Redis answers again."""
        await self._defer(_spec(name, key, delay_seconds, timeout_seconds, retries, kwargs), reason=reason)

    async def _enqueue(self, spec: JobSpec, outbox_row: UUID | str | None = None) -> SaqJob | None:
        """The one SAQ enqueue: the job, or None when its key is already queued, scheduled or
        running. Raises RedisError when Redis cannot take it. A job given its `outbox_row` deletes
        that row once it has run (`_settle_outbox_row`)."""
        delay_seconds = spec.delay_seconds
        # Rounded up: SAQ schedules at whole seconds, and a job must not wake before its time.
        scheduled = math.ceil(time.time() + delay_seconds) if delay_seconds > 0 else 0
        # No key means a fresh one per job: SAQ would otherwise key them all "None", and drop
        # every job after the first while that one is pending.
        identity: dict[str, str] = {"key": spec.key} if spec.key is not None else {}
        meta = {OUTBOX_ROW: str(outbox_row)} if outbox_row is not None else {}
        job: SaqJob | None = await self.queue.enqueue(
            spec.function,
            **identity,
            meta=meta,
            scheduled=scheduled,
            timeout=spec.timeout_seconds,
            heartbeat=self.heartbeat_seconds,
            retries=spec.retries,
            retry_delay=1.0,
            retry_backoff=True,
            **spec.kwargs,
        )
        return job

    async def _defer(self, spec: JobSpec, *, reason: BaseException | None = None) -> None:
        if self.engine is None:
            raise RuntimeError("this job queue has no database to defer jobs to")
        await deferred_jobs.store(self.engine, spec)
        log.warning(
            "job_deferred", function=spec.function, key=spec.key, error=str(reason) if reason else None
        )

    def enqueue_after_commit(
        self,
        session: AsyncSession,
        name: str,
        *,
        key: str | None = None,
        durable: bool = True,
        delay_seconds: float = 0.0,
        timeout_seconds: int = 300,
        retries: int = 3,
        **kwargs: Any,
    ) -> None:
        """Enqueue `name` once `session` commits. A `durable` job (the default) is first kept in
        the transaction's outbox (`app.deferred_jobs`) until it has run, so it survives this
        process dying between the COMMIT and the enqueue, and Redis losing it from the queue. Work
        the next request asks for again anyway (a ranking ahead) passes durable=False and costs no
        write."""
        spec = _spec(name, key, delay_seconds, timeout_seconds, retries, kwargs)
        if not durable or self.engine is None:

            async def enqueue_or_defer() -> None:
                await self._enqueue_or_defer(spec)

            after_commit(session, enqueue_or_defer)
            return

        self._keep(session, spec).queue_after_commit(session, self)

    def keep_in_outbox(
        self, session: AsyncSession, name: str, *, key: str | None = None, **kwargs: Any
    ) -> KeptJob:
        """Keep job `name` (its keyword arguments, nothing else) in `session`'s transaction
        (`app.deferred_jobs`): a job worker enqueues it after a grace period, unless the work given
        to `KeptJob.run_after_commit` settles it first."""
        return self._keep(session, _spec(name, key, 0.0, 300, 3, kwargs))

    def _keep(self, session: AsyncSession, spec: JobSpec) -> KeptJob:
        if self.engine is None:
            raise RuntimeError("this job queue has no database to keep jobs in")
        spec = deferred_jobs.keyed(spec)
        return KeptJob(self.engine, spec, deferred_jobs.add_to_outbox(session, spec))

    async def replay_deferred(self) -> int:
        """Enqueue the kept jobs whose time has come (`deferred_jobs.replay`): those that waited out
        a Redis outage, and outbox rows whose job has not run by the end of their grace or lease
        (lost, or still queued); how many were enqueued (a job still queued is not)."""
        if self.engine is None:
            return 0

        async def enqueue(spec: JobSpec, row_id: UUID) -> Replayed:
            try:
                # None: its key is taken, maybe by this row's own job, still pending.
                queued = await self._enqueue(spec, outbox_row=row_id)
            except RedisError as exc:
                if redis_unavailable(exc):
                    return Replayed.UNAVAILABLE
                log.exception("deferred_job_dropped", function=spec.function, key=spec.key)
                return Replayed.DROPPED
            except Exception:
                # It can never be enqueued (its arguments no longer serialise): do not let it block
                # the ones behind it.
                log.exception("deferred_job_dropped", function=spec.function, key=spec.key)
                return Replayed.DROPPED
            return Replayed.PENDING if queued is None else Replayed.QUEUED

        replayed = await deferred_jobs.replay(self.engine, enqueue)
        if replayed:
            log.info("deferred_jobs_replayed", count=replayed)
        return replayed

    async def close(self) -> None:
        await self.queue.disconnect()


@dataclass(frozen=True)
class KeptJob:
    """A job kept in a transaction's outbox, to settle once the transaction has committed."""

    engine: AsyncEngine
    spec: JobSpec
    row: deferred_jobs.DeferredJob

    def run_after_commit(self, session: AsyncSession, work: Callable[[], Awaitable[object]]) -> None:
        """Once `session` commits, do the job's work here (`work`) and settle the kept job:
        forgotten when `work` succeeds, replayed as soon as Redis answers when Redis was away, and
        left to its grace after any other failure (or when this process dies first)."""

        async def settle() -> None:
            if await self._unless_redis_away(work):
                await deferred_jobs.forget(self.engine, self.row.id)

        after_commit(session, settle)

    def queue_after_commit(self, session: AsyncSession, jobs: JobQueue) -> None:
        """Once `session` commits, enqueue the job, which forgets the kept one once it has run; until
        then the row stands for it (replayed after its grace if Redis lost it). When its key is
        taken, the row stays too: the copy that holds it may end without running (an abort), and
        one more run after it is harmless."""

        async def enqueue() -> None:
            await self._unless_redis_away(lambda: jobs._enqueue(self.spec, outbox_row=self.row.id))

        after_commit(session, enqueue)

    async def _unless_redis_away(self, work: Callable[[], Awaitable[object]]) -> bool:
        """Runs `work`: False when Redis was away (the kept job is replayed as soon as it answers)."""
        try:
            await work()
        except RedisError as exc:
            if not redis_unavailable(exc):
                raise
            await deferred_jobs.replay_now(self.engine, self.row.id)
            log.warning("job_deferred", function=self.spec.function, key=self.spec.key, error=str(exc))
            return False
        return True


class JobWorker(SupervisedWorker):
    async def stop(self) -> None:
        # SAQ waits out its whole grace period for idle dequeue loops and upkeep timers too. Only
        # running jobs deserve it: when none is running, end the idle loops at once.
        if not self.job_task_contexts and self.tasks:
            self.event.set()
            idle = list(self.tasks)
            for task in idle:
                task.cancel()
            await asyncio.gather(*idle, return_exceptions=True)
            self.tasks.difference_update(idle)
        await super().stop()

    async def schedule(self, lock: int = 1) -> None:
        # Cron jobs are scheduled every second; while Redis is away, say so once (app.job_outage).
        try:
            await super().schedule(lock)
        except RedisError as exc:
            if not redis_unavailable(exc):
                raise
            if not isinstance(self.queue, OutageTolerantQueue):
                raise
            self.queue.outage.down(exc, "schedule")


class EmbeddedJobWorker(JobWorker):
    # Inside the API process the server owns the signals; it stops the worker itself.
    SIGNALS: list[Any] = []


def build_worker(resources: Resources, jobs: Sequence[Job], *, in_process: bool) -> Worker[Any]:
    settings = resources.settings
    functions = [(job.name, _bind(job)) for job in jobs if job.cron is None]
    cron_jobs = [
        CronJob(
            _bind(job),
            cron=job.cron,
            timeout=job.timeout_seconds,
            heartbeat=settings.job_heartbeat_seconds,
            retries=job.retries,
        )
        for job in jobs
        if job.cron is not None
    ]
    worker_class = EmbeddedJobWorker if in_process else JobWorker
    # Jobs kept in PostgreSQL while Redis was away go back into the queue.
    start_replaying, stop_replaying = deferred_jobs.replay_while_working(resources.jobs.replay_deferred)
    return worker_class(
        resources.jobs.queue,
        functions=functions,
        cron_jobs=cron_jobs,
        concurrency=10,
        dequeue_timeout=DEQUEUE_WAIT_SECONDS,
        # SAQ's own intervals, but for the sweep that takes back the jobs of dead workers (60 s).
        timers=PartialTimersDict(schedule=1, worker_info=10, abort=1, sweep=settings.job_sweep_seconds),
        # Running jobs get this long to finish on a stop; those still running are handed back.
        shutdown_grace_period_s=settings.job_shutdown_grace_seconds,
        startup=[_attach(resources), start_replaying],
        shutdown=[stop_replaying],
        after_process=[_observe, _run_again, _settle_outbox_row],
    )


async def _observe(ctx: dict[str, Any]) -> None:
    job: SaqJob | None = ctx.get("job")
    if job is None:
        return
    outcome = {Status.COMPLETE: "complete", Status.FAILED: "failed", Status.ABORTED: "aborted"}.get(
        job.status, "retried"
    )
    if outcome == "complete" and isinstance(job.result, dict) and job.result.get(TURNED_BACK):
        # It did no work: a stuck provider must not show as a stream of quick completions.
        JOB_RUNS.labels(job=job.function, outcome=TURNED_BACK).inc()
        return
    JOB_RUNS.labels(job=job.function, outcome=outcome).inc()
    if job.started:
        JOB_SECONDS.labels(job=job.function).observe(max(0.0, time.time() - job.started / 1000))


async def refresh_queue_gauges(resources: Resources) -> None:
    """The job queue's depth, for /metrics."""
    queue = resources.jobs.queue
    for state in ("queued", "active", "incomplete"):
        QUEUE_JOBS.labels(state=state).set(await queue.count(state))


async def refresh_kept_job_gauges(resources: Resources) -> None:
    """The jobs kept in PostgreSQL, for /metrics (apart from the queue's: they matter most while
    Redis is away)."""
    if resources.jobs.engine is not None:
        kept = await deferred_jobs.backlog(resources.jobs.engine)
        KEPT_JOBS.labels(state="kept").set(kept.kept)
        KEPT_JOBS.labels(state="due").set(kept.due)
        OLDEST_KEPT_JOB.set(kept.oldest_seconds)


async def _run_again(ctx: dict[str, Any]) -> None:
    job: SaqJob | None = ctx.get("job")
    if job is None or job.queue is None or job.status != Status.COMPLETE or not isinstance(job.result, dict):
        return
    delay = job.result.get(RUN_AGAIN)
    if delay is None:
        return
    resources: Resources = ctx["resources"]
    # The same key and arguments; its own timeout and retries (the queue gives every job the same
    # heartbeat and retry delays).
    spec = _spec(job.function, job.key, float(delay), int(job.timeout), job.retries, dict(job.kwargs or {}))
    # The continuation carries the job's outbox row on: the work is not done yet.
    outbox_row = job.meta.get(OUTBOX_ROW)
    try:
        again = await resources.jobs._enqueue(spec, outbox_row=outbox_row)
    except RedisError as exc:
        if not redis_unavailable(exc):
            raise
        # Redis went away right after this run was recorded: keep the continuation in PostgreSQL
        # (the job's own row, when it has one, replayed as soon as Redis answers).
        engine = resources.jobs.engine
        if (
            outbox_row is not None
            and engine is not None
            and await deferred_jobs.replay_now(engine, UUID(outbox_row))
        ):
            log.warning("job_deferred", function=job.function, key=job.key, error=str(exc))
            return
        await resources.jobs._defer(spec, reason=exc)
        return
    if again is None:
        # The key is taken (queued, scheduled or running elsewhere): that copy carries on. Logged,
        # because a continuation that vanishes is left to the domains' sweeps to recover.
        log.warning("job_not_rescheduled", function=job.function, key=job.key)


async def _settle_outbox_row(ctx: dict[str, Any]) -> None:
    """A job kept in the outbox deletes its row once it has completed (and is not continuing). A
    retry or a continuation (RUN_AGAIN) keeps it, and so does an abort (this app aborts only jobs
    its sweep took back, which are retried) and a failure for good: its retries were spent within
    seconds, on an outage of what it needs (the store, the database, the mail server) that may
    well outlast them. The row is replayed after its grace or lease, a job run again in full, at
    most deferred_jobs.MAX_REPLAYS times, then given up (logged and counted)."""
    job: SaqJob | None = ctx.get("job")
    if job is None or job.status != Status.COMPLETE:
        return
    outbox_row = job.meta.get(OUTBOX_ROW)
    if outbox_row is None:
        return
    if isinstance(job.result, dict) and RUN_AGAIN in job.result:
        return
    resources: Resources = ctx["resources"]
    if resources.jobs.engine is None:
        return
    try:
        await deferred_jobs.forget(resources.jobs.engine, UUID(outbox_row))
    except Exception as exc:  # PostgreSQL away: the row is replayed after its lease and runs again
        log.warning("outbox_row_not_forgotten", function=job.function, key=job.key, error=str(exc))


def _bind(job: Job) -> JobFunction:
    async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
        return await job.function(ctx["resources"], **kwargs)

    # SAQ names cron jobs after the function; keep the stable job name.
    run.__qualname__ = run.__name__ = job.name
    return run


def _attach(resources: Resources) -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def startup(ctx: dict[str, Any]) -> None:
        ctx["resources"] = resources

    return startup


async def run_worker_forever(worker: Worker[Any]) -> None:
    try:
        await worker.start()
    except asyncio.CancelledError:
        await worker.stop()
        raise
