"""How the job queue rides out a Redis outage.

SAQ on its own does not: a worker whose dequeue cannot reach Redis loops on it at full speed (each
of its dequeue loops fails at once and starts again), and a job that finishes while Redis is away
cannot record its outcome, so it stays marked running, holding its key (nothing can enqueue it
again) until SAQ's sweep notices. `OutageTolerantQueue` is SAQ's Redis queue with those two fixed:
a failed dequeue waits OUTAGE_RETRY_SECONDS and reports nothing, and a job's outcome is recorded as
soon as Redis answers again. Each outage is logged once when it starts and once when it ends.

It also sweeps with one change to SAQ's sweep (tobymao/saq#277): a job a worker has just dequeued
sits in the active list still marked `queued` until that worker marks it `active`, and SAQ's sweep
takes back any job there not marked `active`. So a sweep that fell between the two aborted and
retried a job that was about to run (seen in CI with a one-second sweep). Such a job is now taken
back only once it has stayed dequeued and unstarted for UNSTARTED_GRACE_SECONDS across two sweeps:
the worker that dequeued it died or stalled before it could start it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import (
    ClusterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from saq.job import Job as SaqJob
from saq.job import Status
from saq.queue.redis import RedisQueue
from saq.types import ListenCallback

log = structlog.get_logger(__name__)

# Error replies of a Redis that cannot take the work right now but will by itself: out of memory
# under noeviction, a replica after a failover, a failed RDB save, a cluster resharding, loading its
# data at start. A script's command passes its error on inside a plain ResponseError ("Error running
# script ... -OOM ..."), so the reply's code is looked for in the text, not only in the class.
_PASSING_REFUSALS = ("OOM", "READONLY", "MISCONF", "TRYAGAIN", "CLUSTERDOWN", "LOADING")


def redis_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means Redis cannot take the work now (unreachable, timed out, or refusing for a
    while), so the work must wait in PostgreSQL rather than be lost or fail."""
    if isinstance(
        exc,
        RedisConnectionError
        | RedisTimeoutError
        | OutOfMemoryError
        | ReadOnlyError
        | TryAgainError
        | ClusterDownError,
    ):
        return True
    if not isinstance(exc, ResponseError):
        return False
    text = str(exc)
    return any(text.startswith(code) or f"-{code} " in text for code in _PASSING_REFUSALS)


# How long a dequeue loop, or a job recording its outcome, waits before asking Redis again.
OUTAGE_RETRY_SECONDS = 1.0

# How long a job may sit dequeued and unstarted before a sweep takes it back; a live worker marks it
# active within milliseconds of dequeuing it.
UNSTARTED_GRACE_SECONDS = 10.0

# SAQ's sweep script, except that it answers nil, not an empty list, when another sweep holds the
# lock: a sweep that did not run must not forget which jobs it saw unstarted.
_SWEEP_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return false
end
redis.call('SETEX', KEYS[1], ARGV[1], 1)
local id_jobs = {}
for i, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    id_jobs[i] = {v, redis.call('GET', v)}
end
return id_jobs
"""


class RedisOutage:
    """Whether this process last found Redis unreachable; logs each outage once, and its end."""

    def __init__(self) -> None:
        self.since: float | None = None

    def down(self, exc: BaseException, doing: str) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning("job_queue_unreachable", doing=doing, error=str(exc) or type(exc).__name__)

    def up(self) -> None:
        if self.since is not None:
            log.info("job_queue_reachable", after_seconds=round(time.monotonic() - self.since, 1))
            self.since = None


class OutageTolerantQueue(RedisQueue):
    def __init__(self, redis: Redis, name: str) -> None:
        super().__init__(redis, name=name)
        self.outage = RedisOutage()
        # Run before each sweep: the workers of this process beat for the jobs they are running.
        self.before_sweep: list[Callable[[], Awaitable[None]]] = []
        self._sweep_script = redis.register_script(_SWEEP_SCRIPT)
        # Jobs the last sweep found dequeued and unstarted: id -> (attempts, touched, first seen).
        self._unstarted: dict[bytes, tuple[int, int, float]] = {}

    async def dequeue(self, timeout: float = 0.0, poll_interval: float = 0.0) -> SaqJob | None:  # noqa: ASYNC109 - SAQ's signature
        try:
            job = await super().dequeue(timeout, poll_interval)
        except RedisError as exc:
            if not redis_unavailable(exc):
                raise
            self.outage.down(exc, "dequeue")
            await asyncio.sleep(OUTAGE_RETRY_SECONDS)
            return None
        self.outage.up()
        return job

    async def _finish(
        self, job: SaqJob, status: Status, *, result: Any = None, error: str | None = None
    ) -> None:
        finish = super()._finish
        await self._until_reachable("finish", lambda: finish(job, status, result=result, error=error))

    async def _retry(self, job: SaqJob, error: str | None) -> None:
        retry = super()._retry
        await self._until_reachable("retry", lambda: retry(job, error))

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        try:
            for hook in list(self.before_sweep):
                await hook()
            return await self._sweep_active(lock, abort)
        except RedisError as exc:
            if not redis_unavailable(exc):
                raise
            self.outage.down(exc, "sweep")
            return []

    async def _sweep_active(self, lock: int, abort: float) -> list[str]:
        id_jobs = await self._sweep_script(keys=[self._sweep, self._active], args=[lock], client=self.redis)
        if id_jobs is None:
            return []  # another process's sweep holds the lock
        unstarted: dict[bytes, tuple[int, int, float]] = {}
        swept: list[bytes] = []
        for job_id, job_bytes in id_jobs:
            job = self.deserialize(job_bytes)
            if job is None:
                swept.append(job_id)
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.lrem(self._active, 0, job_id)
                    pipe.zrem(self._incomplete, job_id)
                    await pipe.execute()
                log.info("job_swept_missing", job_id=job_id.decode())
                continue
            if job.status == Status.ACTIVE and not job.stuck:
                continue
            if job.status == Status.QUEUED and not self._unstarted_too_long(job_id, job, unstarted):
                continue
            swept.append(job_id)
            log.info(
                "job_swept",
                job=job.key,
                function=job.function,
                status=job.status.value,
                attempts=job.attempts,
            )
            await self.abort(job, error=self.swept_error_message)
            try:
                await job.refresh(abort)
            except TimeoutError:
                log.info("job_sweep_abort_unconfirmed", job=job.key)
            if job.retryable:
                await self.retry(job, error=self.swept_error_message)
            else:
                await self.finish(job, Status.ABORTED, error=self.swept_error_message)
        self._unstarted = unstarted
        return [job_id.decode() for job_id in swept]

    def _unstarted_too_long(
        self, job_id: bytes, job: SaqJob, unstarted: dict[bytes, tuple[int, int, float]]
    ) -> bool:
        """Whether `job`, in the active list but still marked queued, has been so since an earlier
        sweep saw it, UNSTARTED_GRACE_SECONDS ago or more. Its attempts and last touch tell one
        dequeue from the next: starting it, or retrying it, changes them."""
        seen = self._unstarted.get(job_id)
        now = time.monotonic()
        if seen is None or seen[:2] != (job.attempts, job.touched):
            unstarted[job_id] = (job.attempts, job.touched, now)
            return False
        if now - seen[2] < UNSTARTED_GRACE_SECONDS:
            unstarted[job_id] = seen
            return False
        return True

    async def listen(
        self,
        job_keys: Iterable[str],
        callback: ListenCallback,
        timeout: float | None = 10,  # noqa: ASYNC109 - SAQ's signature
        poll_interval: float = 0.5,
    ) -> None:
        """SAQ's, except that a failure of its pub/sub listener counts as the wait running out. The
        sweep waits here for a dead worker's job to be aborted; when the listener's unsubscribe
        failed ('NoneType' object has no attribute 'writelines', seen in CI), the sweep stopped
        before it retried the job, and every later sweep stopped there again."""
        try:
            await super().listen(job_keys, callback, timeout, poll_interval)
        except (AttributeError, RedisError) as exc:
            log.warning("job_listen_failed", error=repr(exc))
            raise TimeoutError from exc

    async def _until_reachable(self, doing: str, step: Callable[[], Awaitable[None]]) -> None:
        # Each step is one MULTI/EXEC of idempotent commands (and a notification), so repeating one
        # that did reach Redis, its answer lost with the connection, changes nothing. A worker that
        # is told to stop cancels the wait.
        while True:
            try:
                await step()
            except RedisError as exc:
                if not redis_unavailable(exc):
                    raise
                self.outage.down(exc, doing)
                await asyncio.sleep(OUTAGE_RETRY_SECONDS)
                continue
            self.outage.up()
            return
