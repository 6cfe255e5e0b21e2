"""Users, invites, refresh tokens, follows and blocks."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase, orm_registry
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column


class Role(enum.StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"


class AgeBand(enum.StrEnum):
    TEEN = "teen"
    ADULT = "adult"


class User(UUIDv7AuditBase):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("username ~ '^[a-z0-9_.]{3,30}$'", name="username_format"),
        CheckConstraint("role IN ('user', 'moderator', 'admin')", name="role_known"),
        CheckConstraint("post_count >= 0", name="post_count_not_negative"),
        CheckConstraint("follower_count >= 0", name="follower_count_not_negative"),
        CheckConstraint("following_count >= 0", name="following_count_not_negative"),
        Index("uq_users_email_lower", text("lower(email)"), unique=True),
        # What the sweep finishing unfinished account purges scans (accounts.jobs).
        Index(
            "ix_users_purge_pending",
            "deleted_at",
            postgresql_where=text("deleted_at IS NOT NULL AND purged_at IS NULL"),
        ),
    )

    username: Mapped[str] = mapped_column(String(30), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(50), default="", server_default="")
    bio: Mapped[str] = mapped_column(String(300), default="", server_default="")
    avatar_key: Mapped[str | None] = mapped_column(String(255), default=None)
    birthdate: Mapped[date] = mapped_column(Date)
    role: Mapped[str] = mapped_column(String(16), default=Role.USER.value, server_default=Role.USER.value)
    invited_by_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # Maintained by the feed domain when videos are published or removed; accounts cannot see videos.
    post_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Kept with the follows (accounts.queries), so a profile of someone with 100k followers does not
    # count them on every read.
    follower_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    following_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Moved by every follow and unfollow this user makes (a follow then an unfollow leaves the count
    # as it was): the feed ranks again when it differs from the one its ranked pool was made with.
    follows_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Set by a moderator's suspension: until then the user may read but not post, comment,
    # generate or report.
    suspended_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Access tokens issued before it are refused (`provide_current_user`): changing the password
    # signs every other device out at once, not when their tokens expire.
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Set when the owner deleted the account (accounts.service.deletion): the row stays as a
    # tombstone, which no token, login or username lookup reaches any more. `purged_at` is set once
    # the background purge of what the account left behind has finished (accounts.jobs).
    deleted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    purged_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class Invite(UUIDv7AuditBase):
    """A user's one invite code; `redeemed_count` counts the sign-ups that used it."""

    __tablename__ = "invites"
    __table_args__ = (
        CheckConstraint("redeemed_count >= 0 AND redeemed_count <= total_count", name="uses_within_total"),
        CheckConstraint("code ~ '^[A-Z0-9]{6}$'", name="code_format"),
    )

    owner_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)
    total_count: Mapped[int] = mapped_column(Integer)
    redeemed_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LoginSession(UUIDv7AuditBase):
    """One login (a device signed in): its id is the `family_id` of every refresh token issued from
    it, and the `sid` claim of the access tokens issued with them. `created_at` is when it logged
    in, `last_used_at` its latest refresh, `expires_at` its newest refresh token's expiry. Ending it
    (`revoked_at`) revokes its refresh tokens in the same transaction, and its access tokens are
    refused from then on (`accounts.deps.provide_current_user`). Only a label derived from the
    User-Agent is kept about the device, never the address it came from."""

    __tablename__ = "login_sessions"
    __table_args__ = (
        # When it ended: its end or its expiry, whichever came first (LEAST leaves out a NULL). What
        # the retention job deletes, oldest first; spelled as `login_ended_at` below.
        Index("ix_login_sessions_ended_at", text("least(revoked_at, expires_at)")),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device: Mapped[str] = mapped_column(String(64))
    last_used_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


# When a login ended (its end or its expiry, whichever came first), as `ix_login_sessions_ended_at`
# indexes it.
login_ended_at: ColumnElement[datetime] = func.least(
    LoginSession.revoked_at, LoginSession.expires_at, type_=DateTimeUTC(timezone=True)
)


class RefreshToken(UUIDv7AuditBase):
    """One link in a rotation chain. A family is everything issued from one login; presenting a
    token that was already rotated revokes the whole family (RFC 9700 reuse detection)."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_family_id", "family_id"),
        # What the purge of expired tokens deletes, oldest first.
        Index("ix_refresh_tokens_expires_at", "expires_at"),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[UUID] = mapped_column()
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


follows = Table(
    "follows",
    orm_registry.metadata,
    Column("follower_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("followee_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTimeUTC(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("follower_id <> followee_id", name="not_self"),
    # "Who follows X, newest first" and its cursor.
    Index("ix_follows_followee_created", "followee_id", "created_at", "follower_id"),
    Index("ix_follows_follower_created", "follower_id", "created_at", "followee_id"),
)

blocks = Table(
    "blocks",
    orm_registry.metadata,
    Column("blocker_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("blocked_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTimeUTC(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("blocker_id <> blocked_id", name="not_self"),
    Index("ix_blocks_blocked_id", "blocked_id"),
)


class Notification(UUIDv7AuditBase):
    """Something that happened to a user: `actor` did `kind` to `subject`. `dedupe_key`, when set,
    makes creating the same notification twice a no-op (a like, an unlike and a like again notify
    once)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_created", "user_id", "created_at", "id"),
        # What a video's deletion or removal retracts, across every recipient: spelled exactly as
        # `notification_video_id` below, which the queries use so that the planner matches it.
        Index("ix_notifications_video_id", text("(data ->> 'video_id')")),
        # What a deleted account's purge deletes besides its own: the notifications naming it.
        Index("ix_notifications_actor_id", "actor_id"),
        # What the retention job deletes, oldest first, across every recipient: only the kinds it
        # may delete, so that a batch never walks past the kept ones (`moderation_decision`, kept
        # whatever its age) however many there are. The kinds are those registered with
        # `accounts.notifications.outlive_retention`, written out: the job's condition names them
        # as literals too, so that the planner proves this predicate from it, generic plans
        # included (a test checks both).
        Index(
            "ix_notifications_prunable_created_at",
            "created_at",
            postgresql_where=text("kind <> 'moderation_decision'"),
        ),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[UUID | None] = mapped_column(default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    read_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


# The video a notification is about (`data.video_id`), as `ix_notifications_video_id` indexes it: the
# key is a literal, since `data ->> $1` (how `data["video_id"].astext` is sent) matches no index
# expression once PostgreSQL plans the prepared statement generically.
notification_video_id: ColumnElement[str] = Notification.data.op("->>", return_type=Text)(
    literal_column("'video_id'")
)
