"""The feed's three cuts, and the ranking of `for_you` for connection over global popularity.

Tiers of `for_you`, strongest first; an item's `reason` is the strongest tier that brought it:

1. `cameo_of_you`   a video the viewer's cameo is in
2. `remix_of_yours` a remix of one of the viewer's videos
3. `followed`       a post of someone the viewer follows (their inbox, plus follows made since)
4. `interacted`     a recent post of someone whose videos the viewer liked, commented on or remixed
5. `steered`        a video matching the topics the viewer's steering favours (full-text search)
6. `popular`        the popular set (engagement with time decay, kept in Redis) and the newest posts

Within a tier: score = ln(2 + likes + 2·comments + 3·remixes + views/20) / (1 + age in days)^1.2,
times (1 + 0.3·mood_bias·m) where m is +1 for a video matching the energised vocabulary, -1 for the
relaxed one (check-ins move `mood_bias` between -1, more relaxed, and +1, more energised), times
0.3 per video of that author the viewer marked see-less. Then, cheaply, no more than
MAX_RUN videos in a row from one author when another candidate can go in between.

Always left out (every cut): the viewer's own videos (in `for_you` and `latest`; `following` cannot
have them), anything not published, public and undeleted, authors across a block either way,
videos marked see-less, ids already served in the feed session (`exclude`), and in `for_you`
videos matching an avoided topic. With `personalized` off, `for_you` is the same for everyone
(popular and newest, reason `popular`): no tiers, steering, mood or author weighting; the
filters above still apply.

The ranked pool. Ranking is the expensive statement, so it runs once for many pages: the ranked
ids (POOL_SIZE of them, with tier and author) are kept in Redis for the viewer's feed session, and
each page takes the next ones not yet served, checked again in SQL (`queries.servable`) so that a
removal, a deletion, a block or a see-less since takes effect on the next page. A resume carries
the pool into the new feed session without what the ended session served, so the feed goes on
where the break left it instead of ranking again and opening on the same videos. The pool is
ranked again when it is POOL_TTL_SECONDS old, when the feed session changes other than by that
carry, when the inbox is lost, when the viewer follows or unfollows someone, when their
preferences, check-ins or see-less change, and when fewer unserved candidates are left than a page
asks for (what was posted since may fill it), unless a ranking less than DRY_RANK_AGAIN_SECONDS
ago found nothing new or not even a page: then the short page is served as it is. Posts of
followed authors fanned out since the ranking join the kept pool at the head of its `followed`
tier instead, so that a popular author's post does not send all their followers to the ranking
statement at once. A page that must rank while its process already runs as many rankings inline as
it may (InlineRankings) ranks quickly instead, from the sources that need no scan of the viewer's
history, and the full ranking follows ahead of need.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar
from uuid import UUID

import msgspec
import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.db import after_commit
from app.jobs import JobQueue
from app.redis import as_text, key
from app.resources import Resources
from app.settings import Settings
from feed.metrics import RANKINGS
from feed.models import Video
from feed.pacing import Resumed
from feed.preferences import preferences_of
from feed.timeline import queries
from feed.timeline.inbox import INBOX_READ, Inboxes

T = TypeVar("T")

log = structlog.get_logger(__name__)

Cut = Literal["for_you", "following", "latest"]
Reason = Literal["followed", "interacted", "remix_of_yours", "cameo_of_you", "steered", "popular"]

# At most this many videos in a row from one author, when something else can go in between.
MAX_RUN = 3
# Ranked ids kept per feed session: fifty pages of 20. The ranking costs about the same for 240 as
# for 1000 (the candidate sources bound it, not the limit), so each ranking serves more pages, for
# about 85 KB of Redis per viewer active in the last POOL_TTL_SECONDS.
POOL_SIZE = 1000
POOL_TTL_SECONDS = 600
# At most this many posts fanned out since the ranking join a kept pool.
NEW_POSTS_MERGED = 50
LOOKAHEAD = 3
# Forgets a viewer's kept pool when Redis was away at the moment it should have been forgotten.
FORGET_POOL_JOB = "feed.forget_pool"
# Ranks a viewer's next pool in the background when theirs runs out soon: within AHEAD_PAGES more
# pages, or AHEAD_SECONDS before it expires. Rankings ahead take turns (feed.jobs.ranking_turns), so
# when many pools run low at once the last ranking may come seconds later: asked with the page and
# ten more left, pools do not run dry meanwhile (with two more, in the benchmark they did, and the
# pages that found them empty ranked inline, all at once).
RANK_AHEAD_JOB = "feed.rank_ahead"
AHEAD_PAGES = 10
AHEAD_SECONDS = 60
# A viewer who has seen every candidate there is would otherwise run the ranking statement on each
# page (a short page ranks again, in case something new arrived). After a ranking that found
# nothing new, or less than a page, short pages are served from it for this long. What it cannot
# see meanwhile waits as long: new popular or interacted-with videos, remixes of theirs, cameos.
# Posts of followed authors still join at once (from the inbox); a follow, an unfollow, new
# preferences, a check-in or see-less rank again at once; a resume ends the rest (`carry_pool`).
DRY_RANK_AGAIN_SECONDS = 30

# KEYS: the pool. ARGV: the pool a ranking ahead started from, the new pool, its time to live. The
# new pool replaces only the one it was ranked from: a pool forgotten meanwhile (new preferences, a
# check-in, see-less) or replaced (a resume's carry, a ranking inline, new posts merged) stays.
_REPLACE_POOL = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


def pool_key(settings: Settings, user_id: UUID) -> str:
    return key(settings, "feed", "pool", str(user_id))


@dataclass(frozen=True)
class FeedItem:
    video: Video
    author: queries.Byline
    liked_by_viewer: bool
    reason: Reason
    # (published_at, id): the position chronological cuts' cursors carry.
    position: tuple[datetime, UUID]


def _item(shown: queries.Shown, reason: Reason) -> FeedItem:
    video = shown.video
    published = video.published_at or video.created_at
    return FeedItem(
        video=video,
        author=shown.author,
        liked_by_viewer=shown.liked,
        reason=reason,
        position=(published, video.id),
    )


class RankedPool(msgspec.Struct, array_like=True, frozen=True):
    """What one ranking produced for a feed session, as kept in Redis."""

    session_id: str
    built_at: float
    # The newest inbox score when it was ranked: a newer post of a followed author ranks again.
    inbox_head: float
    # The viewer's users.follows_version when it was ranked: a follow or unfollow since ranks again.
    follows_version: int
    # (video id, tier, author id), best first.
    entries: list[tuple[str, int, str]]
    # A ranking ahead found nothing this pool did not already hold, or a ranking inline found less
    # than a page: pages stop asking for a ranking ahead until it runs short, and one that runs
    # short within DRY_RANK_AGAIN_SECONDS of it is not ranked again. A pool shorter than POOL_SIZE
    # is not enough to tell: the candidate sources change (new posts, the popular set, new likes).
    exhaustive: bool = False
    # Ranked from the quick sources only, because the page found every turn of its process taken
    # (InlineRankings): a full ranking ahead is asked for on every page until one replaces it.
    quick: bool = False


_POOL_DECODER = msgspec.json.Decoder(RankedPool)


@dataclass
class InlineRankings:
    """How many rankings this process's pages run while they wait (REMIXFEED_FEED_INLINE_RANKINGS_AT_ONCE).
    Past that, a page that needs one is served from a quick ranking (`queries.Candidates.quick`)
    and the full one runs ahead, in turn (RANK_AHEAD_JOB): when many pools run dry at once, ranking
    statements piling up on the cores would slow every one of them, until they hit the statement
    timeout. A count, not a semaphore: a page that waited for a turn would hold its database
    connection all the while."""

    at_once: int
    running: int = 0

    @contextmanager
    def turn(self) -> Iterator[bool]:
        """Whether a turn was free; it is taken until the block ends."""
        if self.running >= self.at_once:
            yield False
            return
        self.running += 1
        try:
            yield True
        finally:
            self.running -= 1

    @classmethod
    def of(cls, resources: Resources) -> InlineRankings:
        return resources.per_process(
            _INLINE_RANKINGS, lambda: cls(resources.settings.feed_inline_rankings_at_once)
        )


_INLINE_RANKINGS = "feed.inline_rankings"
# Logged (a warning) for each quick ranking; the benchmark counts them in the API's log.
QUICK_RANKING_EVENT = "feed_ranked_quickly"


class FeedRanker:
    def __init__(
        self,
        session: AsyncSession,
        redis: Redis,
        settings: Settings,
        jobs: JobQueue | None = None,
        inline: InlineRankings | None = None,
    ) -> None:
        self.session = session
        self.redis = redis
        self.settings = settings
        self.inboxes = Inboxes(redis, settings)
        self._replace_pool = redis.register_script(_REPLACE_POOL)
        # Where a forgetting Redis could not do at once waits (FORGET_POOL_JOB).
        self.jobs = jobs
        # The turns of this process's pages; None (a job's ranking ahead): no bound.
        self.inline = inline

    async def select(
        self,
        viewer: User,
        cut: Cut,
        *,
        limit: int,
        exclude: set[str],
        session_id: str,
        before: tuple[datetime, UUID] | None = None,
    ) -> list[FeedItem]:
        """Up to `limit` items of `cut` for `viewer`, none of them in `exclude`. `before` is the
        keyset position of the chronological cuts (newest first), ignored by `for_you`, whose
        ranking is kept for the feed session `session_id`."""
        if cut == "following":
            shown = await queries.following_page(
                self.session, viewer.id, exclude=sorted(exclude), before=before, limit=limit
            )
            return [_item(one, "followed") for one in shown]
        if cut == "latest":
            rows = await queries.latest_page(
                self.session, viewer.id, exclude=sorted(exclude), before=before, limit=limit
            )
            return [_item(one, "followed" if followed else "popular") for one, followed in rows]
        return await self._for_you(viewer, limit=limit, exclude=exclude, session_id=session_id)

    def pool_key(self, user_id: UUID) -> str:
        return pool_key(self.settings, user_id)

    def forget_pool_after_commit(self, session: AsyncSession, user_id: UUID) -> None:
        """The viewer changed what ranking weighs (preferences, a check-in, see-less): their next
        page is ranked again. The forgetting is kept in the transaction's outbox too: with Redis
        away (the feed is 503 meanwhile) it waits in PostgreSQL and happens once Redis is back, and
        a process that dies after the commit leaves it to a job worker, so a kept pool does not
        outlive the change."""

        async def forget() -> None:
            await self.redis.delete(self.pool_key(user_id))

        if self.jobs is None:
            after_commit(session, forget)
            return
        kept = self.jobs.keep_in_outbox(
            session, FORGET_POOL_JOB, key=f"{FORGET_POOL_JOB}:{user_id}", user_id=str(user_id)
        )
        kept.run_after_commit(session, forget)

    async def carry_pool(self, viewer: User, resumed: Resumed) -> None:
        """The pool kept for the session a resume ended goes on in the new one, less what the ended
        session served. A pool of another session, or none, is left to be ranked on the next page."""
        raw = await self.redis.get(self.pool_key(viewer.id))
        if raw is None:
            return
        try:
            pool = _POOL_DECODER.decode(raw)
        except msgspec.DecodeError:
            return
        ttl = int(POOL_TTL_SECONDS - (time.time() - pool.built_at))
        if pool.session_id != resumed.ended_session_id or ttl < 1:
            return
        carried = msgspec.structs.replace(
            pool,
            session_id=resumed.session_id,
            entries=[entry for entry in pool.entries if entry[0] not in resumed.ended_served],
            # What the ended session served may come again in this one, so "nothing new" no longer
            # holds: a page that runs short ranks again rather than resting on this pool.
            exhaustive=False,
        )
        await self.redis.set(self.pool_key(viewer.id), msgspec.json.encode(carried), ex=ttl)

    async def _for_you(
        self, viewer: User, *, limit: int, exclude: set[str], session_id: str
    ) -> list[FeedItem]:
        pool = await self._kept_pool(viewer, session_id)
        remaining = [entry for entry in pool.entries if entry[0] not in exclude] if pool else []
        if pool is None or (len(remaining) < limit and not _resting(pool)):
            # Also when a page would run short: what was posted since may fill it.
            pool = await self._rank(viewer, session_id, exclude, dry_below=limit)
            remaining = pool.entries
        elif self._runs_out_soon(pool, len(remaining), limit):
            self._rank_ahead_after_commit(viewer.id)
        # Only the head of the pool is put in order for a page (the rest only after many skips).
        head = remaining[: limit * LOOKAHEAD]
        ordered = diversify(head, key=lambda entry: entry[2]) + remaining[len(head) :]
        items: list[FeedItem] = []
        # Take the next ones in order; what became unservable since the ranking is skipped.
        start = 0
        while len(items) < limit and start < len(ordered):
            chunk = ordered[start : start + limit - len(items) + 5]
            start += len(chunk)
            found = await queries.servable(self.session, viewer.id, [UUID(entry[0]) for entry in chunk])
            for video_id, tier, _ in chunk:
                shown = found.get(UUID(video_id))
                if shown is not None and len(items) < limit:
                    items.append(_item(shown, _reason(tier)))
        return items

    @staticmethod
    def _runs_out_soon(pool: RankedPool, remaining: int, limit: int) -> bool:
        """A kept pool that a few more pages will use up, or that expires soon, is ranked again in
        the background (RANK_AHEAD_JOB), so that the page that would have run short or found it
        expired does not wait for the ranking statement. An exhaustive pool is not ranked ahead
        for running out: the last ranking ahead found nothing new."""
        return (
            pool.quick
            or (not pool.exhaustive and remaining < limit * (1 + AHEAD_PAGES))
            or time.time() - pool.built_at > POOL_TTL_SECONDS - AHEAD_SECONDS
        )

    def _rank_ahead_after_commit(self, viewer_id: UUID) -> None:
        if self.jobs is not None:
            # Keyed: however many pages ask meanwhile, one ranking is queued or running per viewer.
            # Not durable: a ranking ahead that is lost is asked for again by the next page.
            self.jobs.enqueue_after_commit(
                self.session,
                RANK_AHEAD_JOB,
                key=f"{RANK_AHEAD_JOB}:{viewer_id}",
                durable=False,
                user_id=str(viewer_id),
            )

    async def rank_ahead(self, viewer: User, session_id: str, served: frozenset[str]) -> RankedPool | None:
        """RANK_AHEAD_JOB: a new pool for the viewer's feed session, without what it has served.
        None when the kept pool belongs to another session, or was forgotten or replaced before
        the new one was ready: what forgot it (a change of preferences, say) may postdate what
        this ranking read."""
        ranked_from = await self.redis.get(self.pool_key(viewer.id))
        if ranked_from is None:
            return None  # forgotten or expired: the next page ranks inline
        try:
            kept_pool = _POOL_DECODER.decode(ranked_from)
        except msgspec.DecodeError:
            kept_pool = None
        if kept_pool is not None and kept_pool.session_id != session_id:
            return None  # resumed since the session was read: the carried pool is the new session's
        pool = await self._ranked(viewer, session_id, set(served))
        RANKINGS.labels("ahead").inc()
        kept = {entry[0] for entry in kept_pool.entries} if kept_pool is not None else set()
        if kept and all(entry[0] in kept for entry in pool.entries):
            # Nothing new: the fresh pool still replaces the kept one (it may be about to expire),
            # and pages stop asking for another until this one runs short.
            pool = msgspec.structs.replace(pool, exhaustive=True)
        replaced = await self._replace_pool(
            keys=[self.pool_key(viewer.id)],
            args=[ranked_from, msgspec.json.encode(pool), POOL_TTL_SECONDS],
        )
        return pool if replaced else None

    async def _kept_pool(self, viewer: User, session_id: str) -> RankedPool | None:
        """The pool ranked for this feed session, if it still stands (see the module docstring)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self.pool_key(viewer.id))
            pipe.zrevrange(self.inboxes.inbox_key(viewer.id), 0, 0, withscores=True)
            pipe.exists(self.inboxes.sentinel_key(viewer.id))
            raw, head, inbox_kept = await pipe.execute()
        if raw is None or not inbox_kept:
            return None
        try:
            pool = _POOL_DECODER.decode(raw)
        except msgspec.DecodeError:
            return None
        inbox_head = float(head[0][1]) if head else 0.0
        if (
            pool.session_id != session_id
            or pool.follows_version != viewer.follows_version
            or time.time() - pool.built_at > POOL_TTL_SECONDS
        ):
            return None
        if inbox_head > pool.inbox_head:
            pool = await self._with_new_posts(viewer, pool)
        return pool

    async def _with_new_posts(self, viewer: User, pool: RankedPool) -> RankedPool:
        """Posts fanned out into the inbox since the pool was ranked go first among `followed`
        (they are the newest), rather than ranking again: a popular author's post would otherwise
        send every follower's next page to the ranking statement at once. Only posts of authors
        still followed: a fan-out that read the followers before an unfollow may land its post in
        the inbox after the pool the unfollow led to was ranked. Not those matching a topic the
        viewer's steering avoids, and none when their feed is not personalised (no tiers)."""
        raw = await self.redis.zrevrangebyscore(
            self.inboxes.inbox_key(viewer.id),
            "+inf",
            f"({pool.inbox_head!r}",
            start=0,
            num=NEW_POSTS_MERGED,
            withscores=True,
        )
        if not raw:
            return pool
        known = {entry[0] for entry in pool.entries}
        new_ids = list(dict.fromkeys(as_text(member) for member, _ in raw if as_text(member) not in known))
        preferences = await preferences_of(self.session, viewer.id)
        if preferences is not None and not preferences.personalized:
            # The same for everyone: no `followed` tier, so nothing to put at its head.
            new_ids = []
        authors = await queries.followed_authors_of(
            self.session,
            viewer.id,
            [UUID(video_id) for video_id in new_ids],
            avoid_topics=preferences.avoid_topics if preferences is not None else (),
        )
        fresh = [
            (video_id, queries.FOLLOWED, str(authors[UUID(video_id)]))
            for video_id in new_ids
            if UUID(video_id) in authors
        ]
        at = next(
            (i for i, entry in enumerate(pool.entries) if entry[1] >= queries.FOLLOWED), len(pool.entries)
        )
        merged = msgspec.structs.replace(
            pool,
            inbox_head=float(raw[0][1]),
            entries=pool.entries[:at] + fresh + pool.entries[at:],
        )
        ttl = max(1, int(POOL_TTL_SECONDS - (time.time() - pool.built_at)))
        await self.redis.set(self.pool_key(viewer.id), msgspec.json.encode(merged), ex=ttl)
        return merged

    async def _rank(self, viewer: User, session_id: str, exclude: set[str], *, dry_below: int) -> RankedPool:
        with self.inline.turn() if self.inline is not None else nullcontext(True) as full:
            pool = await self._ranked(viewer, session_id, exclude, quick=not full)
        RANKINGS.labels("inline" if full else "quick").inc()
        if pool.quick:
            # A warning: the process lacks turns for the pools running dry (see InlineRankings).
            log.warning(QUICK_RANKING_EVENT, inline_turns=self.settings.feed_inline_rankings_at_once)
            # The full ranking follows in the background, in turn; pages go on from this one.
            self._rank_ahead_after_commit(viewer.id)
        elif len(pool.entries) < dry_below:
            # Not even a page left: the viewer has seen all there is, and the next pages rest on
            # this ranking for DRY_RANK_AGAIN_SECONDS instead of running the statement each time.
            pool = msgspec.structs.replace(pool, exhaustive=True)
        await self.redis.set(self.pool_key(viewer.id), msgspec.json.encode(pool), ex=POOL_TTL_SECONDS)
        return pool

    async def _ranked(
        self, viewer: User, session_id: str, exclude: set[str], *, quick: bool = False
    ) -> RankedPool:
        built_at = time.time()
        read = await self.inboxes.read(viewer.id)
        inbox_ids, inbox_built_at, inbox_head = read.video_ids, read.built_at, read.newest_score
        if inbox_built_at is None:
            entries = await queries.inbox_entries(self.session, viewer.id, self.settings.feed_inbox_size)
            inbox_built_at = await self.inboxes.replace(viewer.id, entries)
            # The rebuild covers every follow up to now.
            inbox_ids = [video_id for video_id, _ in entries[:INBOX_READ]]
            inbox_head = max((score for _, score in entries), default=0.0)
        popular_ids = read.popular_ids
        if not read.popular_cached:
            popular = await queries.popular_entries(self.session)
            await self.inboxes.store_popular(popular)
            popular_ids = [video_id for video_id, _ in popular]
        preferences = await preferences_of(self.session, viewer.id)
        rows = await queries.ranked(
            self.session,
            queries.Candidates(
                viewer_id=viewer.id,
                inbox_ids=inbox_ids,
                popular_ids=popular_ids,
                inbox_built_at=datetime.fromtimestamp(inbox_built_at, UTC),
                exclude=sorted(exclude),
                limit=POOL_SIZE,
                personalized=preferences.personalized if preferences else True,
                favour_topics=list(preferences.favour_topics) if preferences else [],
                avoid_topics=list(preferences.avoid_topics) if preferences else [],
                mood_bias=preferences.mood_bias if preferences else 0.0,
                quick=quick,
            ),
        )
        return RankedPool(
            session_id=session_id,
            built_at=built_at,
            inbox_head=inbox_head,
            follows_version=viewer.follows_version,
            entries=[(str(row.video_id), row.tier, str(row.author_id)) for row in rows],
            quick=quick,
        )


def _resting(pool: RankedPool) -> bool:
    """A ranking that found nothing new (or not even a page) a short while ago: a page that runs
    short is served from it rather than ranked again, which would find the same."""
    return pool.exhaustive and time.time() - pool.built_at < DRY_RANK_AGAIN_SECONDS


def _reason(tier: int) -> Reason:
    reason: Reason = queries.TIER_REASONS[tier]  # type: ignore[assignment]
    return reason


def diversify(rows: Sequence[T], *, key: Callable[[T], object], max_run: int = MAX_RUN) -> list[T]:
    """`rows` in order, except that an item which would make a run of more than `max_run` from one
    author waits for the next item by someone else (greedy; stable otherwise)."""
    pending = list(rows)
    out: list[T] = []
    while pending:
        run_key = key(out[-1]) if out else None
        run = 0
        for row in reversed(out):
            if key(row) != run_key:
                break
            run += 1
        pick = 0
        if run >= max_run:
            pick = next((i for i, row in enumerate(pending) if key(row) != run_key), 0)
        out.append(pending.pop(pick))
    return out
