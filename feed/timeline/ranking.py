"""The feed's three cuts, and the ranking of `for_you` for connection over global popularity.

Tiers of `for_you`, strongest first; an item's `reason` is the strongest tier that brought it:

1. `cameo_of_you`   a video the viewer's cameo is in
2. `remix_of_yours` a remix of one of the viewer's videos
3. `followed`       a post of someone the viewer follows (their inbox, plus follows made since)
4. `interacted`     a recent post of someone whose videos the viewer liked, commented on or remixed
5. `steered`        a video matching the topics the viewer's steering favours (full-text search)
6. `popular`        the popular set (engagement with time decay, kept in Redis) and the newest posts

Within a tier: score = ln(2 + likes + 2·comments + 3·remixes + views/20) / (1 + age in days)^1.2,
times (1 + 0.3·mood_bias·m) where m is +1 for a video matching the energised vocabulary, -1 for the
relaxed one (check-ins move `mood_bias` between -1, more relaxed, and +1, more energised), times
0.3 per video of that author the viewer marked see-less. Then, cheaply, no more than
MAX_RUN videos in a row from one author when another candidate can go in between.

Always left out (every cut): the viewer's own videos (in `for_you` and `latest`; `following` cannot
have them), anything not published, public and undeleted, authors across a block either way,
videos marked see-less, ids already served in the feed session (`exclude`), and in `for_you`
videos matching an avoided topic. With `personalized` off, `for_you` is the same for everyone
(popular and newest, reason `popular`): no tiers, steering, mood or author weighting; the
filters above still apply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar
from uuid import UUID

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.settings import Settings
from feed.models import Video
from feed.preferences import preferences_of
from feed.timeline import queries
from feed.timeline.inbox import INBOX_READ, Inboxes

T = TypeVar("T")

Cut = Literal["for_you", "following", "latest"]
Reason = Literal["followed", "interacted", "remix_of_yours", "cameo_of_you", "steered", "popular"]

# At most this many videos in a row from one author, when something else can go in between.
MAX_RUN = 3
# Ranked rows read per item asked for, to leave room for the diversity pass.
OVERFETCH = 3
MAX_RANKED_ROWS = 300


@dataclass(frozen=True)
class FeedItem:
    video: Video
    reason: Reason
    # (published_at, id): the position chronological cuts' cursors carry.
    position: tuple[datetime, UUID]


def _item(video: Video, reason: Reason) -> FeedItem:
    published = video.published_at or video.created_at
    return FeedItem(video=video, reason=reason, position=(published, video.id))


class FeedRanker:
    def __init__(self, session: AsyncSession, redis: Redis, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.inboxes = Inboxes(redis, settings)

    async def select(
        self,
        viewer: User,
        cut: Cut,
        *,
        limit: int,
        exclude: set[UUID],
        before: tuple[datetime, UUID] | None = None,
    ) -> list[FeedItem]:
        """Up to `limit` items of `cut` for `viewer`, none of them in `exclude`. `before` is the
        keyset position of the chronological cuts (newest first), ignored by `for_you`."""
        excluded = sorted(exclude)
        if cut == "following":
            videos = await queries.following_page(
                self.session, viewer.id, exclude=excluded, before=before, limit=limit
            )
            return [_item(video, "followed") for video in videos]
        if cut == "latest":
            rows = await queries.latest_page(
                self.session, viewer.id, exclude=excluded, before=before, limit=limit
            )
            return [_item(video, "followed" if followed else "popular") for video, followed in rows]
        return await self._for_you(viewer, limit=limit, exclude=excluded)

    async def _for_you(self, viewer: User, *, limit: int, exclude: Sequence[UUID]) -> list[FeedItem]:
        read = await self.inboxes.read(viewer.id)
        inbox_ids, built_at = read.video_ids, read.built_at
        if built_at is None:
            entries = await queries.inbox_entries(self.session, viewer.id, self.settings.feed_inbox_size)
            built_at = await self.inboxes.replace(viewer.id, entries)
            # The rebuild covers every follow up to now.
            inbox_ids = [video_id for video_id, _ in entries[:INBOX_READ]]
        popular_ids = read.popular_ids
        if not read.popular_cached:
            popular = await queries.popular_entries(self.session)
            await self.inboxes.store_popular(popular)
            popular_ids = [video_id for video_id, _ in popular]
        preferences = await preferences_of(self.session, viewer.id)
        rows = await queries.ranked(
            self.session,
            queries.Candidates(
                viewer_id=viewer.id,
                inbox_ids=inbox_ids,
                popular_ids=popular_ids,
                inbox_built_at=datetime.fromtimestamp(built_at, UTC),
                exclude=exclude,
                limit=min(MAX_RANKED_ROWS, limit * OVERFETCH + 10),
                personalized=preferences.personalized if preferences else True,
                favour_topics=list(preferences.favour_topics) if preferences else [],
                avoid_topics=list(preferences.avoid_topics) if preferences else [],
                mood_bias=preferences.mood_bias if preferences else 0.0,
            ),
        )
        ordered = diversify(rows, key=lambda row: row.video.author_id)
        return [_item(row.video, _reason(row.tier)) for row in ordered[:limit]]


def _reason(tier: int) -> Reason:
    reason: Reason = queries.TIER_REASONS[tier]  # type: ignore[assignment]
    return reason


def diversify(rows: Sequence[T], *, key: Callable[[T], object], max_run: int = MAX_RUN) -> list[T]:
    """`rows` in order, except that an item which would make a run of more than `max_run` from one
    author waits for the next item by someone else (greedy; stable otherwise)."""
    pending = list(rows)
    out: list[T] = []
    while pending:
        run_key = key(out[-1]) if out else None
        run = 0
        for row in reversed(out):
            if key(row) != run_key:
                break
            run += 1
        pick = 0
        if run >= max_run:
            pick = next((i for i, row in enumerate(pending) if key(row) != run_key), 0)
        out.append(pending.pop(pick))
    return out
