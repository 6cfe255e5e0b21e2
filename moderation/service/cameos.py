"""Cameos in moderation: the verification queue, and what decisions do to a cameo.

- A recording submitted for review files one item in `cameo_verification` (registered with
  `cameo.hooks.on_recording_submitted` by the composition root). A cameo recorded again while
  its item is undecided keeps that one item, with the new recording in its snapshot; a moderator
  holding it loses the lease, so nobody decides on a recording they have not seen.
- approve_cameo makes the cameo active and, after commit, registers the likeness with the
  provider (`generation.register_cameo`); reject_cameo rejects it (appealable).
- remove_content on a reported cameo revokes it, as moderation; appealable.
- Granting an appeal of either puts the cameo back where `cameo.service.review.reinstate` allows it
  (the recording is still kept, and the owner has no other cameo meanwhile): active, or back to
  review for one revoked before it was verified, filed in the verification queue again (its item
  may have been dismissed meanwhile); only an active one is registered again.

Lock order: a cameo's row before the rows of its items (verification and reports). A recording
submitted locks the cameo, then files its item; a granted appeal locks the appeal's item, then the
cameo, then files its verification item again; a decision on an item about a cameo locks the cameo
(`lock`) before the item (`DecisionService.decide`). A decision that locked the item first and a
grant at once each held what the other waited for, and PostgreSQL ended one of them (a 503).
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.jobs import JobQueue
from cameo import queries as cameo_queries
from cameo.models import Cameo, CameoStatus
from cameo.service import lifecycle, review
from cameo.service.present import cameo_snapshot
from generation.cameos import REGISTER_CAMEO_JOB, register_job_key
from moderation import queries
from moderation.errors import ActionNotApplicable
from moderation.models import Queue

# Verification items all weigh the same: a claim takes the oldest first.
VERIFICATION_PRIORITY = 0


async def file_verification(session: AsyncSession, cameo: Cameo) -> None:
    """The hook: a cameo's recording awaits review."""
    owner = await session.get(User, cameo.owner_id)
    await queries.file_or_refresh_item(
        session,
        queue=Queue.CAMEO_VERIFICATION.value,
        target_type="cameo",
        target_id=cameo.id,
        subject_user_id=cameo.owner_id,
        snapshot=cameo_snapshot(cameo, owner.username if owner is not None else ""),
        priority=VERIFICATION_PRIORITY,
    )


async def lock(session: AsyncSession, cameo_id: UUID) -> None:
    """The cameo's row lock, taken before its items' (the lock order above); nothing when it is gone."""
    await cameo_queries.cameo_for_update(session, cameo_id)


async def approve(session: AsyncSession, jobs: JobQueue, cameo_id: UUID) -> None:
    cameo = await review.approve(session, cameo_id)
    if cameo is None:
        raise ActionNotApplicable("The cameo is no longer waiting for review; dismiss the item instead")
    _register_after_commit(session, jobs, cameo_id)


def _register_after_commit(session: AsyncSession, jobs: JobQueue, cameo_id: UUID) -> None:
    """The likeness becomes a provider character once the cameo is active (the job skips a cameo
    that already has one)."""
    jobs.enqueue_after_commit(
        session, REGISTER_CAMEO_JOB, key=register_job_key(cameo_id), cameo_id=str(cameo_id)
    )


async def reject(session: AsyncSession, cameo_id: UUID, *, retention_days: int) -> None:
    if await review.reject(session, cameo_id, retention_days=retention_days) is None:
        raise ActionNotApplicable("The cameo is no longer waiting for review; dismiss the item instead")


async def still_pending(session: AsyncSession, cameo_id: UUID) -> bool:
    cameo = await session.get(Cameo, cameo_id, populate_existing=True)
    return cameo is not None and cameo.status == CameoStatus.PENDING_REVIEW


async def revoke(session: AsyncSession, cameo_id: UUID, *, retention_days: int) -> None:
    """remove_content on a reported cameo."""
    cameo = await cameo_queries.cameo_for_update(session, cameo_id)
    if cameo is None or not await lifecycle.revoke(
        session, cameo, by=lifecycle.MODERATION, retention_days=retention_days
    ):
        raise ActionNotApplicable("The cameo is already revoked; dismiss the item instead")


async def reinstate(session: AsyncSession, jobs: JobQueue, cameo_id: UUID) -> None:
    """Granting an appeal of a rejection or a revocation."""
    back_to = await review.reinstate(session, cameo_id)
    if back_to is None:
        raise ActionNotApplicable(
            "The cameo cannot be reinstated (its recording is gone, or its owner has another cameo "
            "now); deny the appeal with a note instead"
        )
    if back_to == CameoStatus.ACTIVE:
        _register_after_commit(session, jobs, cameo_id)
    elif back_to == CameoStatus.PENDING_REVIEW:
        # Its verification item may have been closed while it was revoked (dismissed: nothing
        # waited for review then); it waits again, so it is in the queue again.
        cameo = await cameo_queries.cameo_for_update(session, cameo_id)
        assert cameo is not None
        await file_verification(session, cameo)
