"""What a job worker does so that its jobs survive its death and its shutdown.

Killed (SIGKILL, a lost machine): its running jobs stay `active` in Redis, holding their keys, and
SAQ's sweep takes an active job back only once it is stuck: past its timeout (minutes) or past its
heartbeat. Every job carries a heartbeat (`REMIXFEED_JOB_HEARTBEAT_SECONDS`, set when enqueued) and
this worker touches the ones it runs every third of it, so a dead worker's jobs are taken back and
retried by SAQ a heartbeat and a sweep (`REMIXFEED_JOB_SWEEP_SECONDS`) after it died.

Asked to stop (SIGTERM, or the API process's shutdown): it starts no new job, lets the running
ones finish for up to the grace period (`REMIXFEED_JOB_SHUTDOWN_GRACE_SECONDS`), hands back to the
queue those still running then, and stops at once when none is left; SAQ's own stop would also wait
out the whole grace period for its upkeep timers.

Exiting (`run_worker_process`): a task that does not end once cancelled (a statement whose cancel
request PostgreSQL missed waits on its lock until the statement timeout) must not keep the process
alive after its jobs were handed back; it gets a few seconds, then is logged with its stack and
left behind, and the process exits.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Coroutine, Iterable
from typing import Any

import structlog
from redis.exceptions import WatchError
from saq import Worker
from saq.job import Job, Status
from saq.queue.redis import RedisQueue
from saq.utils import cancel_tasks
from saq.utils import now as saq_now

from app.job_outage import OutageTolerantQueue

log = structlog.get_logger(__name__)

# How often the worker looks at its running jobs to see which are due a heartbeat.
HEARTBEAT_CHECK_SECONDS = 0.25
# SAQ names the tasks that dequeue and run jobs so; everything else is an upkeep timer.
PROCESS_TASK = "process"
# How long a task cancelled during a stop or at exit gets to end before it is left behind.
STRAGGLER_SECONDS = 5.0


class SupervisedWorker(Worker[Any]):
    def __init__(self, *args: Any, shutdown_grace_period_s: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, shutdown_grace_period_s=shutdown_grace_period_s, **kwargs)
        self.grace_seconds = float(shutdown_grace_period_s or 0)

    async def upkeep(self) -> list[asyncio.Task[None]]:
        hooks = self.queue.before_sweep if isinstance(self.queue, OutageTolerantQueue) else None
        if hooks is not None and self._beat_all not in hooks:
            # This worker's own sweep must not take back a job it is running for a late heartbeat:
            # after a stall of the whole process (CPU starvation, a long pause), the sweep's timer
            # can run before the heartbeats' and find every running job overdue.
            hooks.append(self._beat_all)
        tasks = await super().upkeep()
        tasks.append(asyncio.create_task(self._heartbeats(), name="heartbeats"))
        return tasks

    async def stop(self) -> None:
        self.event.set()  # no dequeue loop starts again
        hooks = self.queue.before_sweep if isinstance(self.queue, OutageTolerantQueue) else None
        if hooks is not None and self._beat_all in hooks:
            hooks.remove(self._beat_all)
        log.info("job_worker_stopping", running=len(self.job_task_contexts), grace_seconds=self.grace_seconds)
        await self._drain()
        await super().stop()
        log.info("job_worker_stopped")

    async def _drain(self) -> None:
        """Waits for the running jobs (and the dequeue loops, which end within one dequeue wait),
        up to the grace period; hands back the jobs still running then; ends the upkeep timers."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace_seconds
        while working := [task for task in self.tasks if task.get_name() == PROCESS_TASK and not task.done()]:
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.warning("job_worker_grace_period_over", handed_back=len(self.job_task_contexts))
                # SAQ's cancellation path records each of them as to be retried ("cancelled").
                await cancel_tasks(working, self._cancellation_hard_deadline_s + 5)
                break
            await asyncio.wait(working, timeout=remaining)
        # Left: timers (sweep, schedule, worker info) between two turns, and the heartbeats.
        await cancel_and_wait(task for task in self.tasks if not task.done())
        self.tasks.clear()
        log.info("job_worker_drained")

    async def _heartbeats(self) -> None:
        while True:
            await self._beat(due_only=True)
            await asyncio.sleep(HEARTBEAT_CHECK_SECONDS)

    async def _beat_all(self) -> None:
        await self._beat(due_only=False)

    async def _beat(self, *, due_only: bool) -> None:
        """Touches the running jobs that carry a heartbeat: those due one (every third of it), or
        all of them."""
        current = saq_now()
        for job in list(self.job_task_contexts):
            due = job.heartbeat and (not due_only or current - job.touched >= job.heartbeat * 1000 / 3)
            if due and job.status == Status.ACTIVE:
                try:
                    await self._touch(job)
                except Exception:
                    log.warning("job_heartbeat_failed", function=job.function, key=job.key, exc_info=True)

    async def _touch(self, job: Job) -> None:
        """Records that `job` is still running here. Atomic against the job's own end and a sweep
        taking it back (WATCH): a heartbeat never revives a job that finished or was aborted."""
        queue = self.queue
        if not isinstance(queue, RedisQueue):
            return
        async with queue.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(job.id)
                stored = queue.deserialize(await pipe.get(job.id))
                if stored is None or stored.status != Status.ACTIVE or stored.worker_id != self.id:
                    return
                stored.touched = saq_now()
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(job.id, queue.serialize(stored), keepttl=True)
                await pipe.execute()
            except WatchError:
                return
        job.touched = stored.touched


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancels `tasks` and waits up to STRAGGLER_SECONDS for them to end; logs, with its stack,
    each one that did not (it is left running rather than waited for)."""
    waiting = list(tasks)
    for task in waiting:
        task.cancel()
    if not waiting:
        return
    ended, stuck = await asyncio.wait(waiting, timeout=STRAGGLER_SECONDS)
    for task in ended:
        if not task.cancelled():
            task.exception()  # taken: how a cancelled task ended is no news at exit
    for task in stuck:
        stack = io.StringIO()
        task.print_stack(file=stack)
        log.warning("task_left_running", task=task.get_name(), stack=stack.getvalue())


def run_worker_process(main: Coroutine[Any, Any, None]) -> None:
    """`asyncio.run(main)`, except that the tasks still running when `main` returns get
    STRAGGLER_SECONDS to end once cancelled instead of as long as they like."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main)
    finally:
        try:
            loop.run_until_complete(cancel_and_wait(asyncio.all_tasks(loop)))
            loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), STRAGGLER_SECONDS))
        except TimeoutError:
            log.warning("async_generators_left_open")
        finally:
            loop.close()
