"""The SQL of feed preferences, wellbeing check-ins and see-less (kept apart from feed/queries.py,
which holds the SQL of videos). Every write is one atomic statement, so concurrent requests of one
user neither conflict on the unique row nor lose a check-in's nudge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import ColumnElement, ScalarSelect, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import delete_oldest
from feed.models import FeedCheckin, FeedPreferences, see_less

T = TypeVar("T")

# How far one check-in moves mood_bias (-1 relaxed .. 1 energised); `same` halves it toward 0.
MOOD_STEP = 0.5
MOOD_DECAY = 0.5


async def preferences_of(session: AsyncSession, user_id: UUID) -> FeedPreferences | None:
    found: FeedPreferences | None = await session.scalar(
        select(FeedPreferences).where(FeedPreferences.user_id == user_id)
    )
    return found


async def _upsert(
    session: AsyncSession, user_id: UUID, values: dict[str, Any], update: dict[str, Any]
) -> None:
    statement = pg_insert(FeedPreferences).values(user_id=user_id, **values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[FeedPreferences.user_id], set_={**update, "updated_at": datetime.now(UTC)}
        )
    )


async def save_preferences(session: AsyncSession, user_id: UUID, **values: Any) -> FeedPreferences:
    """Set the given columns, creating the row with defaults for the rest when there is none."""
    await _upsert(session, user_id, values, values)
    found = await session.scalar(
        select(FeedPreferences)
        .where(FeedPreferences.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    assert found is not None
    return found


async def nudge_mood(session: AsyncSession, user_id: UUID, want: str) -> None:
    current = FeedPreferences.__table__.c.mood_bias
    moved: ColumnElement[float]
    if want == "more_relaxed":
        start, moved = -MOOD_STEP, func.greatest(-1.0, current - MOOD_STEP)
    elif want == "more_energized":
        start, moved = MOOD_STEP, func.least(1.0, current + MOOD_STEP)
    else:
        start, moved = 0.0, current * MOOD_DECAY
    await _upsert(session, user_id, {"mood_bias": start}, {"mood_bias": moved})


async def add_checkin(session: AsyncSession, user_id: UUID, mood: int, want: str) -> None:
    session.add(FeedCheckin(user_id=user_id, mood=mood, want=want))
    await session.flush()


async def delete_expired_checkins(session: AsyncSession, before: datetime, limit: int) -> int:
    """One batch of the check-ins made before `before`, oldest first (`ix_feed_checkins_created_at`);
    how many were deleted. The ranking reads none of them (a check-in's nudge is in `mood_bias` from
    the moment it is made). Rows another transaction holds are skipped, left for the next batch."""
    deleted = await delete_oldest(
        session, FeedCheckin, FeedCheckin.created_at, FeedCheckin.created_at < before, limit=limit
    )
    return len(deleted)


async def add_see_less_returning(
    session: AsyncSession, user_id: UUID, video_id: UUID, author_id: UUID, returned: ScalarSelect[T]
) -> T | None:
    """The see-less mark added (nothing when it is there already), in a statement that returns
    `returned` too, whether or not the mark was new: the insert as a WITH of the SELECT of
    `returned`, which PostgreSQL runs to completion in that same statement."""
    added = (
        pg_insert(see_less)
        .values(user_id=user_id, video_id=video_id, author_id=author_id)
        .on_conflict_do_nothing(index_elements=[see_less.c.user_id, see_less.c.video_id])
        .cte("added")
    )
    return await session.scalar(select(returned).add_cte(added))
