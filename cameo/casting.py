"""Casting cameos in generations: what generation calls when a generation is requested, right
before it is sent to the provider, and when its draft is made. Every check goes through
`cameo.permissions.may_cast`; every outcome is written to the consent ledger (`cameo_uses`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from cameo.errors import CameoPermissionDenied
from cameo.models import Cameo, CameoStatus, CameoUse, UseEvent
from cameo.permissions import Verdict, may_cast


@dataclass(frozen=True)
class Cast:
    """One cameo in one generation, with its owner and the verdict of the check just made."""

    cameo: Cameo
    owner: User
    verdict: Verdict


async def _current_cameo_of(session: AsyncSession, username: str) -> tuple[Cameo, User] | None:
    """The user's cameo that is not revoked, with its owner (None when there is none)."""
    row = (
        await session.execute(
            select(Cameo, User)
            .join(User, User.id == Cameo.owner_id)
            .where(
                User.username == username,
                User.deleted_at.is_(None),
                Cameo.status != CameoStatus.REVOKED.value,
            )
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def authorize(
    session: AsyncSession, caster: User, usernames: Sequence[str], *, teens_for_everyone: bool
) -> list[Cast]:
    """The casts of a new generation, in the order asked, or 403 cameo_permission_denied naming
    the first username that may not be cast. A username with no usable cameo, one that does not
    exist and one whose owner refuses get the same answer, so the refusal reveals nothing."""
    casts: list[Cast] = []
    for username in usernames:
        found = await _current_cameo_of(session, username)
        verdict = (
            await may_cast(session, caster, found[0], found[1], teens_for_everyone=teens_for_everyone)
            if found is not None
            else None
        )
        if found is None or verdict is None or not verdict.allowed:
            raise CameoPermissionDenied(f"@{username} has no cameo you may use")
        casts.append(Cast(cameo=found[0], owner=found[1], verdict=verdict))
    return casts


async def recheck(
    session: AsyncSession, caster: User, cameo_ids: Sequence[UUID], *, teens_for_everyone: bool
) -> list[Cast]:
    """The same check again for a generation's cameos, by id, without raising: the caller decides
    what a refusal means at its stage. A cameo that no longer exists is not returned."""
    casts: list[Cast] = []
    for cameo_id in cameo_ids:
        cameo = await session.get(Cameo, cameo_id, populate_existing=True)
        owner = await session.get(User, cameo.owner_id) if cameo is not None else None
        if cameo is None or owner is None:
            continue
        verdict = await may_cast(session, caster, cameo, owner, teens_for_everyone=teens_for_everyone)
        casts.append(Cast(cameo=cameo, owner=owner, verdict=verdict))
    return casts


async def any_revoked(session: AsyncSession, cameo_ids: Sequence[UUID]) -> bool:
    """Whether any of these cameos is revoked (or gone): a generation using it must not finish."""
    if not cameo_ids:
        return False
    statuses = (await session.scalars(select(Cameo.status).where(Cameo.id.in_(list(cameo_ids))))).all()
    return len(statuses) < len(set(cameo_ids)) or any(status == CameoStatus.REVOKED for status in statuses)


async def share(session: AsyncSession, casts: Sequence[Cast]) -> None:
    """The key-share locks the ledger's foreign key (`record`) takes on the cast cameos, taken in
    id order before the caster's users row is: a cameo's revocation by its owner's account deletion
    holds the cameo's row and then takes the owner's users row, so an owner casting their own cameo
    who took the cameo after their users row deadlocked with it."""
    if casts:
        await session.execute(
            select(Cameo.id)
            .where(Cameo.id.in_(sorted({cast.cameo.id for cast in casts})))
            .order_by(Cameo.id)
            .with_for_update(read=True, key_share=True)
        )


def record(
    session: AsyncSession,
    cast: Cast,
    *,
    caster_id: UUID,
    generation_id: UUID,
    event: UseEvent,
    video_id: UUID | None = None,
) -> None:
    """Append one entry to the consent ledger (flushed with the caller's next flush)."""
    session.add(
        CameoUse(
            cameo_id=cast.cameo.id,
            caster_id=caster_id,
            generation_id=generation_id,
            video_id=video_id,
            event=event.value,
            permission=cast.verdict.permission,
            basis=cast.verdict.basis,
        )
    )


async def count_appearance(session: AsyncSession, cameo_ids: Sequence[UUID]) -> None:
    if cameo_ids:
        await session.execute(
            update(Cameo)
            .where(Cameo.id.in_(list(cameo_ids)))
            .values(appearance_count=Cameo.appearance_count + 1)
        )
