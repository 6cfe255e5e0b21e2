"""Whether any deleted account still waits for its purge to end its follows, as this process last
looked, at most a second ago. While none does, which is nearly always, a profile shows the follow
counts kept on its row as they are, without the statement that takes a pending account's follows
off them (`queries.follow_counts`: about 2 ms a request, most of it planning, on every `/v1/me`,
profile and list of profiles). Another process's deletion is seen within that second; one made by
this process at once."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries
from accounts.models import User

LOOK_AGAIN_AFTER_SECONDS = 1.0


class PendingPurges:
    def __init__(self) -> None:
        self._pending = True
        self._looked_at = -math.inf

    async def any(self, session: AsyncSession) -> bool:
        now = time.monotonic()
        if now - self._looked_at >= LOOK_AGAIN_AFTER_SECONDS:
            self._pending = await queries.purge_pending(session)
            self._looked_at = now
        return self._pending

    async def account_deleted(self) -> None:
        """After the commit of a deletion made by this process."""
        self._pending = True
        self._looked_at = time.monotonic()


PENDING_PURGES = PendingPurges()


async def shown_follow_counts(session: AsyncSession, users: Sequence[User]) -> dict[UUID, tuple[int, int]]:
    """(follower count, following count) of each user as everyone is shown them."""
    kept = {user.id: (user.follower_count, user.following_count) for user in users}
    if not users or not await PENDING_PURGES.any(session):
        return kept
    return kept | await queries.follow_counts(session, list(kept))
