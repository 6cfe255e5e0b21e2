"""A generation request's reference image, stored before the request takes its user's quota lock.

The request chooses the generation's id first, so the image's key is known before the row exists,
and stores the image before the quota lock: a slow store holds up that request alone, not the
user's other generation requests. The request reads the quota once without the lock first, so a
user already over it stores nothing; the count under the lock decides. An image that no generation
comes to point at (its request refused over quota by that count, or failing later, its COMMIT
included) is deleted at once after the rollback, best effort, and in any case by
REFERENCE_CHECK_JOB, scheduled in Redis before the image is stored. A COMMIT that raised may have
committed all the same (the connection lost or the task cancelled once it was sent): the image is
then deleted only once the generation is found missing, after the request's lock (below) is free;
the database unreachable for that, it is left to REFERENCE_CHECK_JOB.

Scheduling the check takes no database connection: the request already holds one, and waiting for
a second while holding the first is how a burst of such requests could take the whole pool and
wait for each other (an outbox row written in a transaction of its own did that). Redis unreachable
then, the image is stored anyway: generation requests are accepted while Redis is down, and the
rollback's deletion still covers a refused one; only that deletion failing too (or the process
dying before it) leaves an image behind, logged as `reference_check_not_scheduled`.

The request holds an advisory lock on the generation's id until its transaction ends, taken before
the check is scheduled; the check takes it without waiting and, while the request is still under
way, runs again later rather than judge it. So however long a request lasts, the image of a
generation that commits is never deleted, and the delay only has to make a second run rare.

Once its generation has ended (completed, failed, blocked or cancelled) the image is never read
again: the provider gets it only when the generation is submitted, which an ended one never is
again, and no answer shows its key. `release_reference` deletes it once the transaction that ended
the generation has committed (through the media outbox, so also when the store fails then) and the
row forgets the key. Every step of a generation calls it (`runner.advance`), also one that finds
the generation ended elsewhere: a cameo's revocation cancels generations in the revoking
transaction, which has no store at hand, and their next step comes to announce it.
REFERENCE_SWEEP_JOB releases the image of any ended generation still pointing at one: cancelled by
a revocation when its next step was lost (a flushed Redis), or ended before images were released.
"""

from __future__ import annotations

from uuid import UUID

import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import after_rollback, commit_outcome_unknown, confirming_transaction, in_batches, in_transaction
from app.job_outage import redis_unavailable
from app.jobs import JobQueue, run_again_in
from app.media_deletion import MediaDeletions
from app.resources import Resources
from app.storage import MediaStorage
from generation import queries
from generation.models import Generation, GenerationStatus

log = structlog.get_logger(__name__)

REFERENCE_CHECK_JOB = "generation.check_reference"
# Longer than a request lasts once it has scheduled the check: the store's write (on S3 30 s a try,
# retried within 60 s), then the wait for the quota lock and the statements up to the COMMIT, each cut
# at REMIXFEED_DB_STATEMENT_TIMEOUT_SECONDS (30 s by default). Correctness does not rest on it (see
# above); an image a refused request could not delete lingers this long.
REFERENCE_CHECK_DELAY_SECONDS = 300
# How soon the check comes again when the request is still under way.
REFERENCE_RECHECK_SECONDS = 60
REFERENCE_SWEEP_JOB = "generation.sweep_references"
# Images released per transaction, and transactions per run: a backlog (the images of generations
# that ended before images were released) drains over a few runs rather than in one long one.
REFERENCE_SWEEP_BATCH = 100
REFERENCE_SWEEP_MAX_BATCHES = 10


def reference_key(generation_id: UUID) -> str:
    return f"generations/{generation_id}/reference.png"


def reference_check_key(generation_id: UUID | str) -> str:
    return f"{REFERENCE_CHECK_JOB}:{generation_id}"


async def store_reference(
    session: AsyncSession, storage: MediaStorage, jobs: JobQueue, generation_id: UUID, image: bytes
) -> str:
    """Store `image` as the reference of the generation `session` is about to insert with
    `generation_id`, deleted again unless that transaction commits it; its key."""
    key = reference_key(generation_id)
    await queries.lock_reference(session, generation_id)
    try:
        await jobs.enqueue(
            REFERENCE_CHECK_JOB,
            key=reference_check_key(generation_id),
            delay_seconds=REFERENCE_CHECK_DELAY_SECONDS,
            timeout_seconds=60,
            generation_id=str(generation_id),
        )
    except RedisError as exc:
        if not redis_unavailable(exc):
            raise
        log.warning("reference_check_not_scheduled", key=key, error=str(exc))

    async def delete_unclaimed() -> None:
        if commit_outcome_unknown(session):
            # The server may have committed the generation all the same: the image goes only once
            # its transaction has ended without it. Not sure (the database unreachable, the lock
            # still held), the image stays for REFERENCE_CHECK_JOB to judge.
            try:
                async with confirming_transaction(session) as check:
                    await queries.lock_reference(check, generation_id)
                    if await queries.reference_claimed(check, generation_id, key):
                        return
            except (SQLAlchemyError, OSError) as exc:
                log.warning("reference_kept_commit_unknown", key=key, error=str(exc))
                return
        await storage.delete(key)

    # Before the write: one that fails (a timeout) may still have stored the image.
    after_rollback(session, delete_unclaimed)
    await storage.put(key, image, "image/png")
    return key


def release_reference(session: AsyncSession, deletions: MediaDeletions, generation: Generation) -> None:
    """When `generation` (locked in `session`) has ended, its reference image is deleted once
    `session` commits and the row forgets its key; a generation still under way keeps it, as its
    submission may be tried again."""
    key = generation.input_reference_key
    if key is None or not GenerationStatus(generation.status).terminal:
        return
    deletions.after_commit(session, [key])
    generation.input_reference_key = None


async def check_reference(resources: Resources, generation_id: str) -> dict[str, float]:
    """REFERENCE_CHECK_JOB: delete the generation's reference image unless the generation exists and
    points at it (an ended one no longer does: its image is deleted already). Deleting a missing
    image succeeds, so running twice is harmless."""
    identifier = UUID(generation_id)
    key = reference_key(identifier)

    async def claimed(session: AsyncSession) -> bool | None:
        if not await queries.try_lock_reference(session, identifier):
            return None  # its request is still under way
        return await queries.reference_claimed(session, identifier, key)

    found: bool | None = await in_transaction(resources.session_factory, claimed)
    if found is None:
        return run_again_in(REFERENCE_RECHECK_SECONDS)
    if not found:
        # Its request ended without the generation: nothing will ever point at the image.
        await resources.storage.delete(key)
        log.info("unclaimed_reference_deleted", key=key)
    return {}


async def sweep_ended_references(resources: Resources) -> int:
    """REFERENCE_SWEEP_JOB: release the reference image of every ended generation still pointing at
    one (see the module's docstring); how many."""
    deletions = MediaDeletions.of(resources)

    async def batch(session: AsyncSession) -> int:
        ended = await queries.ended_with_reference_for_update(session, REFERENCE_SWEEP_BATCH)
        for generation in ended:
            release_reference(session, deletions, generation)
        return len(ended)

    released = await in_batches(
        resources.session_factory, batch, batch=REFERENCE_SWEEP_BATCH, max_batches=REFERENCE_SWEEP_MAX_BATCHES
    )
    if released:
        log.info("ended_references_released", count=released)
    return released
