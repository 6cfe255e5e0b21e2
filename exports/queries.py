"""SQL of personal data exports."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import advisory_xact_lock, delete_oldest
from app.pagination import keyset_before
from exports.models import ENDED, PENDING, READY, DataExport, ExportStatus, export_ended_at


async def lock_exports_of(session: AsyncSession, user_id: UUID) -> None:
    """Serialises one user's export requests (until the transaction ends), so two at once cannot
    both pass the checks; it touches no row another request needs."""
    await advisory_xact_lock(session, f"exports:{user_id}")


async def pending_of(session: AsyncSession, user_id: UUID) -> DataExport | None:
    found: DataExport | None = await session.scalar(
        select(DataExport).where(
            DataExport.user_id == user_id, DataExport.status == ExportStatus.PENDING.value
        )
    )
    return found


async def counted_since(session: AsyncSession, user_id: UUID, since: datetime) -> list[datetime]:
    """When the user's exports asked for since `since` were asked for, oldest first; failed ones
    (the service's fault, not the user's) do not count against the limit."""
    rows = await session.scalars(
        select(DataExport.created_at)
        .where(
            DataExport.user_id == user_id,
            DataExport.created_at > since,
            DataExport.status != ExportStatus.FAILED.value,
        )
        .order_by(DataExport.created_at)
    )
    return list(rows)


async def page(
    session: AsyncSession, user_id: UUID, after: tuple[datetime, UUID] | None, limit: int
) -> list[DataExport]:
    query = select(DataExport).where(DataExport.user_id == user_id)
    if after is not None:
        query = query.where(keyset_before(DataExport.created_at, DataExport.id, after))
    rows = await session.scalars(
        query.order_by(DataExport.created_at.desc(), DataExport.id.desc()).limit(limit + 1)
    )
    return list(rows)


async def get_for_update(session: AsyncSession, export_id: UUID) -> DataExport | None:
    found: DataExport | None = await session.scalar(
        select(DataExport).where(DataExport.id == export_id).with_for_update()
    )
    return found


async def stalled(session: AsyncSession, before: datetime, limit: int) -> list[UUID]:
    """Pending exports asked for before `before`: their build may have been lost."""
    rows = await session.scalars(
        select(DataExport.id)
        .where(PENDING, DataExport.created_at < before)
        .order_by(DataExport.created_at)
        .limit(limit)
    )
    return list(rows)


async def expired_archives(session: AsyncSession, now: datetime, limit: int) -> list[tuple[UUID, str]]:
    """Ready exports past their expiry, with their archive's key."""
    rows = await session.execute(
        select(DataExport.id, DataExport.archive_key)
        .where(READY, DataExport.expires_at <= now)
        .order_by(DataExport.expires_at)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in rows if row[1] is not None]


async def mark_expired(session: AsyncSession, export_id: UUID) -> None:
    """Expired, unless it changed meanwhile (deleted with its account)."""
    found = await get_for_update(session, export_id)
    if found is not None and found.status == ExportStatus.READY.value:
        found.status = ExportStatus.EXPIRED.value
        found.archive_key = None


async def archives_of(session: AsyncSession, user_id: UUID) -> list[tuple[UUID, str | None, int]]:
    """The user's exports: id, archive key and how many build runs each had."""
    rows = await session.execute(
        select(DataExport.id, DataExport.archive_key, DataExport.attempts).where(
            DataExport.user_id == user_id
        )
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def delete_exports(session: AsyncSession, ids: list[UUID]) -> int:
    result: Any = await session.execute(delete(DataExport).where(DataExport.id.in_(ids)))
    return int(result.rowcount or 0)


async def delete_ended(session: AsyncSession, before: datetime, limit: int) -> int:
    """One batch of the exports that ended (expired or failed) before `before`, oldest first
    (`ix_data_exports_ended`); how many were deleted. Never a pending or ready one, nor one whose row
    still names an archive (none of these does: an expired export's archive is deleted before it is
    marked expired, and a failed one never kept one). Rows another transaction holds are skipped,
    left for the next batch."""
    deleted = await delete_oldest(
        session,
        DataExport,
        export_ended_at,
        ENDED,
        export_ended_at < before,
        DataExport.archive_key.is_(None),
        limit=limit,
    )
    return len(deleted)
