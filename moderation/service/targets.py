"""What a report points at: found as the reporter may see it (404 otherwise, as everywhere), never
the reporter's own, and captured as it is now so a later edit or deletion cannot hide it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries as account_queries
from accounts.errors import UserNotFound
from accounts.models import User
from cameo.errors import CameoNotFound
from cameo.models import Cameo, CameoStatus
from cameo.service.present import cameo_snapshot
from feed import queries as feed_queries
from feed.errors import CommentNotFound
from feed.models import Comment, Video, VideoStatus
from feed.service.present import content_url
from feed.visibility import may_view, viewable_video
from moderation.errors import CannotReportSelf, VideoAlreadyRemoved


@dataclass(frozen=True)
class ResolvedTarget:
    type: str
    id: UUID
    subject_user_id: UUID
    snapshot: dict[str, Any]


def _parse(raw: str, missing: type[Exception]) -> UUID:
    try:
        return UUID(raw)
    except ValueError as exc:
        raise missing() from exc


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def video_snapshot(video: Video, author: User | None) -> dict[str, Any]:
    return {
        "type": "video",
        "id": str(video.id),
        "author": author.username if author else None,
        "status": video.status,
        "visibility": video.visibility,
        "caption": video.caption,
        "prompt": video.prompt,
        "model": video.model,
        "seconds": video.seconds,
        "size": video.size,
        "cameos": list(video.cameos),
        "remix_of": str(video.remix_of_id) if video.remix_of_id else None,
        "video_url": content_url(video, "video"),
        "thumbnail_url": content_url(video, "thumbnail"),
        "created_at": _iso(video.created_at),
        "published_at": _iso(video.published_at),
    }


def comment_snapshot(comment: Comment, author: User | None) -> dict[str, Any]:
    return {
        "type": "comment",
        "id": str(comment.id),
        "author": author.username if author else None,
        "video_id": str(comment.video_id),
        "parent_id": str(comment.parent_id) if comment.parent_id else None,
        "body": comment.body,
        "created_at": _iso(comment.created_at),
    }


def user_snapshot(user: User) -> dict[str, Any]:
    return {
        "type": "user",
        "id": str(user.id),
        "username": user.username,
        "display_name": user.display_name,
        "bio": user.bio,
        "avatar_key": user.avatar_key,
        "created_at": _iso(user.created_at),
    }


async def resolve(session: AsyncSession, reporter: User, target_type: str, raw_id: str) -> ResolvedTarget:
    if target_type == "video":
        return await _video(session, reporter, raw_id)
    if target_type == "comment":
        return await _comment(session, reporter, raw_id)
    if target_type == "user":
        return await _user(session, reporter, raw_id)
    return await _cameo(session, reporter, raw_id)


async def _video(session: AsyncSession, reporter: User, raw_id: str) -> ResolvedTarget:
    video = await viewable_video(session, reporter, raw_id)
    if video.author_id == reporter.id:
        raise CannotReportSelf()
    refuse_removed(video)
    author = await session.get(User, video.author_id)
    return ResolvedTarget("video", video.id, video.author_id, video_snapshot(video, author))


def refuse_removed(video: Video) -> None:
    """A removed video is seen only by its author and its cameos' owners; another report or
    takedown of it would only queue an item with nothing left to take down (and a second removal
    that would outlast a granted appeal of the first). Its cameo owners may delete it instead."""
    if video.status == VideoStatus.REMOVED:
        raise VideoAlreadyRemoved(
            "A moderator has already taken this video down; if your cameo is in it, you may delete it"
        )


async def _comment(session: AsyncSession, reporter: User, raw_id: str) -> ResolvedTarget:
    comment = await feed_queries.comment_by_id(session, _parse(raw_id, CommentNotFound))
    if comment is None:
        raise CommentNotFound()
    video = await session.get(Video, comment.video_id)
    # As in the comment list: on a video the reporter may see, not by someone either side blocks
    # nor under such a comment.
    if (
        video is None
        or not await may_view(session, reporter, video)
        or await feed_queries.comment_hidden_from(session, reporter.id, comment)
    ):
        raise CommentNotFound()
    if comment.author_id == reporter.id:
        raise CannotReportSelf()
    author = await session.get(User, comment.author_id)
    return ResolvedTarget("comment", comment.id, comment.author_id, comment_snapshot(comment, author))


async def _cameo(session: AsyncSession, reporter: User, raw_id: str) -> ResolvedTarget:
    """A cameo in use or waiting for review, whose owner neither blocks nor is blocked by the
    reporter (as everywhere, anything else does not exist for them). The snapshot names where the
    recording is: only moderators ever see it, and only they (and the owner) may fetch it."""
    cameo = await session.get(Cameo, _parse(raw_id, CameoNotFound))
    if cameo is None or cameo.status not in (CameoStatus.ACTIVE, CameoStatus.PENDING_REVIEW):
        raise CameoNotFound()
    if cameo.owner_id == reporter.id:
        raise CannotReportSelf()
    owner = await session.get(User, cameo.owner_id)
    if (
        owner is None
        or owner.deleted_at is not None
        or await account_queries.is_blocked_either_way(session, reporter.id, owner.id)
    ):
        raise CameoNotFound()
    return ResolvedTarget("cameo", cameo.id, owner.id, cameo_snapshot(cameo, owner.username))


async def _user(session: AsyncSession, reporter: User, raw_id: str) -> ResolvedTarget:
    user = await session.get(User, _parse(raw_id, UserNotFound))
    if user is None or user.deleted_at is not None:  # a deleted account's tombstone is no one
        raise UserNotFound()
    if user.id == reporter.id:
        raise CannotReportSelf()
    # Someone who blocks the reporter does not exist for them (as on their profile).
    if (await account_queries.relationship(session, reporter.id, user.id)).blocked_by:
        raise UserNotFound()
    return ResolvedTarget("user", user.id, user.id, user_snapshot(user))
