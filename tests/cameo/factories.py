"""Cameos without the verification round trip: rows written as an approved verification leaves
them, for tests about using a cameo. The lifecycle tests go through HTTP instead."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from app.db import in_transaction
from app.resources import Resources
from cameo.models import Cameo, CameoStatus, Permission, cameo_approvals
from tests.factories import Actor


class CameoFactory:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def active(
        self,
        owner: Actor,
        *,
        permission: Permission | str = Permission.ONLY_ME,
        approved: list[Actor] | None = None,
        preferences: str = "",
        restrictions: str = "",
    ) -> str:
        """An active cameo of `owner`; its id."""

        async def work(session: Any) -> str:
            now = datetime.now(UTC)
            cameo = Cameo(
                owner_id=uuid.UUID(owner.id),
                status=CameoStatus.ACTIVE.value,
                permission=str(permission),
                preferences=preferences,
                restrictions=restrictions,
                challenge_phrase="12 34 56",
                challenge_head_turns=["left", "up"],
                challenge_expires_at=now + timedelta(minutes=10),
                reviewed_at=now,
            )
            session.add(cameo)
            await session.flush()
            for person in approved or []:
                await session.execute(
                    insert(cameo_approvals).values(cameo_id=cameo.id, user_id=uuid.UUID(person.id))
                )
            return str(cameo.id)

        cameo_id: str = await in_transaction(self.resources.session_factory, work)
        return cameo_id
