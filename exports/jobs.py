"""Background jobs of personal data exports: building an archive, finding builds that were lost,
deleting expired archives, deleting ended exports' rows a while later, and deleting an account's
exports when it is purged.

A build survives a worker's death: its job is kept in the outbox until it has run
(`app.deferred_jobs`), SAQ takes back a job whose worker stopped beating, and `sweep_stalled`
enqueues again any export still pending a while after it was asked for (the job key keeps one that
is still queued or running from doubling). Every run counts itself on the row before it starts, so
an export whose runs keep dying or failing is given up as `failed` after MAX_BUILD_ATTEMPTS.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries as account_queries
from accounts.models import User
from accounts.notifications import notify
from app import retention
from app.db import in_transaction
from app.jobs import Job
from app.resources import Resources
from exports import queries
from exports.archive import write_archive
from exports.models import DataExport, ExportStatus
from exports.service import (
    BUILD_EXPORT_JOB,
    BUILD_TIMEOUT_SECONDS,
    MAX_BUILD_ATTEMPTS,
    build_job_key,
)

log = structlog.get_logger(__name__)

EXPORT_READY = "export_ready"
EXPORT_FAILED = "export_failed"
ARCHIVE_TYPE = "application/zip"
# A pending export this old has had time for its build to start: the sweep enqueues it again (a
# build still queued or running keeps its job key, so it is not doubled).
STALLED_AFTER = timedelta(minutes=10)
SWEEP_BATCH = 100
EXPIRE_BATCH = 100


async def build_export(resources: Resources, *, export_id: str) -> str:
    """BUILD_EXPORT_JOB: the export's archive, uploaded and the export made `ready` (and its owner
    notified); what became of it. Harmless to run again: only a pending export is built, and only
    the run that finds it still pending makes it ready (any other deletes what it uploaded)."""
    identifier = UUID(export_id)

    async def claim(session: AsyncSession) -> tuple[str, int, UUID | None]:
        export = await queries.get_for_update(session, identifier)
        if export is None or export.status != ExportStatus.PENDING.value:
            return "done", 0, None
        user = await session.get(User, export.user_id)
        if user is None or user.deleted_at is not None:
            # Asked for just before the account was deleted: the purge deletes exports too.
            await queries.delete_exports(session, [identifier])
            return "account_deleted", 0, None
        export.attempts += 1
        if export.attempts > MAX_BUILD_ATTEMPTS:
            await _fail(session, export, "export_interrupted", "The archive's build kept being interrupted")
            return "given_up", export.attempts, export.user_id
        return "claimed", export.attempts, export.user_id

    outcome, attempt, user_id = await in_transaction(resources.session_factory, claim)
    if outcome == "given_up" and user_id is not None:
        # Its runs died, some maybe after their upload: no row will name those.
        await _delete_runs_uploads(resources, user_id, identifier, range(1, attempt))
        return str(outcome)
    if user_id is None:
        return str(outcome)
    key = archive_key(user_id, identifier, attempt)
    try:
        size = await _build_and_upload(resources, user_id, key)
    except Exception as exc:
        if attempt < MAX_BUILD_ATTEMPTS:
            raise  # SAQ runs it again after its retry delay

        async def give_up(session: AsyncSession) -> bool:
            export = await queries.get_for_update(session, identifier)
            if export is None or export.status != ExportStatus.PENDING.value:
                return False
            await _fail(session, export, "export_failed", "The archive could not be built")
            return True

        log.exception("export_failed", export_id=export_id, attempts=attempt, error=str(exc))
        if not await in_transaction(resources.session_factory, give_up):
            # Another run made it ready meanwhile (its archive is one of the runs' keys), or the
            # account's purge deleted it: only what this run may have uploaded is its own to delete.
            await resources.storage.delete(key)
            return "superseded"
        await _delete_runs_uploads(resources, user_id, identifier, range(1, attempt + 1))
        return "failed"

    async def finish(session: AsyncSession) -> bool:
        export = await queries.get_for_update(session, identifier)
        if export is None or export.status != ExportStatus.PENDING.value:
            return False
        # Read under a lock the account's deletion waits for: either this commits first and the
        # purge (which starts after the deletion) finds the archive, or the deletion did and the
        # archive is not kept. Otherwise a purge reading the exports just before this commits
        # would delete the row and leave its archive in storage for ever.
        if not await account_queries.still_exists(session, export.user_id):
            return False
        now = datetime.now(UTC)
        export.status = ExportStatus.READY.value
        export.archive_key = key
        export.size_bytes = size
        export.completed_at = now
        export.expires_at = now + timedelta(days=resources.settings.export_retention_days)
        await notify(
            session,
            user_id=export.user_id,
            kind=EXPORT_READY,
            actor_id=None,
            subject_type="export",
            subject_id=export.id,
            data={},
            dedupe_key=f"{EXPORT_READY}:{export.id}",
        )
        return True

    if not await in_transaction(resources.session_factory, finish):
        # Another run finished it first, or the account was deleted meanwhile.
        await resources.storage.delete(key)
        return "superseded"
    # What earlier runs uploaded before they died (their keys are known: one per attempt).
    await _delete_runs_uploads(resources, user_id, identifier, range(1, attempt))
    log.info("export_ready", export_id=export_id, size_bytes=size, attempts=attempt)
    return "ready"


def archive_key(user_id: UUID, export_id: UUID, attempt: int) -> str:
    """Where run number `attempt` of the export uploads its archive: a key of its own (attempts are
    counted under the export's row lock), and one that can be found again once the run is gone."""
    return f"exports/{user_id}/{export_id}-{attempt}.zip"


async def _delete_runs_uploads(
    resources: Resources, user_id: UUID, export_id: UUID, attempts: Iterable[int]
) -> None:
    """The uploads of those runs, if any: a run that died between its upload and its commit left
    one that no row names."""
    for attempt in attempts:
        await resources.storage.delete(archive_key(user_id, export_id, attempt))


async def _build_and_upload(resources: Resources, user_id: UUID, key: str) -> int:
    """The archive written to a temporary file and uploaded from it; its size."""
    # REMIXFEED_EXPORT_TMP_DIR, else the system's temporary directory (None).
    parent = resources.settings.export_tmp_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="remixfeed-export-", dir=parent) as directory:
        path = Path(directory) / "export.zip"
        async with resources.session_factory() as session:
            # One snapshot for every file: the lists agree with each other.
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            user = await session.get(User, user_id)
            assert user is not None
            await write_archive(session, resources.storage, resources.signing_keys, user, path)
        size = path.stat().st_size
        await resources.storage.put_file(key, path, ARCHIVE_TYPE)
    return size


async def _fail(session: AsyncSession, export: DataExport, code: str, message: str) -> None:
    export.status = ExportStatus.FAILED.value
    export.completed_at = datetime.now(UTC)
    export.error_code = code
    export.error_message = message
    await notify(
        session,
        user_id=export.user_id,
        kind=EXPORT_FAILED,
        actor_id=None,
        subject_type="export",
        subject_id=export.id,
        data={},
        dedupe_key=f"{EXPORT_FAILED}:{export.id}",
    )


async def sweep_stalled(resources: Resources) -> int:
    """Enqueue the build again for exports still pending STALLED_AFTER after they were asked for;
    how many."""

    async def stalled(session: AsyncSession) -> list[UUID]:
        return await queries.stalled(session, datetime.now(UTC) - STALLED_AFTER, SWEEP_BATCH)

    found: list[UUID] = await in_transaction(resources.session_factory, stalled)
    for identifier in found:
        await resources.jobs.enqueue_or_defer(
            BUILD_EXPORT_JOB,
            key=build_job_key(identifier),
            timeout_seconds=BUILD_TIMEOUT_SECONDS,
            retries=MAX_BUILD_ATTEMPTS,
            export_id=str(identifier),
        )
    if found:
        log.warning("exports_resumed", count=len(found))
    return len(found)


async def expire_archives(resources: Resources) -> int:
    """Delete the archives of ready exports past their expiry and mark them `expired`; how many.
    The file goes first: a failure in between leaves a row that the next run expires again, never
    a file that nothing points at."""

    async def due(session: AsyncSession) -> list[tuple[UUID, str]]:
        return await queries.expired_archives(session, datetime.now(UTC), EXPIRE_BATCH)

    expired = 0
    while True:
        batch: list[tuple[UUID, str]] = await in_transaction(resources.session_factory, due)
        for export_id, key in batch:
            await resources.storage.delete(key)

            async def mark(session: AsyncSession, export_id: UUID = export_id) -> None:
                await queries.mark_expired(session, export_id)

            await in_transaction(resources.session_factory, mark)
        expired += len(batch)
        if len(batch) < EXPIRE_BATCH:
            break
    if expired:
        log.info("export_archives_expired", count=expired)
    return expired


async def prune_ended_exports(resources: Resources) -> int:
    """Exports that expired or failed more than REMIXFEED_ENDED_EXPORT_RETENTION_DAYS ago; how many
    went. Until then they stay in the owner's list; after, their id is 404 as anyone else's. The
    rate limit counts the same: an export that ended that long ago was asked for earlier still, past
    the limit's window (a day at most)."""
    before = datetime.now(UTC) - timedelta(days=resources.settings.ended_export_retention_days)

    async def batch(session: AsyncSession, limit: int) -> int:
        return await queries.delete_ended(session, before, limit)

    return await retention.prune(resources, "exports", batch)


async def purge_account(resources: Resources, user_id: UUID) -> None:
    """`accounts.hooks.on_account_purge`: a deleted account's exports and their archives. Harmless
    to run again; a build still running finds its export gone and deletes what it uploaded."""

    async def of_account(session: AsyncSession) -> list[tuple[UUID, str | None, int]]:
        return await queries.archives_of(session, user_id)

    found: list[tuple[UUID, str | None, int]] = await in_transaction(resources.session_factory, of_account)
    for export_id, key, attempts in found:
        if key is not None:
            await resources.storage.delete(key)
        # And every run's upload, a run that died before its commit included.
        await _delete_runs_uploads(resources, user_id, export_id, range(1, attempts + 1))

    async def forget(session: AsyncSession) -> int:
        return await queries.delete_exports(session, [export_id for export_id, _, _ in found])

    if found:
        await in_transaction(resources.session_factory, forget)


jobs = [
    Job(
        name=BUILD_EXPORT_JOB,
        function=build_export,
        timeout_seconds=BUILD_TIMEOUT_SECONDS,
        retries=MAX_BUILD_ATTEMPTS,
    ),
    Job(name="exports.sweep_stalled", function=sweep_stalled, cron="*/5 * * * *"),
    Job(name="exports.expire_archives", function=expire_archives, cron="23 * * * *"),
    Job(
        name="retention.exports",
        function=prune_ended_exports,
        cron="53 * * * *",
        timeout_seconds=retention.TIMEOUT_SECONDS,
    ),
]
