"""The SQL of cameos, their approved lists, the consent ledger and recording retention."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.pagination import keyset_before
from cameo.models import Cameo, CameoStatus, CameoUse, cameo_approvals

Position = tuple[datetime, UUID]


async def cameo_for_update(session: AsyncSession, cameo_id: UUID) -> Cameo | None:
    """The cameo with its row locked for the rest of the transaction (fresh from the database)."""
    return await session.scalar(
        select(Cameo).where(Cameo.id == cameo_id).with_for_update().execution_options(populate_existing=True)
    )


async def current_cameo_of(session: AsyncSession, owner_id: UUID) -> Cameo | None:
    """The owner's cameo that is not revoked (there is at most one)."""
    return await session.scalar(
        select(Cameo)
        .where(Cameo.owner_id == owner_id, Cameo.status != CameoStatus.REVOKED.value)
        .order_by(Cameo.created_at.desc(), Cameo.id.desc())
        .limit(1)
    )


async def revoked_cameos_of(session: AsyncSession, owner_id: UUID, *, revoked_by: str) -> list[Cameo]:
    """The owner's cameos revoked by `revoked_by`, their rows locked, in id order."""
    result = await session.scalars(
        select(Cameo)
        .where(
            Cameo.owner_id == owner_id,
            Cameo.status == CameoStatus.REVOKED.value,
            Cameo.revoked_by == revoked_by,
        )
        .order_by(Cameo.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(result.all())


async def other_current_cameo_exists(session: AsyncSession, owner_id: UUID, cameo_id: UUID) -> bool:
    found = await session.scalar(
        select(Cameo.id).where(
            Cameo.owner_id == owner_id, Cameo.id != cameo_id, Cameo.status != CameoStatus.REVOKED.value
        )
    )
    return found is not None


# --- approved people ---------------------------------------------------------------------------


async def approved_usernames(session: AsyncSession, cameo_id: UUID) -> list[str]:
    result = await session.scalars(
        select(User.username)
        .join(cameo_approvals, cameo_approvals.c.user_id == User.id)
        .where(cameo_approvals.c.cameo_id == cameo_id)
        .order_by(User.username)
    )
    return list(result.all())


async def approved_count(session: AsyncSession, cameo_id: UUID) -> int:
    count = await session.scalar(
        select(func.count()).select_from(cameo_approvals).where(cameo_approvals.c.cameo_id == cameo_id)
    )
    return int(count or 0)


async def add_approval(session: AsyncSession, cameo_id: UUID, user_id: UUID) -> None:
    await session.execute(
        pg_insert(cameo_approvals).values(cameo_id=cameo_id, user_id=user_id).on_conflict_do_nothing()
    )


async def remove_approval(session: AsyncSession, cameo_id: UUID, user_id: UUID) -> None:
    await session.execute(
        delete(cameo_approvals).where(
            cameo_approvals.c.cameo_id == cameo_id, cameo_approvals.c.user_id == user_id
        )
    )


# --- the consent ledger ------------------------------------------------------------------------


async def uses_page(
    session: AsyncSession, *, owner_id: UUID, after: Position | None, limit: int
) -> list[tuple[CameoUse, str | None]]:
    """Ledger entries of every cameo the owner has had (revoked ones too), newest first, with the
    caster's username; one more than `limit` to tell whether another page follows."""
    query = (
        select(CameoUse, User.username)
        .join(Cameo, Cameo.id == CameoUse.cameo_id)
        .outerjoin(User, User.id == CameoUse.caster_id)
        .where(Cameo.owner_id == owner_id)
    )
    if after is not None:
        query = query.where(keyset_before(CameoUse.created_at, CameoUse.id, after))
    rows = await session.execute(
        query.order_by(CameoUse.created_at.desc(), CameoUse.id.desc()).limit(limit + 1)
    )
    return [(row[0], row[1]) for row in rows.all()]


# --- retention ---------------------------------------------------------------------------------


async def recordings_due(session: AsyncSession, now: datetime, limit: int) -> list[tuple[UUID, str]]:
    """Recordings whose keeping period is over, locked (skipping rows another purge holds)."""
    rows = await session.execute(
        select(Cameo.id, Cameo.recording_key)
        .where(Cameo.recording_key.is_not(None), Cameo.recording_purge_after <= now)
        .order_by(Cameo.recording_purge_after)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(row[0], row[1]) for row in rows.all() if row[1] is not None]


async def mark_purged(session: AsyncSession, cameo_ids: list[UUID], now: datetime) -> None:
    if cameo_ids:
        await session.execute(
            update(Cameo)
            .where(Cameo.id.in_(cameo_ids))
            .values(recording_key=None, recording_purged_at=now)
            .execution_options(synchronize_session=False)
        )


# --- provider characters -----------------------------------------------------------------------


async def unregistered_approved_between(
    session: AsyncSession, after: datetime, before: datetime, limit: int
) -> list[UUID]:
    """Active cameos with a recording and no provider character, approved in (after, before], whose
    registration was not given up since that approval."""
    approved_at = func.coalesce(Cameo.reviewed_at, Cameo.created_at)
    found = await session.scalars(
        select(Cameo.id)
        .where(
            Cameo.status == CameoStatus.ACTIVE.value,
            Cameo.recording_key.is_not(None),
            Cameo.provider_character_id.is_(None),
            approved_at > after,
            approved_at <= before,
            or_(
                Cameo.provider_character_given_up_at.is_(None),
                Cameo.provider_character_given_up_at < approved_at,
            ),
        )
        .order_by(approved_at)
        .limit(limit)
    )
    return list(found)


# --- a deleted account -------------------------------------------------------------------------


async def remove_approvals_of(session: AsyncSession, user_id: UUID) -> None:
    """Every approval the user held to cast others' cameos."""
    await session.execute(delete(cameo_approvals).where(cameo_approvals.c.user_id == user_id))


async def recordings_of_owner(session: AsyncSession, owner_id: UUID) -> list[tuple[UUID, str]]:
    """Every recording still stored of the owner's cameos, locked."""
    rows = await session.execute(
        select(Cameo.id, Cameo.recording_key)
        .where(Cameo.owner_id == owner_id, Cameo.recording_key.is_not(None))
        .order_by(Cameo.id)
        .with_for_update()
    )
    return [(row[0], row[1]) for row in rows.all() if row[1] is not None]
