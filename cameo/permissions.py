"""Who may cast a cameo: the one rule every use goes through, at request time and again right
before the provider is asked.

- Only an `active` cameo can be cast, by anyone (its owner included).
- The owner always may.
- Never a suspended user, and never anyone blocked by, or blocking, the owner.
- Otherwise by the permission level: `only_me` nobody else; `approved` the people on the owner's
  list; `mutuals` people the owner follows who follow the owner; `everyone` any signed-in user.
- A teen's cameo is never cast as `everyone` unless the deployment allows it
  (REMIXFEED_TEEN_CAMEOS_FOR_EVERYONE): it acts as `mutuals`, whatever was stored when it was set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries as account_queries
from accounts.ages import age_band
from accounts.models import AgeBand, User
from cameo.models import Cameo, CameoStatus, Permission, cameo_approvals

OWNER = "owner"


@dataclass(frozen=True)
class Verdict:
    """Whether `caster` may cast the cameo; `basis` is the rule that let them in (`owner`,
    `approved`, `mutuals`, `everyone`) or, when refused, why not."""

    allowed: bool
    basis: str
    # The permission level in force (after the teen cap), as the ledger records it.
    permission: str


def effective_permission(cameo: Cameo, owner: User, *, teens_for_everyone: bool) -> str:
    if (
        cameo.permission == Permission.EVERYONE
        and not teens_for_everyone
        and age_band(owner.birthdate) == AgeBand.TEEN
    ):
        return Permission.MUTUALS.value
    return cameo.permission


def _suspended(user: User, now: datetime) -> bool:
    return user.suspended_until is not None and user.suspended_until > now


async def is_approved(session: AsyncSession, cameo_id: UUID, user_id: UUID) -> bool:
    return bool(
        await session.scalar(
            select(
                exists().where(cameo_approvals.c.cameo_id == cameo_id, cameo_approvals.c.user_id == user_id)
            )
        )
    )


async def may_cast(
    session: AsyncSession, caster: User, cameo: Cameo, owner: User, *, teens_for_everyone: bool
) -> Verdict:
    permission = effective_permission(cameo, owner, teens_for_everyone=teens_for_everyone)

    def refused(why: str) -> Verdict:
        return Verdict(allowed=False, basis=why, permission=permission)

    if cameo.status != CameoStatus.ACTIVE:
        return refused("revoked" if cameo.status == CameoStatus.REVOKED else "not_active")
    if _suspended(caster, datetime.now(UTC)):
        return refused("suspended")
    if caster.id == owner.id:
        return Verdict(allowed=True, basis=OWNER, permission=permission)
    relation = await account_queries.relationship(session, caster.id, owner.id)
    if relation.blocking or relation.blocked_by:
        return refused("blocked")
    if permission == Permission.EVERYONE:
        return Verdict(allowed=True, basis=Permission.EVERYONE.value, permission=permission)
    if permission == Permission.MUTUALS and relation.following and relation.followed_by:
        return Verdict(allowed=True, basis=Permission.MUTUALS.value, permission=permission)
    if permission == Permission.APPROVED and await is_approved(session, cameo.id, caster.id):
        return Verdict(allowed=True, basis=Permission.APPROVED.value, permission=permission)
    return refused("not_permitted")
