"""The SQL of moderation: items that reports join, claims under leases, and the lists moderators read.

Time for leases is the database's (`now()`), so API processes on different hosts agree on when a
lease ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, case, exists, func, literal_column, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from accounts.models import User
from app.db import advisory_xact_lock
from app.pagination import keyset_before
from moderation.models import Appeal, AuditEntry, Decision, ItemStatus, ModerationItem, Report

Position = tuple[datetime, UUID]

_OPEN_TARGET_WHERE = text("status <> 'closed'")


async def db_now(session: AsyncSession) -> datetime:
    # clock_timestamp(), not now(): now() is the transaction's start, which may be before a wait
    # on an item's row lock, and a lease must not outlive its time because of that wait.
    now = await session.scalar(select(func.clock_timestamp()))
    assert isinstance(now, datetime)
    return now


# --- reports and the items they join ---------------------------------------------------------


# An item's lease ended (as `moderation.service.queues.end_lease` ends it), the item open again.
_GIVEN_BACK: dict[str, Any] = {
    "status": ItemStatus.OPEN.value,
    "lease_holder_id": None,
    "lease_expires_at": None,
    "claimed_at": None,
}


async def join_open_item(
    session: AsyncSession,
    *,
    queue: str,
    target_type: str,
    target_id: UUID,
    subject_user_id: UUID | None,
    snapshot: dict[str, Any],
    reporter_id: UUID,
) -> UUID:
    """The id of the target's undecided item in `queue`, made now if there is none. One statement
    (INSERT ... ON CONFLICT on the partial unique index), so concurrent first reports still end in
    one item; the item's row stays locked until commit, which serialises the reports joining it.
    A moderator reporting an item they hold gives it back: nobody decides what they reported, and
    a claim would not have handed it to them."""
    statement = pg_insert(ModerationItem).values(
        queue=queue,
        status=ItemStatus.OPEN.value,
        target_type=target_type,
        target_id=target_id,
        subject_user_id=subject_user_id,
        snapshot=snapshot,
        report_count=1,
    )
    held_by_reporter = ModerationItem.lease_holder_id == reporter_id
    statement = statement.on_conflict_do_update(
        index_elements=[ModerationItem.queue, ModerationItem.target_type, ModerationItem.target_id],
        index_where=_OPEN_TARGET_WHERE,
        set_={
            "report_count": ModerationItem.report_count + 1,
            "updated_at": statement.excluded.updated_at,
            **{
                column: case((held_by_reporter, value), else_=getattr(ModerationItem, column))
                for column, value in _GIVEN_BACK.items()
            },
        },
    )
    item_id = await session.scalar(statement.returning(ModerationItem.id))
    assert isinstance(item_id, UUID)
    return item_id


async def file_or_refresh_item(
    session: AsyncSession,
    *,
    queue: str,
    target_type: str,
    target_id: UUID,
    subject_user_id: UUID | None,
    snapshot: dict[str, Any],
    priority: int,
) -> UUID:
    """An item with no reports behind it (a cameo's verification): made now, or, when the target
    already has an undecided one in `queue`, that item with the new snapshot, back to `open` so a
    moderator holding it cannot decide on what they have not seen. One statement, as above."""
    statement = pg_insert(ModerationItem).values(
        queue=queue,
        status=ItemStatus.OPEN.value,
        target_type=target_type,
        target_id=target_id,
        subject_user_id=subject_user_id,
        snapshot=snapshot,
        priority=priority,
        report_count=0,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[ModerationItem.queue, ModerationItem.target_type, ModerationItem.target_id],
        index_where=_OPEN_TARGET_WHERE,
        set_={
            "snapshot": statement.excluded.snapshot,
            "status": ItemStatus.OPEN.value,
            "lease_holder_id": None,
            "lease_expires_at": None,
            "claimed_at": None,
            "updated_at": statement.excluded.updated_at,
        },
    )
    item_id = await session.scalar(statement.returning(ModerationItem.id))
    assert isinstance(item_id, UUID)
    return item_id


async def first_report_by(session: AsyncSession, item_id: UUID, reporter_id: UUID) -> Report | None:
    return await session.scalar(
        select(Report)
        .where(Report.item_id == item_id, Report.reporter_id == reporter_id)
        .order_by(Report.created_at, Report.id)
        .limit(1)
    )


async def report_signals(session: AsyncSession, item_id: UUID) -> tuple[list[str], int]:
    """The reasons given on an item, and how many different people reported it."""
    rows = (
        await session.execute(select(Report.reason, Report.reporter_id).where(Report.item_id == item_id))
    ).all()
    return [row[0] for row in rows], len({row[1] for row in rows})


async def report_reason_counts(session: AsyncSession, item_id: UUID) -> dict[str, int]:
    """Each reason given on an item, with how many different people gave it."""
    rows = (
        await session.execute(
            select(Report.reason, func.count(func.distinct(Report.reporter_id)))
            .where(Report.item_id == item_id)
            .group_by(Report.reason)
        )
    ).all()
    return {row[0]: int(row[1]) for row in rows}


async def set_priority(session: AsyncSession, item_id: UUID, priority: int) -> None:
    await session.execute(
        update(ModerationItem)
        .where(ModerationItem.id == item_id)
        .values(priority=priority)
        .execution_options(synchronize_session=False)
    )


async def reports_of(session: AsyncSession, item_ids: Sequence[UUID]) -> list[tuple[Report, str | None]]:
    """Every report on these items with its reporter's username, oldest first."""
    if not item_ids:
        return []
    rows = (
        await session.execute(
            select(Report, User.username)
            .outerjoin(User, User.id == Report.reporter_id)
            .where(Report.item_id.in_(list(item_ids)))
            .order_by(Report.created_at, Report.id)
        )
    ).all()
    return [(row[0], row[1]) for row in rows]


async def first_report_per_reporter(session: AsyncSession, item_id: UUID) -> dict[UUID, UUID]:
    """reporter id -> their first report on the item (what their outcome notification points at)."""
    rows = (
        await session.execute(
            select(Report.reporter_id, Report.id)
            .where(Report.item_id == item_id)
            .order_by(Report.created_at.desc(), Report.id.desc())
        )
    ).all()
    return {row[0]: row[1] for row in rows}


async def own_reports_page(
    session: AsyncSession, *, reporter_id: UUID, queue: str, after: Position | None, limit: int
) -> list[tuple[Report, ModerationItem]]:
    """The reporter's reports that went to `queue` (reports, or takedown requests), newest first."""
    query = (
        select(Report, ModerationItem)
        .join(ModerationItem, ModerationItem.id == Report.item_id)
        .where(Report.reporter_id == reporter_id, ModerationItem.queue == queue)
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(keyset_before(Report.created_at, Report.id, after))
    rows = (await session.execute(query)).all()
    return [(row[0], row[1]) for row in rows]


async def closing_actions(session: AsyncSession, item_ids: Sequence[UUID]) -> dict[UUID, str]:
    """item id -> the action of its latest decision (for closed items: what closed it)."""
    if not item_ids:
        return {}
    rows = (
        await session.execute(
            select(Decision.item_id, Decision.action)
            .where(Decision.item_id.in_(list(item_ids)))
            .order_by(Decision.created_at, Decision.id)
        )
    ).all()
    return {row[0]: row[1] for row in rows}


# --- claims and leases -----------------------------------------------------------------------


def _needs_admin_decision(decision_id: Any) -> ColumnElement[bool]:
    """Whether the decision with this id needed an admin: one made on an escalated item, or the
    suspension of a moderator or an admin (which only an admin may impose)."""
    original, affected = aliased(ModerationItem), aliased(User)
    return exists().where(
        Decision.id == decision_id,
        original.id == Decision.item_id,
        or_(
            original.escalated.is_(True),
            and_(
                Decision.action == "suspend_user",
                exists().where(affected.id == Decision.affected_user_id, affected.role != "user"),
            ),
        ),
    )


def _needs_admin(item: Any) -> ColumnElement[bool]:
    """Whether only an admin may take the item: an escalated one, or the appeal of a decision that
    needed an admin (so a moderator never overrules one)."""
    return or_(
        item.escalated.is_(True),
        and_(item.target_type == "decision", _needs_admin_decision(item.target_id)),
    )


def _may_take(item: Any, moderator_id: Any) -> ColumnElement[bool]:
    """Whether this moderator may be handed the item, their role aside: not one about themselves,
    nor one they reported (or asked to take down), nor the appeal of a decision they made."""
    return and_(
        or_(item.subject_user_id.is_(None), item.subject_user_id != moderator_id),
        ~exists().where(Report.item_id == item.id, Report.reporter_id == moderator_id),
        ~exists().where(
            item.target_type == "decision",
            Decision.id == item.target_id,
            Decision.moderator_id == moderator_id,
        ),
    )


def _waits_for_another_admin(item: Any, now: datetime) -> ColumnElement[bool]:
    """An undecided item only an admin may take, that no admin may take now: each one decided what
    it appeals, reported it, is who it is about, or is suspended. It waits for another admin."""
    admin = aliased(User)
    return and_(
        item.status != ItemStatus.CLOSED.value,
        _needs_admin(item),
        ~exists().where(
            admin.role == "admin",
            or_(admin.suspended_until.is_(None), admin.suspended_until <= now),
            _may_take(item, admin.id),
        ),
    )


async def waits_for_another_admin(session: AsyncSession, item_id: UUID, now: datetime) -> bool:
    waits = await session.scalar(
        select(_waits_for_another_admin(ModerationItem, now)).where(ModerationItem.id == item_id)
    )
    return bool(waits)


async def decision_needs_admin(session: AsyncSession, decision_id: UUID) -> bool:
    return bool(await session.scalar(select(_needs_admin_decision(decision_id))))


async def item_needs_admin(session: AsyncSession, item_id: UUID) -> bool:
    needed = await session.scalar(select(_needs_admin(ModerationItem)).where(ModerationItem.id == item_id))
    return bool(needed)


async def claim_next(
    session: AsyncSession, *, queue: str, moderator_id: UUID, admin: bool, now: datetime
) -> ModerationItem | None:
    """Lock the next claimable item of `queue`: open, or claimed under a lease that has lapsed; by
    priority, then age. SKIP LOCKED passes over rows another transaction is claiming, so concurrent
    claims (from any number of processes) each get a different item or none. Items that need an
    admin are for admins only, and come first for them. Nobody is handed an item about themselves,
    nor one they reported or asked to take down, nor the appeal of their own decision."""
    query = (
        select(ModerationItem)
        .where(
            ModerationItem.queue == queue,
            ModerationItem.status != ItemStatus.CLOSED.value,
            or_(ModerationItem.status == ItemStatus.OPEN.value, ModerationItem.lease_expires_at <= now),
            _may_take(ModerationItem, moderator_id),
        )
        .order_by(ModerationItem.priority.desc(), ModerationItem.created_at, ModerationItem.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if admin:
        query = query.order_by(None).order_by(
            ModerationItem.escalated.desc(),
            ModerationItem.priority.desc(),
            ModerationItem.created_at,
            ModerationItem.id,
        )
    else:
        query = query.where(~_needs_admin(ModerationItem))
    result = await session.scalars(query)
    return result.one_or_none()


async def item_target(session: AsyncSession, item_id: UUID) -> tuple[str, UUID] | None:
    """What an item is about, read without locking it (it never changes): what a decision locks
    before the item itself (a cameo, `moderation.service.cameos`)."""
    row = (
        await session.execute(
            select(ModerationItem.target_type, ModerationItem.target_id).where(ModerationItem.id == item_id)
        )
    ).one_or_none()
    return None if row is None else (row.target_type, row.target_id)


async def item_for_update(session: AsyncSession, item_id: UUID) -> ModerationItem | None:
    return await session.get(ModerationItem, item_id, with_for_update=True)


async def release_lapsed(session: AsyncSession, now: datetime) -> int:
    """Put items whose lease ran out back to `open` (they are claimable either way; this keeps the
    table telling the truth)."""
    result = await session.execute(
        update(ModerationItem)
        .where(ModerationItem.status == ItemStatus.CLAIMED.value, ModerationItem.lease_expires_at <= now)
        .values(status=ItemStatus.OPEN.value, lease_holder_id=None, lease_expires_at=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- queues ----------------------------------------------------------------------------------


async def queue_stats(
    session: AsyncSession, now: datetime
) -> dict[str, tuple[int, int, int, datetime | None]]:
    """queue -> (undecided items, of which escalated, of which waiting for another admin, when the
    oldest of them came in)."""
    rows = (
        await session.execute(
            select(
                ModerationItem.queue,
                func.count(),
                func.count().filter(ModerationItem.escalated.is_(True)),
                func.count().filter(_waits_for_another_admin(ModerationItem, now)),
                func.min(ModerationItem.created_at),
            )
            .where(ModerationItem.status != ItemStatus.CLOSED.value)
            .group_by(ModerationItem.queue)
        )
    ).all()
    return {row[0]: (int(row[1]), int(row[2]), int(row[3]), row[4]) for row in rows}


# --- decisions, appeals, audit ---------------------------------------------------------------


async def decisions_of(session: AsyncSession, item_id: UUID) -> list[Decision]:
    result = await session.scalars(
        select(Decision).where(Decision.item_id == item_id).order_by(Decision.created_at, Decision.id)
    )
    return list(result.all())


async def appeal_of_decision(session: AsyncSession, decision_id: UUID) -> Appeal | None:
    result = await session.scalars(select(Appeal).where(Appeal.decision_id == decision_id))
    return result.one_or_none()


async def appeal_of_item(session: AsyncSession, item_id: UUID) -> Appeal | None:
    result = await session.scalars(select(Appeal).where(Appeal.item_id == item_id).with_for_update())
    return result.one_or_none()


async def usernames(session: AsyncSession, user_ids: Sequence[UUID | None]) -> dict[UUID, str]:
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    rows = (await session.execute(select(User.id, User.username).where(User.id.in_(wanted)))).all()
    return {row[0]: row[1] for row in rows}


async def audit_page(
    session: AsyncSession, *, after: Position | None, limit: int
) -> list[tuple[AuditEntry, str | None]]:
    """The audit log, newest first, with each moderator's username (null once the account is gone)."""
    query = (
        select(AuditEntry, User.username)
        .outerjoin(User, User.id == AuditEntry.moderator_id)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(keyset_before(AuditEntry.created_at, AuditEntry.id, after))
    rows = (await session.execute(query)).all()
    return [(row[0], row[1]) for row in rows]


# --- automated screening ---------------------------------------------------------------------


async def lock_flags_of(session: AsyncSession, target_type: str, target_id: UUID) -> None:
    """Serialises flags on one target until commit, so a retried or duplicated job that races the
    first cannot add the same flag twice."""
    await advisory_xact_lock(session, f"moderation-flags:{target_type}:{target_id}")


async def flag_already_recorded(
    session: AsyncSession,
    *,
    target_type: str,
    target_id: UUID,
    source: dict[str, str],
    text: str | None,
    categories: list[str],
) -> bool:
    """Whether the target's `automated` items already carry this flag: its undecided item any flag
    from the same text of the same row (`source`: a retried job, or the text flagged again while
    it waits), a decided item this very flag (the same text as it stood, flagged for these
    categories or more: a job run again after the decision, as a replay from the outbox may). A
    changed text, or a new category, is a new flag, filed again after a decision."""
    undecided_from_source = and_(
        ModerationItem.status != ItemStatus.CLOSED.value,
        ModerationItem.snapshot.contains({"flags": [source]}),
    )
    same_flag = ModerationItem.snapshot.contains(
        {"flags": [{**source, "text": text, "categories": list(categories)}]}
    )
    found = await session.scalar(
        select(ModerationItem.id)
        .where(
            ModerationItem.queue == "automated",
            ModerationItem.target_type == target_type,
            ModerationItem.target_id == target_id,
            or_(undecided_from_source, same_flag),
        )
        .limit(1)
    )
    return found is not None


async def join_flagged_item(
    session: AsyncSession,
    *,
    target_type: str,
    target_id: UUID,
    subject_user_id: UUID | None,
    snapshot: dict[str, Any],
    flag: dict[str, Any],
) -> tuple[UUID, list[dict[str, Any]]]:
    """Like `join_open_item` for the `automated` queue: a flag has no reporter, so the item keeps
    its flags in `snapshot.flags` (appended in the same statement) and counts them in report_count.
    The item's id and every flag it now carries."""
    statement = pg_insert(ModerationItem).values(
        queue="automated",
        status=ItemStatus.OPEN.value,
        target_type=target_type,
        target_id=target_id,
        subject_user_id=subject_user_id,
        snapshot={**snapshot, "flags": [flag]},
        report_count=1,
    )
    flags = func.coalesce(ModerationItem.snapshot["flags"], literal_column("'[]'::jsonb")).op("||")(
        statement.excluded.snapshot["flags"]
    )
    statement = statement.on_conflict_do_update(
        index_elements=[ModerationItem.queue, ModerationItem.target_type, ModerationItem.target_id],
        index_where=_OPEN_TARGET_WHERE,
        set_={
            "snapshot": ModerationItem.snapshot.op("||")(
                func.jsonb_build_object(literal_column("'flags'"), flags)
            ),
            "report_count": ModerationItem.report_count + 1,
            "updated_at": statement.excluded.updated_at,
        },
    )
    row = (await session.execute(statement.returning(ModerationItem.id, ModerationItem.snapshot))).one()
    return row[0], list((row[1] or {}).get("flags", []))


async def suspension_end_without(
    session: AsyncSession, *, user_id: UUID, granted_decision_id: UUID
) -> datetime | None:
    """When the user's suspensions end once `granted_decision_id` is lifted: the latest end among
    their other suspensions whose appeals were not granted, or None if none is still running."""
    ends = Decision.created_at + func.make_interval(0, 0, 0, 0, Decision.duration_hours)
    granted = exists().where(Appeal.decision_id == Decision.id, Appeal.outcome == "granted")
    latest = await session.scalar(
        select(func.max(ends)).where(
            Decision.affected_user_id == user_id,
            Decision.action == "suspend_user",
            Decision.id != granted_decision_id,
            ~granted,
        )
    )
    if latest is None or latest <= await db_now(session):
        return None
    assert isinstance(latest, datetime)
    return latest


async def removal_still_stands(
    session: AsyncSession, *, target_type: str, target_id: UUID, granted_decision_id: UUID
) -> bool:
    """Whether the target stays removed once `granted_decision_id` is undone: another removal of it
    (from any item about it) whose appeal was not granted, made since it was last restored."""
    about_target = (
        ModerationItem.target_type == target_type,
        ModerationItem.target_id == target_id,
        ModerationItem.queue != "appeals",
    )
    last_restored = await session.scalar(
        select(func.max(Decision.created_at))
        .join(ModerationItem, ModerationItem.id == Decision.item_id)
        .where(*about_target, Decision.action == "restore_content")
    )
    granted = exists().where(Appeal.decision_id == Decision.id, Appeal.outcome == "granted")
    query = (
        select(Decision.id)
        .join(ModerationItem, ModerationItem.id == Decision.item_id)
        .where(
            *about_target,
            Decision.action == "remove_content",
            Decision.id != granted_decision_id,
            ~granted,
        )
        .limit(1)
    )
    if last_restored is not None:
        query = query.where(Decision.created_at > last_restored)
    return await session.scalar(query) is not None
