"""The owner's control over who may cast their cameo: the permission level, preferences and
restrictions, and the approved list; and what another user learns about casting it."""

from __future__ import annotations

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries as account_queries
from accounts.ages import age_band
from accounts.deps import suspension_error
from accounts.errors import UserNotFound
from accounts.models import AgeBand, User
from accounts.service.auth import USERNAME_FORMAT
from app.settings import Settings
from cameo import queries
from cameo.errors import (
    ApprovedListFull,
    CameoNotFound,
    CameoRevoked,
    CannotApproveSelf,
    PermissionNotAllowed,
)
from cameo.models import Cameo, CameoStatus, Permission
from cameo.permissions import effective_permission, is_approved, may_cast
from cameo.schemas import CameoAvailability, CameoOut, CameoPatch
from cameo.service.owned import own_cameo
from cameo.service.present import present_owner_view

MAX_APPROVED = 1000


class ControlsService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    async def update(self, owner: User, cameo_id: str, patch: CameoPatch) -> CameoOut:
        """Change the permission level, preferences or restrictions (owner only). A teen may not
        open their cameo to `everyone` unless the deployment allows it. A suspended owner may still
        withdraw (close the cameo to `only_me`, change its restrictions), nothing more."""
        cameo = await self._changeable(owner, cameo_id)
        suspended = suspension_error(owner)
        if suspended is not None and _widens(cameo, patch):
            raise suspended
        if patch.permission is not msgspec.UNSET:
            if (
                patch.permission == Permission.EVERYONE.value
                and not self.settings.teen_cameos_for_everyone
                and age_band(owner.birthdate) == AgeBand.TEEN
            ):
                raise PermissionNotAllowed("A teen's cameo cannot be open to everyone; mutuals is the widest")
            cameo.permission = patch.permission
        if patch.preferences is not msgspec.UNSET:
            cameo.preferences = patch.preferences
        if patch.restrictions is not msgspec.UNSET:
            cameo.restrictions = patch.restrictions
        await self.session.flush()
        return await present_owner_view(self.session, cameo, owner.username)

    async def approve(self, owner: User, cameo_id: str, username: str) -> None:
        """Put someone on the approved list (idempotent; at most 1000 people)."""
        cameo = await self._changeable(owner, cameo_id)
        person = await self._person(owner, username)
        # Whoever blocks the owner does not exist for them. A person the owner blocks may be
        # listed, but never casts while the block stands (may_cast refuses blocks).
        if (await account_queries.relationship(self.session, owner.id, person.id)).blocked_by:
            raise UserNotFound()
        if await queries.approved_count(self.session, cameo.id) >= MAX_APPROVED:
            if await is_approved(self.session, cameo.id, person.id):
                return
            raise ApprovedListFull(f"At most {MAX_APPROVED} people can be on the approved list")
        await queries.add_approval(self.session, cameo.id, person.id)
        # Read again under the key-share lock the insert took on the person's row (held until
        # commit): a deletion of them under way was waited for and is seen, and none takes the row
        # before this commits, so their purge (after the deletion's commit) finds the approval.
        if not await account_queries.still_exists(self.session, person.id):
            raise UserNotFound()

    async def unapprove(self, owner: User, cameo_id: str, username: str) -> None:
        """Take someone off the approved list (idempotent; allowed on a revoked cameo too)."""
        cameo = await own_cameo(self.session, owner, cameo_id, lock=True)
        person = await self._person(owner, username)
        await queries.remove_approval(self.session, cameo.id, person.id)

    async def availability(self, caster: User, username: str) -> CameoAvailability:
        """Whether the caller may cast `username`'s cameo. 404 cameo_not_found when there is no
        such user, the owner blocks the caller, or the owner has no active cameo."""
        owner = (
            await account_queries.user_by_username(self.session, username)
            if USERNAME_FORMAT.match(username)
            else None
        )
        if owner is None:
            raise CameoNotFound()
        if owner.id != caster.id:
            relation = await account_queries.relationship(self.session, caster.id, owner.id)
            if relation.blocked_by:
                raise CameoNotFound()
        cameo = await queries.current_cameo_of(self.session, owner.id)
        if cameo is None or cameo.status != CameoStatus.ACTIVE:
            raise CameoNotFound()
        teens = self.settings.teen_cameos_for_everyone
        verdict = await may_cast(self.session, caster, cameo, owner, teens_for_everyone=teens)
        return msgspec.convert(
            {
                "cameo_id": str(cameo.id),
                "permission": effective_permission(cameo, owner, teens_for_everyone=teens),
                "can_use": verdict.allowed,
            },
            CameoAvailability,
        )

    async def _changeable(self, owner: User, cameo_id: str) -> Cameo:
        cameo = await own_cameo(self.session, owner, cameo_id, lock=True)
        if cameo.status == CameoStatus.REVOKED:
            raise CameoRevoked("A revoked cameo cannot be changed; create a new one")
        return cameo

    async def _person(self, owner: User, username: str) -> User:
        person = (
            await account_queries.user_by_username(self.session, username)
            if USERNAME_FORMAT.match(username)
            else None
        )
        if person is None:
            raise UserNotFound()
        if person.id == owner.id:
            raise CannotApproveSelf()
        return person


def _widens(cameo: Cameo, patch: CameoPatch) -> bool:
    """Whether the change could let more people cast the cameo, or change more than its limits:
    anything but closing it to `only_me` (or keeping its level) and editing its restrictions."""
    permission = patch.permission
    if permission is not msgspec.UNSET and permission not in (Permission.ONLY_ME.value, cameo.permission):
        return True
    return patch.preferences is not msgspec.UNSET and patch.preferences != cameo.preferences
