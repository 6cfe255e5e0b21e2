"""Background jobs on SAQ (Redis).

Domains declare their jobs as `Job` specs with stable names such as `accounts.purge_tokens`;
`app.composition` gathers them. Jobs take IDs, never objects, and are enqueued only after the
request's transaction commits (`JobQueue.enqueue_after_commit`). The worker runs inside
`remixfeed serve` in the embedded default and as `remixfeed worker` processes in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from redis.asyncio import Redis
from saq import CronJob, Worker
from saq.queue.redis import RedisQueue
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import after_commit
from app.settings import Settings

if TYPE_CHECKING:
    from app.resources import Resources

log = structlog.get_logger(__name__)

JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Job:
    name: str
    function: JobFunction
    cron: str | None = None
    timeout_seconds: int = 300
    retries: int = 3


class JobQueue:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.queue = RedisQueue(redis, name=f"{settings.redis_namespace}-jobs")

    async def enqueue(self, name: str, *, key: str | None = None, **kwargs: Any) -> None:
        await self.queue.enqueue(name, key=key, **kwargs)

    def enqueue_after_commit(
        self, session: AsyncSession, name: str, *, key: str | None = None, **kwargs: Any
    ) -> None:
        async def _enqueue() -> None:
            await self.enqueue(name, key=key, **kwargs)

        after_commit(session, _enqueue)

    async def close(self) -> None:
        await self.queue.disconnect()


class JobWorker(Worker[Any]):
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


class EmbeddedJobWorker(JobWorker):
    # Inside the API process the server owns the signals; it stops the worker itself.
    SIGNALS: list[Any] = []


def build_worker(resources: Resources, jobs: Sequence[Job], *, in_process: bool) -> Worker[Any]:
    functions = [(job.name, _bind(job)) for job in jobs if job.cron is None]
    cron_jobs = [
        CronJob(_bind(job), cron=job.cron, timeout=job.timeout_seconds, retries=job.retries)
        for job in jobs
        if job.cron is not None
    ]
    worker_class = EmbeddedJobWorker if in_process else JobWorker
    return worker_class(
        resources.jobs.queue,
        functions=functions,
        cron_jobs=cron_jobs,
        concurrency=10,
        shutdown_grace_period_s=20,
        startup=[_attach(resources)],
    )


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
