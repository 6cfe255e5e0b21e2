"""Likes, views and comments on published videos.

Counters stay exact under concurrent requests: a like or view counts only when its row was actually
inserted (INSERT ... ON CONFLICT DO NOTHING RETURNING), an unlike only when a row was deleted, and
the counter moves in the same statement-level atomic UPDATE. Comment writes take the video's row
lock first, so a reply cannot slip in under a comment that is being deleted with its replies; likes
and views read the video under the key-share lock their insert's foreign key takes anyway, so each
takes the video's row before the caller's users row, as an account's deletion does.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import notifications
from accounts.models import User
from accounts.notifications import NotificationKind
from accounts.service.deletion import caller_presence, refuse_unless_present
from app.errors import FieldError, ValidationFailed
from app.pagination import CursorCodec, Page
from app.screening import ContentGate
from app.security import SigningKeys
from app.storage import MediaStorage
from feed import queries
from feed.errors import (
    CommentNotFound,
    InvalidParentComment,
    NotCommentAuthor,
    VideoNotPublished,
)
from feed.models import Comment, Video, VideoStatus
from feed.schemas import CommentIn, CommentOut
from feed.service.present import VideoPresenter
from feed.visibility import engageable_video, may_view, viewable_video


def _require_published(video: Video) -> None:
    # Others only ever see published videos; this is the author acting on a draft or removed video.
    if video.status != VideoStatus.PUBLISHED:
        raise VideoNotPublished()


def _comment_keys(comment_ids: list[UUID]) -> list[str]:
    return [f"{kind}:{comment_id}" for comment_id in comment_ids for kind in ("comment", "reply")]


class EngagementService:
    def __init__(
        self, session: AsyncSession, storage: MediaStorage, keys: SigningKeys, gate: ContentGate
    ) -> None:
        self.session = session
        self.storage = storage
        self.keys = keys
        self.gate = gate
        self.presenter = VideoPresenter(session, storage)

    # --- likes -------------------------------------------------------------------------------

    async def like(self, viewer: User, video_id: str) -> None:
        # The video's key-share lock before the insert takes the liker's users row: the liker's
        # deletion, holding the video (its own, or one its cameo is in), is waited for, not
        # deadlocked with.
        video = await engageable_video(self.session, viewer, video_id, key_share=True)
        _require_published(video)
        if not await queries.add_like(self.session, video.id, viewer.id):
            return
        # `caller_still_here`, read by the counter's update: one statement less per new like.
        present = await queries.bump_video_returning(
            self.session, video.id, caller_presence(viewer), like_count=1
        )
        refuse_unless_present(present)
        await notifications.notify(
            self.session,
            user_id=video.author_id,
            kind=NotificationKind.LIKE,
            actor_id=viewer.id,
            subject_type="video",
            subject_id=video.id,
            data={"video_id": str(video.id)},
            # Once per liker and video, however often they unlike and like again.
            dedupe_key=f"like:{video.id}:{viewer.id}",
        )

    async def unlike(self, viewer: User, video_id: str) -> None:
        video = await viewable_video(self.session, viewer, video_id)
        if await queries.remove_like(self.session, video.id, viewer.id):
            await queries.bump_video(self.session, video.id, like_count=-1)

    # --- views -------------------------------------------------------------------------------

    async def view(self, viewer: User, video_id: str) -> None:
        """Counted once per viewer; the author's own views never count (so their drafts are fine)."""
        # Key-share locked, as for a like (one its cameo is in is not the viewer's own).
        video = await engageable_video(self.session, viewer, video_id, key_share=True)
        if video.author_id == viewer.id:
            return
        _require_published(video)
        if await queries.add_view(self.session, video.id, viewer.id):
            # As for a like: the caller read again by the counter's update.
            present = await queries.bump_video_returning(
                self.session, video.id, caller_presence(viewer), view_count=1
            )
            refuse_unless_present(present)

    # --- comments ----------------------------------------------------------------------------

    async def comments(self, viewer: User, video_id: str, cursor: str | None, limit: int) -> Page[CommentOut]:
        video = await viewable_video(self.session, viewer, video_id)
        codec = CursorCodec(self.keys, f"comments:{video.id}")
        after = codec.decode_position(cursor)
        rows = await queries.comments_page(
            self.session, video_id=video.id, viewer_id=viewer.id, after=after, limit=limit
        )
        page, more = rows[:limit], len(rows) > limit
        next_cursor = None
        if more:
            last = page[-1][0]
            next_cursor = codec.encode_position(last.created_at, last.id)
        return Page(items=[self._out(comment, author) for comment, author in page], next_cursor=next_cursor)

    async def add_comment(self, viewer: User, video_id: str, data: CommentIn) -> CommentOut:
        body = data.body.strip()
        # Screened before the video's row lock is taken (a slow screener must not hold up every
        # other comment on it): 422 content_rejected for a clear violation; a borderline comment
        # is accepted and flagged once it is saved.
        verdict = await self.gate.admit(body, kind="comment") if body else None
        video = await engageable_video(self.session, viewer, video_id, lock=True)
        _require_published(video)
        if not body:
            raise ValidationFailed(
                "The comment is empty", errors=[FieldError(field="body", message="1 to 1000 characters")]
            )
        parent = await self._parent(viewer, video, data.parent_id) if data.parent_id is not None else None
        comment = Comment(
            video_id=video.id, author_id=viewer.id, parent_id=parent.id if parent else None, body=body
        )
        self.session.add(comment)
        await self.session.flush()
        # As for a like: the caller read again by the counter's update.
        present = await queries.bump_video_returning(
            self.session, video.id, caller_presence(viewer), comment_count=1
        )
        refuse_unless_present(present)
        if verdict is not None:
            self.gate.flag_after_commit(
                self.session,
                verdict,
                target_type="comment",
                target_id=comment.id,
                text_kind="comment",
                text=body,
            )
        await self._notify(viewer, video, comment, parent)
        return self._out(comment, viewer)

    async def _parent(self, viewer: User, video: Video, raw_id: str) -> Comment:
        """The comment being answered: on this video, and one the viewer's comment list shows (not
        by someone either side blocks, nor a reply under such a comment)."""
        try:
            parent = await queries.comment_by_id(self.session, UUID(raw_id))
        except ValueError:
            parent = None
        if (
            parent is None
            or parent.video_id != video.id
            or await queries.comment_hidden_from(self.session, viewer.id, parent)
        ):
            raise InvalidParentComment(
                errors=[FieldError(field="parent_id", message="not a comment on this video")]
            )
        return parent

    async def _notify(self, viewer: User, video: Video, comment: Comment, parent: Comment | None) -> None:
        summary = notifications.excerpt(comment.body)
        parent_author = await self.session.get(User, parent.author_id) if parent is not None else None
        # Someone who may no longer see the video (a block since their comment) is not told about it.
        if (
            parent is not None
            and parent_author is not None
            and await may_view(self.session, parent_author, video)
        ):
            await notifications.notify(
                self.session,
                user_id=parent.author_id,
                kind=NotificationKind.REPLY,
                actor_id=viewer.id,
                subject_type="comment",
                subject_id=comment.id,
                data={"video_id": str(video.id), "parent_id": str(parent.id), "excerpt": summary},
                dedupe_key=f"reply:{comment.id}",
            )
            if parent.author_id == video.author_id:
                return  # told once, as a reply
        await notifications.notify(
            self.session,
            user_id=video.author_id,
            kind=NotificationKind.COMMENT,
            actor_id=viewer.id,
            subject_type="comment",
            subject_id=comment.id,
            data={"video_id": str(video.id), "excerpt": summary},
            dedupe_key=f"comment:{comment.id}",
        )

    async def delete_comment(self, viewer: User, comment_id: str) -> None:
        """The comment's author or the video's author may delete it; its replies go with it."""
        try:
            comment = await queries.comment_by_id(self.session, UUID(comment_id))
        except ValueError:
            comment = None
        if comment is None:
            raise CommentNotFound()
        video = await self.session.get(Video, comment.video_id, with_for_update=True)
        if video is None or video.deleted_at is not None:
            raise CommentNotFound()
        if viewer.id not in (comment.author_id, video.author_id):
            if not await may_view(self.session, viewer, video) or await queries.comment_hidden_from(
                self.session, viewer.id, comment
            ):
                raise CommentNotFound()
            raise NotCommentAuthor()
        deleted = await queries.delete_comment_thread(self.session, comment.id)
        if not deleted:  # deleted meanwhile by someone else
            raise CommentNotFound()
        await queries.bump_video(self.session, video.id, comment_count=-len(deleted))
        await notifications.retract(self.session, _comment_keys(deleted))

    def _out(self, comment: Comment, author: User) -> CommentOut:
        return CommentOut(
            id=str(comment.id),
            video_id=str(comment.video_id),
            author=self.presenter.author(author),
            body=comment.body,
            parent_id=str(comment.parent_id) if comment.parent_id else None,
            created_at=comment.created_at,
        )
