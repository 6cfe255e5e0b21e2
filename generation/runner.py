"""Moving a generation forward, one step at a time, until it ends.

Each step runs in one transaction holding the generation's row lock, so two copies of a step (a
retried job, a webhook and a poll at once) run one after the other and the second sees what the
first did: the provider is asked to create a video once per generation (and even a step that
dies mid-call retries with the same Idempotency-Key), and exactly one draft is made. Nothing is
kept in the worker: a step can run in any process, after any restart.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec
import structlog
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.db import after_commit, transaction
from app.media_deletion import MediaDeletions
from app.redis import key as redis_key
from app.resources import Resources
from app.storage import MediaNotFound
from feed.errors import RemixNotAllowed, VideoNotFound
from feed.models import Video
from feed.service import RenderedVideo, create_draft, remix_source
from generation import cameos, queries
from generation.models import Generation, GenerationStatus
from generation.provider import ProviderError, ProviderJob, VideoProvider
from generation.provider_deletion import delete_after_commit
from generation.references import release_reference
from generation.service import to_schema

log = structlog.get_logger(__name__)

MAX_BACKOFF_SECONDS = 300.0
# A generation the provider has not finished in this long is given up.
GIVE_UP_AFTER = timedelta(hours=2)


@dataclass(frozen=True)
class Step:
    """What a step left behind: finished, or when to look again."""

    finished: bool
    next_in_seconds: float = 0.0


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    """Exponential from 1 s, capped, never sooner than the provider asked."""
    exponential = min(MAX_BACKOFF_SECONDS, 2.0 ** max(0, attempt - 1))
    return max(exponential, retry_after or 0.0)


def progress_channel(resources: Resources, generation_id: UUID | str) -> str:
    return redis_key(resources.settings, "generation", str(generation_id))


async def advance(
    resources: Resources, provider: VideoProvider, generation_id: UUID, *, wait_for_others: bool = True
) -> Step:
    """One step. Without `wait_for_others`, a generation another step holds right now is left to
    that step (finished, as far as this one is concerned)."""
    async with transaction(resources.session_factory) as session:
        generation = await queries.for_update(session, generation_id, skip_locked=not wait_for_others)
        if generation is None:
            return Step(finished=True)
        if GenerationStatus(generation.status).terminal:
            # It may have been ended elsewhere (a revocation cancels it in its own transaction,
            # which has no way to reach the progress streams or the store): announce how it ended.
            release_reference(session, MediaDeletions.of(resources), generation)
            if _done_with_provider_copy(resources, generation):
                # At once: the revocation's own outbox row would wait out the outbox's grace.
                delete_after_commit(session, resources.jobs, generation.provider_video_id)
            _announce_after_commit(resources, session, generation)
            return Step(finished=True)
        now = datetime.now(UTC)
        if generation.retry_at is not None and generation.retry_at > now:
            return Step(finished=False, next_in_seconds=(generation.retry_at - now).total_seconds())
        if now - generation.created_at > GIVE_UP_AFTER:
            _end(
                generation,
                GenerationStatus.FAILED,
                "provider_timeout",
                "The video provider did not finish in time",
            )
        else:
            try:
                await _step(resources, provider, session, generation)
                generation.retry_at = None
            except ProviderError as error:
                _provider_failed(resources, generation, error)
        step = _next(resources, generation)
        # However this step ended it (the provider's answer, a revoked cameo, giving up).
        release_reference(session, MediaDeletions.of(resources), generation)
        if _done_with_provider_copy(resources, generation):
            delete_after_commit(session, resources.jobs, generation.provider_video_id)
        _announce_after_commit(resources, session, generation)
        return step


async def _step(
    resources: Resources, provider: VideoProvider, session: AsyncSession, generation: Generation
) -> None:
    # The requester's account deleted since (its deletion skipped a generation a step held, or
    # committed while the provider was being asked): nothing more is asked of the provider. The
    # one read of the step's requester, which the checks below take from the session.
    requester = await session.get(User, generation.user_id)
    if requester is None or requester.deleted_at is not None:
        await cameos.cancel_for_deleted_account(session, generation)
        return
    if generation.provider_video_id is None:
        submitted = await _submit(resources, provider, session, generation, requester)
        if submitted is None:
            return
        generation.provider_video_id = submitted.id
        job = submitted
    else:
        # A revoked cameo stops every later step; a permission change after submission does not.
        if await cameos.stop_if_revoked(
            session, generation, teens_for_everyone=resources.settings.teen_cameos_for_everyone
        ):
            return
        job = await provider.retrieve(generation.provider_video_id)
    await _apply(resources, provider, session, generation, job)


async def _submit(
    resources: Resources,
    provider: VideoProvider,
    session: AsyncSession,
    generation: Generation,
    requester: User,
) -> ProviderJob | None:
    """Asks the provider to make the video, on every attempt after the cameos pass their check
    again (None: refused, the generation is cancelled and the provider never asked)."""
    casts, stop = await cameos.check_before_submit(
        session, generation, requester, teens_for_everyone=resources.settings.teen_cameos_for_everyone
    )
    if stop is not None:
        _end(generation, GenerationStatus.CANCELLED, stop.code, stop.message)
        return None
    job = await _ask_provider(
        resources, provider, session, generation, cameos.provider_prompt(generation.prompt, casts)
    )
    # Only the step that got the provider's job commits its ledger entries: one per cameo.
    cameos.record_submitted(session, generation, casts)
    return job


async def _ask_provider(
    resources: Resources, provider: VideoProvider, session: AsyncSession, generation: Generation, prompt: str
) -> ProviderJob:
    generation.attempts += 1
    remix_key, create_key = provider_idempotency_keys(generation)
    source = await _remixable_source(session, generation)
    # The provider's remix takes no reference image: a remix sent with one is made from it instead.
    if (
        source is not None
        and generation.input_reference_key is None
        and source.provider_video_id
        and (source.model, source.seconds, source.size)
        == (generation.model, generation.seconds, generation.size)
    ):
        try:
            return await provider.remix(source.provider_video_id, prompt=prompt, idempotency_key=remix_key)
        except ProviderError as error:
            if error.retryable or error.blocked:
                raise
            # The provider no longer has the source (expired): render the remix from its prompt.
            log.info("remix_source_unavailable", generation_id=str(generation.id), error=error.code)
    reference = None
    if generation.input_reference_key:
        try:
            data, content_type = await resources.storage.get(generation.input_reference_key)
        except MediaNotFound as exc:
            raise ReferenceMissing() from exc
        reference = ("reference.png", data, content_type)
    return await provider.create(
        prompt=prompt,
        model=generation.model,
        seconds=generation.seconds,
        size=generation.size,
        input_reference=reference,
        idempotency_key=create_key,
    )


def provider_idempotency_keys(generation: Generation) -> tuple[str, str]:
    """The Idempotency-Keys of the generation's remix and create calls: the same on every try, so
    a try whose answer was lost is answered with the video it made, and one per call. The provider
    binds a key to the first request made with it: a remix's create (its source expired at the
    provider, or a remix it cannot make) sent with the remix's key would be refused, or answered
    as the failed remix. A generation that is no remix only ever creates, with the key it always
    had."""
    key = f"remixfeed-generation-{generation.id}"
    return key, key if generation.remix_of_id is None else f"{key}-create"


async def _apply(
    resources: Resources,
    provider: VideoProvider,
    session: AsyncSession,
    generation: Generation,
    job: ProviderJob,
) -> None:
    if job.status in ("queued", "in_progress"):
        generation.status = (
            GenerationStatus.IN_PROGRESS.value
            if job.status == "in_progress"
            else GenerationStatus.QUEUED.value
        )
        generation.progress = max(generation.progress, min(job.progress, 99))
        return
    if job.status == "failed":
        if job.blocked:
            _end(
                generation,
                GenerationStatus.BLOCKED,
                "content_policy",
                job.error_message or "Blocked by content policy",
            )
        else:
            _end(
                generation,
                GenerationStatus.FAILED,
                job.error_code or "provider_failed",
                job.error_message or "The video provider could not make this video",
            )
        return
    await _finish(resources, provider, session, generation, job)


async def _finish(
    resources: Resources,
    provider: VideoProvider,
    session: AsyncSession,
    generation: Generation,
    job: ProviderJob,
) -> None:
    base = f"videos/{generation.id}"
    video_bytes = await provider.download(job.id, "video")
    thumbnail = await provider.download(job.id, "thumbnail")
    thumbnail_key = f"{base}/thumbnail.{_image_extension(thumbnail)}"
    # Keys are fixed per generation, so a step retried after a crash overwrites, never duplicates.
    await resources.storage.put(f"{base}/video.mp4", video_bytes, "video/mp4")
    await resources.storage.put(thumbnail_key, thumbnail, f"image/{_image_extension(thumbnail)}")
    spritesheet_key: str | None = None
    try:
        spritesheet = await provider.download(job.id, "spritesheet")
        spritesheet_key = f"{base}/spritesheet.{_image_extension(spritesheet)}"
        await resources.storage.put(spritesheet_key, spritesheet, f"image/{_image_extension(spritesheet)}")
    except ProviderError as error:
        if error.retryable:
            raise
        log.info("spritesheet_unavailable", generation_id=str(generation.id))
    made = (f"{base}/video.mp4", thumbnail_key, spritesheet_key)
    # Read again under the lock the account's deletion takes first (the account may have been
    # deleted since this step began, or be being deleted now: waited for): from here to the
    # commit only the database is worked, and a deletion coming later waits and hides the draft.
    if await queries.deleted_before_draft(session, generation.user_id):
        await cameos.cancel_for_deleted_account(session, generation)
        MediaDeletions.of(resources).after_commit(session, [key for key in made if key is not None])
        return
    casts = await cameos.casts_for_draft(
        session, generation, teens_for_everyone=resources.settings.teen_cameos_for_everyone
    )
    if casts is None:
        # A cameo was revoked while the video was made: no draft, and nothing kept of it (deleted
        # once the cancellation has committed, also if the store fails at that moment).
        MediaDeletions.of(resources).after_commit(session, [key for key in made if key is not None])
        return
    video = await create_draft(
        session,
        RenderedVideo(
            author_id=generation.user_id,
            prompt=generation.prompt,
            model=generation.model,
            seconds=generation.seconds,
            size=generation.size,
            video_key=f"{base}/video.mp4",
            thumbnail_key=thumbnail_key,
            spritesheet_key=spritesheet_key,
            provider_video_id=job.id,
            cameos=list(generation.cameos),
            remix_of_id=generation.remix_of_id,
            appearances=cameos.appearances(casts),
        ),
    )
    await cameos.record_appearances(session, generation, casts, video.id)
    generation.video_id = video.id
    generation.progress = 100
    _end(generation, GenerationStatus.COMPLETED, None, None)


class RemixSourceGone(ProviderError):
    def __init__(self) -> None:
        super().__init__(
            "remix_not_allowed",
            "The video this remixes was deleted, blocked or closed to remixes before it could be made",
            retryable=False,
        )


async def _remixable_source(session: AsyncSession, generation: Generation) -> Video | None:
    """The remix source, checked again right before the provider is asked: the source may have
    been deleted, its author may have blocked the requester, or turned remixing off since."""
    if generation.remix_of_id is None:
        return None
    requester = await session.get(User, generation.user_id)
    if requester is None:
        raise RemixSourceGone()
    try:
        return await remix_source(session, requester, generation.remix_of_id)
    except (VideoNotFound, RemixNotAllowed) as exc:
        raise RemixSourceGone() from exc


class ReferenceMissing(ProviderError):
    """The generation's reference image is no longer stored: no later try would find it either."""

    def __init__(self) -> None:
        super().__init__(
            "reference_missing",
            "The reference image of this generation is no longer stored; start it again with the image",
            retryable=False,
        )


def _image_extension(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get(image.format or "", "bin")
    except (OSError, SyntaxError):
        return "bin"


def _end(generation: Generation, status: GenerationStatus, code: str | None, message: str | None) -> None:
    generation.end(status, code, message)


def _provider_failed(resources: Resources, generation: Generation, error: ProviderError) -> None:
    log.warning(
        "provider_call_failed", generation_id=str(generation.id), code=error.code, retryable=error.retryable
    )
    if error.blocked and not error.retryable:
        _end(generation, GenerationStatus.BLOCKED, "content_policy", error.message)
    elif not error.retryable:
        _end(generation, GenerationStatus.FAILED, error.code, error.message)
    elif generation.attempts >= resources.settings.generation_max_attempts:
        # A policy refusal the provider asked to be tried again (x-should-retry) that it kept
        # refusing ends blocked, as one refused at once does.
        _end(
            generation,
            GenerationStatus.BLOCKED if error.blocked else GenerationStatus.FAILED,
            error.code,
            f"{error.message}; gave up after {generation.attempts} tries",
        )
    else:
        if generation.provider_video_id is not None:
            # Polls and downloads count as tries too, or an outage could keep one alive forever.
            generation.attempts += 1
        delay = backoff_seconds(generation.attempts, error.retry_after)
        generation.retry_at = datetime.now(UTC) + timedelta(seconds=delay)


def _next(resources: Resources, generation: Generation) -> Step:
    if GenerationStatus(generation.status).terminal:
        return Step(finished=True)
    if generation.retry_at is not None:
        return Step(finished=False, next_in_seconds=(generation.retry_at - datetime.now(UTC)).total_seconds())
    return Step(finished=False, next_in_seconds=resources.settings.generation_poll_seconds)


def _done_with_provider_copy(resources: Resources, generation: Generation) -> bool:
    """Whether the generation has ended and the provider's copy of its video is of no more use:
    every end but `completed` (no draft was made of it), and a completed one too unless it is kept
    for the provider to make remixes from (`provider_deletion`)."""
    status = GenerationStatus(generation.status)
    if generation.provider_video_id is None or not status.terminal:
        return False
    return status != GenerationStatus.COMPLETED or not resources.settings.provider_keep_remix_sources


def _announce_after_commit(resources: Resources, session: AsyncSession, generation: Generation) -> None:
    message = msgspec.json.encode(to_schema(generation))
    channel = progress_channel(resources, generation.id)

    async def publish() -> None:
        await resources.redis.publish(channel, message)

    after_commit(session, publish)
