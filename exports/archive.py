"""Writes one user's data export: a zip of JSON files (what the API shows them, every page of it)
and the media they own, built in a temporary file so that memory holds one page or one chunk at a
time, whatever the account's size.

The worker's event loop runs other jobs meanwhile: deflating and writing the zip are done in a
worker thread, a chunk at a time (`Archive`), while the data is read on the loop, in order, in the
one snapshot's session.

Only the user's own data, and of other people only what the API already shows this user: the
lists come from the same services and presenters as the routes (a blocked person is left out of
follower lists as there; a cameo's approved people as its owner sees them), and the few things no
route lists yet (comments, likes, appeals, logins, check-ins) are read field by field, leaving out
what is not the user's to see (a moderator's note, who decided, other people's private data).
"""

from __future__ import annotations

import asyncio
import contextlib
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import anyio.to_thread
import msgspec
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import LoginSession, User
from accounts.notifications import NotificationService
from accounts.service import ProfileService
from accounts.service.avatars import RENDITION_SIZES
from app.pagination import MAX_LIMIT, Page, keyset_before
from app.security import SigningKeys
from app.storage import MediaNotFound, MediaStorage
from cameo.models import Cameo
from cameo.service.ledger import LedgerService
from cameo.service.present import present_owner_view
from feed import queries as feed_queries
from feed.models import Comment, FeedCheckin, Video, likes
from feed.preferences import preferences_of
from feed.service.present import VideoPresenter
from generation import queries as generation_queries
from generation.service import to_schema as generation_schema
from moderation.models import Appeal, Decision
from moderation.service import ReportService, TakedownService

log = structlog.get_logger(__name__)

T = TypeVar("T")

FORMAT_VERSION = 1

README = """\
remixfeed personal data export (format {version})

Everything remixfeed keeps about your account, as JSON (UTF-8), and the media you own:

  account.json               your profile as you see it (GET /v1/me), email, birthdate, age band,
                             suspension, invite code
  feed_preferences.json      how you steer your feed, and your wellbeing check-ins
  social/following.json      people you follow          (as GET /v1/users/{{you}}/following)
  social/followers.json      people who follow you      (as GET /v1/users/{{you}}/followers)
  social/blocks.json         people you block           (as GET /v1/me/blocks)
  videos.json                your videos, drafts and removed ones included: caption, prompt,
                             lineage (remix_of, remix_root), visibility, moderation status
  comments.json              your comments (`removed`: taken down by moderation)
  likes.json                 the videos you liked
  generations.json           your generation requests: prompts, settings, statuses, errors
  cameo/cameos.json          your cameos: settings, permission level, approved people
  cameo/uses.json            every use of your cameo (the consent ledger)
  cameo/appearances.json     every video your cameo is in, others' drafts included
  moderation/reports.json    reports you filed, with their outcome
  moderation/takedown_requests.json  takedown requests you filed, with their outcome
  moderation/appeals.json    your appeals, the decision each was about, and the outcome
  notifications.json         your notifications
  sessions.json              your logins: device, when signed in, last used, ended
  media/avatar.webp          your avatar
  media/videos/<id>.mp4      each of your videos, and <id>-thumbnail.* its thumbnail

Ids are the ones the API uses. Times are RFC 3339, UTC.
"""


# What a list's JSON gathers before it is deflated and written in a worker thread: few trips to the
# thread, and little memory (with the page it comes from).
CHUNK_BYTES = 1 << 20


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """`function` run in a worker thread, off the event loop. A thread cannot be stopped: if the
    build is cancelled meanwhile (a job's timeout cancels its task), the cancellation goes on only
    once the thread is done, so that the zip is never written from two threads at once, nor closed
    under a write still running. (anyio's own shield holds against anyio's cancel scopes, not
    against a task's `cancel()`.)"""
    running = asyncio.ensure_future(anyio.to_thread.run_sync(function, *args))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        while not running.done():
            # A second cancellation meanwhile changes nothing: the first is raised once it is done.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([running])
        if not running.cancelled():
            running.exception()  # looked at: the cancellation is what the build raises
        raise


@dataclass
class Archive:
    """The zip being written, and the media to copy into it once the JSON is written. Every call
    that deflates or writes runs in a worker thread, one at a time (each is awaited before the next
    starts), so the zip is only ever used by one thread at once."""

    zip: zipfile.ZipFile
    media: list[tuple[str, str]] = field(default_factory=list)  # (name in the zip, storage key)

    async def write_text(self, name: str, text: str) -> None:
        await in_thread(self.zip.writestr, name, text)

    async def write_json(self, name: str, value: Any) -> None:
        encoded = msgspec.json.encode(value)

        def write() -> None:
            self.zip.writestr(name, msgspec.json.format(encoded))

        await in_thread(write)

    async def write_list(self, name: str, pages: AsyncIterator[list[Any]]) -> int:
        """A JSON array written page by page, each page encoded on the loop and deflated in a
        thread a chunk (CHUNK_BYTES or so) at a time; how many items."""
        count = 0
        # Its size is not known ahead: without zip64 a list past 2 GiB would fail the build.
        out = self.zip.open(name, "w", force_zip64=True)
        try:
            buffer = bytearray(b"[")
            async for items in pages:
                for item in items:
                    buffer += b"\n  " if count == 0 else b",\n  "
                    buffer += msgspec.json.encode(item)
                    count += 1
                    if len(buffer) >= CHUNK_BYTES:
                        chunk, buffer = buffer, bytearray()
                        await in_thread(out.write, chunk)
            buffer += b"\n]\n" if count else b"]\n"
            await in_thread(out.write, buffer)
        except BaseException:
            # The build fails anyway; closed so that the zip's own close does not fail over it.
            out.close()
            raise
        # Closing deflates what the compressor still holds.
        await in_thread(out.close)
        return count

    async def copy_media(self, storage: MediaStorage) -> None:
        """Each media file streamed into the zip, stored as it is (already compressed), one chunk
        in memory at a time."""
        for name, key in self.media:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_STORED
            try:
                chunks = storage.stream(key)
                first = await anext(chunks, None)
            except MediaNotFound:
                log.warning("export_media_missing", key=key)
                continue
            with self.zip.open(info, "w", force_zip64=True) as out:
                if first is not None:
                    await in_thread(out.write, first)
                async for chunk in chunks:
                    await in_thread(out.write, chunk)


async def every_page(fetch: Callable[[str | None], Awaitable[Page[T]]]) -> AsyncIterator[list[T]]:
    """Every page of a cursor-paginated list, as a route's client would walk it."""
    cursor: str | None = None
    while True:
        page = await fetch(cursor)
        yield page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def every_keyset_page(
    fetch: Callable[[tuple[datetime, UUID] | None], Awaitable[list[T]]],
    position: Callable[[T], tuple[datetime, UUID]],
) -> AsyncIterator[list[T]]:
    """Every page of a newest-first list read by keyset (`fetch` answers at most MAX_LIMIT)."""
    after: tuple[datetime, UUID] | None = None
    while True:
        rows = await fetch(after)
        if not rows:
            return
        yield rows
        if len(rows) < MAX_LIMIT:
            return
        after = position(rows[-1])


def _extension(key: str) -> str:
    tail = key.rsplit("/", 1)[-1]
    return "." + tail.rsplit(".", 1)[-1] if "." in tail else ""


async def write_archive(
    session: AsyncSession, storage: MediaStorage, keys: SigningKeys, user: User, path: Path
) -> None:
    """The whole archive of `user` at `path`: the JSON read in `session`, then the media."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        archive = Archive(zipped)
        await archive.write_text("README.txt", README.format(version=FORMAT_VERSION))
        await _write_data(archive, session, storage, keys, user)
        # The snapshot's work is done: media are copied without holding a pooled connection (or
        # an old snapshot that keeps vacuum waiting) for however long the files take.
        await session.rollback()
        await archive.copy_media(storage)


async def _write_data(
    archive: Archive, session: AsyncSession, storage: MediaStorage, keys: SigningKeys, user: User
) -> None:
    profiles = ProfileService(session, storage, keys)
    presenter = VideoPresenter(session, storage)

    me = await profiles.me(user)
    invite = await profiles.my_invite(user)
    await archive.write_json(
        "account.json",
        {
            **msgspec.to_builtins(me),
            "email": user.email,
            "birthdate": user.birthdate,
            "suspended_until": user.suspended_until,
            "password_changed_at": user.password_changed_at,
            "invite": invite,
        },
    )
    if user.avatar_key:
        archive.media.append(("media/avatar.webp", f"{user.avatar_key}-{RENDITION_SIZES[0]}.webp"))

    preferences = await preferences_of(session, user.id)
    checkins = await session.scalars(
        select(FeedCheckin).where(FeedCheckin.user_id == user.id).order_by(FeedCheckin.created_at)
    )
    await archive.write_json(
        "feed_preferences.json",
        {
            "steer": preferences.steer if preferences else "",
            "personalized": preferences.personalized if preferences else True,
            "favour_topics": list(preferences.favour_topics) if preferences else [],
            "avoid_topics": list(preferences.avoid_topics) if preferences else [],
            "checkins": [
                {"mood": checkin.mood, "want": checkin.want, "created_at": checkin.created_at}
                for checkin in checkins
            ],
        },
    )

    await archive.write_list(
        "social/following.json",
        every_page(lambda cursor: profiles.follow_list(user, user.username, "following", cursor, MAX_LIMIT)),
    )
    await archive.write_list(
        "social/followers.json",
        every_page(lambda cursor: profiles.follow_list(user, user.username, "followers", cursor, MAX_LIMIT)),
    )
    await archive.write_list(
        "social/blocks.json", every_page(lambda cursor: profiles.block_list(user, cursor, MAX_LIMIT))
    )

    async def own_videos(after: tuple[datetime, UUID] | None) -> list[Video]:
        query = select(Video).where(Video.author_id == user.id, Video.deleted_at.is_(None))
        if after is not None:
            query = query.where(keyset_before(Video.created_at, Video.id, after))
        rows = await session.scalars(
            query.order_by(Video.created_at.desc(), Video.id.desc()).limit(MAX_LIMIT)
        )
        return list(rows)

    async def presented_videos() -> AsyncIterator[list[Any]]:
        async for videos in every_keyset_page(own_videos, lambda video: (video.created_at, video.id)):
            for video in videos:
                archive.media.append((f"media/videos/{video.id}.mp4", video.video_key))
                thumbnail = f"media/videos/{video.id}-thumbnail{_extension(video.thumbnail_key)}"
                archive.media.append((thumbnail, video.thumbnail_key))
            yield await presenter.many(user, videos)

    await archive.write_list("videos.json", presented_videos())

    async def own_comments(after: tuple[datetime, UUID] | None) -> list[Comment]:
        query = select(Comment).where(Comment.author_id == user.id)
        if after is not None:
            query = query.where(keyset_before(Comment.created_at, Comment.id, after))
        rows = await session.scalars(
            query.order_by(Comment.created_at.desc(), Comment.id.desc()).limit(MAX_LIMIT)
        )
        return list(rows)

    async def comment_pages() -> AsyncIterator[list[dict[str, Any]]]:
        async for comments in every_keyset_page(
            own_comments, lambda comment: (comment.created_at, comment.id)
        ):
            yield [
                {
                    "id": str(comment.id),
                    "video_id": str(comment.video_id),
                    "parent_id": str(comment.parent_id) if comment.parent_id else None,
                    "body": comment.body,
                    "removed": comment.removed_at is not None,
                    "created_at": comment.created_at,
                }
                for comment in comments
            ]

    await archive.write_list("comments.json", comment_pages())

    async def like_rows(after: tuple[datetime, UUID] | None) -> list[Any]:
        query = select(likes.c.video_id, likes.c.created_at).where(likes.c.user_id == user.id)
        if after is not None:
            query = query.where(keyset_before(likes.c.created_at, likes.c.video_id, after))
        rows = await session.execute(
            query.order_by(likes.c.created_at.desc(), likes.c.video_id.desc()).limit(MAX_LIMIT)
        )
        return list(rows)

    async def like_pages() -> AsyncIterator[list[dict[str, Any]]]:
        async for rows in every_keyset_page(like_rows, lambda row: (row.created_at, row.video_id)):
            yield [{"video_id": str(row.video_id), "created_at": row.created_at} for row in rows]

    await archive.write_list("likes.json", like_pages())

    async def generation_pages() -> AsyncIterator[list[Any]]:
        async def fetch(after: tuple[datetime, UUID] | None) -> list[Any]:
            return await generation_queries.page(
                session, user_id=user.id, status=None, after=after, limit=MAX_LIMIT - 1
            )

        async for rows in every_keyset_page(fetch, lambda row: (row.created_at, row.id)):
            yield [generation_schema(row) for row in rows]

    await archive.write_list("generations.json", generation_pages())

    cameos = await session.scalars(
        select(Cameo).where(Cameo.owner_id == user.id).order_by(Cameo.created_at.desc(), Cameo.id.desc())
    )
    await archive.write_json(
        "cameo/cameos.json", [await present_owner_view(session, cameo, user.username) for cameo in cameos]
    )
    ledger = LedgerService(session, keys)
    await archive.write_list(
        "cameo/uses.json", every_page(lambda cursor: ledger.uses(user, cursor, MAX_LIMIT))
    )

    async def appearance_pages() -> AsyncIterator[list[Any]]:
        async def fetch(after: tuple[datetime, UUID] | None) -> list[Any]:
            return await feed_queries.appearances_page(
                session, user_id=user.id, after=after, limit=MAX_LIMIT - 1
            )

        async for rows in every_keyset_page(fetch, lambda row: (row[1], row[0].id)):
            yield await presenter.many(user, [video for video, _ in rows])

    await archive.write_list("cameo/appearances.json", appearance_pages())

    reports = ReportService(session, keys)
    await archive.write_list(
        "moderation/reports.json", every_page(lambda cursor: reports.mine(user, cursor, MAX_LIMIT))
    )
    takedowns = TakedownService(session, keys)
    await archive.write_list(
        "moderation/takedown_requests.json",
        every_page(lambda cursor: takedowns.mine(user, cursor, MAX_LIMIT)),
    )
    appeals = await session.execute(
        select(Appeal, Decision)
        .join(Decision, Decision.id == Appeal.decision_id)
        .where(Appeal.appellant_id == user.id)
        .order_by(Appeal.created_at.desc(), Appeal.id.desc())
    )
    await archive.write_json(
        "moderation/appeals.json", [_appeal(appeal, decision) for appeal, decision in appeals]
    )

    notifications = NotificationService(session, storage, keys)
    await archive.write_list(
        "notifications.json", every_page(lambda cursor: notifications.page(user, cursor, MAX_LIMIT))
    )
    logins = await session.scalars(
        select(LoginSession)
        .where(LoginSession.user_id == user.id)
        .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
    )
    await archive.write_json("sessions.json", list(_logins(logins)))


def _appeal(appeal: Appeal, decision: Decision) -> dict[str, Any]:
    """The appeal and what the user was told of the decision: never the moderator's note or name."""
    return {
        "id": str(appeal.id),
        "statement": appeal.statement,
        "outcome": appeal.outcome,
        "created_at": appeal.created_at,
        "decision": {
            "id": str(decision.id),
            "action": decision.action,
            "reason": decision.reason,
            "statement": decision.statement,
            "duration_hours": decision.duration_hours,
            "created_at": decision.created_at,
        },
    }


def _logins(logins: Iterable[LoginSession]) -> Iterable[dict[str, Any]]:
    for login in logins:
        yield {
            "id": str(login.id),
            "device": login.device,
            "signed_in_at": login.created_at,
            "last_used_at": login.last_used_at,
            "expires_at": login.expires_at,
            "ended_at": login.revoked_at,
        }
