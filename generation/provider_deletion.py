"""Deleting our videos at the provider once its copy is of no more use.

The provider keeps every video it made (and its assets) until it is deleted. A copy is of no more
use once the generation has ended without a draft after it was submitted (cancelled by the
account's deletion or a cameo's revocation, failed, blocked, given up), once its draft video is
deleted (by its author or with the account), and once a cameo it features is revoked by its owner
(no one may remix it any more; a moderator's revocation may be undone by an appeal). A completed
generation's copy is otherwise kept while its video exists, because the provider makes a remix
from it (`runner._ask_provider`); with REMIXFEED_PROVIDER_KEEP_REMIX_SOURCES off it is deleted as
soon as the draft has committed, and remixes are then rendered from their prompt, as for a source
the provider has expired.

Each deletion is a job written to the outbox of the transaction that decides it
(`app.deferred_jobs`), so a process dying after the COMMIT, or Redis losing the job, does not lose
it. The provider deletes only a completed or failed video: one still rendering is waited for. A
failure is retried with backoff for a day, then given up (logged); it never touches the
generation or its video.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import in_transaction
from app.deferred_jobs import JobSpec, add_to_outbox
from app.jobs import JobQueue, run_again_in
from app.media_deletion import MediaDeletions
from app.resources import Resources
from feed.models import Video
from generation import queries
from generation.provider import ProviderError, VideoProvider

log = structlog.get_logger(__name__)

DELETE_AT_PROVIDER_JOB = "generation.delete_at_provider"
FORGET_CAMEO_AT_PROVIDER_JOB = "generation.forget_cameo_at_provider"
GIVE_UP_AFTER = timedelta(days=1)
MIN_BACKOFF_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 900.0
JOB_TIMEOUT_SECONDS = 300
# Videos of a revoked cameo a FORGET_CAMEO_AT_PROVIDER_JOB run goes through (an outbox row each).
FORGET_CAMEO_BATCH = 500


def delete_job_key(provider_video_id: str) -> str:
    return f"provider-delete:{provider_video_id}"


def delete_after_commit(session: AsyncSession, jobs: JobQueue | None, provider_video_id: str | None) -> None:
    """Delete the provider's video once `session` commits (nothing if it rolls back). Without
    `jobs` (a hook given only the session) the outbox row alone carries it: a job worker enqueues
    it after the outbox's grace."""
    if not provider_video_id:
        return
    kwargs: dict[str, Any] = {
        "provider_video_id": provider_video_id,
        "requested_at": datetime.now(UTC).isoformat(),
    }
    key = delete_job_key(provider_video_id)
    if jobs is not None:
        jobs.enqueue_after_commit(
            session, DELETE_AT_PROVIDER_JOB, key=key, timeout_seconds=JOB_TIMEOUT_SECONDS, **kwargs
        )
        return
    add_to_outbox(
        session,
        JobSpec(
            function=DELETE_AT_PROVIDER_JOB,
            key=key,
            kwargs=kwargs,
            run_at=None,
            timeout_seconds=JOB_TIMEOUT_SECONDS,
            retries=3,
        ),
    )


def _backoff_seconds(waited: timedelta, retry_after: float | None) -> float:
    exponential = min(MAX_BACKOFF_SECONDS, max(MIN_BACKOFF_SECONDS, waited.total_seconds() / 4))
    return max(exponential, retry_after or 0.0)


async def delete_video(provider: VideoProvider, provider_video_id: str, requested_at: str) -> dict[str, Any]:
    """DELETE_AT_PROVIDER_JOB's work: deleted (or found gone), or run again later: the video is
    still rendering (the provider deletes only finished ones), or the provider failed."""
    waited = datetime.now(UTC) - datetime.fromisoformat(requested_at)
    try:
        await provider.delete(provider_video_id)
    except ProviderError as error:
        retry_after = error.retry_after
        if not error.retryable:
            try:
                job = await provider.retrieve(provider_video_id)
            except ProviderError:
                job = None  # looked at again on the next try (a 404 then is a success)
            if job is not None and job.status in ("queued", "in_progress"):
                log.info("provider_video_delete_waits", provider_video_id=provider_video_id)
                return run_again_in(_backoff_seconds(waited, None))
        if waited >= GIVE_UP_AFTER:
            log.warning(
                "provider_video_delete_given_up",
                provider_video_id=provider_video_id,
                code=error.code,
                message=error.message,
            )
            return {}
        delay = _backoff_seconds(waited, retry_after)
        log.info(
            "provider_video_delete_retry",
            provider_video_id=provider_video_id,
            code=error.code,
            in_seconds=delay,
        )
        return run_again_in(delay)
    log.info("provider_video_deleted", provider_video_id=provider_video_id)
    return {}


# Hooks (registered from the composition root)


async def video_deleted(session: AsyncSession, video: Video, deletions: MediaDeletions) -> None:
    """feed.hooks.on_deleted: a deleted video can no longer be remixed; its provider copy goes."""
    delete_after_commit(session, deletions.jobs, video.provider_video_id)


def forget_cameo_job_key(cameo_id: UUID | str, after_video_id: UUID | str | None = None) -> str:
    base = f"provider-forget-cameo:{cameo_id}"
    return base if after_video_id is None else f"{base}:after:{after_video_id}"


def forget_cameo_after_commit(session: AsyncSession, cameo_id: UUID, owner_id: UUID) -> None:
    """A revoked cameo: no video featuring it may be remixed any more (each remix casts it again),
    so their provider copies go: one job for all of them, which goes through them a batch a run
    (a popular cameo may be in very many)."""
    add_to_outbox(
        session,
        JobSpec(
            function=FORGET_CAMEO_AT_PROVIDER_JOB,
            key=forget_cameo_job_key(cameo_id),
            kwargs={"cameo_id": str(cameo_id), "owner_id": str(owner_id)},
            run_at=None,
            timeout_seconds=JOB_TIMEOUT_SECONDS,
            retries=3,
        ),
    )


async def forget_cameo(
    resources: Resources,
    cameo_id: str,
    owner_id: str,
    after_appeared_at: str | None = None,
    after_video_id: str | None = None,
) -> int:
    """FORGET_CAMEO_AT_PROVIDER_JOB: the deletion of the provider's copies of the next
    FORGET_CAMEO_BATCH videos featuring the cameo after the position it is given (in the order of
    the appearances' index: when, then which video), then, when there may be more, the same job
    from the last of them. So a run's work is bounded however many videos there are, and a run
    that fails or dies is run again from its own position, never from the first video.

    Nothing is lost on the way: the batch's deletions and the next run are kept in the outbox
    (`app.deferred_jobs`) in one transaction of its own, which also reads the batch, and enqueued
    once it has committed. Until then this run's own outbox row, deleted only once the run has
    completed, stands for them: a failure before the commit fails the run, which is run again.
    After it, each deletion's row stands for it until its job has deleted the copy, so Redis
    losing the job, or the job failing past its retries while the provider is away, does not
    leave the person's likeness at the provider: the row is replayed. A run that dies between
    that commit and its completion is run again too: that batch is kept twice (keyed, and
    harmless twice) and so is the rest, as any job run twice (at least once, never lost)."""
    after = (
        (datetime.fromisoformat(after_appeared_at), UUID(after_video_id))
        if after_appeared_at is not None and after_video_id is not None
        else None
    )

    async def keep_batch(session: AsyncSession) -> list[queries.Appeared]:
        rows = await queries.cameo_appearances_after(
            session, owner_id=UUID(owner_id), cameo_id=UUID(cameo_id), after=after, limit=FORGET_CAMEO_BATCH
        )
        for _, _, provider_video_id in rows:
            delete_after_commit(session, resources.jobs, provider_video_id)
        if len(rows) == FORGET_CAMEO_BATCH:
            last_at, last_video_id, _ = rows[-1]
            resources.jobs.enqueue_after_commit(
                session,
                FORGET_CAMEO_AT_PROVIDER_JOB,
                key=forget_cameo_job_key(cameo_id, last_video_id),
                timeout_seconds=JOB_TIMEOUT_SECONDS,
                cameo_id=cameo_id,
                owner_id=owner_id,
                after_appeared_at=last_at.isoformat(),
                after_video_id=str(last_video_id),
            )
        return rows

    rows: list[queries.Appeared] = await in_transaction(resources.session_factory, keep_batch)
    count = sum(1 for _, _, provider_video_id in rows if provider_video_id)
    if count:
        log.info("provider_videos_of_revoked_cameo", cameo_id=cameo_id, count=count, after=after_video_id)
    return count
