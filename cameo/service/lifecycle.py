"""A cameo's life: created with a liveness challenge, a fresh challenge when the old one lapsed or
the recording was rejected, and revocation (by its owner, or by moderation through `revoke`).

The recording itself is in `recording.py`, the moderators' verdict in `review.py`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.db import violated_constraint
from app.settings import Settings
from cameo import hooks, queries
from cameo.errors import CameoExists, CameoNotAwaitingRecording, CameoNotFound
from cameo.models import Cameo, CameoStatus, Permission
from cameo.schemas import CameoOut, CameoWithChallenge
from cameo.service.owned import own_cameo
from cameo.service.present import challenge_of, present_owner_view

CHALLENGE_TTL = timedelta(minutes=10)
HEAD_TURNS = ("left", "right", "up", "down")
ONE_PER_OWNER_INDEX = "uq_cameos_owner_not_revoked"
OWNER = "owner"
MODERATION = "moderation"


def new_challenge(cameo: Cameo, now: datetime) -> None:
    """Three random two-digit numbers to read aloud and two different head turns, from the
    operating system's randomness, valid for ten minutes."""
    cameo.challenge_phrase = " ".join(str(10 + secrets.randbelow(90)) for _ in range(3))
    cameo.challenge_head_turns = secrets.SystemRandom().sample(HEAD_TURNS, 2)
    cameo.challenge_expires_at = now + CHALLENGE_TTL


def purge_after(now: datetime, retention_days: int) -> datetime:
    return now + timedelta(days=retention_days)


async def revoke(session: AsyncSession, cameo: Cameo, *, by: str, retention_days: int) -> bool:
    """Revoke at once (the caller holds the row lock): nothing may use the cameo from now on, the
    domains registered with `cameo.hooks.on_revoked` react in this same transaction (generations
    using it are cancelled), and its recording is deleted once the retention window has passed.
    False when it was already revoked.

    The owner revoking a cameo moderation already revoked makes the revocation theirs: a granted
    appeal of the moderators' one (`review.reinstate`) must not bring back a likeness its owner
    has since said no to, and the provider's copies kept for that appeal go now."""
    if cameo.status == CameoStatus.REVOKED:
        if by == OWNER and cameo.revoked_by != OWNER:
            cameo.revoked_by = OWNER
            await session.flush()
            await hooks.revoked(session, cameo)
        return False
    now = datetime.now(UTC)
    cameo.revoked_from = cameo.status
    cameo.status = CameoStatus.REVOKED.value
    cameo.revoked_at = now
    cameo.revoked_by = by
    cameo.recording_purge_after = purge_after(now, retention_days)
    await session.flush()
    await hooks.revoked(session, cameo)
    return True


class LifecycleService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    async def create(self, owner: User) -> CameoWithChallenge:
        """A new cameo waiting for its recording; 409 cameo_exists while the owner has one that is
        not revoked (the partial unique index settles two requests racing)."""
        if await queries.current_cameo_of(self.session, owner.id) is not None:
            raise CameoExists()
        cameo = Cameo(owner_id=owner.id, status=CameoStatus.AWAITING_RECORDING.value)
        cameo.permission = Permission.ONLY_ME.value
        new_challenge(cameo, datetime.now(UTC))
        self.session.add(cameo)
        try:
            await self.session.flush()
        except IntegrityError as exc:  # lost a race with the owner's other request
            if violated_constraint(exc) == ONE_PER_OWNER_INDEX:
                raise CameoExists() from exc
            raise
        return await self._with_challenge(owner, cameo)

    async def fresh_challenge(self, owner: User, cameo_id: str) -> CameoWithChallenge:
        """A new challenge for a cameo still waiting for its recording, or one whose recording was
        rejected (it waits for a new recording again)."""
        cameo = await own_cameo(self.session, owner, cameo_id, lock=True)
        if cameo.status not in (CameoStatus.AWAITING_RECORDING, CameoStatus.REJECTED):
            raise CameoNotAwaitingRecording(
                "Only a cameo waiting for its recording, or whose recording was rejected,"
                " gets a new challenge"
            )
        cameo.status = CameoStatus.AWAITING_RECORDING.value
        new_challenge(cameo, datetime.now(UTC))
        await self.session.flush()
        return await self._with_challenge(owner, cameo)

    async def mine(self, owner: User) -> CameoOut:
        """The owner's cameo that is not revoked; after revocation there is none (404) until they
        create a new one."""
        cameo = await queries.current_cameo_of(self.session, owner.id)
        if cameo is None:
            raise CameoNotFound("You have no cameo")
        return await present_owner_view(self.session, cameo, owner.username)

    async def revoke(self, owner: User, cameo_id: str) -> CameoOut:
        """Revoke one's own cameo; revoking it again answers the revoked cameo."""
        cameo = await own_cameo(self.session, owner, cameo_id, lock=True)
        await revoke(
            self.session, cameo, by=OWNER, retention_days=self.settings.cameo_recording_retention_days
        )
        return await present_owner_view(self.session, cameo, owner.username)

    async def _with_challenge(self, owner: User, cameo: Cameo) -> CameoWithChallenge:
        return CameoWithChallenge(
            cameo=await present_owner_view(self.session, cameo, owner.username), challenge=challenge_of(cameo)
        )
