"""The SQL of the accounts domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Row,
    ScalarSelect,
    and_,
    any_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from accounts.models import (
    Invite,
    LoginSession,
    Notification,
    RefreshToken,
    User,
    blocks,
    follows,
    login_ended_at,
)
from app.db import advisory_xact_lock, delete_oldest, uuid_array
from app.idempotency import IdempotencyRecord
from app.pagination import keyset_before


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    """The account named `username`; a deleted one (its tombstone keeps the name) names nobody."""
    result = await session.scalars(select(User).where(User.username == username, User.deleted_at.is_(None)))
    return result.one_or_none()


# Emails are compared as PostgreSQL lower-cases them, the way their unique index does: Python's
# str.lower() differs for some letters (a final sigma, a dotted capital I), and an account whose
# email has one could not log in with it.
async def user_by_login(session: AsyncSession, login: str) -> User | None:
    condition = (
        func.lower(User.email) == func.lower(login) if "@" in login else User.username == login.lower()
    )
    result = await session.scalars(select(User).where(condition, User.deleted_at.is_(None)))
    return result.one_or_none()


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The account with this email, in any case (compared as `user_by_login` does); a deleted one's
    email is scrubbed, so it names nobody."""
    result = await session.scalars(
        select(User).where(func.lower(User.email) == func.lower(email), User.deleted_at.is_(None))
    )
    return result.one_or_none()


# A deleted account's tombstone keeps its username for ever: nobody may take it again (no one
# impersonates the person through their old handle), so it is not available.
async def username_exists(session: AsyncSession, username: str) -> bool:
    return bool(await session.scalar(select(exists().where(User.username == username))))


async def email_exists(session: AsyncSession, email: str) -> bool:
    return bool(await session.scalar(select(exists().where(func.lower(User.email) == func.lower(email)))))


async def sign_up_obstacles(
    session: AsyncSession, username: str, email: str, invite_code: str | None
) -> tuple[bool, bool, tuple[int, int] | None]:
    """In one round trip, as committed now and unlocked: whether the username and the email are
    taken, and the invite's (redeemed, total) uses (None when there is no such code or none was
    given). A sign-up refuses on these before it hashes; the locked checks decide at the insert."""
    columns: list[Any] = [
        exists().where(User.username == username),
        exists().where(func.lower(User.email) == func.lower(email)),
    ]
    if invite_code is not None:
        columns += [
            select(count).where(Invite.code == invite_code).scalar_subquery()
            for count in (Invite.redeemed_count, Invite.total_count)
        ]
    row = (await session.execute(select(*columns))).one()
    uses = (row[2], row[3]) if invite_code is not None and row[2] is not None else None
    return bool(row[0]), bool(row[1]), uses


async def admin_exists(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().where(User.role == "admin"))))


async def avatar_for_update(session: AsyncSession, user_id: UUID) -> str | None:
    """The user's avatar key as committed now, the row locked until commit (no key columns change:
    rows that only refer to the user do not wait)."""
    avatar_key: str | None = await session.scalar(
        select(User.avatar_key).where(User.id == user_id).with_for_update(key_share=True)
    )
    return avatar_key


# --- invites ---------------------------------------------------------------------------------


async def invite_for_update(session: AsyncSession, code: str) -> Invite | None:
    result = await session.scalars(select(Invite).where(Invite.code == code).with_for_update())
    return result.one_or_none()


async def invite_of(session: AsyncSession, owner_id: UUID) -> Invite | None:
    result = await session.scalars(select(Invite).where(Invite.owner_id == owner_id))
    return result.one_or_none()


async def invite_code_exists(session: AsyncSession, code: str) -> bool:
    return bool(await session.scalar(select(exists().where(Invite.code == code))))


# --- refresh tokens --------------------------------------------------------------------------


async def refresh_token_for_update(session: AsyncSession, digest: str) -> RefreshToken | None:
    """The refresh token, with its whole family (one login) locked until commit (`lock_login`).
    Every rotation and revocation of a family takes this lock first, so a reused token's revocation
    waits for a rotation of the same family in flight and then sees the token it issued (a row lock
    alone let that new token escape: inserted after the revoking statement's snapshot, it stayed
    valid)."""
    found = (
        await session.execute(
            select(RefreshToken.family_id, RefreshToken.user_id).where(RefreshToken.token_digest == digest)
        )
    ).one_or_none()
    if found is None:
        return None
    family_id, user_id = found
    await lock_login(session, user_id, family_id)
    result = await session.scalars(
        select(RefreshToken)
        .where(RefreshToken.token_digest == digest)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.one_or_none()


async def lock_login(session: AsyncSession, user_id: UUID, family_id: UUID) -> None:
    """Lock one login (a refresh-token family) until commit, against its rotations and its ending.
    The account's lock is taken first, shared with every other login's and exclusive with the
    ending of all of them at once (`lock_out_sessions`): a rotation in flight when they end finishes
    first and its new token is revoked with the rest, or starts after and finds its token revoked.
    Statements after it read what the transaction it waited for committed (READ COMMITTED takes a
    snapshot per statement)."""
    await advisory_xact_lock(session, f"sessions:{user_id}", shared=True)
    await advisory_xact_lock(session, f"refresh-family:{family_id}")


async def revoke_family(session: AsyncSession, family_id: UUID, now: datetime) -> None:
    """End one login: its refresh tokens and the login itself (whose access tokens are then
    refused). The caller holds `lock_login`."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await session.execute(
        update(LoginSession)
        .where(LoginSession.id == family_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now, updated_at=now)
    )


async def password_still(session: AsyncSession, user_id: UUID, password_hash: str) -> bool:
    """Whether the user's password is still `password_hash`, read under the account's sessions lock
    (shared until commit, so a password change, which takes it exclusively, comes before this read
    or after this transaction)."""
    await advisory_xact_lock(session, f"sessions:{user_id}", shared=True)
    current = await session.scalar(select(User.password_hash).where(User.id == user_id))
    return current == password_hash


async def password_changed_and_deleted(
    session: AsyncSession, user_id: UUID
) -> tuple[datetime | None, datetime | None]:
    """When the user's password was last changed and when the account was deleted, as committed
    now (not the loaded `User`'s)."""
    row = (
        await session.execute(select(User.password_changed_at, User.deleted_at).where(User.id == user_id))
    ).one()
    return row[0], row[1]


async def password_reset_state(
    session: AsyncSession, user_id: UUID
) -> tuple[str, datetime | None, str, datetime | None] | None:
    """What a password-reset token is bound to, as committed now (not the loaded `User`'s):
    the password hash, when the password last changed and the email, with when the account was
    deleted; None when there is no such account."""
    row = (
        await session.execute(
            select(User.password_hash, User.password_changed_at, User.email, User.deleted_at).where(
                User.id == user_id
            )
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1], row[2], row[3])


async def lock_out_sessions(
    session: AsyncSession, user_id: UUID, now: datetime, *, keep: UUID | None = None
) -> None:
    """End every login of the user but `keep` (refresh tokens and the logins themselves), with no
    rotation in flight escaping it."""
    await advisory_xact_lock(session, f"sessions:{user_id}")
    tokens = update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
    logins = update(LoginSession).where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
    if keep is not None:
        tokens = tokens.where(RefreshToken.family_id != keep)
        logins = logins.where(LoginSession.id != keep)
    await session.execute(tokens.values(revoked_at=now))
    await session.execute(logins.values(revoked_at=now, updated_at=now))


async def touch_login(
    session: AsyncSession, login_id: UUID, user_id: UUID, now: datetime, expires_at: datetime, device: str
) -> None:
    """A login's refresh: its last use and expiry move on. A login made by a process running code
    older than `login_sessions` (during a rolling deploy) has no row yet: it gets one, `device`
    standing for what it no longer knows."""
    await session.execute(
        pg_insert(LoginSession)
        .values(
            id=login_id,
            user_id=user_id,
            device=device,
            last_used_at=now,
            expires_at=expires_at,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=[LoginSession.id],
            set_={"last_used_at": now, "expires_at": expires_at, "updated_at": now},
        )
    )


async def login_of(session: AsyncSession, user_id: UUID, login_id: UUID) -> LoginSession | None:
    """One of the user's logins, ended or not; None when it is not theirs."""
    result = await session.scalars(
        select(LoginSession).where(LoginSession.id == login_id, LoginSession.user_id == user_id)
    )
    return result.one_or_none()


async def active_login_page(
    session: AsyncSession, user_id: UUID, now: datetime, after: tuple[datetime, UUID] | None, limit: int
) -> list[LoginSession]:
    """`limit + 1` of the user's logins neither ended nor expired, latest used first."""
    query = (
        select(LoginSession)
        .where(
            LoginSession.user_id == user_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now,
        )
        .order_by(LoginSession.last_used_at.desc(), LoginSession.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(keyset_before(LoginSession.last_used_at, LoginSession.id, after))
    return list((await session.scalars(query)).all())


async def user_and_login(
    session: AsyncSession, user_id: UUID, login_id: UUID | None
) -> tuple[User | None, bool]:
    """The user an access token names, and whether the login it was issued from (its `sid`) has
    ended, in the one primary-key lookup every signed-in request makes anyway (the login's row by
    its primary key, joined). A login whose row is gone (purged once expired) has ended."""
    if login_id is None:
        return await session.get(User, user_id), False
    row = (
        await session.execute(
            select(User, LoginSession.id, LoginSession.revoked_at)
            .outerjoin(LoginSession, and_(LoginSession.id == login_id, LoginSession.user_id == User.id))
            .where(User.id == user_id)
        )
    ).one_or_none()
    if row is None:
        return None, False
    user, found, revoked_at = row
    return user, found is None or revoked_at is not None


async def purge_refresh_tokens(session: AsyncSession, before: datetime, limit: int) -> int:
    """One batch of the refresh tokens expired before `before`, oldest first
    (`ix_refresh_tokens_expires_at`); how many were deleted. Their logins stay until the session
    retention takes them (`delete_ended_logins`). A token a request holds (a refresh, which refuses
    an expired one) is skipped, left for the next batch."""
    deleted = await delete_oldest(
        session, RefreshToken, RefreshToken.expires_at, RefreshToken.expires_at < before, limit=limit
    )
    return len(deleted)


async def delete_ended_logins(session: AsyncSession, before: datetime, limit: int) -> int:
    """One batch of the logins that ended (ended by the user or expired) before `before`, oldest
    first (`ix_login_sessions_ended_at`), with whatever refresh tokens of theirs are left (all
    revoked or expired: ending a login revokes its tokens, and it expires with its newest); how many
    logins were deleted. An access token of one is refused as one of an ended login
    (`user_and_login`). Rows a request holds are skipped, left for the next batch: a batch never
    waits for a lock (a token skipped so is taken by the purge of expired tokens once it expires)."""
    logins = await delete_oldest(session, LoginSession, login_ended_at, login_ended_at < before, limit=limit)
    if logins:
        tokens = (
            select(RefreshToken.id)
            .where(RefreshToken.family_id == any_(uuid_array(logins)))
            .with_for_update(skip_locked=True)
        )
        await session.execute(delete(RefreshToken).where(RefreshToken.id.in_(tokens.scalar_subquery())))
    return len(logins)


# --- social graph ----------------------------------------------------------------------------


class Relationship:
    """How a viewer and another user stand, read in one round trip."""

    def __init__(self, following: bool, followed_by: bool, blocking: bool, blocked_by: bool) -> None:
        self.following = following
        self.followed_by = followed_by
        self.blocking = blocking
        self.blocked_by = blocked_by


def _follow_exists(follower: UUID, followee: UUID):  # type: ignore[no-untyped-def]
    return exists().where(follows.c.follower_id == follower, follows.c.followee_id == followee)


def _block_exists(blocker: UUID, blocked: UUID):  # type: ignore[no-untyped-def]
    return exists().where(blocks.c.blocker_id == blocker, blocks.c.blocked_id == blocked)


async def relationship(session: AsyncSession, viewer_id: UUID, other_id: UUID) -> Relationship:
    row = (
        await session.execute(
            select(
                _follow_exists(viewer_id, other_id),
                _follow_exists(other_id, viewer_id),
                _block_exists(viewer_id, other_id),
                _block_exists(other_id, viewer_id),
            )
        )
    ).one()
    return Relationship(*(bool(value) for value in row))


async def is_blocked_either_way(session: AsyncSession, a: UUID, b: UUID) -> bool:
    return bool(await session.scalar(select(or_(_block_exists(a, b), _block_exists(b, a)))))


async def lock_pair(session: AsyncSession, a: UUID, b: UUID) -> None:
    """Serialises follow, unfollow, block and unblock between two people until commit, so a follow
    racing a block cannot slip in after the block removed the follows."""
    first, second = sorted((a, b))
    await advisory_xact_lock(session, f"relationship:{first}:{second}")


async def add_follow(session: AsyncSession, follower_id: UUID, followee_id: UUID) -> None:
    added = await session.execute(
        pg_insert(follows)
        .values(follower_id=follower_id, followee_id=followee_id)
        .on_conflict_do_nothing()
        .returning(follows.c.follower_id, follows.c.followee_id)
    )
    await _count_follows(session, added.all(), +1)


async def remove_follow(session: AsyncSession, follower_id: UUID, followee_id: UUID) -> None:
    removed = await session.execute(
        delete(follows)
        .where(follows.c.follower_id == follower_id, follows.c.followee_id == followee_id)
        .returning(follows.c.follower_id, follows.c.followee_id)
    )
    await _count_follows(session, removed.all(), -1)


async def add_block(session: AsyncSession, blocker_id: UUID, blocked_id: UUID) -> None:
    await session.execute(
        pg_insert(blocks).values(blocker_id=blocker_id, blocked_id=blocked_id).on_conflict_do_nothing()
    )
    # A block ends the relationship both ways.
    removed = await session.execute(
        delete(follows)
        .where(
            or_(
                and_(follows.c.follower_id == blocker_id, follows.c.followee_id == blocked_id),
                and_(follows.c.follower_id == blocked_id, follows.c.followee_id == blocker_id),
            )
        )
        .returning(follows.c.follower_id, follows.c.followee_id)
    )
    await _count_follows(session, removed.all(), -1)


async def _count_follows(session: AsyncSession, changed: Sequence[Row[UUID, UUID]], step: int) -> None:
    """Move users' follower and following counts by `step` for each (follower, followee) pair that
    was added or removed. Rows are updated in id order, so two follows sharing people cannot lock
    each other's rows in opposite orders (deadlock)."""
    following: dict[UUID, int] = {}
    followers: dict[UUID, int] = {}
    for follower_id, followee_id in changed:
        following[follower_id] = following.get(follower_id, 0) + step
        followers[followee_id] = followers.get(followee_id, 0) + step
    for user_id in sorted(following.keys() | followers.keys()):
        values: dict[str, Any] = {
            # Never below zero: counts that drifted (follows made by a process older than the
            # counts, during an upgrade) must not turn an unfollow into a constraint violation.
            "following_count": func.greatest(User.following_count + following.get(user_id, 0), 0),
            "follower_count": func.greatest(User.follower_count + followers.get(user_id, 0), 0),
        }
        if user_id in following:
            values["follows_version"] = User.follows_version + 1
        await session.execute(update(User).where(User.id == user_id).values(**values))


async def remove_block(session: AsyncSession, blocker_id: UUID, blocked_id: UUID) -> None:
    await session.execute(
        delete(blocks).where(blocks.c.blocker_id == blocker_id, blocks.c.blocked_id == blocked_id)
    )


async def follow_page(
    session: AsyncSession,
    *,
    user_id: UUID,
    direction: str,
    viewer_id: UUID,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[tuple[User, datetime]]:
    """A page of `user_id`'s followers (direction "followers") or followees ("following"),
    newest follow first, leaving out anyone who blocks or is blocked by the viewer, and deleted
    accounts (whose follows their purge ends a batch at a time)."""
    if direction == "followers":
        anchor, other = follows.c.followee_id, follows.c.follower_id
    else:
        anchor, other = follows.c.follower_id, follows.c.followee_id
    query = (
        select(User, follows.c.created_at)
        .join(follows, other == User.id)
        .where(anchor == user_id, User.deleted_at.is_(None))
        .where(~_block_exists(viewer_id, User.id), ~_block_exists(User.id, viewer_id))  # type: ignore[arg-type]
        .order_by(follows.c.created_at.desc(), other.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(keyset_before(follows.c.created_at, other, after))
    rows = (await session.execute(query)).all()
    return [(row[0], row[1]) for row in rows]


async def block_page(
    session: AsyncSession, *, blocker_id: UUID, after: tuple[datetime, UUID] | None, limit: int
) -> list[tuple[User, datetime]]:
    """A page of the users `blocker_id` blocks, newest block first, leaving out those who block
    `blocker_id` too (they do not exist for them, as in every other list)."""
    mine = blocks.alias("mine")  # not `blocks`, which the block-back check correlates with
    query = (
        select(User, mine.c.created_at)
        .join(mine, mine.c.blocked_id == User.id)
        .where(mine.c.blocker_id == blocker_id, User.deleted_at.is_(None))
        .where(~_block_exists(User.id, blocker_id))  # type: ignore[arg-type]
        .order_by(mine.c.created_at.desc(), mine.c.blocked_id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(keyset_before(mine.c.created_at, mine.c.blocked_id, after))
    rows = (await session.execute(query)).all()
    return [(row[0], row[1]) for row in rows]


async def relationship_flags(
    session: AsyncSession, viewer_id: UUID, user_ids: list[UUID]
) -> dict[UUID, tuple[bool, bool]]:
    """(viewer follows them, they follow viewer) for many users at once: no N+1 on lists."""
    if not user_ids:
        return {}
    following = set(
        (
            await session.scalars(
                select(follows.c.followee_id).where(
                    follows.c.follower_id == viewer_id, follows.c.followee_id.in_(user_ids)
                )
            )
        ).all()
    )
    followed_by = set(
        (
            await session.scalars(
                select(follows.c.follower_id).where(
                    follows.c.followee_id == viewer_id, follows.c.follower_id.in_(user_ids)
                )
            )
        ).all()
    )
    return {uid: (uid in following, uid in followed_by) for uid in user_ids}


async def insert_invite(session: AsyncSession, owner_id: UUID, code: str, total: int) -> None:
    await session.execute(insert(Invite).values(owner_id=owner_id, code=code, total_count=total))


async def blocked_among(session: AsyncSession, viewer_id: UUID, user_ids: list[UUID]) -> set[UUID]:
    """Which of `user_ids` the viewer has blocked."""
    if not user_ids:
        return set()
    result = await session.scalars(
        select(blocks.c.blocked_id).where(blocks.c.blocker_id == viewer_id, blocks.c.blocked_id.in_(user_ids))
    )
    return set(result.all())


# --- account deletion ------------------------------------------------------------------------


async def user_for_deletion(session: AsyncSession, user_id: UUID) -> User | None:
    """The users row as committed now, locked FOR UPDATE until commit: a deletion waits for another
    in flight (and then sees its tombstone), and a follow or block naming the account, which takes
    a key-share lock on it (`still_exists`), waits for the deletion and then finds it gone."""
    result = await session.scalars(
        select(User).where(User.id == user_id).with_for_update().execution_options(populate_existing=True)
    )
    return result.one_or_none()


def still_exists_read(user_id: UUID) -> ScalarSelect[bool]:
    """Whether the account is not deleted (TRUE; FALSE when it is, NULL when there is no such row),
    read under a key-share lock held until commit: a deletion under way (FOR UPDATE) is waited for,
    and none can start until this transaction ends. Key-share locks do not wait for each other nor
    for the counts' updates, so follows stay concurrent. A locking read sees the row as last
    committed, a deletion that committed while it waited included. A scalar subquery, so that a
    statement with other work to do may return it (`accounts.service.deletion.caller_presence`)."""
    return (
        select(User.deleted_at.is_(None))
        .where(User.id == user_id)
        .with_for_update(read=True, key_share=True)
        .scalar_subquery()
    )


async def still_exists(session: AsyncSession, user_id: UUID) -> bool:
    """`still_exists_read` in a statement of its own."""
    return await session.scalar(select(still_exists_read(user_id))) is True


async def remove_follows_of(session: AsyncSession, user_id: UUID, limit: int) -> int:
    """One batch of the follows from or to a deleted user, with everyone's counts moved (the rows
    in id order, as every follow takes them); how many. Run by the account's purge, a batch a
    transaction: deleting someone 100k people follow never moves 100k rows in one."""
    removed: list[Row[UUID, UUID]] = []
    for anchor, other in (
        (follows.c.followee_id, follows.c.follower_id),
        (follows.c.follower_id, follows.c.followee_id),
    ):
        left = limit - len(removed)
        if left <= 0:
            break
        batch = select(other).where(anchor == user_id).limit(left).scalar_subquery()
        result = await session.execute(
            delete(follows)
            .where(anchor == user_id, other.in_(batch))
            .returning(follows.c.follower_id, follows.c.followee_id)
        )
        removed += result.all()
    await _count_follows(session, removed, -1)
    return len(removed)


async def remove_blocks_of(session: AsyncSession, user_id: UUID, limit: int) -> int:
    """One batch of the blocks made by or against a deleted user; how many."""
    mine = or_(blocks.c.blocker_id == user_id, blocks.c.blocked_id == user_id)
    batch = select(blocks.c.blocker_id, blocks.c.blocked_id).where(mine).limit(limit)
    result = await session.execute(
        delete(blocks).where(mine, tuple_(blocks.c.blocker_id, blocks.c.blocked_id).in_(batch))
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_pending(session: AsyncSession) -> bool:
    """Whether any deleted account's purge has not finished (ix_users_purge_pending)."""
    pending = exists().where(User.deleted_at.is_not(None), User.purged_at.is_(None))
    return bool(await session.scalar(select(pending)))


async def follow_counts(session: AsyncSession, user_ids: Sequence[UUID]) -> dict[UUID, tuple[int, int]]:
    """(follower count, following count) of each user as everyone is shown them: the counts kept on
    the row, less the follows with deleted accounts that their purge has not ended yet. One
    statement, one snapshot: a purge batch committing meanwhile is taken off once. Found from the
    few accounts pending a purge (the partial index ix_users_purge_pending), each probing the
    follows' primary key, so a profile with 100k followers costs no more."""
    if not user_ids:
        return {}
    gone = aliased(User)
    pending = and_(gone.deleted_at.is_not(None), gone.purged_at.is_(None))
    followers_gone = (
        select(func.count())
        .select_from(gone)
        .join(follows, and_(follows.c.follower_id == gone.id, follows.c.followee_id == User.id))
        .where(pending)
        .scalar_subquery()
    )
    following_gone = (
        select(func.count())
        .select_from(gone)
        .join(follows, and_(follows.c.followee_id == gone.id, follows.c.follower_id == User.id))
        .where(pending)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            User.id,
            func.greatest(User.follower_count - followers_gone, 0),
            func.greatest(User.following_count - following_gone, 0),
        ).where(User.id.in_(list(user_ids)))
    )
    return {row[0]: (int(row[1]), int(row[2])) for row in rows.all()}


async def delete_invite(session: AsyncSession, owner_id: UUID) -> None:
    """The invite code stops working (a sign-up redeeming it holds the row: it is waited for, and
    its new user, made with the code already, is the inviter's like any other)."""
    await session.execute(delete(Invite).where(Invite.owner_id == owner_id))


async def delete_notifications_of(session: AsyncSession, user_id: UUID, limit: int) -> int:
    """One batch of the notifications sent to the user or naming them as the actor; how many were
    found (short of `limit`: none left). Each side picked through its own index without sorting
    the rest, then all locked in id order, as every write of several notifications locks them
    (accounts.notifications), and deleted."""
    found: set[UUID] = set()
    for column in (Notification.user_id, Notification.actor_id):
        found.update(
            (await session.scalars(select(Notification.id).where(column == user_id).limit(limit))).all()
        )
    if not found:
        return 0
    locked = (
        await session.scalars(
            select(Notification.id)
            .where(Notification.id.in_(sorted(found)))
            .order_by(Notification.id)
            .with_for_update()
        )
    ).all()
    if locked:
        await session.execute(delete(Notification).where(Notification.id.in_(list(locked))))
    return len(found)


async def purges_pending(session: AsyncSession, deleted_before: datetime, limit: int) -> list[UUID]:
    """Deleted accounts whose purge has not finished, deleted before `deleted_before`."""
    result = await session.scalars(
        select(User.id)
        .where(User.deleted_at.is_not(None), User.purged_at.is_(None), User.deleted_at < deleted_before)
        .order_by(User.deleted_at)
        .limit(limit)
    )
    return list(result.all())


async def mark_purged(session: AsyncSession, user_id: UUID, now: datetime) -> None:
    await session.execute(
        update(User).where(User.id == user_id, User.deleted_at.is_not(None)).values(purged_at=now)
    )


async def delete_idempotency_records_of(session: AsyncSession, user_id: UUID, limit: int) -> int:
    batch = (
        select(IdempotencyRecord.id)
        .where(IdempotencyRecord.user_id == user_id)
        .limit(limit)
        .scalar_subquery()
    )
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(batch)))
    return int(getattr(result, "rowcount", 0) or 0)
