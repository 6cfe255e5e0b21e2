"""Deleting recordings once their keeping period is over (rejected and revoked cameos keep theirs
for `cameo_recording_retention_days`). The row stays: the ledger and appearances point at it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.storage import MediaStorage
from cameo import queries

BATCH = 100


async def purge_due_recordings(session: AsyncSession, storage: MediaStorage, *, limit: int = BATCH) -> int:
    """One batch: the objects are deleted while the rows are locked, then the rows forget their
    keys. Deleting first means a failure leaves at worst a key whose object is gone (the next run
    deletes it again, harmlessly), never an object nobody points at. Returns how many."""
    now = datetime.now(UTC)
    due = await queries.recordings_due(session, now, limit)
    for _, key in due:
        await storage.delete(key)  # a missing object is fine
    await queries.mark_purged(session, [cameo_id for cameo_id, _ in due], now)
    return len(due)
