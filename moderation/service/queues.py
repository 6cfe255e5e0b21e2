"""Queues and claims. A moderator claims the next item of a queue and holds it under a lease;
only the holder may decide on it or release it, and a lapsed lease makes it claimable again."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role, User
from moderation import queries
from moderation.errors import ItemNotFound, LeaseNotHeld, QueueNotFound
from moderation.models import ItemStatus, ModerationItem, Queue
from moderation.schemas import ItemOut, QueueOut
from moderation.service.present import ItemPresenter


def holds_lease(item: ModerationItem, moderator: User, now: datetime) -> bool:
    return (
        item.status == ItemStatus.CLAIMED
        and item.lease_holder_id == moderator.id
        and item.lease_expires_at is not None
        and item.lease_expires_at > now
    )


def end_lease(item: ModerationItem) -> None:
    item.lease_holder_id = None
    item.lease_expires_at = None
    item.claimed_at = None


def parse_item_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError as exc:
        raise ItemNotFound() from exc


class QueueService:
    def __init__(self, session: AsyncSession, lease_seconds: int) -> None:
        self.session = session
        self.lease = timedelta(seconds=lease_seconds)
        self.presenter = ItemPresenter(session)

    async def queues(self) -> list[QueueOut]:
        now = await queries.db_now(self.session)
        stats = await queries.queue_stats(self.session, now)
        out = []
        for queue in Queue:
            count, escalated, waiting, oldest = stats.get(queue.value, (0, 0, 0, None))
            out.append(
                QueueOut(
                    name=queue.value,
                    open_count=count,
                    escalated_count=escalated,
                    waiting_for_another_admin_count=waiting,
                    oldest_age_seconds=max(0, int((now - oldest).total_seconds())) if oldest else None,
                )
            )
        return out

    async def claim(self, moderator: User, queue_name: str) -> ItemOut | None:
        """The next item of the queue, leased to the caller; None when nothing is claimable."""
        try:
            queue = Queue(queue_name)
        except ValueError as exc:
            raise QueueNotFound() from exc
        now = await queries.db_now(self.session)
        item = await queries.claim_next(
            self.session,
            queue=queue.value,
            moderator_id=moderator.id,
            admin=moderator.role == Role.ADMIN,
            now=now,
        )
        if item is None:
            return None
        item.status = ItemStatus.CLAIMED.value
        item.lease_holder_id = moderator.id
        item.claimed_at = now
        item.lease_expires_at = now + self.lease
        await self.session.flush()
        return await self.presenter.one(item, now)

    async def item(self, moderator: User, item_id: str) -> ItemOut:
        item = await self.session.get(ModerationItem, parse_item_id(item_id))
        # Nobody reads the items about themselves: they would see who reported them.
        if item is None or item.subject_user_id == moderator.id:
            raise ItemNotFound()
        return await self.presenter.one(item, await queries.db_now(self.session))

    async def release(self, moderator: User, item_id: str) -> None:
        """Give the item back at once (the lease holder only)."""
        item = await queries.item_for_update(self.session, parse_item_id(item_id))
        if item is None:
            raise ItemNotFound()
        if not holds_lease(item, moderator, await queries.db_now(self.session)):
            raise LeaseNotHeld()
        item.status = ItemStatus.OPEN.value
        end_lease(item)
        await self.session.flush()
