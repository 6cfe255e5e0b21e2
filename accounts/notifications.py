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
from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries as account_queries
from accounts.models import Notification, User, blocks
from accounts.schemas import NotificationActor, NotificationOut, NotificationSubject
from accounts.service import avatar_url
from app.dependencies import DbSession, SettingsDep, StorageDep
from app.errors import FieldError, InvalidCursor, ValidationFailed
from app.pagination import CursorCodec, Page, keyset_before
from app.storage import MediaStorage

# Keys of `data` that are shown on the subject.
_SUBJECT_KEYS = ("video_id", "parent_id", "remix_of", "excerpt")
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


async def retract(session: AsyncSession, dedupe_keys: Sequence[str]) -> None:
    """Forget the notifications made with these dedupe keys (their subject was deleted)."""
    if dedupe_keys:
        await session.execute(
            delete(Notification)
            .where(Notification.dedupe_key.in_(list(dedupe_keys)))
            .execution_options(synchronize_session=False)
        )


# Kinds that outlive the video they name (`data.video_id`), since what they tell stands without it:
# a moderator's decision over a video stays in the audit log and is appealed by its id, which its
# notification is where the user finds. Taking the video down retracts nothing of these kinds, and
# deleting it keeps them without `video_id` (`forget_deleted_video`). Registered from the
# composition root by the domains that send them.
_outlive_their_video: set[str] = set()


def outlive_their_video(*kinds: str) -> None:
    _outlive_their_video.update(kinds)


def _retractable() -> ColumnElement[bool]:
    return Notification.kind.not_in(sorted(_outlive_their_video)) if _outlive_their_video else true()


async def retract_about_video(session: AsyncSession, *, video_id: UUID) -> None:
    """Forget what anyone was told about things on a video taken down (comments, replies on it)."""
    await session.execute(
        delete(Notification)
        .where(Notification.data["video_id"].astext == str(video_id), _retractable())
        .execution_options(synchronize_session=False)
    )


async def retract_about(session: AsyncSession, *, user_id: UUID, subject_id: UUID) -> None:
    """Forget what `user_id` was told about `subject_id` or about things on it (`data.video_id`):
    the author of a deleted video is not pointed at it any more."""
    await session.execute(
        delete(Notification)
        .where(
            Notification.user_id == user_id,
            or_(
                Notification.subject_id == subject_id,
                Notification.data["video_id"].astext == str(subject_id),
            ),
            _retractable(),
        )
        .execution_options(synchronize_session=False)
    )


async def forget_deleted_video(session: AsyncSession, *, author_id: UUID, video_id: UUID) -> None:
    """`video_id`, by `author_id`, was deleted: the notifications that stay no longer name it, which
    would answer 404 to them as to everyone. The author's remix notifications stay (the remixes live
    on) without `remix_of`; those of the kinds that outlive their video, without `video_id`."""
    await session.execute(
        update(Notification)
        .where(Notification.user_id == author_id, Notification.data["remix_of"].astext == str(video_id))
        .values(data=Notification.data.op("-")("remix_of"))
        .execution_options(synchronize_session=False)
    )
    if _outlive_their_video:
        await session.execute(
            update(Notification)
            .where(
                Notification.kind.in_(sorted(_outlive_their_video)),
                Notification.data["video_id"].astext == str(video_id),
            )
            .values(data=Notification.data.op("-")("video_id"))
            .execution_options(synchronize_session=False)
        )


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
    actor_shown = and_(User.id == Notification.actor_id, ~_blocked_either_way(user_id, User.id))
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
    statement = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        statement = statement.where(Notification.id.in_(ids))
    await session.execute(statement.values(read_at=now).execution_options(synchronize_session=False))


# --- the recipient's list --------------------------------------------------------------------


class NotificationService:
    def __init__(self, session: AsyncSession, storage: MediaStorage, secret_key: str) -> None:
        self.session = session
        self.storage = storage
        self.secret_key = secret_key

    async def page(self, user: User, cursor: str | None, limit: int) -> Page[NotificationOut]:
        codec = CursorCodec(self.secret_key, f"notifications:{user.id}")
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
    db_session: DbSession, storage: StorageDep, settings: SettingsDep
) -> NotificationService:
    assert settings.secret_key is not None
    return NotificationService(db_session, storage, settings.secret_key)
