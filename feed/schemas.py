"""Request and response bodies for videos, comments and remix lineage. Inputs forbid unknown
fields, so a protected field (status, counts, author) sent by a client is a 422 naming that field
rather than silently ignored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

Caption = Annotated[str, Meta(max_length=2200, description="At most 2200 characters")]
CommentBody = Annotated[str, Meta(min_length=1, max_length=1000, description="1-1000 characters")]
VisibilityName = Literal["public", "unlisted"]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class PublishIn(Input):
    caption: Caption | UnsetType = UNSET
    show_prompt: bool = True
    visibility: VisibilityName = "public"
    allow_remix: bool = True


class VideoPatch(Input):
    caption: Caption | UnsetType = UNSET
    visibility: VisibilityName | UnsetType = UNSET
    allow_remix: bool | UnsetType = UNSET
    show_prompt: bool | UnsetType = UNSET


class CommentIn(Input):
    body: CommentBody
    parent_id: Annotated[str, Meta(max_length=64)] | None = None


class Author(msgspec.Struct, kw_only=True):
    username: str
    display_name: str
    avatar_url: str | None


class Media(msgspec.Struct, kw_only=True):
    video_url: str
    thumbnail_url: str


class VideoOut(msgspec.Struct, kw_only=True):
    id: str
    author: Author
    status: Literal["draft", "published", "removed"]
    visibility: VisibilityName
    caption: str
    prompt: str | None
    show_prompt: bool
    model: str
    seconds: int
    size: str
    media: Media
    cameos: list[str]
    remix_of: str | None
    remix_root: str | None
    remix_depth: int
    allow_remix: bool
    like_count: int
    comment_count: int
    remix_count: int
    view_count: int
    liked_by_me: bool
    created_at: datetime
    published_at: datetime | None


class CommentOut(msgspec.Struct, kw_only=True):
    id: str
    video_id: str
    author: Author
    body: str
    parent_id: str | None
    created_at: datetime


class Lineage(msgspec.Struct, kw_only=True):
    ancestors: list[VideoOut]


class RemixNode(msgspec.Struct, kw_only=True):
    video: VideoOut
    children: list[RemixNode]


class RemixTree(msgspec.Struct, kw_only=True):
    video: VideoOut
    children: list[RemixNode]
    truncated: bool = False


# --- the paced feed ----------------------------------------------------------------------------

FeedCut = Literal["for_you", "following", "latest"]
FeedReason = Literal["followed", "interacted", "remix_of_yours", "cameo_of_you", "steered", "popular"]
Steer = Annotated[str, Meta(max_length=500, description="Free text, at most 500 characters")]
Mood = Annotated[int, Meta(ge=1, le=5, description="1 (low) to 5 (great)")]


class FeedItemOut(msgspec.Struct, kw_only=True):
    video: VideoOut
    reason: FeedReason


class BreakOut(msgspec.Struct, kw_only=True):
    """`videos_seen` is the session's count for `paced` and `wellbeing_check`, the UTC day's for
    `teen_daily_limit`; `resume_at` is when the feed opens again on its own (null: after resume)."""

    reason: Literal["paced", "teen_daily_limit", "wellbeing_check"]
    message: str
    videos_seen: int
    resume_at: datetime | None


class FeedPage(msgspec.Struct, kw_only=True):
    items: list[FeedItemOut]
    next_cursor: str | None
    break_: BreakOut | None = msgspec.field(name="break")


class FeedPreferencesIn(Input):
    """Omitted fields keep their current value."""

    steer: Steer | UnsetType = UNSET
    personalized: bool | UnsetType = UNSET


class FeedPreferencesOut(msgspec.Struct, kw_only=True):
    steer: str
    personalized: bool
    favour_topics: list[str]
    avoid_topics: list[str]
    # -1 (more relaxed) .. 1 (more energised), moved by check-ins.
    mood_bias: float
    updated_at: datetime | None


class CheckinIn(Input):
    mood: Mood
    want: Literal["more_relaxed", "more_energized", "same"]
