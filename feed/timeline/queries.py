"""The SQL of the feed's cuts: one statement ranks `for_you` (every candidate source, the viewer's
preferences, blocks, see-less and the score in one round trip); one statement per chronological
page; and the statements that (re)build inboxes and the popular set.

Every candidate source is bounded and index-driven, so its cost does not grow with the table:
inbox and popular ids arrive as arrays (primary key), interacted authors come from the viewer's
newest likes (`ix_likes_user_created`), comments (`ix_comments_author_created`) and remixes
(`ix_videos_author_published`), then a few newest posts each through a LATERAL probe of
`ix_videos_author_published`; remixes of the viewer's videos through `ix_videos_remix_of_created`;
cameos through `ix_video_appearances_user_created`; steering by matching the newest public
videos (a bounded pool); fresh videos through `ix_videos_published_public`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    Text,
    all_,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    false,
    func,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User, blocks, follows
from app.db import UUID_ARRAY, uuid_array
from app.pagination import keyset_after, keyset_before
from feed.models import (
    Comment,
    Video,
    VideoStatus,
    Visibility,
    likes,
    see_less,
    video_appearances,
)

Position = tuple[datetime, UUID]


class Byline(NamedTuple):
    """Who made a video, as a page shows them: three columns rather than the whole users row."""

    username: str
    display_name: str
    avatar_key: str | None


class Shown(NamedTuple):
    """A video a page may show, read with what presenting it needs: its author, and whether the
    viewer liked it (so a page costs no query after the one that chose its videos but the one
    that checks, for the whole page, which remix sources and cameos the viewer may see)."""

    video: Video
    author: Byline
    liked: bool


# Connection tiers, strongest first (see feed.timeline.ranking).
CAMEO_OF_YOU, REMIX_OF_YOURS, FOLLOWED, INTERACTED, STEERED, POPULAR = range(6)
TIER_REASONS = ("cameo_of_you", "remix_of_yours", "followed", "interacted", "steered", "popular")

# Bounds of each candidate source.
WINDOW = timedelta(days=30)
RECENT_LIKES = 100
RECENT_COMMENTS = 50
RECENT_REMIXES = 50
INTERACTED_AUTHORS = 50
POSTS_PER_AUTHOR = 4
NEW_FOLLOWS = 50
OWN_VIDEOS = 50
REMIXES_PER_VIDEO = 5
CAMEO_VIDEOS = 100
STEERED_VIDEOS = 150
STEER_POOL = 5000
FRESH_VIDEOS = 100
# Of the inbox, the popular set and the newest posts, a quick ranking (Candidates.quick) reads these.
QUICK_READ = 60
# The popular set: the newest this many public videos, ranked by engagement with time decay.
POPULAR_POOL = 5000
POPULAR_SIZE = 500
REBUILD_PER_AUTHOR = 20

# Words that mark a video as relaxed or energised, for the nudge of wellbeing check-ins.
RELAXED_WORDS = (
    "calm | cozy | cosy | nature | slow | ambient | relax | relaxing | peaceful | gentle | quiet | "
    "sleep | rain | meditation | lofi | soft | sunset | ocean | forest | garden | tea | cloud"
)
ENERGISED_WORDS = (
    "dance | sport | action | fast | hype | party | workout | race | racing | extreme | skate | "
    "skateboarding | parkour | energy | jump | run | running | football | basketball | fight | rave"
)
MOOD_WEIGHT = 0.3
SEE_LESS_AUTHOR_FACTOR = 0.3


def _tsquery_of(topics: Sequence[str]) -> Any:
    """Any of the topics, as `websearch_to_tsquery` reads them (never a syntax error)."""
    return func.websearch_to_tsquery("english", " or ".join(topics))


def _public() -> ColumnElement[bool]:
    return and_(
        Video.status == VideoStatus.PUBLISHED.value,
        Video.visibility == Visibility.PUBLIC.value,
        Video.deleted_at.is_(None),
        Video.published_at.is_not(None),
    )


def _not_blocked(viewer_id: Any) -> ColumnElement[bool]:
    """Authors neither blocked by nor blocking the viewer (one hashed anti-join per statement)."""
    blocked = union_all(
        select(blocks.c.blocked_id.label("user_id")).where(blocks.c.blocker_id == viewer_id),
        select(blocks.c.blocker_id).where(blocks.c.blocked_id == viewer_id),
    )
    return Video.author_id.not_in(blocked.scalar_subquery())


def _common(viewer_id: Any, exclude: Sequence[UUID | str]) -> list[ColumnElement[bool]]:
    """What no cut ever shows: unpublished, unlisted, deleted, across a block, already served in
    this session, or marked see-less."""
    conditions = [
        _public(),
        _not_blocked(viewer_id),
        ~exists().where(see_less.c.user_id == viewer_id, see_less.c.video_id == Video.id),
    ]
    if exclude:
        conditions.append(Video.id != all_(uuid_array(exclude)))
    return conditions


def _shown(viewer_id: Any, *extra: Any) -> Select[Any]:
    """Videos with their authors' bylines and whether the viewer liked each (one primary-key probe
    of `likes` per row), plus `extra` columns; see `_shown_of`."""
    liked = exists().where(likes.c.user_id == viewer_id, likes.c.video_id == Video.id)
    return select(Video, User.username, User.display_name, User.avatar_key, liked, *extra).join(
        User, User.id == Video.author_id
    )


def _shown_of(row: Any) -> Shown:
    return Shown(row[0], Byline(row[1], row[2], row[3]), bool(row[4]))


# --- chronological cuts ------------------------------------------------------------------------


async def following_page(
    session: AsyncSession, viewer_id: UUID, *, exclude: Sequence[str], before: Position | None, limit: int
) -> list[Shown]:
    """Published public videos of the people the viewer follows, newest first."""
    query = (
        _shown(viewer_id)
        .join(follows, and_(follows.c.followee_id == Video.author_id, follows.c.follower_id == viewer_id))
        .where(*_common(viewer_id, exclude))
        .order_by(Video.published_at.desc(), Video.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(keyset_before(Video.published_at, Video.id, before))
    rows = (await session.execute(query)).all()
    return [_shown_of(row) for row in rows]


async def latest_page(
    session: AsyncSession, viewer_id: UUID, *, exclude: Sequence[str], before: Position | None, limit: int
) -> list[tuple[Shown, bool]]:
    """Every published public video but the viewer's own, newest first, with whether the viewer
    follows its author."""
    followed = (
        exists()
        .where(follows.c.follower_id == viewer_id, follows.c.followee_id == Video.author_id)
        .label("followed")
    )
    query = (
        _shown(viewer_id, followed)
        .where(Video.author_id != viewer_id, *_common(viewer_id, exclude))
        .order_by(Video.published_at.desc(), Video.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(keyset_before(Video.published_at, Video.id, before))
    rows = (await session.execute(query)).all()
    return [(_shown_of(row), bool(row.followed)) for row in rows]


# --- the ranked cut ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidates:
    viewer_id: UUID
    inbox_ids: Sequence[UUID]
    popular_ids: Sequence[UUID]
    # Follows made after this were not fanned out into the inbox; None: take no new follows.
    inbox_built_at: datetime | None
    exclude: Sequence[str]
    limit: int
    # The viewer's preferences, read beforehand: plain values let the planner see the search terms
    # and leave unused sources out of the statement.
    personalized: bool = True
    favour_topics: Sequence[str] = ()
    avoid_topics: Sequence[str] = ()
    mood_bias: float = 0.0
    # Only the sources that cost no scan of the viewer's history: the inbox, follows made since,
    # the popular set and the newest posts (no interacted, remix, cameo or steered tier). For a
    # page whose ranking cannot have a turn now (feed.timeline.ranking.InlineRankings).
    quick: bool = False


@dataclass(frozen=True)
class Ranked:
    video_id: UUID
    author_id: UUID
    tier: int


def _latest_of_authors(authors: Any, since: datetime, tier: int) -> Select[Any]:
    """The newest few public posts of each author in `authors` (a subquery with `author_id`)."""
    newest = (
        select(Video.id.label("id"))
        .where(Video.author_id == authors.c.author_id, _public(), Video.published_at > since)
        .order_by(Video.published_at.desc())
        .limit(POSTS_PER_AUTHOR)
        .lateral()
    )
    return select(newest.c.id, literal(tier).label("tier")).select_from(authors).join(newest, true())


def _history_branches(viewer_id: UUID, since: datetime, personalized: Any, favour: Any) -> list[Any]:
    """The candidate sources read from the viewer's history and the whole catalogue: authors they
    interacted with, remixes of their videos, videos their cameo is in, and the steered topics."""
    branches: list[Any] = []
    # People the viewer interacted with: liked, commented on, remixed.
    liked = (
        select(likes.c.video_id.label("video_id"))
        .where(likes.c.user_id == viewer_id)
        .order_by(likes.c.created_at.desc())
        .limit(RECENT_LIKES)
    )
    commented = (
        select(Comment.video_id)
        .where(Comment.author_id == viewer_id)
        .order_by(Comment.created_at.desc())
        .limit(RECENT_COMMENTS)
    )
    remixed = (
        select(Video.remix_of_id)
        .where(Video.author_id == viewer_id, Video.remix_of_id.is_not(None))
        .order_by(Video.created_at.desc())
        .limit(RECENT_REMIXES)
    )
    touched = union_all(liked, commented, remixed).subquery("touched")
    touched_video = Video.__table__.alias("touched_video")
    interacted_authors = (
        select(touched_video.c.author_id.label("author_id"))
        .join(touched, touched.c.video_id == touched_video.c.id)
        .where(touched_video.c.author_id != viewer_id, personalized)
        .group_by(touched_video.c.author_id)
        .order_by(func.count().desc())
        .limit(INTERACTED_AUTHORS)
        .subquery("interacted_authors")
    )
    branches.append(_latest_of_authors(interacted_authors, since, INTERACTED))
    # Remixes of the viewer's videos.
    own = (
        select(Video.id.label("id"))
        .where(Video.author_id == viewer_id, Video.status == VideoStatus.PUBLISHED.value, personalized)
        .order_by(Video.published_at.desc())
        .limit(OWN_VIDEOS)
        .subquery("own")
    )
    remix = Video.__table__.alias("remix")
    # Only others' published public remixes count against the bound (drafts are many).
    remixes = (
        select(remix.c.id.label("id"))
        .where(
            remix.c.remix_of_id == own.c.id,
            remix.c.created_at > since,
            remix.c.author_id != viewer_id,
            remix.c.status == VideoStatus.PUBLISHED.value,
            remix.c.visibility == Visibility.PUBLIC.value,
            remix.c.deleted_at.is_(None),
        )
        .order_by(remix.c.created_at.desc())
        .limit(REMIXES_PER_VIDEO)
        .lateral("remixes")
    )
    branches.append(
        select(remixes.c.id, literal(REMIX_OF_YOURS).label("tier")).select_from(own).join(remixes, true())
    )
    # Published videos the viewer's cameo is in (drafts, often many, do not take up the bound).
    branches.append(
        select(video_appearances.c.video_id, literal(CAMEO_OF_YOU).label("tier"))
        .join(Video, Video.id == video_appearances.c.video_id)
        .where(video_appearances.c.user_id == viewer_id, personalized, _public())
        .order_by(video_appearances.c.created_at.desc())
        .limit(CAMEO_VIDEOS)
    )
    # Steered: the favoured topics, full-text matched among the newest STEER_POOL public videos.
    # A bounded pool, not the GIN index: the planner cannot tell a rare topic from a common one,
    # and walking the published index until enough rare matches turn up read a million rows.
    if favour is not None:
        pool = (
            select(Video.id.label("id"), Video.search_vector.label("search_vector"))
            .where(_public(), Video.published_at > since)
            .order_by(Video.published_at.desc())
            .limit(STEER_POOL)
            .subquery("steer_pool")
        )
        branches.append(
            select(pool.c.id, literal(STEERED).label("tier"))
            .where(pool.c.search_vector.bool_op("@@")(favour))
            .limit(STEERED_VIDEOS)
        )
    return branches


async def ranked(session: AsyncSession, c: Candidates) -> list[Ranked]:
    """Up to `limit` candidates, strongest connection tier first, then by score."""
    viewer_id = c.viewer_id
    now = datetime.now(UTC)
    since = now - WINDOW
    personalized = true() if c.personalized else false()
    favour = _tsquery_of(c.favour_topics) if c.personalized and c.favour_topics else None
    avoid = _tsquery_of(c.avoid_topics) if c.personalized and c.avoid_topics else None
    mood_bias = c.mood_bias if c.personalized else 0.0

    inbox_ids, popular_ids = c.inbox_ids, c.popular_ids
    if c.quick:
        # A quick ranking only bridges the pages until the full one comes: fewer candidates,
        # because scoring them is most of what a ranking costs; not those served already, else a
        # session that has been served the newest and most popular would find none.
        served = {UUID(video_id) for video_id in c.exclude}
        inbox_ids = [video_id for video_id in inbox_ids if video_id not in served][:QUICK_READ]
        popular_ids = [video_id for video_id in popular_ids if video_id not in served][:QUICK_READ]
    branches: list[Any] = []
    # Inbox: fanned-out posts of followed authors (only while still followed).
    if inbox_ids:
        branches.append(
            select(Video.id.label("id"), literal(FOLLOWED).label("tier")).where(
                Video.id == any_(uuid_array(inbox_ids)),
                personalized,
                exists().where(follows.c.follower_id == viewer_id, follows.c.followee_id == Video.author_id),
            )
        )
    # Follows made after the inbox was built (no backfill needed on follow).
    if c.inbox_built_at is not None:
        new_follows = (
            select(follows.c.followee_id.label("author_id"))
            .where(
                follows.c.follower_id == viewer_id,
                follows.c.created_at > c.inbox_built_at,
                personalized,
            )
            .order_by(follows.c.created_at.desc())
            .limit(NEW_FOLLOWS)
            .subquery("new_follows")
        )
        branches.append(_latest_of_authors(new_follows, since, FOLLOWED))
    if not c.quick:
        branches += _history_branches(viewer_id, since, personalized, favour)
    # Popular (the cached set) and fresh (the newest public videos).
    if popular_ids:
        branches.append(
            select(Video.id, literal(POPULAR).label("tier")).where(Video.id == any_(uuid_array(popular_ids)))
        )
    fresh = select(Video.id, literal(POPULAR).label("tier")).where(_public())
    if c.exclude:
        # The newest not served yet: a long session has been served the newest there are.
        fresh = fresh.where(Video.id != all_(uuid_array(c.exclude)))
    fresh = fresh.order_by(Video.published_at.desc(), Video.id.desc())
    branches.append(fresh.limit(QUICK_READ if c.quick else FRESH_VIDEOS))

    candidates = union_all(*branches).subquery("candidates")
    best = (
        select(candidates.c.id.label("id"), func.min(candidates.c.tier).label("tier"))
        .group_by(candidates.c.id)
        .subquery("best")
    )
    weighed = (
        select(see_less.c.author_id.label("author_id"), func.count().label("times"))
        .where(see_less.c.user_id == viewer_id)
        .group_by(see_less.c.author_id)
        .subquery("weighed")
    )
    score = engagement_score(now)
    if mood_bias:
        score = score * (1.0 + MOOD_WEIGHT * mood_bias * _mood_match())
    if c.personalized:
        score = score * func.power(SEE_LESS_AUTHOR_FACTOR, func.coalesce(weighed.c.times, 0))
    score = score.label("score")
    conditions = [Video.author_id != viewer_id, *_common(viewer_id, c.exclude)]
    if avoid is not None:
        conditions.append(~Video.search_vector.bool_op("@@")(avoid))
    query = (
        select(Video.id, Video.author_id, best.c.tier, score)
        .join(best, best.c.id == Video.id)
        .outerjoin(weighed, weighed.c.author_id == Video.author_id)
        .where(*conditions)
        .order_by(best.c.tier, score.desc(), Video.id.desc())
        .limit(c.limit)
    )
    rows = (await session.execute(query)).all()
    return [Ranked(video_id=row[0], author_id=row[1], tier=int(row[2])) for row in rows]


async def followed_authors_of(
    session: AsyncSession, viewer_id: UUID, video_ids: Sequence[UUID], *, avoid_topics: Sequence[str] = ()
) -> dict[UUID, UUID]:
    """The author of each of `video_ids` whom the viewer follows now, by video id (an inbox keeps
    the posts of people unfollowed since), leaving out videos matching an avoided topic."""
    if not video_ids:
        return {}
    query = (
        select(Video.id, Video.author_id)
        .join(follows, and_(follows.c.followee_id == Video.author_id, follows.c.follower_id == viewer_id))
        .where(Video.id == any_(uuid_array(video_ids)))
    )
    if avoid_topics:
        query = query.where(~Video.search_vector.bool_op("@@")(_tsquery_of(avoid_topics)))
    rows = await session.execute(query)
    return {row[0]: row[1] for row in rows}


def _servable_statement() -> Select[Any]:
    viewer = bindparam("viewer_id", type_=PG_UUID(as_uuid=True))
    return _shown(viewer).where(
        Video.id == any_(bindparam("video_ids", type_=UUID_ARRAY)),
        Video.author_id != viewer,
        *_common(viewer, ()),
    )


# Built once: every feed page runs it, and building the statement cost more than running it.
_SERVABLE = _servable_statement()


async def servable(session: AsyncSession, viewer_id: UUID, video_ids: Sequence[UUID]) -> dict[UUID, Shown]:
    """Those of `video_ids` the viewer may still be served now (published, public, not deleted,
    not their own, not across a block, not marked see-less), by id: what was ranked a while ago
    is checked again before it is shown."""
    if not video_ids:
        return {}
    rows = await session.execute(_SERVABLE, {"viewer_id": viewer_id, "video_ids": list(video_ids)})
    return {row[0].id: _shown_of(row) for row in rows}


def _mood_match() -> Any:
    """+1 for an energised video, -1 for a relaxed one, 0 for both or neither."""
    energised = cast(Video.search_vector.bool_op("@@")(func.to_tsquery("english", ENERGISED_WORDS)), Integer)
    relaxed = cast(Video.search_vector.bool_op("@@")(func.to_tsquery("english", RELAXED_WORDS)), Integer)
    return cast(energised - relaxed, Float)


def engagement_score(now: datetime) -> Any:
    """Log-scaled engagement, decaying with age (days): ln(2 + e) / (1 + days)^1.2, where
    e = likes + 2·comments + 3·remixes + views/20."""
    engagement = (
        cast(Video.like_count, Float)
        + 2.0 * Video.comment_count
        + 3.0 * Video.remix_count
        + cast(Video.view_count, Float) / 20.0
    )
    age_days = func.greatest(func.extract("epoch", literal(now) - Video.published_at), 0.0) / 86400.0
    return func.ln(2.0 + engagement) / func.power(1.0 + age_days, 1.2)


# --- inboxes and the popular set ---------------------------------------------------------------


async def inbox_entries(session: AsyncSession, user_id: UUID, size: int) -> list[tuple[UUID, float]]:
    """The newest public posts of the people `user_id` follows, for rebuilding their inbox:
    (video id, publication epoch), at most `size`."""
    newest = (
        select(Video.id.label("id"), Video.published_at.label("published_at"))
        .where(Video.author_id == follows.c.followee_id, _public())
        .order_by(Video.published_at.desc())
        .limit(REBUILD_PER_AUTHOR)
        .lateral("newest")
    )
    query = (
        select(newest.c.id, func.extract("epoch", newest.c.published_at))
        .select_from(follows)
        .join(newest, true())
        .where(follows.c.follower_id == user_id)
        .order_by(newest.c.published_at.desc())
        .limit(size)
    )
    rows = (await session.execute(query)).all()
    return [(row[0], float(row[1])) for row in rows]


async def popular_entries(session: AsyncSession) -> list[tuple[UUID, float]]:
    """The popular set: among the newest POPULAR_POOL public videos, the POPULAR_SIZE with the best
    engagement score."""
    now = datetime.now(UTC)
    pool = (
        select(Video.id.label("id"), engagement_score(now).label("score"))
        .where(_public())
        .order_by(Video.published_at.desc())
        .limit(POPULAR_POOL)
        .subquery("pool")
    )
    query = select(pool.c.id, pool.c.score).order_by(pool.c.score.desc()).limit(POPULAR_SIZE)
    rows = (await session.execute(query)).all()
    return [(row[0], float(row[1])) for row in rows]


async def follower_batch(
    session: AsyncSession, author_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
) -> list[tuple[str, datetime]]:
    """Followers of `author_id` in keyset order (follow time, follower id), for fan-out. The ids come
    as text, which is all a push needs: on a 100k fan-out, reading them as UUIDs and turning those
    into text took 0.37 s of CPU, as text 0.19 s (measured alone, large bench set)."""
    query = (
        select(cast(follows.c.follower_id, Text), follows.c.created_at)
        .where(follows.c.followee_id == author_id)
        .order_by(follows.c.created_at, follows.c.follower_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(keyset_after(follows.c.created_at, follows.c.follower_id, after))
    rows = (await session.execute(query)).all()
    return [(row[0], row[1]) for row in rows]
