"""The paced feed: a page is ranked (feed.timeline), fitted into the viewer's feed session
(feed.pacing) and presented; plus the viewer's steering preferences, check-ins and see-less.

Cursors are signed for one viewer, one feed session and one cut, so a cursor from another user,
another cut or a session that has since been resumed is 400 invalid_cursor (start again without
one). For `following` and `latest` the cursor carries the keyset position of the last item; for
`for_you` the session's served set does the paging, so its cursor only proves continuity.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from uuid import UUID

import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.service.deletion import caller_presence, caller_still_here, refuse_unless_present
from app.pagination import CursorCodec
from app.security import SigningKeys
from feed import preferences as prefs
from feed.errors import FeedUnavailable
from feed.models import FeedPreferences
from feed.pacing import Break, FeedPacer, Pace, SessionReplaced
from feed.schemas import (
    BreakOut,
    CheckinIn,
    FeedCut,
    FeedItemOut,
    FeedPage,
    FeedPreferencesIn,
    FeedPreferencesOut,
)
from feed.service.present import VideoPresenter
from feed.timeline import FeedItem, FeedRanker, interpret_steer
from feed.visibility import viewable_video

log = structlog.get_logger(__name__)

CHRONOLOGICAL: frozenset[FeedCut] = frozenset({"following", "latest"})
# Rounds of rank-then-reserve per page: another request of the same viewer may take some of the
# ranked videos first, and the page is topped up from what is left.
_ROUNDS = 3
# Pages filled in a row when the session is resumed (replaced) under them each time.
_ATTEMPTS = 3
# What may fail a round of ranking and reserving: the database, Redis (the ranked pool, the
# session) or the pacer's answer for Redis.
_ROUND_FAILURES = (SQLAlchemyError, RedisError, FeedUnavailable)


def _message(brk: Break) -> str:
    if brk.reason == "teen_daily_limit":
        return (
            f"That's {brk.videos_seen} videos today, your daily limit. The feed opens again at midnight UTC."
        )
    if brk.reason == "wellbeing_check":
        return (
            f"You've watched {brk.videos_seen} videos. How are you feeling? Tell us with a check-in "
            "(POST /v1/feed/checkins) and we'll adjust what you see; resume (POST /v1/feed/resume) "
            "when you're ready."
        )
    return (
        f"You've watched {brk.videos_seen} videos. Time for a short break; resume "
        "(POST /v1/feed/resume) when you're ready."
    )


def _break_out(brk: Break | None) -> BreakOut | None:
    if brk is None:
        return None
    return BreakOut(
        reason=brk.reason, message=_message(brk), videos_seen=brk.videos_seen, resume_at=brk.resume_at
    )


def _preferences_out(found: FeedPreferences | None) -> FeedPreferencesOut:
    if found is None:
        return FeedPreferencesOut(
            steer="", personalized=True, favour_topics=[], avoid_topics=[], mood_bias=0.0, updated_at=None
        )
    return FeedPreferencesOut(
        steer=found.steer,
        personalized=found.personalized,
        favour_topics=list(found.favour_topics),
        avoid_topics=list(found.avoid_topics),
        mood_bias=found.mood_bias,
        updated_at=found.updated_at,
    )


class FeedService:
    def __init__(
        self,
        session: AsyncSession,
        pacer: FeedPacer,
        ranker: FeedRanker,
        presenter: VideoPresenter,
        keys: SigningKeys,
    ) -> None:
        self.session = session
        self.pacer = pacer
        self.ranker = ranker
        self.presenter = presenter
        self.keys = keys

    def _codec(self, viewer: User, pace: Pace, cut: FeedCut) -> CursorCodec:
        return CursorCodec(self.keys, f"feed:{viewer.id}:{pace.session_id}:{cut}")

    # --- the feed ------------------------------------------------------------------------------

    async def page(self, viewer: User, cut: FeedCut, limit: int, cursor: str | None) -> FeedPage:
        pace = await self.pacer.open(viewer)
        codec = self._codec(viewer, pace, cut)
        before = codec.decode_position(cursor) if cut in CHRONOLOGICAL else None
        if cut not in CHRONOLOGICAL:
            codec.decode(cursor)  # verified only: the served set pages the ranked cut
        try:
            for _ in range(_ATTEMPTS):
                try:
                    page = await self._fill(viewer, cut, limit, pace, before)
                except SessionReplaced:
                    # Resumed meanwhile (another device): this page is the new session's first.
                    pace, before = await self.pacer.open(viewer), None
                    continue
                # A teen's count for the day, in this transaction: the page is sent only once it
                # has committed, so a failure now under-serves them, never lets a page past it.
                await self.pacer.keep(viewer)
                return page
        except RedisError as exc:
            raise FeedUnavailable() from exc
        raise FeedUnavailable("The feed session kept being replaced; try again")

    async def _fill(
        self, viewer: User, cut: FeedCut, limit: int, pace: Pace, before: tuple[datetime, UUID] | None
    ) -> FeedPage:
        already = self.pacer.break_of(pace)
        if already is None and pace.at_break:
            # The daily cap ended this session at its threshold and the renewal that follows did
            # not happen (Redis failed after that page): the night was its break, so renew it now
            # and fill this page in the new session.
            await self.resume(viewer)
            raise SessionReplaced()
        if already is not None or pace.room == 0:
            await self._settle(viewer, pace, already)
            return FeedPage(items=[], next_cursor=None, break_=_break_out(already))
        served: list[FeedItem] = []
        exclude = set(pace.served_ids)
        position = before
        exhausted = False
        for _ in range(_ROUNDS):
            wanted = min(limit - len(served), pace.room)
            ranked: list[FeedItem] = []
            # A later round ranks in a savepoint: should it fail, the request's transaction is
            # still sound for the page that serves what earlier rounds took.
            guard: AbstractAsyncContextManager[object] = (
                self.session.begin_nested() if served else nullcontext()
            )
            try:
                async with guard:
                    ranked = await self.ranker.select(
                        viewer,
                        cut,
                        limit=wanted,
                        exclude=set(exclude),
                        session_id=pace.session_id,
                        before=position if cut in CHRONOLOGICAL else None,
                    )
                reservation = await self.pacer.reserve(viewer, pace, [item.video.id for item in ranked])
            except SessionReplaced:
                if not served:
                    raise
                # Resumed from another device after an earlier round took videos, counted in the
                # ended session (and toward a teen's day): serve them, and go on in the new one.
                pace, exhausted = await self.pacer.open(viewer), not ranked
                break
            except _ROUND_FAILURES as exc:
                if not served:
                    raise
                # An earlier round's videos are counted already (toward the break and a teen's
                # day): serve them rather than fail the page; its cursor goes on after them.
                log.warning("feed_round_failed", user_id=str(viewer.id), error=repr(exc))
                exhausted = False
                break
            exhausted = len(ranked) < wanted
            pace = reservation.pace
            taken = set(reservation.taken)
            served.extend(item for item in ranked if item.video.id in taken)
            exclude.update(str(item.video.id) for item in ranked)
            if ranked:
                position = ranked[-1].position
            if exhausted or len(served) >= limit or pace.room == 0:
                break
        brk = self.pacer.break_of(pace)
        await self._settle(viewer, pace, brk)
        next_cursor: str | None = None
        if brk is None and not exhausted:
            codec = self._codec(viewer, pace, cut)
            if cut in CHRONOLOGICAL and position is not None:
                at, last_id = position
                next_cursor = codec.encode_position(at, last_id)
            else:
                next_cursor = codec.encode([cut])
        return FeedPage(
            items=await self._present(viewer, served), next_cursor=next_cursor, break_=_break_out(brk)
        )

    async def _settle(self, viewer: User, pace: Pace, brk: Break | None) -> None:
        """A teen stopped for the day at a session break: the night is the break, so the session
        is renewed now and the feed opens on its own at `resume_at`, as the break says.

        Best effort: the page's videos are already counted toward the day, so a failure here
        must not lose them; the next page renews a session still at this break (`_fill`)."""
        if brk is not None and brk.reason == "teen_daily_limit" and pace.at_break:
            try:
                await self.resume(viewer)
            except FeedUnavailable as exc:
                log.warning("feed_session_not_renewed", user_id=str(viewer.id), error=str(exc))

    async def _present(self, viewer: User, items: Sequence[FeedItem]) -> list[FeedItemOut]:
        # Selected with their authors and the viewer's likes (feed.timeline.queries.Shown); what the
        # page refers to (remix sources, cameos) is checked in one query for the whole page.
        seen = await self.presenter.seen(viewer, [item.video for item in items])
        return [
            FeedItemOut(
                video=self.presenter.show(viewer, item.video, item.author, item.liked_by_viewer, seen),
                reason=item.reason,
            )
            for item in items
        ]

    async def resume(self, viewer: User) -> None:
        resumed = await self.pacer.resume(viewer)
        if resumed is not None:
            try:
                await self.ranker.carry_pool(viewer, resumed)
            except RedisError as exc:
                # The new session has started; without the carry its first page ranks again.
                log.warning("feed_pool_not_carried", user_id=str(viewer.id), error=str(exc))

    # --- steering, check-ins, see-less ---------------------------------------------------------

    async def preferences(self, viewer: User) -> FeedPreferencesOut:
        return _preferences_out(await prefs.preferences_of(self.session, viewer.id))

    async def set_preferences(self, viewer: User, data: FeedPreferencesIn) -> FeedPreferencesOut:
        values: dict[str, object] = {}
        if isinstance(data.personalized, bool):
            values["personalized"] = data.personalized
        if isinstance(data.steer, str):
            steer = data.steer.strip()
            topics = await interpret_steer(steer)
            values.update(steer=steer, favour_topics=list(topics.favour), avoid_topics=list(topics.avoid))
        saved = await prefs.save_preferences(self.session, viewer.id, **values)
        await caller_still_here(self.session, viewer)
        self.ranker.forget_pool_after_commit(self.session, viewer.id)
        return _preferences_out(saved)

    async def checkin(self, viewer: User, data: CheckinIn) -> None:
        await prefs.add_checkin(self.session, viewer.id, data.mood, data.want)
        await caller_still_here(self.session, viewer)
        await prefs.nudge_mood(self.session, viewer.id, data.want)
        self.ranker.forget_pool_after_commit(self.session, viewer.id)

    async def see_less(self, viewer: User, video_id: str) -> None:
        # The video before the users rows, as for a like (`EngagementService.like`).
        video = await viewable_video(self.session, viewer, video_id, key_share=True)
        # `caller_still_here`, read by the statement that adds the mark: one statement less.
        present = await prefs.add_see_less_returning(
            self.session, viewer.id, video.id, video.author_id, caller_presence(viewer)
        )
        refuse_unless_present(present)
        self.ranker.forget_pool_after_commit(self.session, viewer.id)
