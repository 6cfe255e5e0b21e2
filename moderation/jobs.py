"""Background jobs of moderation: filing what automated screening flagged, and returning items
whose lease lapsed to their queue."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import in_transaction
from app.jobs import Job
from app.resources import Resources
from app.screening import FLAG_CONTENT_JOB
from moderation import queries
from moderation.service.flags import flag_content

log = structlog.get_logger(__name__)


async def file_flag(
    resources: Resources,
    target_type: str,
    target_id: str,
    categories: list[str],
    text_kind: str,
    text_sha: str | None = None,
) -> None:
    """Enqueued by domains after a borderline text was accepted (see app/screening.py). Jobs
    queued before `text_sha` existed carry none, and file against the current text as before."""

    async def work(session: AsyncSession) -> Any:
        return await flag_content(
            session,
            target_type=target_type,
            target_id=target_id,
            categories=categories,
            text_kind=text_kind,
            text_sha=text_sha,
        )

    item_id = await in_transaction(resources.session_factory, work)
    if item_id is not None:
        log.info("content_flagged", target_type=target_type, target_id=target_id, item_id=str(item_id))


async def expire_leases(resources: Resources) -> int:
    """Items are claimable again as soon as their lease lapses; this also shows them as open."""

    async def work(session: AsyncSession) -> int:
        return await queries.release_lapsed(session, await queries.db_now(session))

    released: int = await in_transaction(resources.session_factory, work)
    if released:
        log.info("moderation_leases_expired", count=released)
    return released


jobs = [
    Job(name=FLAG_CONTENT_JOB, function=file_flag),
    Job(name="moderation.expire_leases", function=expire_leases, cron="* * * * *"),
]
