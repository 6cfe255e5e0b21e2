"""Media deleted once the transaction that stops pointing at it has committed: a deleted video's
files, a replaced cameo recording, a replaced avatar.

The deletion is kept in the transaction's outbox (`app.deferred_jobs`) and done right after the
commit; when the store fails then, or the process dies first, a job worker does it after the
outbox's grace (with the job's retries, and again a lease later while the store still fails). So
a 204 for deleting a video that used someone's cameo, or for recording a cameo again, does not
leave that likeness stored for good. Deleting a missing key succeeds, so running twice is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

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


async def delete_keys(storage: MediaStorage, keys: Sequence[str]) -> None:
    for key in keys:
        await storage.delete(key)


async def delete_media_job(resources: Resources, *, keys: list[str]) -> int:
    """DELETE_MEDIA_JOB: what the request could not delete after its commit."""
    await delete_keys(resources.storage, keys)
    log.info("media_deleted_late", count=len(keys))
    return len(keys)


jobs = [Job(name=DELETE_MEDIA_JOB, function=delete_media_job, timeout_seconds=60)]
