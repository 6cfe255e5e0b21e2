"""Background jobs of accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import hooks, queries
from accounts.models import User
from accounts.service import AuthService
from accounts.service.deletion import PURGE_ACCOUNT_JOB, PURGE_TIMEOUT_SECONDS, purge_job_key
from app.db import in_batches, in_transaction
from app.jobs import Job
from app.resources import Resources

log = structlog.get_logger(__name__)

PURGE_BATCH = 500
# Enough for any account's notifications at PURGE_BATCH a transaction; a run cut short by its
# timeout is finished by the sweep.
PURGE_MAX_BATCHES = 10_000
# A deleted account whose purge has not finished this long after its deletion is purged again by
# the sweep: its job was lost (Redis or the worker away past the outbox's replays) or failed.
PURGE_SWEEP_AFTER = timedelta(minutes=15)
PURGE_SWEEP_BATCH = 50


async def purge_expired_refresh_tokens(resources: Resources) -> int:
    """Expired refresh tokens can never be used again; keep the table small."""

    async def work(session):  # type: ignore[no-untyped-def]
        return await AuthService(session, resources.settings).purge_expired_tokens()

    purged: int = await in_transaction(resources.session_factory, work)
    log.info("refresh_tokens_purged", count=purged)
    return purged


async def purge_deleted_account(resources: Resources, *, user_id: str) -> bool:
    """PURGE_ACCOUNT_JOB: what a deleted account left behind, after the request that deleted it
    committed: its follows both ways (everyone's counts moved) and blocks, each domain's part
    (`accounts.hooks.on_account_purge`), its idempotency records and notifications. Each runs in
    batches of its own transactions and is harmless to run again, so a run cut short anywhere is
    finished by the next (the sweep's); `users.purged_at` is set once every part has finished.
    False when the account is not deleted (nothing to do)."""
    identifier = UUID(user_id)

    async def deleted(session: AsyncSession) -> bool:
        user = await session.get(User, identifier)
        return user is not None and user.deleted_at is not None

    if not await in_transaction(resources.session_factory, deleted):
        return False

    async def follows(session: AsyncSession) -> int:
        return await queries.remove_follows_of(session, identifier, PURGE_BATCH)

    async def blocks(session: AsyncSession) -> int:
        return await queries.remove_blocks_of(session, identifier, PURGE_BATCH)

    # First: until they are ended, reads take them off the counts (accounts.queries.follow_counts).
    for work in (follows, blocks):
        await in_batches(resources.session_factory, work, batch=PURGE_BATCH, max_batches=PURGE_MAX_BATCHES)
    await hooks.purge(resources, identifier)

    async def notifications(session: AsyncSession) -> int:
        return await queries.delete_notifications_of(session, identifier, PURGE_BATCH)

    async def idempotency_records(session: AsyncSession) -> int:
        return await queries.delete_idempotency_records_of(session, identifier, PURGE_BATCH)

    await in_batches(
        resources.session_factory, idempotency_records, batch=PURGE_BATCH, max_batches=PURGE_MAX_BATCHES
    )
    # Last: the other parts retract what they notified of, and nothing may notify them after this.
    removed = await in_batches(
        resources.session_factory, notifications, batch=PURGE_BATCH, max_batches=PURGE_MAX_BATCHES
    )

    async def finish(session: AsyncSession) -> None:
        await queries.mark_purged(session, identifier, datetime.now(UTC))

    await in_transaction(resources.session_factory, finish)
    log.info("account_purged", user_id=user_id, notifications=removed)
    return True


async def sweep_unfinished_purges(resources: Resources) -> int:
    """Enqueue the purge again for deleted accounts whose purge has not finished a while after
    their deletion; how many. A purge still running keeps its job key, so it is not doubled."""

    async def pending(session: AsyncSession) -> list[UUID]:
        before = datetime.now(UTC) - PURGE_SWEEP_AFTER
        return await queries.purges_pending(session, before, PURGE_SWEEP_BATCH)

    found: list[UUID] = await in_transaction(resources.session_factory, pending)
    for identifier in found:
        await resources.jobs.enqueue_or_defer(
            PURGE_ACCOUNT_JOB,
            key=purge_job_key(identifier),
            timeout_seconds=PURGE_TIMEOUT_SECONDS,
            user_id=str(identifier),
        )
    if found:
        log.warning("account_purges_resumed", count=len(found))
    return len(found)


jobs = [
    Job(
        name="accounts.purge_expired_refresh_tokens", function=purge_expired_refresh_tokens, cron="17 * * * *"
    ),
    Job(name=PURGE_ACCOUNT_JOB, function=purge_deleted_account, timeout_seconds=1800),
    Job(name="accounts.sweep_unfinished_purges", function=sweep_unfinished_purges, cron="*/10 * * * *"),
]
