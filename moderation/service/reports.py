"""Reports by users. Reports on one target join its undecided item in the `reports` queue, which
keeps every one of them and is re-prioritised as they come in. One reporter has one open report per
target: another while it is open is 409 report_exists (it would count them twice, and the
moderators already have their report). A reporter sees only their own.
Takedown requests are reports too (`takedowns.py`), kept apart: neither list shows the other."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.pagination import CursorCodec, Page
from app.security import SigningKeys
from moderation import policy, queries
from moderation.errors import ReportExists, ReportNotFound
from moderation.models import ItemStatus, ModerationItem, Queue, Report
from moderation.schemas import ReportIn, ReportOut, Target
from moderation.service import targets


def report_out(report: Report, item: ModerationItem, outcome: str | None) -> ReportOut:
    closed = item.status == ItemStatus.CLOSED
    return ReportOut(
        id=str(report.id),
        status="closed" if closed else "open",
        target=Target(type=report.target_type, id=str(report.target_id)),
        reason=report.reason,
        details=report.details,
        outcome=outcome if closed else None,
        created_at=report.created_at,
    )


class ReportService:
    def __init__(self, session: AsyncSession, keys: SigningKeys) -> None:
        self.session = session
        self.keys = keys

    async def report(self, reporter: User, data: ReportIn) -> ReportOut:
        target = await targets.resolve(self.session, reporter, data.target_type, data.target_id)
        item_id = await queries.join_open_item(
            self.session,
            queue=Queue.REPORTS.value,
            target_type=target.type,
            target_id=target.id,
            subject_user_id=target.subject_user_id,
            snapshot=target.snapshot,
            reporter_id=reporter.id,
        )
        # The item's row is locked until commit (see join_open_item), so a report racing this one
        # by the same reporter sees it here once it is committed. The refusal rolls back the
        # count join_open_item added.
        earlier = await queries.first_report_by(self.session, item_id, reporter.id)
        if earlier is not None:
            raise ReportExists(
                f"Your report {earlier.id} on this {target.type} is still open; it is followed in "
                f"GET /v1/reports/{earlier.id}"
            )
        report = Report(
            reporter_id=reporter.id,
            item_id=item_id,
            target_type=target.type,
            target_id=target.id,
            reason=data.reason,
            details=data.details.strip(),
        )
        self.session.add(report)
        await self.session.flush()
        reasons, reporters = await queries.report_signals(self.session, item_id)
        await queries.set_priority(self.session, item_id, policy.priority(reasons, reporters))
        return ReportOut(
            id=str(report.id),
            status="open",
            target=Target(type=target.type, id=str(target.id)),
            reason=report.reason,
            details=report.details,
            outcome=None,
            created_at=report.created_at,
        )

    async def own(self, reporter: User, report_id: str) -> ReportOut:
        """One of the caller's reports; anyone else's is 404 like a missing one."""
        report, item, outcome = await own_filing(
            self.session, reporter, report_id, Queue.REPORTS, ReportNotFound
        )
        return report_out(report, item, outcome)

    async def mine(self, reporter: User, cursor: str | None, limit: int) -> Page[ReportOut]:
        return await filings_page(
            self.session,
            CursorCodec(self.keys, f"reports:{reporter.id}"),
            reporter,
            Queue.REPORTS,
            report_out,
            cursor=cursor,
            limit=limit,
        )


# What a user filed (reports, and takedown requests, which are reports in the `takedowns` queue):
# each list and lookup shows only its own queue.

Out = TypeVar("Out")


async def own_filing(
    session: AsyncSession, filer: User, raw_id: str, queue: Queue, missing: type[Exception]
) -> tuple[Report, ModerationItem, str | None]:
    """One of `filer`'s filings in `queue` with its item and outcome; anything else is `missing`."""
    try:
        identifier = UUID(raw_id)
    except ValueError as exc:
        raise missing() from exc
    report = await session.get(Report, identifier)
    item = await session.get(ModerationItem, report.item_id) if report is not None else None
    if report is None or item is None or report.reporter_id != filer.id or item.queue != queue:
        raise missing()
    outcomes = await queries.closing_actions(session, [item.id])
    return report, item, outcomes.get(item.id)


async def filings_page(
    session: AsyncSession,
    codec: CursorCodec,
    filer: User,
    queue: Queue,
    present: Callable[[Report, ModerationItem, str | None], Out],
    *,
    cursor: str | None,
    limit: int,
) -> Page[Out]:
    """`filer`'s filings in `queue`, newest first, each with its item's outcome once closed."""
    after = codec.decode_position(cursor)
    rows = await queries.own_reports_page(
        session, reporter_id=filer.id, queue=queue.value, after=after, limit=limit
    )
    page, more = rows[:limit], len(rows) > limit
    outcomes = await queries.closing_actions(session, [item.id for _, item in page])
    items = [present(report, item, outcomes.get(item.id)) for report, item in page]
    next_cursor = codec.encode_position(page[-1][0].created_at, page[-1][0].id) if more else None
    return Page(items=items, next_cursor=next_cursor)
