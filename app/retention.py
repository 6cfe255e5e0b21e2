"""Data retention: rows of no use after a while (idempotency records, notifications, ended logins,
wellbeing check-ins, ended data exports) are deleted by hourly jobs, each run in batches. The jobs of
a domain's rows are the domain's (`retention.*` jobs in accounts, feed and exports), run by `prune`.

Every batch is one short transaction that deletes at most BATCH rows, found through an index on
their age so that it never reads the whole table, and taken with SKIP LOCKED: runs on several
workers at once take disjoint rows, and a batch never waits for a row a request holds (that row is
left for the next run). A run stops after MAX_BATCHES, so one run's work is bounded however far
behind it is; the next run, an hour later, goes on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app import idempotency
from app.db import in_batches
from app.jobs import Job
from app.resources import Resources

log = structlog.get_logger(__name__)

BATCH = 1000
# 100,000 rows of each kind an hour at most; a backlog past that (the first runs after an upgrade)
# is worked off over the following hours.
MAX_BATCHES = 100


async def prune(resources: Resources, what: str, batch: Callable[[AsyncSession, int], Awaitable[int]]) -> int:
    """Run `batch` (one batch: delete at most the given number of rows, and say how many) in
    transactions of its own until one comes short or MAX_BATCHES have run; log and return how many
    rows went in all."""
    size, most = BATCH, MAX_BATCHES

    async def one(session: AsyncSession) -> int:
        return await batch(session, size)

    pruned = await in_batches(resources.session_factory, one, batch=size, max_batches=most)
    log.info(f"{what}_pruned", count=pruned)
    return pruned


async def prune_idempotency_records(resources: Resources) -> int:
    """Idempotency records older than REMIXFEED_IDEMPOTENCY_RETENTION_HOURS; how many went."""
    before = datetime.now(UTC) - timedelta(hours=resources.settings.idempotency_retention_hours)

    async def batch(session: AsyncSession, limit: int) -> int:
        return await idempotency.delete_expired(session, before, limit)

    return await prune(resources, "idempotency_records", batch)


# A run of MAX_BATCHES takes well under this; one cut short keeps the batches it committed.
TIMEOUT_SECONDS = 900

jobs = [
    Job(
        name="retention.idempotency_records",
        function=prune_idempotency_records,
        cron="7 * * * *",
        timeout_seconds=TIMEOUT_SECONDS,
    )
]
