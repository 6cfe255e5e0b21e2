"""Media deleted once the transaction that stops pointing at it has committed: a deleted video's
files, a replaced cameo recording, a replaced avatar; and media stored for a transaction to point
at that does not commit (`unless_committed`: a refused generation's reference image).

The deletion is kept in the transaction's outbox (`app.deferred_jobs`) and done right after the
commit; when the store fails then, or the process dies first, a job worker does it after the
outbox's grace (with the job's retries). So a 204 for deleting a video that used someone's cameo,
or for recording a cameo again, does not leave that likeness stored for good. Deleting a missing
key succeeds, so running twice is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app import deferred_jobs
from app.db import after_rollback
from app.jobs import Job, JobQueue
from app.resources import Resources
from app.storage import MediaStorage

log = structlog.get_logger(__name__)

DELETE_MEDIA_JOB = "media.delete"


@dataclass(frozen=True)
class MediaDeletions:
    storage: MediaStorage
    jobs: JobQueue

    @classmethod
    def of(cls, resources: Resources) -> MediaDeletions:
        return cls(resources.storage, resources.jobs)

    def after_commit(self, session: AsyncSession, keys: Sequence[str]) -> None:
        """Delete `keys` from storage once `session` has committed (nothing if it rolls back)."""
        if not keys:
            return
        kept = self.jobs.keep_in_outbox(session, DELETE_MEDIA_JOB, keys=list(keys))

        async def delete() -> None:
            await delete_keys(self.storage, keys)

        kept.run_after_commit(session, delete)

    async def unless_committed(self, session: AsyncSession, keys: Sequence[str]) -> None:
        """Call before storing `keys` for `session`'s transaction to point at, outside it: they are
        deleted unless that transaction commits, even if this process dies first.

        Their deletion is kept in the outbox in a transaction of its own, committed at once, and
        `session` deletes that row again: its commit cancels the deletion. Until then it holds the
        row's lock, which the replay skips, however long the transaction takes. A rollback (a
        refusal, an error, a lost connection) lets the row stand: it is deleted at once, or by a job
        worker after the outbox's grace if the store fails then or nothing is left to do it."""
        engine = self.jobs.engine
        if not keys:
            return
        if engine is None:
            raise RuntimeError("this job queue has no database to keep jobs in")
        spec = deferred_jobs.JobSpec(
            function=DELETE_MEDIA_JOB,
            key=None,
            kwargs={"keys": list(keys)},
            run_at=None,
            timeout_seconds=300,
            retries=3,
        )
        async with AsyncSession(engine) as own, own.begin():
            row_id = deferred_jobs.add_to_outbox(own, spec).id
        await session.execute(delete(deferred_jobs.DeferredJob).where(deferred_jobs.DeferredJob.id == row_id))

        async def delete_now() -> None:
            await delete_keys(self.storage, keys)
            await deferred_jobs.forget(engine, row_id)

        after_rollback(session, delete_now)


async def delete_keys(storage: MediaStorage, keys: Sequence[str]) -> None:
    for key in keys:
        await storage.delete(key)


async def delete_media_job(resources: Resources, *, keys: list[str]) -> int:
    """DELETE_MEDIA_JOB: what the request could not delete after its commit."""
    await delete_keys(resources.storage, keys)
    log.info("media_deleted_late", count=len(keys))
    return len(keys)


jobs = [Job(name=DELETE_MEDIA_JOB, function=delete_media_job, timeout_seconds=60)]
