"""The moderators' verdict on a cameo's verification, and the way back after a granted appeal.
Called by moderation when it applies a decision (the caller files and closes the items)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import violated_constraint
from cameo import queries
from cameo.models import Cameo, CameoStatus
from cameo.service.lifecycle import MODERATION, ONE_PER_OWNER_INDEX, purge_after


async def approve(session: AsyncSession, cameo_id: UUID) -> Cameo | None:
    """pending_review -> active. None when the cameo is gone or not waiting for review."""
    cameo = await queries.cameo_for_update(session, cameo_id)
    if cameo is None or cameo.status != CameoStatus.PENDING_REVIEW:
        return None
    cameo.status = CameoStatus.ACTIVE.value
    cameo.reviewed_at = datetime.now(UTC)
    await session.flush()
    return cameo


async def reject(session: AsyncSession, cameo_id: UUID, *, retention_days: int) -> Cameo | None:
    """pending_review -> rejected; the recording is deleted after the retention window unless the
    owner records again first (a fresh challenge) or an appeal reinstates the cameo."""
    cameo = await queries.cameo_for_update(session, cameo_id)
    if cameo is None or cameo.status != CameoStatus.PENDING_REVIEW:
        return None
    now = datetime.now(UTC)
    cameo.status = CameoStatus.REJECTED.value
    cameo.reviewed_at = now
    cameo.recording_purge_after = purge_after(now, retention_days)
    await session.flush()
    return cameo


async def reinstate(session: AsyncSession, cameo_id: UUID) -> CameoStatus | None:
    """For a granted appeal: a rejected cameo becomes active, and one revoked by moderation goes
    back to the status it was revoked from (active; or pending review, for one reported before it
    was verified: it is not made active unverified), provided its recording is still kept and its
    owner has no other cameo that is not revoked (a cameo its owner revoked stays revoked). The
    status it is back in; None when it cannot be."""
    cameo = await queries.cameo_for_update(session, cameo_id)
    if cameo is None or cameo.recording_key is None:
        return None
    revoked_by_moderation = cameo.status == CameoStatus.REVOKED and cameo.revoked_by == MODERATION
    if cameo.status != CameoStatus.REJECTED and not revoked_by_moderation:
        return None
    if await queries.other_current_cameo_exists(session, cameo.owner_id, cameo.id):
        return None
    back_to = CameoStatus.ACTIVE
    if revoked_by_moderation and cameo.revoked_from is not None:
        back_to = CameoStatus(cameo.revoked_from)
    try:
        async with session.begin_nested():  # a new cameo created meanwhile must not spoil the caller
            cameo.status = back_to.value
            if back_to == CameoStatus.ACTIVE:
                cameo.reviewed_at = datetime.now(UTC)
            cameo.revoked_at = None
            cameo.revoked_by = None
            cameo.revoked_from = None
            cameo.recording_purge_after = None
            await session.flush()
    except IntegrityError as exc:
        if violated_constraint(exc) != ONE_PER_OWNER_INDEX:
            raise
        return None
    return back_to
