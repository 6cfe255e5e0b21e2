"""Cameos in generations: the second check right before the provider is asked, revocation while a
generation runs, the consent ledger of every use, the owners' wishes in the prompt, and the
provider's characters made from approved cameos.

Locks. A revocation locks the cameo row, then (in `cancel_generations_using`) the generations that
use it, skipping any a step holds at that moment; so it never waits for a generation. A step holds
its generation row and may then wait for a cameo row (`lock_cameos` before a draft is made, and
every ledger or appearance row it inserts, whose foreign key takes a share lock on the cameo): the
waits only ever go generation -> cameo, so they cannot deadlock. A generation a revocation skipped
is cancelled by its own step: the check before a draft waits for the revocation to commit and then
sees it.

No cameo lock is held across a provider call (it would make a revocation wait for the provider):
the check before submitting reads the cameos as last committed. A revocation committed just after
it finds the generation submitted, and the next step cancels it before any draft.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.notifications import actor_across_blocks, notify
from app.db import in_transaction
from app.jobs import run_again_in
from app.resources import Resources
from app.storage import MediaNotFound
from cameo import casting
from cameo.casting import Cast
from cameo.errors import CameoRevoked
from cameo.models import Cameo, CameoStatus, CameoUse, UseEvent
from cameo.permissions import Verdict
from cameo.queries import cameo_for_update, unregistered_approved_between
from cameo.service.lifecycle import MODERATION
from feed.models import Video
from feed.service import Appearance, cameos_in
from generation import queries
from generation.models import Generation, GenerationStatus
from generation.provider import ProviderError, VideoProvider
from generation.provider_deletion import delete_after_commit, forget_cameo_after_commit

log = structlog.get_logger(__name__)

REGISTER_CAMEO_JOB = "generation.register_cameo"
# Error codes a generation ends with when a cameo stops it.
CAMEO_REVOKED = "cameo_revoked"
CAMEO_PERMISSION_DENIED = "cameo_permission_denied"
# Ledger `basis` of a cameo whose generation was stopped because of the other cameo in it.
OTHER_REFUSED = "another_cameo_refused"
OTHER_REVOKED = "another_cameo_revoked"
REVOKED = "revoked"
# Notification kind: a draft was made with your cameo.
CAMEO_USED = "cameo_used"

# A character the provider could not make in this long after approval is given up.
REGISTER_GIVE_UP_AFTER = timedelta(hours=6)
# The sweep of lost registrations looks only at cameos approved longer ago than this.
REGISTER_SWEEP_IDLE = timedelta(minutes=5)
REGISTER_SWEEP_BATCH = 500
REGISTER_MAX_BACKOFF_SECONDS = 300.0
RECORDING_EXTENSIONS = {"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm"}


def register_job_key(cameo_id: UUID | str) -> str:
    return f"cameo-character:{cameo_id}"


@dataclass(frozen=True)
class Stop:
    """Why a generation may not go on: it ends `cancelled` with this error."""

    code: str
    message: str


REVOKED_STOP = Stop(CAMEO_REVOKED, "A cameo in this generation was revoked by its owner")
REFUSED_STOP = Stop(CAMEO_PERMISSION_DENIED, "You may no longer use a cameo in this generation")
# The error code a generation of a deleted account ends with, and the ledger's `basis` of its casts.
ACCOUNT_DELETED = "account_deleted"
ACCOUNT_DELETED_STOP = Stop(ACCOUNT_DELETED, "The account that asked for this generation was deleted")


# Before a video reaches more people


async def refuse_widening_revoked(session: AsyncSession, author: User, video: Video) -> None:
    """Registered with `feed.hooks.on_widening`: a video that features a cameo revoked since it
    was made reaches nobody new (409 cameo_revoked): a draft is not published, an unlisted video
    not made public. A revocation stops every new use of the likeness, and a post, or a wider
    audience for one, is one; the video stays as it is, for its author or the cameo's owner to
    delete. Narrowing the permission or a block does not stop it: the use was allowed when the
    video was made (the owner may delete the video). The cameos are share-locked first, so a
    revocation committing meanwhile is seen."""
    cameo_ids = await cameos_in(session, video)
    await lock_cameos(session, cameo_ids)
    if await casting.any_revoked(session, cameo_ids):
        raise CameoRevoked(
            "A cameo in this video has been revoked by its owner: it can no longer be published "
            "or made public"
        )


# Before the provider is asked


async def lock_cameos(session: AsyncSession, cameo_ids: Sequence[UUID]) -> None:
    """Share-locks the cameos (key share, in id order) so a revocation or a change in progress
    commits first and the check that follows sees it; they cannot change until this commits."""
    if cameo_ids:
        await session.execute(
            select(Cameo.id)
            .where(Cameo.id.in_(list(cameo_ids)))
            .order_by(Cameo.id)
            .with_for_update(read=True, key_share=True)
        )


async def check_before_submit(
    session: AsyncSession, generation: Generation, requester: User, *, teens_for_everyone: bool
) -> tuple[list[Cast], Stop | None]:
    """The request-time check again, on the cameos as they are now (`requester` as read by this
    step). On a refusal every cast is written to the ledger as `refused` (the refused one with its
    reason) and the Stop says why."""
    if not generation.cameo_ids:
        return [], None
    casts = await casting.recheck(
        session, requester, generation.cameo_ids, teens_for_everyone=teens_for_everyone
    )
    gone = len(casts) < len(generation.cameo_ids)
    if not gone and all(cast.verdict.allowed for cast in casts):
        return casts, None
    revoked = gone or any(cast.verdict.basis == REVOKED for cast in casts)
    for cast in casts:
        _record(
            session,
            generation,
            cast,
            UseEvent.REFUSED,
            basis=cast.verdict.basis if not cast.verdict.allowed else OTHER_REFUSED,
        )
    return casts, REVOKED_STOP if revoked else REFUSED_STOP


def record_submitted(session: AsyncSession, generation: Generation, casts: Sequence[Cast]) -> None:
    """Once per generation: written in the step that stores the provider's job, which commits once."""
    for cast in casts:
        _record(session, generation, cast, UseEvent.SUBMITTED)


def provider_prompt(prompt: str, casts: Sequence[Cast]) -> str:
    """The prompt the provider gets: the user's, then who each cameo is (its provider character
    when there is one, else the username) with the owner's wishes and limits as they are now."""
    if not casts:
        return prompt
    lines = [prompt, "", "Cameos (real people who agreed to appear; respect each one's wishes and limits):"]
    for cast in casts:
        character = cast.cameo.provider_character_id
        parts = [f"@{character}" if character else cast.owner.username]
        if cast.cameo.preferences.strip():
            parts.append(f"wishes: {_one_line(cast.cameo.preferences)}")
        if cast.cameo.restrictions.strip():
            parts.append(f"must not: {_one_line(cast.cameo.restrictions)}")
        lines.append("- " + "; ".join(parts))
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# While it runs, and when its draft is made


async def stop_if_revoked(
    session: AsyncSession, generation: Generation, *, teens_for_everyone: bool, wait: bool = False
) -> bool:
    """Ends the generation `cancelled` (cameo_revoked), with `cancelled` in the ledger, when one of
    its cameos is revoked or gone. With `wait`, a revocation in progress is waited for first."""
    if not generation.cameo_ids:
        return False
    if wait:
        await lock_cameos(session, generation.cameo_ids)
    if not await casting.any_revoked(session, generation.cameo_ids):
        return False
    requester = await session.get(User, generation.user_id)
    casts = (
        await casting.recheck(session, requester, generation.cameo_ids, teens_for_everyone=teens_for_everyone)
        if requester is not None
        else []
    )
    _cancel(session, generation, casts)
    return True


async def casts_for_draft(
    session: AsyncSession, generation: Generation, *, teens_for_everyone: bool
) -> list[Cast] | None:
    """The casts of a generation about to become a draft, each with the verdict that let it be
    submitted (a permission change after submission does not undo a use); None when a cameo was
    revoked meanwhile: the generation is then cancelled and no draft may be made."""
    if not generation.cameo_ids:
        return []
    if await stop_if_revoked(session, generation, teens_for_everyone=teens_for_everyone, wait=True):
        return None
    requester = await session.get(User, generation.user_id)
    if requester is None:
        generation.end(GenerationStatus.CANCELLED, REFUSED_STOP.code, REFUSED_STOP.message)
        return None
    casts = await casting.recheck(
        session, requester, generation.cameo_ids, teens_for_everyone=teens_for_everyone
    )
    submitted = {
        use.cameo_id: use
        for use in await session.scalars(
            select(CameoUse).where(
                CameoUse.generation_id == generation.id, CameoUse.event == UseEvent.SUBMITTED.value
            )
        )
    }
    return [
        dataclasses.replace(
            cast,
            verdict=Verdict(allowed=True, basis=use.basis, permission=use.permission),
        )
        if (use := submitted.get(cast.cameo.id)) is not None
        else cast
        for cast in casts
    ]


def appearances(casts: Sequence[Cast]) -> list[Appearance]:
    return [Appearance(user_id=cast.owner.id, cameo_id=cast.cameo.id) for cast in casts]


async def record_appearances(
    session: AsyncSession, generation: Generation, casts: Sequence[Cast], video_id: UUID
) -> None:
    """The draft is made: each cameo's count goes up, the ledger says `appeared`, and each owner
    other than the caster is told their cameo was used."""
    await casting.count_appearance(session, [cast.cameo.id for cast in casts])
    for cast in casts:
        _record(session, generation, cast, UseEvent.APPEARED, video_id=video_id)
        await notify(
            session,
            user_id=cast.owner.id,
            kind=CAMEO_USED,
            actor_id=await actor_across_blocks(session, generation.user_id, cast.owner.id),
            subject_type="video",
            subject_id=video_id,
            data={"video_id": str(video_id), "cameo_id": str(cast.cameo.id)},
            dedupe_key=f"cameo_used:{video_id}:{cast.owner.id}",
        )


# Revocation (a cameo hook, registered from the composition root)


async def cancel_generations_using(session: AsyncSession, cameo: Cameo) -> None:
    """In the revoking transaction (the cameo row is locked): every unfinished generation that
    uses the cameo ends `cancelled` (cameo_revoked) with `cancelled` in the ledger. One a step
    holds right now is skipped, not waited for: that step sees the revocation once it commits
    and cancels it itself, before any draft. Progress streams learn of it from the generation's
    next step, which announces a finished generation, or from their own re-read of the row.
    After the commit the provider's copies go: those of the generations cancelled here, and those
    of the videos featuring the cameo, which no one may remix any more (`provider_deletion`)."""
    await session.flush()
    generations = await queries.unfinished_using_cameo_for_update(session, cameo.id)
    for generation in generations:
        _cancel(session, generation, await _refused_casts(session, generation, REVOKED, known=cameo))
        delete_after_commit(session, None, generation.provider_video_id)
    if cameo.revoked_by != MODERATION:
        # A moderator's revocation is undone by a granted appeal (`cameo.service.review.reinstate`),
        # which makes the cameo's videos remixable again: their copies stay while they exist.
        forget_cameo_after_commit(session, cameo.id, cameo.owner_id)
    if generations:
        log.info("generations_cancelled_by_revocation", cameo_id=str(cameo.id), count=len(generations))
    await session.flush()


# The requester's account deleted (in the deleting request, or by the generation's own step)


async def cancel_for_deleted_account(session: AsyncSession, generation: Generation) -> None:
    """Ends the generation `cancelled` (account_deleted), with `cancelled` (basis
    account_deleted) in the ledger of every cameo it casts, as a revocation writes it: the owners
    see that their cameo was not used after all."""
    generation.end(GenerationStatus.CANCELLED, ACCOUNT_DELETED_STOP.code, ACCOUNT_DELETED_STOP.message)
    for cast in await _refused_casts(session, generation, ACCOUNT_DELETED):
        _record(session, generation, cast, UseEvent.CANCELLED)


async def _refused_casts(
    session: AsyncSession, generation: Generation, basis: str, *, known: Cameo | None = None
) -> list[Cast]:
    """The generation's casts (at most two) as they stand, each refused with `basis`, without the
    permission check (nothing is used)."""
    casts: list[Cast] = []
    for cameo_id in generation.cameo_ids:
        used = known if known is not None and cameo_id == known.id else await session.get(Cameo, cameo_id)
        owner = await session.get(User, used.owner_id) if used is not None else None
        if used is not None and owner is not None:
            verdict = Verdict(allowed=False, basis=basis, permission=used.permission)
            casts.append(Cast(cameo=used, owner=owner, verdict=verdict))
    return casts


def _cancel(session: AsyncSession, generation: Generation, casts: Sequence[Cast]) -> None:
    generation.end(GenerationStatus.CANCELLED, REVOKED_STOP.code, REVOKED_STOP.message)
    for cast in casts:
        basis = REVOKED if cast.cameo.status == CameoStatus.REVOKED else OTHER_REVOKED
        _record(session, generation, cast, UseEvent.CANCELLED, basis=basis)


def _record(
    session: AsyncSession,
    generation: Generation,
    cast: Cast,
    event: UseEvent,
    *,
    basis: str | None = None,
    video_id: UUID | None = None,
) -> None:
    if basis is not None:
        cast = dataclasses.replace(cast, verdict=dataclasses.replace(cast.verdict, basis=basis))
    casting.record(
        session,
        cast,
        caster_id=generation.user_id,
        generation_id=generation.id,
        event=event,
        video_id=video_id,
    )


# Provider characters


@dataclass(frozen=True)
class _Recording:
    key: str
    content_type: str | None
    name: str
    approved_at: datetime


def character_idempotency_key(cameo_id: UUID, recording_key: str) -> str:
    """The same for every try at registering one recording of one cameo, so a try whose answer
    was lost (a timeout after the provider made the character) is answered with that character
    rather than making a second; another recording is another request."""
    recording = hashlib.sha256(recording_key.encode()).hexdigest()[:16]
    return f"remixfeed-character-{cameo_id}-{recording}"


async def register_character(resources: Resources, provider: VideoProvider, cameo_id: UUID) -> dict[str, Any]:
    """The job run when a cameo is approved: registers its recording with the provider as a
    character, so prompts can name the person precisely. Idempotent (a cameo that has one, or is
    no longer active, is left alone); retried with backoff on retryable errors for a few hours;
    a refusal is logged and given up, and prompts then name the cameo by its username."""

    async def load(session: AsyncSession) -> _Recording | None:
        cameo = await session.get(Cameo, cameo_id)
        if (
            cameo is None
            or cameo.status != CameoStatus.ACTIVE
            or cameo.provider_character_id is not None
            or cameo.recording_key is None
        ):
            return None
        owner = await session.get(User, cameo.owner_id)
        return _Recording(
            key=cameo.recording_key,
            content_type=cameo.recording_content_type,
            name=owner.username if owner is not None else str(cameo.id),
            approved_at=cameo.reviewed_at or cameo.created_at,
        )

    recording: _Recording | None = await in_transaction(resources.session_factory, load)
    if recording is None:
        log.info("cameo_character_not_needed", cameo_id=str(cameo_id))
        return {}
    try:
        data, stored_type = await resources.storage.get(recording.key)
    except MediaNotFound:
        log.warning("cameo_character_recording_missing", cameo_id=str(cameo_id))
        await _give_up_character(resources, cameo_id)
        return {}
    content_type = recording.content_type or stored_type
    try:
        character_id = await provider.create_character(
            name=recording.name,
            video=data,
            filename=f"cameo.{RECORDING_EXTENSIONS.get(content_type, 'mp4')}",
            content_type=content_type,
            idempotency_key=character_idempotency_key(cameo_id, recording.key),
        )
    except ProviderError as error:
        waited = datetime.now(UTC) - recording.approved_at
        if error.retryable and waited < REGISTER_GIVE_UP_AFTER:
            delay = max(
                error.retry_after or 0.0,
                min(REGISTER_MAX_BACKOFF_SECONDS, max(5.0, waited.total_seconds() / 4)),
            )
            log.info("cameo_character_retry", cameo_id=str(cameo_id), code=error.code, in_seconds=delay)
            return run_again_in(delay)
        log.warning("cameo_character_refused", cameo_id=str(cameo_id), code=error.code, message=error.message)
        await _give_up_character(resources, cameo_id)
        return {}

    async def store(session: AsyncSession) -> None:
        cameo = await cameo_for_update(session, cameo_id)
        if cameo is not None and cameo.status == CameoStatus.ACTIVE and cameo.provider_character_id is None:
            cameo.provider_character_id = character_id

    await in_transaction(resources.session_factory, store)
    log.info("cameo_character_registered", cameo_id=str(cameo_id), character_id=character_id)
    return {}


async def _give_up_character(resources: Resources, cameo_id: UUID) -> None:
    """Recorded, so `sweep_unregistered` does not ask the provider again until a new approval."""

    async def mark(session: AsyncSession) -> None:
        cameo = await cameo_for_update(session, cameo_id)
        if cameo is not None and cameo.provider_character_id is None:
            cameo.provider_character_given_up_at = datetime.now(UTC)

    await in_transaction(resources.session_factory, mark)


async def sweep_unregistered(resources: Resources) -> int:
    """Enqueues the registration of every cameo approved in the last REGISTER_GIVE_UP_AFTER (and
    not in the last REGISTER_SWEEP_IDLE, which its own job has to do it) that has no character and
    was not given up: its job was lost (a flushed Redis, a retry whose re-enqueue failed). A
    registration still queued or waiting to retry keeps its key, so it is left as it is."""
    now = datetime.now(UTC)

    async def lost(session: AsyncSession) -> list[UUID]:
        return await unregistered_approved_between(
            session, now - REGISTER_GIVE_UP_AFTER, now - REGISTER_SWEEP_IDLE, REGISTER_SWEEP_BATCH
        )

    cameo_ids: list[UUID] = await in_transaction(resources.session_factory, lost)
    for cameo_id in cameo_ids:
        await resources.jobs.enqueue(
            REGISTER_CAMEO_JOB, key=register_job_key(cameo_id), cameo_id=str(cameo_id)
        )
    if cameo_ids:
        log.info("cameo_registrations_swept", count=len(cameo_ids))
    return len(cameo_ids)
