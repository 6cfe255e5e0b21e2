"""The audit log: one entry per decision (who, what, when, why, about whom). The table refuses
UPDATE and DELETE (a trigger), so an entry, once committed, stays as it was written."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.pagination import CursorCodec, Page
from app.security import SigningKeys
from moderation import queries
from moderation.models import AuditEntry, Decision, ModerationItem
from moderation.schemas import AuditEntryOut


def audit_subject(item: ModerationItem, subject_username: str | None, decision: Decision) -> dict[str, Any]:
    subject: dict[str, Any] = {
        "queue": item.queue,
        "target": {"type": item.target_type, "id": str(item.target_id)},
        "user": {"id": str(item.subject_user_id), "username": subject_username}
        if item.subject_user_id is not None
        else None,
    }
    if decision.duration_hours is not None:
        subject["duration_hours"] = decision.duration_hours
    return subject


async def record(
    session: AsyncSession, item: ModerationItem, decision: Decision, subject_username: str | None
) -> None:
    session.add(
        AuditEntry(
            moderator_id=decision.moderator_id,
            decision_id=decision.id,
            item_id=item.id,
            action=decision.action,
            note=decision.note,
            reason=decision.reason,
            statement=decision.statement,
            subject=audit_subject(item, subject_username, decision),
        )
    )
    await session.flush()


class AuditService:
    def __init__(self, session: AsyncSession, keys: SigningKeys) -> None:
        self.session = session
        self.keys = keys

    async def page(self, cursor: str | None, limit: int) -> Page[AuditEntryOut]:
        codec = CursorCodec(self.keys, "moderation:audit-log")
        after = codec.decode_position(cursor)
        rows = await queries.audit_page(self.session, after=after, limit=limit)
        page, more = rows[:limit], len(rows) > limit
        items = [
            AuditEntryOut(
                id=str(entry.id),
                moderator=moderator,
                action=entry.action,
                note=entry.note,
                reason=entry.reason,
                statement=entry.statement,
                subject=dict(entry.subject or {}),
                item_id=str(entry.item_id),
                decision_id=str(entry.decision_id) if entry.decision_id else None,
                created_at=entry.created_at,
            )
            for entry, moderator in page
        ]
        next_cursor = codec.encode_position(page[-1][0].created_at, page[-1][0].id) if more else None
        return Page(items=items, next_cursor=next_cursor)
