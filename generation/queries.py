"""The SQL of the generation domain."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import func, literal, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.db import advisory_xact_lock, try_advisory_xact_lock
from app.pagination import keyset_before
from feed.models import Video, video_appearances
from generation.models import TERMINAL_STATUSES, Generation


async def lock_user_for_quota(session: AsyncSession, user_id: UUID) -> bool:
    """Serialises one user's generation requests so two at once cannot both take the last slot.
    Whether the account is still there, read under that lock: a deletion under way (FOR UPDATE on
    the row) was waited for, and none starts until this transaction ends."""
    # NO KEY: rows that only refer to the user (a like, a comment) need not wait for it.
    deleted_at = await session.execute(
        text("SELECT deleted_at FROM users WHERE id = :id FOR NO KEY UPDATE"), {"id": user_id}
    )
    row = deleted_at.first()
    return row is not None and row[0] is None


async def share_remix_source(session: AsyncSession, video_id: UUID) -> None:
    """The key-share lock the generation's foreign key takes on the video it remixes, taken before
    `lock_user_for_quota`: a change of that video (a delete, a removal, the hiding of its author's
    videos by their account's deletion) holds the video's row and then takes its author's users
    row, so a remix by that author asking for the video after the users row deadlocked with it."""
    await session.execute(
        select(Video.id).where(Video.id == video_id).with_for_update(read=True, key_share=True)
    )


def _reference_lock(generation_id: UUID) -> str:
    return f"generation-reference:{generation_id}"


def _drafts_lock(user_id: UUID) -> str:
    return f"generation-drafts:{user_id}"


async def hold_off_drafts(session: AsyncSession, user_id: UUID) -> None:
    """Taken first by the deletion of the account, until its transaction ends: a step making a
    draft for the account (`deleted_before_draft`, from its check to its commit, database work
    only) is waited for, and none gets past its check until the deletion has ended."""
    await advisory_xact_lock(session, _drafts_lock(user_id))


async def deleted_before_draft(session: AsyncSession, user_id: UUID) -> bool:
    """Whether the account is deleted (or gone), read under the shared side of `hold_off_drafts`,
    held until this transaction ends: a deletion under way is waited for and then seen, and one
    that starts later waits for the draft this transaction makes, so it hides it."""
    await advisory_xact_lock(session, _drafts_lock(user_id), shared=True)
    found = await session.execute(select(User.deleted_at).where(User.id == user_id))
    row = found.one_or_none()
    return row is None or row.deleted_at is not None


async def lock_reference(session: AsyncSession, generation_id: UUID) -> None:
    """Held by the request storing the generation's reference image until its transaction ends, so
    the check for an unclaimed image (`reference_claimed`) never judges a request still under way.
    The id is new: nothing else waits for it."""
    await advisory_xact_lock(session, _reference_lock(generation_id))


async def try_lock_reference(session: AsyncSession, generation_id: UUID) -> bool:
    """`lock_reference` without waiting: False while the request storing the image is under way."""
    return await try_advisory_xact_lock(session, _reference_lock(generation_id))


async def reference_claimed(session: AsyncSession, generation_id: UUID, key: str) -> bool:
    """Whether the generation exists and points at the reference image `key`."""
    found = await session.scalar(
        select(Generation.id).where(Generation.id == generation_id, Generation.input_reference_key == key)
    )
    return found is not None


async def count_since(session: AsyncSession, user_id: UUID, since: datetime) -> int:
    count = await session.scalar(
        select(func.count()).where(Generation.user_id == user_id, Generation.created_at >= since)
    )
    return int(count or 0)


async def owned(session: AsyncSession, user_id: UUID, generation_id: UUID) -> Generation | None:
    result = await session.scalars(
        select(Generation).where(Generation.id == generation_id, Generation.user_id == user_id)
    )
    return result.one_or_none()


async def for_update(
    session: AsyncSession, generation_id: UUID, *, skip_locked: bool = False
) -> Generation | None:
    """The generation, its row locked; None when there is none (or, with `skip_locked`, when
    another transaction holds it)."""
    result = await session.scalars(
        select(Generation).where(Generation.id == generation_id).with_for_update(skip_locked=skip_locked)
    )
    return result.one_or_none()


async def by_provider_video_id(
    session: AsyncSession, provider: str, provider_video_id: str
) -> Generation | None:
    result = await session.scalars(
        select(Generation).where(
            Generation.provider == provider, Generation.provider_video_id == provider_video_id
        )
    )
    return result.first()


async def page(
    session: AsyncSession,
    *,
    user_id: UUID,
    status: str | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[Generation]:
    query = select(Generation).where(Generation.user_id == user_id)
    if status is not None:
        query = query.where(Generation.status == status)
    if after is not None:
        query = query.where(keyset_before(Generation.created_at, Generation.id, after))
    result = await session.scalars(
        query.order_by(Generation.created_at.desc(), Generation.id.desc()).limit(limit + 1)
    )
    return list(result.all())


async def unfinished_idle_since(session: AsyncSession, before: datetime, limit: int) -> list[UUID]:
    """Generations still running that nothing has touched lately: their job was lost."""
    result = await session.scalars(
        select(Generation.id)
        .where(Generation.status.notin_([status.value for status in TERMINAL_STATUSES]))
        .where(Generation.updated_at < before)
        .order_by(Generation.updated_at)
        .limit(limit)
    )
    return list(result.all())


async def unfinished_using_cameo_for_update(session: AsyncSession, cameo_id: UUID) -> list[Generation]:
    """The unfinished generations that cast the cameo, locked in id order; rows a step holds right
    now are skipped (a revocation must not wait for the provider; that step sees it itself)."""
    result = await session.scalars(
        select(Generation)
        .where(
            Generation.cameo_ids.contains([cameo_id]),
            Generation.status.notin_([status.value for status in TERMINAL_STATUSES]),
        )
        .order_by(Generation.id)
        .with_for_update(skip_locked=True)
    )
    return list(result.all())


async def unfinished_of_user_for_update(session: AsyncSession, user_id: UUID) -> list[Generation]:
    """The user's unfinished generations (about a day's quota at most: one running for two hours
    is given up), locked in id order; rows a step holds right now are skipped (the account's deletion must not
    wait for the provider; that step sees the deletion itself)."""
    result = await session.scalars(
        select(Generation)
        .where(
            Generation.user_id == user_id,
            Generation.status.notin_([status.value for status in TERMINAL_STATUSES]),
        )
        .order_by(Generation.id)
        .with_for_update(skip_locked=True)
    )
    return list(result.all())


async def ended_with_reference_for_update(session: AsyncSession, limit: int) -> list[Generation]:
    """Ended generations still pointing at a reference image, locked in id order (rows a step holds
    right now are skipped: that step releases it). Found through the partial index of the ones
    with an image, so only the generations under way are read besides."""
    result = await session.scalars(
        select(Generation)
        .where(Generation.input_reference_key.is_not(None))
        .where(Generation.status.in_([status.value for status in TERMINAL_STATUSES]))
        .order_by(Generation.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result.all())


async def of_user_for_update(session: AsyncSession, user_id: UUID, limit: int) -> list[Generation]:
    """A batch of the user's generations, locked in id order (a step holding one is waited for)."""
    result = await session.scalars(
        select(Generation)
        .where(Generation.user_id == user_id)
        .order_by(Generation.id)
        .limit(limit)
        .with_for_update()
    )
    return list(result.all())


# An appearance of a cameo: when, in which video, and that video's provider copy.
Appeared = tuple[datetime, UUID, str | None]


async def cameo_appearances_after(
    session: AsyncSession, *, owner_id: UUID, cameo_id: UUID, after: tuple[datetime, UUID] | None, limit: int
) -> list[Appeared]:
    """The next `limit` appearances of the owner's cameo after the position `after` (when, which
    video), in the order of the appearances' index, each with its video's provider copy."""
    appeared = video_appearances.c
    query = (
        select(appeared.created_at, appeared.video_id, Video.provider_video_id)
        .join(Video, Video.id == appeared.video_id)
        # By the owner first: the appearances' index is (user, created_at, video).
        .where(appeared.user_id == owner_id, appeared.cameo_id == cameo_id)
        .order_by(appeared.created_at, appeared.video_id)
        .limit(limit)
    )
    if after is not None:
        at, video = after
        position = tuple_(literal(at, appeared.created_at.type), literal(video, appeared.video_id.type))
        query = query.where(tuple_(appeared.created_at, appeared.video_id) > position)
    found = await session.execute(query)
    return [(appeared_at, video_id, provider_id) for appeared_at, video_id, provider_id in found]
