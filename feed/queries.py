"""The SQL of videos, likes, comments, views and remix lineage, and of a teen's durable count of
feed videos for the day (`feed.pacing`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    String,
    Update,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.selectable import CTE

from accounts.models import Notification, User, blocks
from accounts.notifications import NotificationKind
from app.db import UUID_ARRAY
from app.pagination import keyset_after, keyset_before
from feed.models import (
    Comment,
    Video,
    VideoStatus,
    Visibility,
    feed_teen_days,
    likes,
    see_less,
    video_appearances,
    views,
)

T = TypeVar("T")
Position = tuple[datetime, UUID]
# Who is looking: their id, or a bind parameter for it in a statement built once.
Viewer = UUID | ColumnElement[Any]


# --- who may see what ------------------------------------------------------------------------


def _blocked_either_way(viewer_id: Viewer, user_id: Any) -> ColumnElement[bool]:
    return or_(
        exists().where(blocks.c.blocker_id == viewer_id, blocks.c.blocked_id == user_id),
        exists().where(blocks.c.blocker_id == user_id, blocks.c.blocked_id == viewer_id),
    )


def _appears(viewer_id: Viewer) -> ColumnElement[bool]:
    return exists().where(video_appearances.c.video_id == Video.id, video_appearances.c.user_id == viewer_id)


def _seen_by_anyone(viewer_id: Viewer) -> ColumnElement[bool]:
    """Not deleted, and either the viewer's own or published by someone neither side blocks."""
    return and_(
        Video.deleted_at.is_(None),
        or_(
            Video.author_id == viewer_id,
            and_(
                Video.status == VideoStatus.PUBLISHED.value, ~_blocked_either_way(viewer_id, Video.author_id)
            ),
        ),
    )


def viewable_by(viewer_id: Viewer) -> ColumnElement[bool]:
    """`feed.visibility.may_view` as a SQL condition, for reading many videos at once: not deleted,
    and either the viewer's own, published by someone neither side blocks, or a draft, post or
    removed video the viewer's cameo is in."""
    return or_(
        _seen_by_anyone(viewer_id),
        and_(Video.deleted_at.is_(None), _appears(viewer_id)),
    )


def listable_by(viewer_id: UUID) -> ColumnElement[bool]:
    """What may appear in a list the viewer browses: their own, or published, public and by
    someone neither side blocks. Others' drafts the viewer's cameo is in are viewable but listed
    only in the viewer's appearances (`appearances_page`), as are posts by someone across a block.
    A removed video is listed nowhere else, its author's own lists included: it opens by its id
    until it is deleted or an appeal restores it."""
    return and_(
        _seen_by_anyone(viewer_id),
        Video.status != VideoStatus.REMOVED.value,
        or_(Video.author_id == viewer_id, Video.visibility == Visibility.PUBLIC.value),
    )


# The one notification that points at a video deleted on purpose: the author told a cameo owner
# deleted it (`feed.service.videos`). The author's moderation decisions over it stay too, but no
# longer name it (`accounts.notifications.outlive_their_video`).
APPEARANCE_REMOVED = "appearance_removed"
# A video with the recipient's cameo in it was published (`feed.service.videos`). It and the one
# above reach their recipient across a block (registered from the composition root).
CAMEO_POSTED = "cameo_posted"


def notification_about_viewable_video(recipient_id: UUID) -> ColumnElement[bool]:
    """For `accounts.notifications.show_only_when`: a notification about a video (`data.video_id`) is
    listed only while its recipient may see that video, so a block with its author since (someone
    other than the actor: a reply on a third person's video) hides it as the video's 404 does. A
    remix is listed only while the recipient's remix list and tree show it: made unlisted since,
    it is out of them (and of the parent's `remix_count`) until it is public again."""
    video_id = Notification.data["video_id"].astext
    return or_(
        video_id.is_(None),
        Notification.kind == APPEARANCE_REMOVED,
        exists().where(
            Video.id == cast(video_id, PG_UUID(as_uuid=True)),
            viewable_by(recipient_id),
            or_(Notification.kind != NotificationKind.REMIX.value, listable_by(recipient_id)),
        ),
    )


# --- videos ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What a page of videos refers to that one viewer may see. `videos`: the remix parents and
    roots they may open (`viewable_by`, exactly the ids `GET /v1/videos/{id}` answers 200 for them);
    `blocked_names`: cameo usernames of people who block them or whom they block. A video shows
    `remix_of`/`remix_root` only when in `videos`, and `cameos` without `blocked_names`, so a viewer
    learns nothing through a video that the 404 on the other video or profile hides."""

    videos: frozenset[UUID] = frozenset()
    blocked_names: frozenset[str] = frozenset()


def _referenced(videos: Sequence[Video]) -> tuple[list[UUID], list[str]]:
    """The remix parents and roots, and the cameo usernames, that the videos name."""
    lineage = {ref for video in videos for ref in (video.remix_of_id, video.remix_root_id) if ref is not None}
    names = {name for video in videos for name in video.cameos}
    return list(lineage), list(names)


# Bound once per statement: the viewer, and what the page names (`_referenced`).
_VIEWER = bindparam("viewer_id", type_=PG_UUID(as_uuid=True))


def _seen_columns() -> tuple[Any, Any]:
    """Two uncorrelated scalar subqueries (each runs once per statement): the lineage ids the
    viewer may open, and the cameo usernames across a block from them."""
    openable = (
        select(func.array_agg(Video.id))
        .where(Video.id == any_(bindparam("lineage_ids", type_=UUID_ARRAY)), viewable_by(_VIEWER))
        .scalar_subquery()
    )
    cast_user = aliased(User)  # not the outer statement's users, which it must not correlate with
    blocked_names = (
        select(func.array_agg(cast_user.username))
        .where(
            cast_user.username == any_(bindparam("cameo_names", type_=ARRAY(String))),
            _blocked_either_way(_VIEWER, cast_user.id),
        )
        .scalar_subquery()
    )
    return openable, blocked_names


def _seen(openable: Sequence[UUID] | None, blocked_names: Sequence[str] | None) -> Seen:
    return Seen(videos=frozenset(openable or ()), blocked_names=frozenset(blocked_names or ()))


def _presentation_statement() -> Select[tuple[User, Any, Any, Any]]:
    liked = (
        select(func.array_agg(likes.c.video_id))
        .where(
            likes.c.user_id == _VIEWER,
            likes.c.video_id == any_(bindparam("video_ids", type_=UUID_ARRAY)),
        )
        .scalar_subquery()
    )
    openable, blocked_names = _seen_columns()
    return select(User, liked, openable, blocked_names).where(
        User.id == any_(bindparam("author_ids", type_=UUID_ARRAY))
    )


# Built once: every page of videos runs them (the subqueries are uncorrelated, each run once).
_PRESENTATION = _presentation_statement()
_SEEN = select(*_seen_columns())


class Presentation(NamedTuple):
    authors: dict[UUID, User]
    liked: set[UUID]
    seen: Seen


async def presentation(session: AsyncSession, viewer_id: UUID, videos: Sequence[Video]) -> Presentation:
    """What showing the videos to the viewer needs, in one statement: their authors by id, which
    of them the viewer liked, and what they refer to that the viewer may see (`Seen`)."""
    if not videos:
        return Presentation({}, set(), Seen())
    lineage, names = _referenced(videos)
    params = {
        "viewer_id": viewer_id,
        "video_ids": [video.id for video in videos],
        "author_ids": list({video.author_id for video in videos}),
        "lineage_ids": lineage,
        "cameo_names": names,
    }
    rows = (await session.execute(_PRESENTATION, params)).all()
    if not rows:
        return Presentation({}, set(), Seen())
    authors = {row[0].id: row[0] for row in rows}
    _, liked, openable, blocked_names = rows[0]
    return Presentation(authors, set(liked or ()), _seen(openable, blocked_names))


async def seen_by(session: AsyncSession, viewer_id: UUID, videos: Sequence[Video]) -> Seen:
    """`Seen` alone, for a page read with its authors and likes already (the feed): one statement,
    none when the videos name no remix source and no cameo."""
    lineage, names = _referenced(videos)
    if not lineage and not names:
        return Seen()
    params = {"viewer_id": viewer_id, "lineage_ids": lineage, "cameo_names": names}
    row = (await session.execute(_SEEN, params)).one()
    return _seen(row[0], row[1])


async def drafts_page(
    session: AsyncSession, *, author_id: UUID, after: Position | None, limit: int
) -> list[Video]:
    query = (
        select(Video)
        .where(
            Video.author_id == author_id,
            Video.status == VideoStatus.DRAFT.value,
            Video.deleted_at.is_(None),
        )
        .order_by(Video.created_at.desc(), Video.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(keyset_before(Video.created_at, Video.id, after))
    return list((await session.scalars(query)).all())


async def user_videos_page(
    session: AsyncSession, *, author_id: UUID, include_unlisted: bool, after: Position | None, limit: int
) -> list[Video]:
    """Published, non-deleted videos of one author, newest first."""
    query = (
        select(Video)
        .where(
            Video.author_id == author_id,
            Video.status == VideoStatus.PUBLISHED.value,
            Video.deleted_at.is_(None),
            Video.published_at.is_not(None),
        )
        .order_by(Video.published_at.desc(), Video.id.desc())
        .limit(limit + 1)
    )
    if not include_unlisted:
        query = query.where(Video.visibility == Visibility.PUBLIC.value)
    if after is not None:
        query = query.where(keyset_before(Video.published_at, Video.id, after))
    return list((await session.scalars(query)).all())


async def appears_in(session: AsyncSession, video_id: UUID, user_id: UUID) -> bool:
    """Whether `user_id`'s cameo is in the video."""
    found = await session.scalar(
        select(video_appearances.c.video_id).where(
            video_appearances.c.video_id == video_id, video_appearances.c.user_id == user_id
        )
    )
    return found is not None


async def appearing_cameos(session: AsyncSession, video_id: UUID) -> list[UUID]:
    """The cameos in the video, in the order they were cast."""
    result = await session.scalars(
        select(video_appearances.c.cameo_id)
        .where(video_appearances.c.video_id == video_id)
        .order_by(video_appearances.c.created_at, video_appearances.c.cameo_id)
    )
    return list(result.all())


async def appearing_users(session: AsyncSession, video_id: UUID) -> list[UUID]:
    """Whose cameos are in the video."""
    result = await session.scalars(
        select(video_appearances.c.user_id)
        .where(video_appearances.c.video_id == video_id)
        .order_by(video_appearances.c.user_id)
    )
    return list(result.all())


async def appearances_page(
    session: AsyncSession, *, user_id: UUID, after: Position | None, limit: int
) -> list[tuple[Video, datetime]]:
    """Videos the user's cameo is in that are not deleted, others' drafts and removed ones
    included (so the owner can delete them); newest appearance first, with the appearance's time
    (the cursor's position)."""
    appeared_at = video_appearances.c.created_at
    query = (
        select(Video, appeared_at)
        .join(video_appearances, video_appearances.c.video_id == Video.id)
        .where(
            video_appearances.c.user_id == user_id,
            Video.deleted_at.is_(None),
        )
        .order_by(appeared_at.desc(), video_appearances.c.video_id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(keyset_before(appeared_at, video_appearances.c.video_id, after))
    rows = (await session.execute(query)).all()
    return [(row[0], row[1]) for row in rows]


async def bump_video(session: AsyncSession, video_id: UUID, **deltas: int) -> None:
    """Add to counters in one atomic UPDATE (`like_count=1`, `comment_count=-3`); never below zero."""
    await session.execute(_bumped(video_id, deltas))


async def bump_video_returning(
    session: AsyncSession, video_id: UUID, returned: ScalarSelect[T], **deltas: int
) -> T | None:
    """`bump_video`, its statement returning `returned` too (read once the row is updated, with that
    statement's snapshot); None when there is no such video."""
    return await session.scalar(_bumped(video_id, deltas).returning(returned))


def _bumped(video_id: UUID, deltas: dict[str, int]) -> Update:
    columns = Video.__table__.c
    values = {name: _plus(columns[name], delta) for name, delta in deltas.items()}
    return (
        update(Video)
        .where(Video.id == video_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def bump_post_count(session: AsyncSession, user_id: UUID, delta: int) -> None:
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(post_count=_plus(User.__table__.c.post_count, delta))
        .execution_options(synchronize_session=False)
    )


def _plus(column: Any, delta: int) -> Any:
    return func.greatest(column + delta, 0)


# --- likes and views -------------------------------------------------------------------------


async def add_like(session: AsyncSession, video_id: UUID, user_id: UUID) -> bool:
    """True when this call created the like (so the count goes up exactly once)."""
    inserted = await session.scalar(
        pg_insert(likes)
        .values(video_id=video_id, user_id=user_id)
        .on_conflict_do_nothing()
        .returning(likes.c.video_id)
    )
    return inserted is not None


async def remove_like(session: AsyncSession, video_id: UUID, user_id: UUID) -> bool:
    removed = await session.scalar(
        delete(likes)
        .where(likes.c.video_id == video_id, likes.c.user_id == user_id)
        .returning(likes.c.video_id)
    )
    return removed is not None


async def add_view(session: AsyncSession, video_id: UUID, viewer_id: UUID) -> bool:
    inserted = await session.scalar(
        pg_insert(views)
        .values(video_id=video_id, viewer_id=viewer_id)
        .on_conflict_do_nothing()
        .returning(views.c.video_id)
    )
    return inserted is not None


# --- comments --------------------------------------------------------------------------------


async def comment_by_id(session: AsyncSession, comment_id: UUID) -> Comment | None:
    """The comment, unless moderation removed it (then it exists for nobody, as if deleted)."""
    comment = await session.get(Comment, comment_id)
    return comment if comment is not None and comment.removed_at is None else None


def _thread(comment_id: UUID) -> Any:
    """A comment and every reply under it, at any depth."""
    thread = select(Comment.id.label("id")).where(Comment.id == comment_id).cte("thread", recursive=True)
    return thread.union_all(select(Comment.id).join(thread, Comment.parent_id == thread.c.id))


async def remove_comment_thread(session: AsyncSession, comment_id: UUID, at: datetime) -> list[UUID]:
    """Mark a comment and its replies removed at `at`; the ids that were visible until now."""
    thread = _thread(comment_id)
    result = await session.scalars(
        update(Comment)
        .where(Comment.id.in_(select(thread.c.id)), Comment.removed_at.is_(None))
        .values(removed_at=at)
        .returning(Comment.id)
        .execution_options(synchronize_session=False)
    )
    return list(result.all())


def _upward_chain(
    name: str,
    id_column: InstrumentedAttribute[UUID],
    up_column: InstrumentedAttribute[UUID | None],
    start: UUID,
    *,
    max_hops: int | None = None,
) -> CTE:
    """The ids from `start` upwards along `up_column` (a video's remix source, a comment's
    parent), `hops` counting from 1 at `start`: remix ancestry and comment threads climb alike."""
    id_type = up_column.property.columns[0].type
    first = cast(literal(start, type_=id_type), id_type)
    chain = select(first.label("id"), literal(1).label("hops")).cte(name, recursive=True)
    step = (
        select(up_column, chain.c.hops + 1).join(chain, id_column == chain.c.id).where(up_column.is_not(None))
    )
    if max_hops is not None:
        step = step.where(chain.c.hops < max_hops)
    return chain.union_all(step)


async def removed_above(session: AsyncSession, comment: Comment) -> datetime | None:
    """When the nearest comment above this one (its parent, or further up) was removed, which hides
    this one with it; None when none is removed."""
    if comment.parent_id is None:
        return None
    chain = _upward_chain("above", Comment.id, Comment.parent_id, comment.parent_id)
    removed_at: datetime | None = await session.scalar(
        select(Comment.removed_at)
        .join(chain, Comment.id == chain.c.id)
        .where(Comment.removed_at.is_not(None))
        .order_by(chain.c.hops)
        .limit(1)
    )
    return removed_at


async def restore_comment_thread(
    session: AsyncSession, comment: Comment, *, still_hidden_at: datetime | None = None
) -> list[UUID]:
    """Undo one removal: the comment and the replies removed with it (same instant) come back; the
    ids. While a comment above them is still removed (`still_hidden_at`, when it was), they join
    that removal instead, to come back with it, and nothing is shown now."""
    if comment.removed_at is None:
        return []
    thread = _thread(comment.id)
    result = await session.scalars(
        update(Comment)
        .where(Comment.id.in_(select(thread.c.id)), Comment.removed_at == comment.removed_at)
        .values(removed_at=still_hidden_at)
        .returning(Comment.id)
        .execution_options(synchronize_session=False)
    )
    return list(result.all())


def _purge_pending(user: Any) -> ColumnElement[bool]:
    return and_(user.deleted_at.is_not(None), user.purged_at.is_(None))


def _hidden_threads(video_id: UUID, viewer_id: UUID) -> CTE:
    """The comments on the video hidden from the viewer: those by someone who blocks them or whom
    they block, or by a deleted account, and every reply under those at any depth (replies go with
    their parent, as they do when a moderator removes it), so no reply points at a comment the
    viewer cannot see."""
    # The people across a block from the viewer, as a set (usually a handful), so the planner may
    # start from their comments rather than test every comment on the video.
    across = union_all(
        select(blocks.c.blocked_id).where(blocks.c.blocker_id == viewer_id),
        select(blocks.c.blocker_id).where(blocks.c.blocked_id == viewer_id),
        # Deleted accounts whose purge has not deleted their comments yet (ix_users_purge_pending):
        # gone for everyone at once, with the replies under them.
        select(User.id).where(_purge_pending(User)),
    )
    hidden = (
        select(Comment.id.label("id"))
        .where(Comment.video_id == video_id, Comment.author_id.in_(across))
        .cte("hidden", recursive=True)
    )
    return hidden.union_all(select(Comment.id).join(hidden, Comment.parent_id == hidden.c.id))


async def comment_hidden_from(session: AsyncSession, viewer_id: UUID, comment: Comment) -> bool:
    """Whether the comment list hides this comment from the viewer (`_hidden_threads`): it, or one
    it answers at any height, is by someone either side blocks or by a deleted account. One query
    up the thread."""
    chain = _upward_chain("answered", Comment.id, Comment.parent_id, comment.id)
    author = aliased(User)
    author_gone = exists().where(author.id == Comment.author_id, author.deleted_at.is_not(None))
    found = await session.scalar(
        select(
            exists().where(
                Comment.id == chain.c.id, or_(_blocked_either_way(viewer_id, Comment.author_id), author_gone)
            )
        )
    )
    return bool(found)


async def comments_page(
    session: AsyncSession, *, video_id: UUID, viewer_id: UUID, after: Position | None, limit: int
) -> list[tuple[Comment, User]]:
    """Comments on a video, oldest first, leaving out people who block or are blocked by the viewer
    and the replies under their comments (`_hidden_threads`)."""
    hidden = _hidden_threads(video_id, viewer_id)
    query = (
        select(Comment, User)
        .join(User, User.id == Comment.author_id)
        .where(
            Comment.video_id == video_id,
            Comment.removed_at.is_(None),
            ~exists().where(hidden.c.id == Comment.id),
            # A deleted account's comments are gone at once; its purge deletes them after.
            User.deleted_at.is_(None),
        )
        .order_by(Comment.created_at.asc(), Comment.id.asc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(keyset_after(Comment.created_at, Comment.id, after))
    rows = (await session.execute(query)).all()
    return [(row[0], row[1]) for row in rows]


async def comment_ids_on(session: AsyncSession, video_id: UUID) -> list[UUID]:
    """Every comment on the video (replies and removed ones included), by its index."""
    result = await session.scalars(select(Comment.id).where(Comment.video_id == video_id))
    return list(result.all())


async def is_blocked_either_way(session: AsyncSession, viewer_id: UUID, user_id: UUID) -> bool:
    return bool(await session.scalar(select(_blocked_either_way(viewer_id, user_id))))


async def delete_comment_thread(session: AsyncSession, comment_id: UUID) -> list[UUID]:
    """Delete a comment and every reply under it; the ids deleted that were still counted (not
    removed by moderation before). Callers hold the video's row lock, so no reply can arrive in
    between."""
    thread = _thread(comment_id)
    result = await session.execute(
        delete(Comment)
        .where(Comment.id.in_(select(thread.c.id)))
        .returning(Comment.id, Comment.removed_at)
        .execution_options(synchronize_session=False)
    )
    return [row[0] for row in result.all() if row[1] is None]


# --- lineage ---------------------------------------------------------------------------------


async def ancestors(session: AsyncSession, video: Video, viewer_id: UUID) -> list[Video]:
    """The videos `video` descends from that the viewer may see, root first (one query). A removed
    one is left out even for its author and its cameos' owners, who find it only by its id and in
    their appearances, as in every other list.

    The walk follows `remix_of_id` upwards through every ancestor, seen or not, so a hidden video
    in the middle does not cut off the ones above it."""
    if video.remix_of_id is None:
        return []
    chain = _upward_chain(
        "chain", Video.id, Video.remix_of_id, video.remix_of_id, max_hops=video.remix_depth + 1
    )
    query = (
        select(Video)
        .join(chain, Video.id == chain.c.id)
        .where(viewable_by(viewer_id), Video.status != VideoStatus.REMOVED.value)
        .order_by(chain.c.hops.desc())
    )
    return list((await session.scalars(query)).all())


async def removed_in_lineage(
    session: AsyncSession, start_id: UUID, *, max_hops: int, lock: bool = False
) -> bool:
    """Whether `start_id` or any video above it, up to its root, was removed by a moderator (one
    removed and then deleted too: its removal stands). One query however deep the lineage. With
    `lock`, each row is read under a key-share lock, which waits for a removal under way (it holds
    the row FOR UPDATE) and reads what it committed; it does not hold up count updates."""
    chain = _upward_chain("lineage", Video.id, Video.remix_of_id, start_id, max_hops=max_hops)
    query = select(Video.status).join(chain, Video.id == chain.c.id)
    if lock:
        query = query.with_for_update(read=True, key_share=True, of=Video)
    return VideoStatus.REMOVED.value in (await session.scalars(query)).all()


async def author_ids(session: AsyncSession, video_ids: Sequence[UUID]) -> list[UUID]:
    """The distinct authors of these videos (deleted ones included)."""
    if not video_ids:
        return []
    query = select(Video.author_id).where(Video.id.in_(list(video_ids))).distinct()
    return list((await session.scalars(query)).all())


async def remixes_page(
    session: AsyncSession, *, parent_id: UUID, viewer_id: UUID, after: Position | None, limit: int
) -> list[Video]:
    query = (
        select(Video)
        .where(Video.remix_of_id == parent_id, listable_by(viewer_id))
        .order_by(Video.created_at.desc(), Video.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(keyset_before(Video.created_at, Video.id, after))
    return list((await session.scalars(query)).all())


async def remix_descendants(
    session: AsyncSession, *, root_id: UUID, viewer_id: UUID, max_depth: int, max_nodes: int
) -> list[Video]:
    """Remixes of `root_id` down to `max_depth` levels in one recursive query. A video the viewer
    may not list is left out together with everything below it. Nearest levels first, newest first
    within a level; at most `max_nodes` videos."""
    level = (
        select(Video.id.label("id"), literal(1).label("depth"))
        .where(Video.remix_of_id == root_id, listable_by(viewer_id))
        .cte("level", recursive=True)
    )
    level = level.union_all(
        select(Video.id, level.c.depth + 1)
        .join(level, Video.remix_of_id == level.c.id)
        .where(level.c.depth < max_depth, listable_by(viewer_id))
    )
    query = (
        select(Video)
        .join(level, Video.id == level.c.id)
        .order_by(level.c.depth, Video.created_at.desc(), Video.id.desc())
        .limit(max_nodes)
    )
    return list((await session.scalars(query)).all())


# --- a deleted account -----------------------------------------------------------------------


def _of_account(user_id: UUID) -> ColumnElement[bool]:
    """Videos the account authored, and those its cameo is in."""
    return or_(
        Video.author_id == user_id,
        Video.id.in_(select(video_appearances.c.video_id).where(video_appearances.c.user_id == user_id)),
    )


async def hide_videos_of_account(session: AsyncSession, user_id: UUID, now: datetime) -> int:
    """Deleted at once for everyone: every video the account authored (drafts included) and every
    video its cameo is in (others' included). Locked in id order. How many."""
    ids = select(Video.id).where(_of_account(user_id), Video.deleted_at.is_(None)).order_by(Video.id)
    locked = list((await session.scalars(ids.with_for_update())).all())
    if locked:
        await session.execute(
            update(Video)
            .where(Video.id.in_(locked))
            .values(deleted_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(locked)


async def deleted_videos_of_account(
    session: AsyncSession, user_id: UUID, after: UUID | None, limit: int
) -> list[Video]:
    """A batch of the account's deleted videos (and those its cameo is in) after `after`, by id,
    locked."""
    query = select(Video).where(_of_account(user_id), Video.deleted_at.is_not(None))
    if after is not None:
        query = query.where(Video.id > after)
    result = await session.scalars(query.order_by(Video.id).limit(limit).with_for_update())
    return list(result.all())


def _counted_videos() -> ColumnElement[bool]:
    return and_(
        Video.deleted_at.is_(None),
        Video.status == VideoStatus.PUBLISHED.value,
        Video.visibility == Visibility.PUBLIC.value,
    )


async def recount_remixes(session: AsyncSession, video_id: UUID) -> None:
    """Set the video's `remix_count` from its counted remixes, under its row lock taken first (so a
    remix being published or deleted meanwhile, which bumps it under that lock, is waited for and
    then seen)."""
    await session.execute(select(Video.id).where(Video.id == video_id).with_for_update())
    children = select(func.count()).where(Video.remix_of_id == video_id, _counted_videos()).scalar_subquery()
    await session.execute(
        update(Video)
        .where(Video.id == video_id)
        .values(remix_count=children)
        .execution_options(synchronize_session=False)
    )


async def recount_posts(session: AsyncSession, user_id: UUID) -> None:
    """Set the user's `post_count` from their counted videos, the same way."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))
    posts = select(func.count()).where(Video.author_id == user_id, _counted_videos()).scalar_subquery()
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(post_count=posts)
        .execution_options(synchronize_session=False)
    )


async def delete_engagement_of(
    session: AsyncSession, table: Any, user_column: Any, user_id: UUID, limit: int
) -> list[UUID]:
    """One batch of the user's likes or views; the video of each one deleted."""
    batch = select(table.c.video_id).where(user_column == user_id).limit(limit).scalar_subquery()
    result = await session.execute(
        delete(table).where(user_column == user_id, table.c.video_id.in_(batch)).returning(table.c.video_id)
    )
    return [row[0] for row in result.all()]


async def delete_likes_of(session: AsyncSession, user_id: UUID, limit: int) -> list[UUID]:
    return await delete_engagement_of(session, likes, likes.c.user_id, user_id, limit)


async def delete_views_of(session: AsyncSession, user_id: UUID, limit: int) -> list[UUID]:
    return await delete_engagement_of(session, views, views.c.viewer_id, user_id, limit)


async def delete_see_less_of(session: AsyncSession, user_id: UUID, limit: int) -> int:
    """One batch of the see-less marks the user made, or made on their videos."""
    mine = or_(see_less.c.user_id == user_id, see_less.c.author_id == user_id)
    batch = select(see_less.c.user_id, see_less.c.video_id).where(mine).limit(limit)
    result = await session.execute(
        delete(see_less).where(mine, tuple_(see_less.c.user_id, see_less.c.video_id).in_(batch))
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def comments_of(session: AsyncSession, user_id: UUID, limit: int) -> list[tuple[UUID, UUID]]:
    """A batch of the user's comments: (comment id, video id)."""
    result = await session.execute(
        select(Comment.id, Comment.video_id)
        .where(Comment.author_id == user_id)
        .order_by(Comment.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in result.all()]


# --- a teen's count of feed videos for the day (feed.pacing) -----------------------------------


async def teen_day(
    session: AsyncSession, user_id: UUID, day: date, presence: ScalarSelect[bool]
) -> tuple[bool | None, int]:
    """In one statement: `presence` (the account's, `accounts.service.deletion.caller_presence`,
    read under the key-share lock it takes) and how many feed videos the teen was counted on `day`
    (0 without a row)."""
    served = (
        select(feed_teen_days.c.served)
        .where(feed_teen_days.c.user_id == user_id, feed_teen_days.c.day == day)
        .scalar_subquery()
    )
    present, counted = (await session.execute(select(presence, func.coalesce(served, 0)))).one()
    return present, int(counted)


async def keep_teen_day(session: AsyncSession, user_id: UUID, day: date, served: int) -> None:
    """The teen's count for `day` raised to `served` (never lowered: concurrent pages each write
    the count they reached, in whichever order they commit)."""
    statement = pg_insert(feed_teen_days).values(user_id=user_id, day=day, served=served)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[feed_teen_days.c.user_id, feed_teen_days.c.day],
            set_={"served": func.greatest(feed_teen_days.c.served, statement.excluded.served)},
        )
    )


async def delete_teen_days_before(session: AsyncSession, before: date, limit: int) -> int:
    """One batch of the teens' counts of days before `before`, oldest first (`ix_feed_teen_days_day`),
    rows another transaction holds skipped; how many were deleted."""
    found = (
        select(feed_teen_days.c.user_id, feed_teen_days.c.day)
        .where(feed_teen_days.c.day < before)
        .order_by(feed_teen_days.c.day)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    deleted = await session.execute(
        delete(feed_teen_days)
        .where(tuple_(feed_teen_days.c.user_id, feed_teen_days.c.day).in_(found))
        .returning(feed_teen_days.c.day)
    )
    return len(deleted.all())


async def delete_teen_days_of(session: AsyncSession, user_id: UUID) -> None:
    """Every count of a deleted account (its purge): a few rows at most, kept two days."""
    await session.execute(delete(feed_teen_days).where(feed_teen_days.c.user_id == user_id))
