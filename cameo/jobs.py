"""Background jobs of cameos: deleting recordings whose keeping period is over."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import in_batches
from app.jobs import Job
from app.resources import Resources
from cameo.service.retention import BATCH, purge_due_recordings

log = structlog.get_logger(__name__)

PURGE_RECORDINGS_JOB = "cameo.purge_recordings"
# Batches per run: a backlog drains over a few runs rather than in one long transaction.
MAX_BATCHES = 20


async def purge_recordings(resources: Resources) -> int:
    """Delete the recordings of rejected and revoked cameos once the retention window is over."""

    async def work(session: AsyncSession) -> int:
        return await purge_due_recordings(session, resources.storage)

    purged = await in_batches(resources.session_factory, work, batch=BATCH, max_batches=MAX_BATCHES)
    if purged:
        log.info("cameo_recordings_purged", count=purged)
    return purged


jobs = [Job(name=PURGE_RECORDINGS_JOB, function=purge_recordings, cron="*/5 * * * *")]
