"""Videos (drafts and posts), likes, comments, views and remix lineage."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase, orm_registry
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column


class VideoStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    REMOVED = "removed"


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    UNLISTED = "unlisted"


class Video(UUIDv7AuditBase):
    """A video made by a completed generation: a private draft until its author publishes it.

    `removed` is a moderation outcome (the author still sees it); `deleted_at` marks a video its
    author (or a cameo owner) deleted, which nobody sees again. Remix lineage is kept on every
    video: `remix_of_id` is the direct parent, `remix_root_id` the original, `remix_depth` the
    number of hops from it (0 for an original)."""

    __tablename__ = "videos"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'removed')", name="status_known"),
        CheckConstraint("visibility IN ('public', 'unlisted')", name="visibility_known"),
        CheckConstraint("remix_depth >= 0", name="remix_depth_not_negative"),
        CheckConstraint(
            "(remix_of_id IS NULL) = (remix_root_id IS NULL) AND (remix_of_id IS NULL) = (remix_depth = 0)",
            name="lineage_consistent",
        ),
        CheckConstraint(
            "like_count >= 0 AND comment_count >= 0 AND remix_count >= 0 AND view_count >= 0",
            name="counts_not_negative",
        ),
        # A profile's videos and the latest feed: published, newest first.
        Index("ix_videos_author_published", "author_id", "published_at", "id"),
        Index(
            "ix_videos_published_public",
            "published_at",
            "id",
            postgresql_where=text("status = 'published' AND visibility = 'public' AND deleted_at IS NULL"),
        ),
        Index("ix_videos_remix_of_created", "remix_of_id", "created_at", "id"),
        Index("ix_videos_remix_root_id", "remix_root_id"),
        Index("ix_videos_search_vector", "search_vector", postgresql_using="gin"),
        Index(
            "ix_videos_author_drafts",
            "author_id",
            "created_at",
            "id",
            postgresql_where=text("status = 'draft'"),
        ),
    )

    author_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=VideoStatus.DRAFT.value)
    visibility: Mapped[str] = mapped_column(String(16), default=Visibility.PUBLIC.value)
    caption: Mapped[str] = mapped_column(Text, default="", server_default="")
    prompt: Mapped[str] = mapped_column(Text)
    show_prompt: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    allow_remix: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    model: Mapped[str] = mapped_column(String(32))
    seconds: Mapped[int] = mapped_column(Integer)
    size: Mapped[str] = mapped_column(String(16))
    # Usernames of the cameos cast in it, as they were when it was generated.
    cameos: Mapped[list[str]] = mapped_column(ARRAY(String(30)), default=list, server_default="{}")
    video_key: Mapped[str] = mapped_column(String(255))
    thumbnail_key: Mapped[str] = mapped_column(String(255))
    spritesheet_key: Mapped[str | None] = mapped_column(String(255), default=None)
    # The provider's id for the rendered video, so a remix can be made by the provider itself.
    provider_video_id: Mapped[str | None] = mapped_column(String(128), default=None)
    remix_of_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("videos.id", ondelete="SET NULL"), default=None
    )
    remix_root_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("videos.id", ondelete="SET NULL"), default=None
    )
    remix_depth: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    like_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    comment_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    remix_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    view_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    published_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    removed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # What steering matches: the caption, and the prompt when the author shows it.
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed(
            "to_tsvector('english', caption || ' ' || CASE WHEN show_prompt THEN prompt ELSE '' END)",
            persisted=True,
        ),
        deferred=True,
    )


class Comment(UUIDv7AuditBase):
    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint("char_length(body) BETWEEN 1 AND 1000", name="body_length"),
        Index("ix_comments_video_created", "video_id", "created_at", "id"),
        # The feed's "people you interacted with": a user's newest comments.
        Index("ix_comments_author_created", "author_id", "created_at"),
    )

    video_id: Mapped[UUID] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    author_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Replies go with the comment they answer.
    parent_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), default=None, index=True
    )
    body: Mapped[str] = mapped_column(Text)
    # Set when moderation removes the comment (with its replies, all at the same instant): hidden
    # from everyone, and brought back, thread and all, if an appeal is granted.
    removed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


likes = Table(
    "likes",
    orm_registry.metadata,
    Column("video_id", ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTimeUTC(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_likes_user_created", "user_id", "created_at"),
)

views = Table(
    "views",
    orm_registry.metadata,
    Column("video_id", ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True),
    Column("viewer_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTimeUTC(timezone=True), nullable=False, server_default=func.now()),
)

# Who appears in a video through their cameo: the owners may see it (a draft included), find it in
# their appearances, and delete it. Written with the draft, from the generation's cameos.
video_appearances = Table(
    "video_appearances",
    orm_registry.metadata,
    Column("video_id", ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("cameo_id", Uuid, nullable=False),
    Column("created_at", DateTimeUTC(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_video_appearances_user_created", "user_id", "created_at", "video_id"),
)


class FeedPreferences(UUIDv7AuditBase):
    """How a user steers their ranked feed: free text interpreted into topics to favour and avoid,
    whether it is personalised at all, and the nudge left by their last wellbeing check-in."""

    __tablename__ = "feed_preferences"
    __table_args__ = (
        CheckConstraint("char_length(steer) <= 500", name="steer_length"),
        CheckConstraint("mood_bias BETWEEN -1 AND 1", name="mood_bias_range"),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    steer: Mapped[str] = mapped_column(Text, default="", server_default="")
    personalized: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # What the steering interpreter made of `steer`: full-text search terms.
    favour_topics: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list, server_default="{}")
    avoid_topics: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list, server_default="{}")
    # -1 more relaxed .. +1 more energised, from check-ins.
    mood_bias: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")


see_less = Table(
    "see_less",
    orm_registry.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("video_id", ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True),
    # The author, so seeing less of one video also weighs down the rest of theirs.
    Column("author_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTimeUTC(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_see_less_user_author", "user_id", "author_id"),
)


class FeedCheckin(UUIDv7AuditBase):
    """A wellbeing check-in answered at a break."""

    __tablename__ = "feed_checkins"
    __table_args__ = (
        CheckConstraint("mood BETWEEN 1 AND 5", name="mood_range"),
        CheckConstraint("want IN ('more_relaxed', 'more_energized', 'same')", name="want_known"),
        Index("ix_feed_checkins_user_created", "user_id", "created_at"),
        # What the retention job deletes, oldest first, across every user.
        Index("ix_feed_checkins_created_at", "created_at"),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    mood: Mapped[int] = mapped_column(Integer)
    want: Mapped[str] = mapped_column(String(16))


# A teen's count of feed videos for a UTC day, kept beside the Redis counter (feed.pacing) so that
# a Redis that loses its data does not give the teen a second daily cap: the pacer counts from the
# greater of the two. Read and written by teens' feed pages only; deleted by `retention.feed_teen_days`
# a couple of days after the day (`ix_feed_teen_days_day`) and by the account's purge.
feed_teen_days = Table(
    "feed_teen_days",
    orm_registry.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("served", Integer, nullable=False),
    CheckConstraint("served >= 0", name="served_not_negative"),
    Index("ix_feed_teen_days_day", "day"),
)
