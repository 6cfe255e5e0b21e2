"""Notifications: something another user did to one of yours (a like, a comment, a reply, a remix).

`notify` is what other domains call, inside their transaction, so a notification exists exactly
when the action that caused it committed. It never tells people about their own actions, and a
`dedupe_key` makes a second identical notification a no-op (INSERT ... ON CONFLICT DO NOTHING): a
like, an unlike and a like again notify once. The service below serves the recipient's list.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from litestar.di import NamedDependency
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries as account_queries
from accounts.models import Notification, User, blocks, notification_video_id
from accounts.schemas import NotificationActor, NotificationOut, NotificationSubject
from accounts.service import avatar_url
from app.db import delete_oldest, text_array, uuid_array
from app.dependencies import DbSession, SigningKeysDep, StorageDep
from app.errors import FieldError, InvalidCursor, ValidationFailed
from app.pagination import CursorCodec, Page, keyset_before
from app.security import SigningKeys
from app.storage import MediaStorage

# Keys of `data` that are shown on the subject.
_SUBJECT_KEYS = ("video_id", "parent_id", "remix_of", "excerpt", "reason", "statement", "kept_removed")
EXCERPT_LENGTH = 100


class NotificationKind(enum.StrEnum):
    LIKE = "like"
    COMMENT = "comment"
    REPLY = "reply"
    REMIX = "remix"


def excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1] + "…"


# --- what other domains call -----------------------------------------------------------------


async def actor_across_blocks(session: AsyncSession, actor_id: UUID, recipient_id: UUID) -> UUID | None:
    """The actor a notification that must reach its recipient names: nobody across a block (a
    cameo owner told of a use, the author of a video a cameo owner deleted). Its kind is registered
    with `reach_across_blocks`, so a block made later blanks the actor in the list too."""
    if await account_queries.is_blocked_either_way(session, actor_id, recipient_id):
        return None
    return actor_id


async def notify(
    session: AsyncSession,
    *,
    user_id: UUID,
    kind: str,
    actor_id: UUID | None,
    subject_type: str,
    subject_id: UUID | None,
    data: dict[str, Any],
    dedupe_key: str | None,
) -> bool:
    """Tell `user_id` that `actor_id` did `kind` to a subject. True when a notification was created
    (not one's own action, and not a duplicate of `dedupe_key`)."""
    if actor_id is not None and actor_id == user_id:
        return False
    statement = pg_insert(Notification).values(
        user_id=user_id,
        kind=kind,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        data=data,
        dedupe_key=dedupe_key,
    )
    if dedupe_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=[Notification.dedupe_key])
    return await session.scalar(statement.returning(Notification.id)) is not None


# Lock order. Every statement that deletes or updates notifications takes the rows it will write,
# all of them, in id order (`_in_id_order`); a video's deletion or removal, which writes several
# sets, takes every row of all of them in one such statement before writing any, and then writes
# only those (`_retract_and_forget`). So a request waiting for a notification row holds no other
# notification row but ones of lower ids, and the request holding it either waits for one of a
# higher id still or waits for no notification at all: waits go up the ids and cannot close a
# cycle. Taking them as each statement came upon them, marking all read (the recipient's rows in
# scan order) and a video's deletion (the comments' notifications, then the author's about the
# video) could each hold one the other wanted next, and PostgreSQL ended one of them (a 503).


def _in_id_order(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """The rows meeting `conditions`, locked in id order by the statement that writes them."""
    return Notification.id.in_(
        select(Notification.id).where(*conditions).order_by(Notification.id).with_for_update()
    )


async def _retract_and_forget(
    session: AsyncSession,
    *,
    retracted: ColumnElement[bool],
    forgotten: Sequence[tuple[ColumnElement[bool], str]] = (),
) -> None:
    """Delete the notifications meeting `retracted`, and take the key of `data` paired with each
    condition of `forgotten` off those meeting it: every row any of them writes locked first, in id
    order, in one statement, and the writes kept to those rows."""
    conditions = [retracted, *(condition for condition, _ in forgotten)]
    locked_ids = list(
        await session.scalars(
            select(Notification.id).where(or_(*conditions)).order_by(Notification.id).with_for_update()
        )
    )
    if not locked_ids:
        return
    locked = Notification.id == any_(uuid_array(locked_ids))
    await session.execute(
        delete(Notification).where(locked, retracted).execution_options(synchronize_session=False)
    )
    for condition, key in forgotten:
        await session.execute(
            update(Notification)
            .where(locked, condition)
            .values(data=Notification.data.op("-")(key))
            .execution_options(synchronize_session=False)
        )


def _made_with(dedupe_keys: Sequence[str]) -> ColumnElement[bool]:
    # One array parameter: a video or thread with many comments has more keys than IN could bind.
    return Notification.dedupe_key == any_(text_array(dedupe_keys))


async def retract(session: AsyncSession, dedupe_keys: Sequence[str]) -> None:
    """Forget the notifications made with these dedupe keys (their subject was deleted)."""
    if dedupe_keys:
        await session.execute(
            delete(Notification)
            .where(_in_id_order(_made_with(dedupe_keys)))
            .execution_options(synchronize_session=False)
        )


# Kinds that outlive the video they name (`data.video_id`), since what they tell stands without it:
# a moderator's decision over a video stays in the audit log and is appealed by its id, which its
# notification is where the user finds. Taking the video down retracts nothing of these kinds, and
# deleting it keeps them without `video_id` (`video_deleted`). Registered from the composition root
# by the domains that send them.
_outlive_their_video: set[str] = set()


def outlive_their_video(*kinds: str) -> None:
    _outlive_their_video.update(kinds)


def _retractable() -> ColumnElement[bool]:
    return Notification.kind.not_in(sorted(_outlive_their_video)) if _outlive_their_video else true()


def _about(video_id: UUID) -> ColumnElement[bool]:
    # `notification_video_id` as indexed (ix_notifications_video_id), so this is an index lookup.
    return notification_video_id == str(video_id)


def _told_of(recipients: Sequence[UUID], video_id: UUID) -> ColumnElement[bool]:
    """What `recipients` were told about `video_id` or about things on it (`data.video_id`)."""
    return and_(
        Notification.user_id == any_(uuid_array(recipients)),
        or_(Notification.subject_id == video_id, _about(video_id)),
        _retractable(),
    )


async def video_deleted(
    session: AsyncSession,
    *,
    video_id: UUID,
    author_id: UUID,
    told_of_it: Sequence[UUID],
    dedupe_keys: Sequence[str],
) -> None:
    """`video_id`, by `author_id`, was deleted. The notifications made with `dedupe_keys` (its remix
    notification, those of comments on it) are forgotten, as is what `told_of_it` were told about it
    (the author, the cameo owners in it): nobody is pointed at it any more. Those that stay no longer
    name it, which would answer 404 to them as to everyone: the author's remix notifications (the
    remixes live on) lose `remix_of`; those of the kinds that outlive their video, `video_id`."""
    forgotten = [
        (
            and_(Notification.user_id == author_id, Notification.data["remix_of"].astext == str(video_id)),
            "remix_of",
        )
    ]
    if _outlive_their_video:
        forgotten.append(
            (and_(Notification.kind.in_(sorted(_outlive_their_video)), _about(video_id)), "video_id")
        )
    retracted = or_(_made_with(dedupe_keys), _told_of(told_of_it, video_id))
    await _retract_and_forget(session, retracted=retracted, forgotten=forgotten)


async def video_removed(
    session: AsyncSession, *, video_id: UUID, author_id: UUID, dedupe_keys: Sequence[str]
) -> None:
    """`video_id`, by `author_id`, was taken down: the notifications made with `dedupe_keys` (its
    remix notification), what its author was told about it, and what anyone was told about things
    on it (comments, replies) are forgotten, but for the kinds that outlive their video."""
    retracted = or_(
        _made_with(dedupe_keys),
        _told_of([author_id], video_id),
        and_(_about(video_id), _retractable()),
    )
    await _retract_and_forget(session, retracted=retracted)


# Kinds the retention job never deletes, whatever their age: a moderation decision's notification
# is where its user finds the decision to appeal, which has no deadline. Registered from the
# composition root by the domains that send them.
_outlive_retention: set[str] = set()


def outlive_retention(*kinds: str) -> None:
    _outlive_retention.update(kinds)


def kept_past_retention() -> list[str]:
    """The kinds registered with `outlive_retention`: those `ix_notifications_prunable_created_at`
    leaves out."""
    return sorted(_outlive_retention)


def _prunable() -> ColumnElement[bool]:
    # The kinds as literals in the SQL sent (`literal_execute`), not bound values: a generic plan
    # of the prepared statement then still proves the partial index's predicate (`kind <> '...'`)
    # from it, where `kind NOT IN ($1)` proves nothing and the batch would read the whole table.
    kept: BindParameter[list[str]] = bindparam(
        "kept_kinds", kept_past_retention(), expanding=True, literal_execute=True
    )
    return Notification.kind.not_in(kept) if _outlive_retention else true()


async def delete_expired(session: AsyncSession, before: datetime, limit: int) -> int:
    """One batch of the notifications made before `before`, read or not, oldest first, but the
    kinds that outlive retention (`ix_notifications_prunable_created_at` holds only the others, so
    a batch never steps over those); how many were deleted. Rows a request holds are skipped (left
    for the next batch), so this never waits for a lock and cannot close a cycle with the writes
    that take theirs in id order (above). A list's cursor is a position (`created_at`, `id`), not a
    row: it goes on past rows deleted meanwhile."""
    deleted = await delete_oldest(
        session,
        Notification,
        Notification.created_at,
        Notification.created_at < before,
        _prunable(),
        limit=limit,
    )
    return len(deleted)


# --- what the list shows ----------------------------------------------------------------------

# A condition on `Notification` rows, given the recipient's id, that a notification must meet to be
# listed. Other domains register theirs from the composition root (accounts may not import them):
# feed's leaves out notifications about a video the recipient may no longer see.
ShownWhen = Callable[[UUID], ColumnElement[bool]]

_shown_when: list[ShownWhen] = []


def show_only_when(condition: ShownWhen) -> None:
    if condition not in _shown_when:  # registering twice (a second app in one process) is harmless
        _shown_when.append(condition)


# Kinds the list shows across a block with the actor left blank, rather than leaving them out, as
# they are sent (`actor_across_blocks`): the owner of a likeness must always be able to find its
# uses, and an author whose video a cameo owner deleted must be told why it went. Registered from
# the composition root by the domains that send them.
_reach_across_blocks: set[str] = set()


def reach_across_blocks(*kinds: str) -> None:
    _reach_across_blocks.update(kinds)


# --- queries ---------------------------------------------------------------------------------


def _blocked_either_way(user_id: UUID, other: Any) -> Any:
    return or_(
        exists().where(blocks.c.blocker_id == user_id, blocks.c.blocked_id == other),
        exists().where(blocks.c.blocker_id == other, blocks.c.blocked_id == user_id),
    )


async def notifications_page(
    session: AsyncSession, *, user_id: UUID, after: tuple[datetime, UUID] | None, limit: int
) -> list[tuple[Notification, User | None]]:
    """Newest first, leaving out actors who block or are blocked by the recipient (the kinds that
    reach across blocks are kept, with no actor), and what the registered conditions leave out.
    Filtered when read, not deleted on a block: an unblock shows them again, and a block costs
    nothing more."""
    # No actor row across a block: the row is left out, or shown with the actor blank.
    # A deleted account is no actor either: what it did is gone at once (its purge deletes it).
    actor_shown = and_(
        User.id == Notification.actor_id,
        User.deleted_at.is_(None),
        ~_blocked_either_way(user_id, User.id),
    )
    query = (
        select(Notification, User)
        .outerjoin(User, actor_shown)
        .where(
            Notification.user_id == user_id,
            or_(
                Notification.actor_id.is_(None),
                User.id.is_not(None),
                Notification.kind.in_(sorted(_reach_across_blocks)),
            ),
            *(condition(user_id) for condition in _shown_when),
        )
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(keyset_before(Notification.created_at, Notification.id, after))
    rows = (await session.execute(query)).all()
    return [(row[0], row[1]) for row in rows]


async def mark_read(
    session: AsyncSession, *, user_id: UUID, ids: Sequence[UUID] | None, now: datetime
) -> None:
    unread = [Notification.user_id == user_id, Notification.read_at.is_(None)]
    if ids is not None:
        unread.append(Notification.id == any_(uuid_array(ids)))
    await session.execute(
        update(Notification)
        .where(_in_id_order(*unread))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )


# --- the recipient's list --------------------------------------------------------------------


class NotificationService:
    def __init__(self, session: AsyncSession, storage: MediaStorage, keys: SigningKeys) -> None:
        self.session = session
        self.storage = storage
        self.keys = keys

    async def page(self, user: User, cursor: str | None, limit: int) -> Page[NotificationOut]:
        codec = CursorCodec(self.keys, f"notifications:{user.id}")
        position = codec.decode(cursor)
        after = _position(position) if position is not None else None
        rows = await notifications_page(self.session, user_id=user.id, after=after, limit=limit)
        page, more = rows[:limit], len(rows) > limit
        items = [self._out(notification, actor) for notification, actor in page]
        next_cursor = None
        if more:
            last = page[-1][0]
            next_cursor = codec.encode([last.created_at.isoformat(), str(last.id)])
        return Page(items=items, next_cursor=next_cursor)

    async def mark_read(self, user: User, ids: list[str] | None) -> None:
        parsed: list[UUID] | None = None
        if ids is not None:
            try:
                parsed = [UUID(raw) for raw in ids]
            except ValueError as exc:
                raise ValidationFailed(
                    "ids must be notification ids",
                    errors=[FieldError(field="ids", message="every id must be a notification id")],
                ) from exc
        await mark_read(self.session, user_id=user.id, ids=parsed, now=datetime.now(UTC))

    def _out(self, notification: Notification, actor: User | None) -> NotificationOut:
        data = notification.data or {}
        extra = {key: str(data[key]) for key in _SUBJECT_KEYS if data.get(key) is not None}
        appealable = data.get("appealable")
        return NotificationOut(
            id=str(notification.id),
            kind=notification.kind,
            actor=NotificationActor(
                username=actor.username,
                display_name=actor.display_name,
                avatar_url=avatar_url(self.storage, actor.avatar_key),
            )
            if actor is not None
            else None,
            subject=NotificationSubject(
                type=notification.subject_type,
                id=str(notification.subject_id) if notification.subject_id is not None else None,
                appealable=appealable if isinstance(appealable, bool) else None,
                **extra,
            ),
            created_at=notification.created_at,
            read=notification.read_at is not None,
        )


def _position(position: list[object]) -> tuple[datetime, UUID]:
    try:
        created_at, notification_id = position
        return datetime.fromisoformat(str(created_at)), UUID(str(notification_id))
    except (TypeError, ValueError) as exc:
        raise InvalidCursor() from exc


Notifications = NamedDependency[NotificationService]


def provide_notification_service(
    db_session: DbSession, storage: StorageDep, signing_keys: SigningKeysDep
) -> NotificationService:
    return NotificationService(db_session, storage, signing_keys)
