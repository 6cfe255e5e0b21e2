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
