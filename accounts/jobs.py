"""Background jobs of accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import hooks, notifications, queries
from accounts.mail import (
    MAIL_JOB_RETRIES,
    MAIL_JOB_TIMEOUT_SECONDS,
    PASSWORD_CHANGED_MAIL_JOB,
    PASSWORD_RESET_MAIL_JOB,
    HowChanged,
    changed_mail,
    reset_mail,
)
from accounts.models import User
from accounts.service import password_reset
from accounts.service.deletion import PURGE_ACCOUNT_JOB, PURGE_TIMEOUT_SECONDS, purge_job_key
from app import retention
from app.db import in_batches, in_transaction
from app.jobs import Job
from app.mail import send_mail
from app.resources import Resources

log = structlog.get_logger(__name__)

# Expired refresh tokens are deleted a day after they expire.
TOKEN_GRACE = timedelta(days=1)
PURGE_BATCH = 500
# Enough for any account's notifications at PURGE_BATCH a transaction; a run cut short by its
# timeout is finished by the sweep.
PURGE_MAX_BATCHES = 10_000
# A deleted account whose purge has not finished this long after its deletion is purged again by
# the sweep: its job was lost (Redis or the worker away past the outbox's replays) or failed.
PURGE_SWEEP_AFTER = timedelta(minutes=15)
PURGE_SWEEP_BATCH = 50


async def purge_expired_refresh_tokens(resources: Resources) -> int:
    """Expired refresh tokens can never be used again; keep the table small. In batches, as the
    retention jobs (`app.retention`); their logins are the session retention's."""
    before = datetime.now(UTC) - TOKEN_GRACE

    async def batch(session: AsyncSession, limit: int) -> int:
        return await queries.purge_refresh_tokens(session, before, limit)

    return await retention.prune(resources, "refresh_tokens", batch)


async def prune_notifications(resources: Resources) -> int:
    """Notifications older than REMIXFEED_NOTIFICATION_RETENTION_DAYS, read or not, but the kinds
    that outlive retention (`accounts.notifications.outlive_retention`); how many went."""
    before = datetime.now(UTC) - timedelta(days=resources.settings.notification_retention_days)

    async def batch(session: AsyncSession, limit: int) -> int:
        return await notifications.delete_expired(session, before, limit)

    return await retention.prune(resources, "notifications", batch)


async def prune_ended_sessions(resources: Resources) -> int:
    """Logins that ended or expired more than REMIXFEED_SESSION_RETENTION_DAYS ago, with any refresh
    tokens of theirs still kept; how many logins went. Until then an ended login stays in the
    account's export and `DELETE /v1/me/sessions/{id}` answers 204 for it; after, 404."""
    before = datetime.now(UTC) - timedelta(days=resources.settings.session_retention_days)

    async def batch(session: AsyncSession, limit: int) -> int:
        return await queries.delete_ended_logins(session, before, limit)

    return await retention.prune(resources, "sessions", batch)


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


async def send_password_reset(resources: Resources, *, user_id: str) -> bool:
    """PASSWORD_RESET_MAIL_JOB: the reset mail, with a token made now from the account as it is now
    (the job's arguments hold no token, nor does its result: neither is a credential kept in
    PostgreSQL or Redis). A run that failed to send is retried, with a new token, the earlier one
    never seen. False when the account is gone (deleted since, or the test data wiped)."""
    settings = resources.settings
    identifier = UUID(user_id)

    async def token_and_address(session: AsyncSession) -> tuple[str, str] | None:
        binding = await password_reset.current_binding(session, identifier)
        if binding is None:
            return None
        expires_at = password_reset.now() + timedelta(minutes=settings.password_reset_ttl_minutes)
        return password_reset.make_token(
            resources.signing_keys, identifier, binding, expires_at
        ), binding.email

    found: tuple[str, str] | None = await in_transaction(resources.session_factory, token_and_address)
    if found is None:
        log.info("password_reset_mail_dropped", user_id=user_id, reason="no_account")
        return False
    token, address = found
    await send_mail(settings, reset_mail(settings, address, token))
    return True


async def send_password_changed(resources: Resources, *, user_id: str, changed_at: str, how: str) -> bool:
    """PASSWORD_CHANGED_MAIL_JOB: tell the account, at its address as it is now, that its password
    changed. False when the account is gone (nobody left to tell)."""

    async def address(session: AsyncSession) -> str | None:
        binding = await password_reset.current_binding(session, UUID(user_id))
        return None if binding is None else binding.email

    to: str | None = await in_transaction(resources.session_factory, address)
    if to is None:
        log.info("password_changed_mail_dropped", user_id=user_id, reason="no_account")
        return False
    way: HowChanged = "reset" if how == "reset" else "changed"
    await send_mail(
        resources.settings, changed_mail(resources.settings, to, datetime.fromisoformat(changed_at), way)
    )
    return True


jobs = [
    Job(
        name="accounts.purge_expired_refresh_tokens",
        function=purge_expired_refresh_tokens,
        cron="17 * * * *",
        timeout_seconds=retention.TIMEOUT_SECONDS,
    ),
    Job(
        name="retention.notifications",
        function=prune_notifications,
        cron="37 * * * *",
        timeout_seconds=retention.TIMEOUT_SECONDS,
    ),
    Job(
        name="retention.sessions",
        function=prune_ended_sessions,
        cron="47 * * * *",
        timeout_seconds=retention.TIMEOUT_SECONDS,
    ),
    Job(name=PURGE_ACCOUNT_JOB, function=purge_deleted_account, timeout_seconds=1800),
    Job(name="accounts.sweep_unfinished_purges", function=sweep_unfinished_purges, cron="*/10 * * * *"),
    Job(
        name=PASSWORD_RESET_MAIL_JOB,
        function=send_password_reset,
        timeout_seconds=MAIL_JOB_TIMEOUT_SECONDS,
        retries=MAIL_JOB_RETRIES,
    ),
    Job(
        name=PASSWORD_CHANGED_MAIL_JOB,
        function=send_password_changed,
        timeout_seconds=MAIL_JOB_TIMEOUT_SECONDS,
        retries=MAIL_JOB_RETRIES,
    ),
]
