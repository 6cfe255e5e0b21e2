"""One video's life after generation: drafts, publishing, edits, deletion, its media, and the
lists of an author's videos. Every read goes through `feed.visibility`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import notifications
from accounts import queries as account_queries
from accounts.errors import UserNotFound
from accounts.models import User
from accounts.service.auth import USERNAME_FORMAT
from app import idempotency
from app.byte_ranges import MediaAsk, MediaBody, open_media
from app.media_deletion import MediaDeletions
from app.pagination import CursorCodec, Page
from app.screening import ALLOW, ContentGate, Verdict
from app.security import SigningKeys
from app.storage import MediaNotFound as StoredMediaMissing
from app.storage import MediaStorage
from feed import hooks, queries
from feed.errors import (
    AlreadyPublished,
    MediaNotFound,
    NotVideoAuthor,
    RemixNotAllowed,
    RemixSourceRemoved,
)
from feed.models import Video, VideoStatus, Visibility
from feed.schemas import PublishIn, VideoOut, VideoPatch
from feed.service.counts import counted, recount
from feed.service.drafts import lineage_blocked
from feed.service.engagement import _comment_keys
from feed.service.present import VideoPresenter
from feed.timeline.fanout import FanOut
from feed.visibility import viewable_video

PUBLISH_SCOPE = "videos.publish"

# Notification kinds: a video with your cameo in it was published; someone whose cameo was in your
# video deleted it.
CAMEO_POSTED = queries.CAMEO_POSTED
APPEARANCE_REMOVED = queries.APPEARANCE_REMOVED

VIDEO_TYPE = "video/mp4"
_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF8", "image/gif"),
)


# What `image_type` reads of a thumbnail when storage does not say it is an image.
SNIFFED_BYTES = 12


def image_type(data: bytes, stored_type: str) -> str:
    """The thumbnail's type: what storage says when it is an image, else read from its first bytes."""
    if stored_type.startswith("image/"):
        return stored_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for signature, content_type in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return content_type
    return "application/octet-stream"


class VideoService:
    def __init__(
        self,
        session: AsyncSession,
        storage: MediaStorage,
        keys: SigningKeys,
        gate: ContentGate,
        deletions: MediaDeletions,
        *,
        fanout: FanOut | None = None,
    ) -> None:
        self.session = session
        # Deletes a deleted video's files once that has committed.
        self.deletions = deletions
        # Pushes a published public video into the followers' feed inboxes after the commit.
        self.fanout = fanout
        self.storage = storage
        self.keys = keys
        self.gate = gate
        self.presenter = VideoPresenter(session, storage)

    async def _screen_caption(self, caption: str | msgspec.UnsetType) -> Verdict:
        """422 content_rejected for a clear violation; a borderline caption is accepted and flagged
        once the video is saved. Screened before the video's row lock is taken, so a slow screener
        holds up nobody else."""
        if caption is msgspec.UNSET or not caption.strip():
            return ALLOW
        return await self.gate.admit(caption, kind="caption")

    def _flag_caption(self, verdict: Verdict, video: Video) -> None:
        self.gate.flag_after_commit(
            self.session,
            verdict,
            target_type="video",
            target_id=video.id,
            text_kind="caption",
            text=video.caption,
        )

    # --- one video ---------------------------------------------------------------------------

    async def get(self, viewer: User, video_id: str) -> VideoOut:
        return await self.presenter.one(viewer, await viewable_video(self.session, viewer, video_id))

    async def publish(
        self, viewer: User, video_id: str, data: PublishIn, idempotency_key: str | None
    ) -> VideoOut:
        """Draft to published. With an Idempotency-Key, a repeat of the same request answers the
        first answer again (even once the video is published) instead of 409 already_published."""
        claim = await idempotency.claim(
            self.session,
            user_id=viewer.id,
            scope=PUBLISH_SCOPE,
            key=idempotency_key,
            fingerprint=idempotency.request_fingerprint(video_id, msgspec.to_builtins(data)),
        )
        if claim.replay is not None:
            return msgspec.convert(claim.replay.body, VideoOut)
        verdict = await self._screen_caption(data.caption)
        video = await self._own_video(viewer, video_id, lock=True)
        if video.status == VideoStatus.PUBLISHED:
            raise AlreadyPublished()
        if video.status != VideoStatus.DRAFT:
            raise AlreadyPublished("A removed video cannot be published again")
        await self._refuse_widening(viewer, video)
        if data.caption is not msgspec.UNSET:
            video.caption = data.caption
        video.show_prompt = data.show_prompt
        video.visibility = data.visibility
        video.allow_remix = data.allow_remix
        video.status = VideoStatus.PUBLISHED.value
        video.published_at = datetime.now(UTC)
        await self.session.flush()
        self._flag_caption(verdict, video)
        await recount(self.session, video, was_counted=False)
        await self._tell_remixed(viewer, video)
        await self._tell_appearing(viewer, video)
        if self.fanout is not None:
            self.fanout.after_publish(self.session, video)
        answer = await self.presenter.one(viewer, video)
        await claim.record(200, answer)
        return answer

    async def _refuse_widening(self, viewer: User, video: Video) -> None:
        """What every change that lets more people see a video checks: publishing a draft, and
        making a video public (also a removed one, which a granted appeal would bring back with
        that visibility). Narrowing changes are never refused. The rules a remix was made under
        apply again: its parent's or root's author across a block since is 403 remix_not_allowed;
        a video above it removed since, 409 remix_source_removed; a featured cameo revoked since,
        409 cameo_revoked (a hook, `generation.cameos`)."""
        await self._refuse_remix_across_a_block(viewer, video)
        await self._refuse_remix_of_removed(video)
        await hooks.widening(self.session, viewer, video)

    async def _refuse_remix_across_a_block(self, viewer: User, video: Video) -> None:
        """A remix of someone who has blocked the remixer (or been blocked) since it was made is
        not published nor made public (403 remix_not_allowed): it would count on their video and
        join its tree, and they cannot see a draft to delete it. The same holds for the root of its
        lineage, whose tree it joins too (as when a remix is asked for, `drafts.remix_source`)."""
        if video.remix_of_id is None:
            return
        if await lineage_blocked(self.session, viewer, [video.remix_of_id, video.remix_root_id]):
            raise RemixNotAllowed(
                "The video this remixes, or the one its lineage starts from, is across a block now: "
                "this remix cannot be published or made public"
            )

    async def _refuse_remix_of_removed(self, video: Video) -> None:
        """A remix whose parent, or any video above it up to the root, a moderator removed after it
        was made reaches nobody new (409 remix_source_removed): a removed video cannot be remixed
        (nor what was made from it), so this is the way left to spread what was taken down. Once a
        granted appeal restores that video, it may; one removed and then deleted stays removed. A
        video its author deleted is no moderator's judgement: its remixes live on, and may be
        published."""
        if video.remix_of_id is None:
            return
        # Read under key-share locks (see removed_in_lineage): a removal under way is waited for.
        if await queries.removed_in_lineage(
            self.session, video.remix_of_id, max_hops=video.remix_depth + 1, lock=True
        ):
            raise RemixSourceRemoved(
                "A video this remixes (its parent, or one above it) was removed by a moderator: this "
                "remix cannot be published or made public unless an appeal restores that video"
            )

    async def _tell_remixed(self, viewer: User, video: Video) -> None:
        """A remix tells the parent's author once it is listed, published and public, as the
        parent's remixes and tree show it to them: not a draft, which is private, nor an unlisted
        one, which opens by link only (its link is not handed to them); made public later, it tells
        them then. Once only (the dedupe key), however often its visibility changes."""
        if video.remix_of_id is None or not counted(video):
            return
        parent = await self.session.get(Video, video.remix_of_id)
        if parent is None or parent.deleted_at is not None:
            return
        if await queries.is_blocked_either_way(self.session, viewer.id, parent.author_id):
            return
        await notifications.notify(
            self.session,
            user_id=parent.author_id,
            kind=notifications.NotificationKind.REMIX,
            actor_id=viewer.id,
            subject_type="video",
            subject_id=video.id,
            data={"video_id": str(video.id), "remix_of": str(parent.id)},
            dedupe_key=f"remix:{video.id}",
        )

    async def _tell_appearing(self, viewer: User, video: Video) -> None:
        """Everyone whose cameo is in a video just published is told, once per video."""
        for user_id in await queries.appearing_users(self.session, video.id):
            await notifications.notify(
                self.session,
                user_id=user_id,
                kind=CAMEO_POSTED,
                actor_id=await notifications.actor_across_blocks(self.session, viewer.id, user_id),
                subject_type="video",
                subject_id=video.id,
                data={"video_id": str(video.id)},
                dedupe_key=f"cameo_posted:{video.id}:{user_id}",
            )

    async def update(self, viewer: User, video_id: str, patch: VideoPatch) -> VideoOut:
        verdict = await self._screen_caption(patch.caption)
        video = await self._own_video(viewer, video_id, lock=True)
        # A draft's visibility is chosen again when it is published, which checks then.
        if (
            patch.visibility == Visibility.PUBLIC.value
            and video.visibility != Visibility.PUBLIC
            and video.published_at is not None
        ):
            await self._refuse_widening(viewer, video)
        was_counted = counted(video)
        if patch.caption is not msgspec.UNSET:
            video.caption = patch.caption
            self._flag_caption(verdict, video)
        if patch.visibility is not msgspec.UNSET:
            # A published video made public reaches the followers' inboxes then.
            if video.visibility != patch.visibility and self.fanout is not None:
                video.visibility = patch.visibility
                self.fanout.after_publish(self.session, video)
            video.visibility = patch.visibility
        if patch.allow_remix is not msgspec.UNSET:
            video.allow_remix = patch.allow_remix
        if patch.show_prompt is not msgspec.UNSET:
            video.show_prompt = patch.show_prompt
        await self.session.flush()
        await recount(self.session, video, was_counted=was_counted)  # made public, or unlisted
        if not was_counted:
            await self._tell_remixed(viewer, video)  # a remix made public is listed from now on
        return await self.presenter.one(viewer, video)

    async def delete(self, viewer: User, video_id: str) -> None:
        """Gone for everyone at once; its media is deleted from storage once that has committed.
        The author may delete it, and so may anyone whose cameo is in it (the author is then told)."""
        video = await viewable_video(self.session, viewer, video_id, lock=True)
        appearing = await queries.appearing_users(self.session, video.id)
        if video.author_id != viewer.id and viewer.id not in appearing:
            raise NotVideoAuthor("Only the video's author, or someone whose cameo is in it, can delete it")
        was_counted = counted(video)
        video.deleted_at = datetime.now(UTC)
        await self.session.flush()
        await recount(self.session, video, was_counted=was_counted)
        # Nobody is pointed at it any more: not the parent's author at a remix, nor anyone told of a
        # comment or reply on it (commenters included, not only its author). A moderator's decision
        # over it stays, as do remixes of it, no longer naming it.
        # A removal keeps naming it instead: its author still opens the video (as removed), and an
        # appeal may restore it.
        comments = await queries.comment_ids_on(self.session, video.id)
        await notifications.video_deleted(
            self.session,
            video_id=video.id,
            author_id=video.author_id,
            told_of_it=[video.author_id, *appearing],
            dedupe_keys=[f"remix:{video.id}", *_comment_keys(comments)],
        )
        if video.author_id != viewer.id:
            await notifications.notify(
                self.session,
                user_id=video.author_id,
                kind=APPEARANCE_REMOVED,
                actor_id=await notifications.actor_across_blocks(self.session, viewer.id, video.author_id),
                subject_type="video",
                subject_id=video.id,
                data={"video_id": str(video.id)},
                dedupe_key=f"appearance_removed:{video.id}",
            )
        self.deletions.after_commit(
            self.session,
            [key for key in (video.video_key, video.thumbnail_key, video.spritesheet_key) if key],
        )
        await hooks.deleted(self.session, video, self.deletions)

    async def content(self, viewer: User, video_id: str, variant: str, ask: MediaAsk) -> MediaBody:
        """The video's media as `ask` wants it (app.byte_ranges), to whoever may see the video."""
        video = await viewable_video(self.session, viewer, video_id)
        key = video.video_key if variant == "video" else video.thumbnail_key
        try:
            body = await open_media(self.storage, key, ask)
            if variant == "video":
                return replace(body, content_type=VIDEO_TYPE)
            first = b""
            if not body.content_type.startswith("image/") and body.size and not body.not_modified:
                # Only what the type is read from (a HEAD included), not the whole thumbnail; a 304
                # says no type.
                first = await self.storage.get_range(key, 0, min(SNIFFED_BYTES, body.size))
        except StoredMediaMissing as exc:
            raise MediaNotFound() from exc
        return replace(body, content_type=image_type(first, body.content_type))

    async def _own_video(self, viewer: User, video_id: str, *, lock: bool) -> Video:
        """404 when the viewer cannot see it, 403 when they can but it is not theirs."""
        video = await viewable_video(self.session, viewer, video_id, lock=lock)
        if video.author_id != viewer.id:
            raise NotVideoAuthor()
        return video

    # --- lists -------------------------------------------------------------------------------

    async def drafts(self, viewer: User, cursor: str | None, limit: int) -> Page[VideoOut]:
        codec = CursorCodec(self.keys, f"videos:drafts:{viewer.id}")
        after = codec.decode_position(cursor)
        rows = await queries.drafts_page(self.session, author_id=viewer.id, after=after, limit=limit)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = codec.encode_position(page[-1].created_at, page[-1].id) if more else None
        return Page(items=await self.presenter.many(viewer, page), next_cursor=next_cursor)

    async def appearances(self, viewer: User, cursor: str | None, limit: int) -> Page[VideoOut]:
        """Every video the viewer's cameo is in that is not deleted, others' drafts and removed ones
        included, newest first."""
        codec = CursorCodec(self.keys, f"videos:appearances:{viewer.id}")
        after = codec.decode_position(cursor)
        rows = await queries.appearances_page(self.session, user_id=viewer.id, after=after, limit=limit)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = codec.encode_position(page[-1][1], page[-1][0].id) if more else None
        return Page(
            items=await self.presenter.many(viewer, [video for video, _ in page]), next_cursor=next_cursor
        )

    async def user_videos(
        self, viewer: User, username: str, cursor: str | None, limit: int
    ) -> Page[VideoOut]:
        """An author's published videos, newest first: 404 when the author blocks the viewer, none
        when the viewer blocks the author, unlisted ones only for the author."""
        author = (
            await account_queries.user_by_username(self.session, username)
            if USERNAME_FORMAT.match(username)
            else None
        )
        if author is None:
            raise UserNotFound()
        codec = CursorCodec(self.keys, f"videos:user:{author.id}")
        after = codec.decode_position(cursor)
        if author.id != viewer.id:
            relation = await account_queries.relationship(self.session, viewer.id, author.id)
            if relation.blocked_by:
                raise UserNotFound()
            if relation.blocking:
                return Page(items=[], next_cursor=None)
        rows = await queries.user_videos_page(
            self.session,
            author_id=author.id,
            include_unlisted=author.id == viewer.id,
            after=after,
            limit=limit,
        )
        page, more = rows[:limit], len(rows) > limit
        next_cursor = None
        if more and page[-1].published_at is not None:
            next_cursor = codec.encode_position(page[-1].published_at, page[-1].id)
        return Page(items=await self.presenter.many(viewer, page), next_cursor=next_cursor)
