"""Moderation items as moderators see them, built in a fixed number of queries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from moderation import queries
from moderation.models import ItemStatus, ModerationItem
from moderation.schemas import DecisionOut, ItemOut, ItemReport, Subject, Target, UserRef


def lease_lapsed(item: ModerationItem, now: datetime) -> bool:
    return (
        item.status == ItemStatus.CLAIMED
        and item.lease_expires_at is not None
        and item.lease_expires_at <= now
    )


class ItemPresenter:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def one(self, item: ModerationItem, now: datetime) -> ItemOut:
        """The item with every report, its decisions so far, and who holds it. A lease that has run
        out shows as an open item nobody holds."""
        reports = await queries.reports_of(self.session, [item.id])
        decisions = await queries.decisions_of(self.session, item.id)
        lapsed = lease_lapsed(item, now)
        waiting = await queries.waits_for_another_admin(self.session, item.id, now)
        names = await queries.usernames(
            self.session,
            [
                item.subject_user_id,
                None if lapsed else item.lease_holder_id,
                *(decision.moderator_id for decision in decisions),
                *(decision.affected_user_id for decision in decisions),
            ],
        )
        subject_name = names.get(item.subject_user_id) if item.subject_user_id else None
        return ItemOut(
            id=str(item.id),
            queue=item.queue,  # type: ignore[arg-type]
            status=ItemStatus.OPEN.value if lapsed else item.status,  # type: ignore[arg-type]
            escalated=item.escalated,
            waiting_for="another_admin" if waiting else None,
            target=Target(type=item.target_type, id=str(item.target_id)),
            subject=Subject(
                user=UserRef(id=str(item.subject_user_id), username=subject_name)
                if item.subject_user_id is not None and subject_name is not None
                else None,
                snapshot=dict(item.snapshot or {}),
            ),
            reports=[
                ItemReport(
                    id=str(report.id),
                    reason=report.reason,
                    details=report.details,
                    reporter=reporter,
                    created_at=report.created_at,
                )
                for report, reporter in reports
            ],
            report_count=item.report_count,
            priority=item.priority,
            history=[
                DecisionOut(
                    id=str(decision.id),
                    action=decision.action,
                    note=decision.note,
                    reason=decision.reason,
                    statement=decision.statement,
                    duration_hours=decision.duration_hours,
                    moderator=names.get(decision.moderator_id) if decision.moderator_id else None,
                    affected_user=names.get(decision.affected_user_id) if decision.affected_user_id else None,
                    created_at=decision.created_at,
                )
                for decision in decisions
            ],
            lease_holder=None if lapsed or item.lease_holder_id is None else names.get(item.lease_holder_id),
            lease_expires_at=None if lapsed else item.lease_expires_at,
            created_at=item.created_at,
            closed_at=item.closed_at,
        )
