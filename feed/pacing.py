"""Feed sessions and their breaks, counted in Redis so they hold across devices and API processes.

A user has one feed session at a time: its id, how many videos it has served, and the set of those
videos (never served twice in one session). Slots are reserved by one Lua script after ranking, so
concurrent requests, from any process, can together serve no more than the threshold
(REMIXFEED_FEED_BREAK_AFTER, REMIXFEED_TEEN_FEED_BREAK_AFTER for teens) and no video twice.

- The page whose videos reach the threshold carries them and the break; later pages carry only
  the break, until POST /v1/feed/resume starts a new session.
- Breaks are numbered per user (across sessions, and visits up to 30 days apart); every
  REMIXFEED_FEED_WELLBEING_EVERY-th one is a `wellbeing_check`. A session the teen's daily cap
  ends at its threshold is at an unnumbered break (break_no 0): the break shown is
  `teen_daily_limit` and the session is renewed at once, so numbering it would put the next
  day's wellbeing checks out of step.
- Teens also stop for the UTC day after REMIXFEED_TEEN_DAILY_FEED_LIMIT videos, whatever they
  resume: a per-day counter that a new session does not reset. A video counts on the UTC day it is
  reserved in (users have no time zone), read at each reservation: a page opened before midnight
  and filled after it counts on the new day, whenever its session started.
- Resuming while the session is not at a break changes nothing, so resuming early cannot dodge a
  break or a wellbeing check.

State (keys under the Redis namespace, expiring after a day without use):
`feed:session:<user>` hash {sid, served, break_no}, `feed:served:<user>` set of video ids,
`feed:day:<user>:<YYYY-MM-DD>` the teen's count for that UTC day; and `feed:breaks:<user>` the
user's break count, kept 30 days after their last page (one small key per user).

A teen's count for the day is also kept in PostgreSQL (`feed_teen_days`), as the daily cap is a
safety limit: a teen's page reads it (one small statement, with the account's presence) and the Lua
scripts count from the greater of it and the Redis counter (raising the counter to it); once the
page is filled, if Redis answered a greater count, the page writes it (never lowering the row) in
the request's transaction, which commits before the page is sent (`FeedPacer.keep`). So a Redis
that loses its data (flush, failover without persistence) does not reset a teen's day: it goes on
from what their committed pages were counted. The one way past the cap left: pages of the teen's
other devices in flight at the instant of the loss (counted in Redis, not yet committed) are not
in the count the next page reads, so the cap may be passed by those pages, a page each at most.

Adults' pages read and write no SQL for pacing: their sessions and everyone's break numbering live
only in Redis, by choice. If Redis loses its data every user starts a new session and the break
numbering starts again. Production Redis is expected to persist (AOF); an outage instead is 503
feed_unavailable, never an unpaced feed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.ages import age_band
from accounts.models import AgeBand, User
from accounts.service.deletion import caller_presence, refuse_unless_present
from app.redis import as_text, key
from app.settings import Settings
from feed import queries
from feed.errors import FeedUnavailable

SESSION_TTL_SECONDS = 24 * 3600
# The user's break count outlives their sessions, so that the wellbeing checks come round for
# someone who comes back every few days with fewer breaks a visit than a check is apart.
BREAKS_TTL_SECONDS = 30 * 24 * 3600
# A day counter outlives its day by a little, so a request at 23:59:59 still finds it.
_DAY_GRACE_SECONDS = 3600

BreakReason = Literal["paced", "teen_daily_limit", "wellbeing_check"]

# Prefixed to _OPEN and _RESERVE: puts the session in KEYS[1] at its break, the user's next break
# number (counted in KEYS[4], kept for BREAKS_TTL_SECONDS after the last visit), or 0 (unnumbered)
# when the teen's daily cap (`daily`, 0: none) is reached too, as that break is the night's. A
# session hash from before the count had its own key holds it in `breaks`: carried over once.
_AT_BREAK = """
local function at_break(daily, day)
  local legacy = redis.call('HGET', KEYS[1], 'breaks')
  if legacy then
    redis.call('HDEL', KEYS[1], 'breaks')
    if tonumber(legacy) > tonumber(redis.call('GET', KEYS[4]) or '0') then
      redis.call('SET', KEYS[4], legacy)
    end
  end
  if daily > 0 and day >= daily then
    redis.call('HSET', KEYS[1], 'break_no', 0)
  else
    redis.call('HSET', KEYS[1], 'break_no', redis.call('INCR', KEYS[4]))
  end
end
"""

# KEYS: session hash, served set, day counter, break count. ARGV: a fresh session id, ttl,
# threshold, daily limit (0: none), break count ttl, the day's durable count (0 for adults). Returns
# {sid, served, break_no (-1: not at a break), day count (the greater of the counter and the durable
# count), served ids...}, opening a session when there is none. A session already past
# this process's threshold (another process, with a higher one, served it) is at its break, so that
# it shows the break and can be resumed.
_OPEN = """
local day = math.max(tonumber(redis.call('GET', KEYS[3]) or '0'), tonumber(ARGV[6]))
if redis.call('HSETNX', KEYS[1], 'sid', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'served', 0)
  redis.call('DEL', KEYS[2])
elseif tonumber(redis.call('HGET', KEYS[1], 'served') or '0') >= tonumber(ARGV[3])
    and redis.call('HEXISTS', KEYS[1], 'break_no') == 0 then
  at_break(tonumber(ARGV[4]), day)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[4], ARGV[5])
local h = redis.call('HMGET', KEYS[1], 'sid', 'served', 'break_no')
local out = {h[1], h[2] or '0', h[3] or '-1', day}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do out[#out + 1] = id end
return out
"""

# KEYS: session hash, served set, day counter, break count.
# ARGV: session id, threshold, daily limit (0: none), ttl, day ttl, break count ttl, the day's
# durable count (0 for adults), candidate ids in rank order.
# The day counter is first raised to the durable count (a Redis that lost its data counts on from
# it). Takes candidates not yet served while the session (and the day) has room; returns
# {taken, served, break_no (-1: not at a break), day count, taken ids...}, or {-1} when the
# session was replaced.
_RESERVE = """
if redis.call('HGET', KEYS[1], 'sid') ~= ARGV[1] then return {-1} end
local threshold = tonumber(ARGV[2])
local daily = tonumber(ARGV[3])
local served = tonumber(redis.call('HGET', KEYS[1], 'served') or '0')
local room = threshold - served
local day = 0
if daily > 0 then
  day = tonumber(redis.call('GET', KEYS[3]) or '0')
  if tonumber(ARGV[7]) > day then
    day = tonumber(ARGV[7])
    redis.call('SET', KEYS[3], day, 'EX', ARGV[5])
  end
  room = math.min(room, daily - day)
end
local taken = {}
for i = 8, #ARGV do
  if room <= 0 then break end
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    taken[#taken + 1] = ARGV[i]
    room = room - 1
  end
end
if #taken > 0 then
  served = redis.call('HINCRBY', KEYS[1], 'served', #taken)
  if daily > 0 then
    day = redis.call('INCRBY', KEYS[3], #taken)
    redis.call('EXPIRE', KEYS[3], ARGV[5])
  end
  if served >= threshold and redis.call('HEXISTS', KEYS[1], 'break_no') == 0 then
    at_break(daily, day)
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[4], ARGV[6])
local out = {#taken, served, tonumber(redis.call('HGET', KEYS[1], 'break_no') or '-1'), day}
for _, id in ipairs(taken) do out[#out + 1] = id end
return out
"""

# KEYS: session hash, served set. ARGV: a fresh session id, ttl.
# A new session only when the current one is at its break (or there is none); returns {0} if not,
# else {1, the ended session's id or '', the ids it served...}.
_RESUME = """
if redis.call('HEXISTS', KEYS[1], 'sid') == 1 and redis.call('HEXISTS', KEYS[1], 'break_no') == 0 then
  return {0}
end
local out = {1, redis.call('HGET', KEYS[1], 'sid') or ''}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do out[#out + 1] = id end
redis.call('HSET', KEYS[1], 'sid', ARGV[1], 'served', 0)
redis.call('HDEL', KEYS[1], 'break_no')
redis.call('DEL', KEYS[2])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return out
"""


@dataclass(frozen=True)
class Break:
    reason: BreakReason
    videos_seen: int
    resume_at: datetime | None


@dataclass(frozen=True)
class Pace:
    """One user's feed session as a request found it (or left it)."""

    session_id: str
    served: int
    # Set once the session has reached its threshold: the user's how-many-th break this is (0 when
    # the daily cap ended the session there: `at_break` without a number).
    break_number: int
    at_break: bool
    day_count: int
    # As Redis holds them (text): a page compares them with the ranked pool's ids, also text.
    served_ids: frozenset[str]
    threshold: int
    daily_limit: int | None
    day: date

    @property
    def room(self) -> int:
        """How many more videos this session may serve now."""
        room = self.threshold - self.served
        if self.daily_limit is not None:
            room = min(room, self.daily_limit - self.day_count)
        return max(0, room)


@dataclass(frozen=True)
class Reservation:
    taken: list[UUID]
    pace: Pace


@dataclass(frozen=True)
class Resumed:
    """A new session started by a resume, and the session it ended ('' if there was none)."""

    session_id: str
    ended_session_id: str
    ended_served: frozenset[str]


class SessionReplaced(Exception):
    """The session was resumed (replaced) between reading it and reserving slots in it."""


def now() -> datetime:
    """The pacer's clock (this process's, in UTC); tests move it across midnight."""
    return datetime.now(UTC)


def _next_midnight(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


class FeedPacer:
    """The pacing of one request (or job): Redis, and for a teen the request's database session,
    which holds their durable count for the day (`feed_teen_days`)."""

    def __init__(self, redis: Redis, settings: Settings, session: AsyncSession) -> None:
        self.redis = redis
        self.settings = settings
        self.session = session
        # A teen's count for each day this request has read it in PostgreSQL (or written it), and
        # the count Redis answered for each day this request opened or reserved in.
        self._kept: dict[date, int] = {}
        self._reached: dict[date, int] = {}
        self._open = redis.register_script(_AT_BREAK + _OPEN)
        self._reserve = redis.register_script(_AT_BREAK + _RESERVE)
        self._resume = redis.register_script(_RESUME)

    def _limits(self, user: User) -> tuple[int, int | None]:
        if age_band(user.birthdate) == AgeBand.TEEN:
            return self.settings.teen_feed_break_after, self.settings.teen_daily_feed_limit
        return self.settings.feed_break_after, None

    def _keys(self, user: User, day: date) -> list[str]:
        user_id = str(user.id)
        return [
            key(self.settings, "feed", "session", user_id),
            key(self.settings, "feed", "served", user_id),
            key(self.settings, "feed", "day", user_id, day.isoformat()),
            key(self.settings, "feed", "breaks", user_id),
        ]

    def _day_ttl(self, day: date) -> int:
        left = _next_midnight(day) - now()
        return max(1, int(left.total_seconds())) + _DAY_GRACE_SECONDS

    async def _durable(self, user: User, day: date) -> int:
        """A teen's count for `day` as PostgreSQL keeps it, read once a request, with the account's
        presence under the key-share lock that `keep_teen_day`'s foreign key would take, held until
        commit (`caller_presence`): an account deleted meanwhile is 401, and none can be until this
        transaction ends, so its purge, which starts after the deletion's commit, finds the row
        this request writes."""
        if day not in self._kept:
            present, served = await queries.teen_day(self.session, user.id, day, caller_presence(user))
            refuse_unless_present(present)
            self._kept[day] = served
        return self._kept[day]

    def _counted(self, day: date, count: int) -> None:
        self._reached[day] = max(self._reached.get(day, 0), count)

    async def keep(self, user: User) -> None:
        """Write to PostgreSQL, in the request's transaction, a teen's count for each day where
        Redis answered more than PostgreSQL keeps (never lowering it: `queries.keep_teen_day`).
        Nothing for an adult, nor when PostgreSQL already holds what Redis answered.

        Called once a page is filled, after every reservation of it and before its transaction
        commits, which is before the page is sent (app.db): a crash, or a failed write or COMMIT,
        in between leaves Redis counting videos that were never shown (the teen is under-served, as
        by any failed page), never a page shown that PostgreSQL did not count. The other order
        cannot be: the count is known only once the script has reserved. Once, at the end, rather
        than at each reservation: the row's lock is then held only until the commit, not while the
        page ranks again or presents (another device's page waits for it)."""
        for day, count in sorted(self._reached.items()):
            if count > self._kept[day]:
                await queries.keep_teen_day(self.session, user.id, day, count)
                self._kept[day] = count

    async def open(self, user: User) -> Pace:
        """The user's current session, opened if there is none."""
        day = now().date()
        threshold, daily_limit = self._limits(user)
        floor = await self._durable(user, day) if daily_limit is not None else 0
        try:
            raw = await self._open(
                keys=self._keys(user, day),
                args=[
                    uuid.uuid4().hex,
                    SESSION_TTL_SECONDS,
                    threshold,
                    daily_limit or 0,
                    BREAKS_TTL_SECONDS,
                    floor,
                ],
            )
        except RedisError as exc:
            raise FeedUnavailable() from exc
        sid, served, break_no, day_count, *ids = raw
        if daily_limit is not None:
            # Redis may be ahead of PostgreSQL even before this request reserves: a count from
            # before `feed_teen_days`, or a page whose transaction failed after reserving. `keep`
            # writes it too, so that a loss of Redis now loses none of it.
            self._counted(day, int(day_count))
        return Pace(
            session_id=as_text(sid),
            served=int(served),
            break_number=max(0, int(break_no)),
            at_break=int(break_no) >= 0,
            day_count=int(day_count),
            served_ids=frozenset(as_text(member) for member in ids),
            threshold=threshold,
            daily_limit=daily_limit,
            day=day,
        )

    async def current(self, user: User) -> tuple[str, frozenset[str]] | None:
        """The user's session id and what it has served, without opening one (None if none)."""
        session_key, served_key = self._keys(user, now().date())[:2]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(session_key, "sid")
            pipe.smembers(served_key)
            sid, served = await pipe.execute()
        if sid is None:
            return None
        return as_text(sid), frozenset(as_text(member) for member in served)

    async def reserve(self, user: User, pace: Pace, candidates: list[UUID]) -> Reservation:
        """Take what fits of `candidates` (in order, skipping any already served) into the session.

        The day is read now, not when the session or the page was opened: ranking may have taken
        the page past midnight, and what it serves then counts toward the new day. A teen's count
        goes on from the greater of Redis's and PostgreSQL's; `keep` writes it back to PostgreSQL
        once the page is filled."""
        day = now().date()
        floor = await self._durable(user, day) if pace.daily_limit is not None else 0
        args: list[str | int] = [
            pace.session_id,
            pace.threshold,
            pace.daily_limit or 0,
            SESSION_TTL_SECONDS,
            self._day_ttl(day),
            BREAKS_TTL_SECONDS,
            floor,
            *(str(candidate) for candidate in candidates),
        ]
        try:
            raw = await self._reserve(keys=self._keys(user, day), args=args)
        except RedisError as exc:
            raise FeedUnavailable() from exc
        if int(raw[0]) < 0:
            raise SessionReplaced()
        _, served, break_no, day_count, *ids = raw
        if pace.daily_limit is not None:
            self._counted(day, int(day_count))
        taken = [UUID(as_text(member)) for member in ids]
        return Reservation(
            taken=taken,
            pace=Pace(
                session_id=pace.session_id,
                served=int(served),
                break_number=max(0, int(break_no)),
                at_break=int(break_no) >= 0,
                day_count=int(day_count),
                served_ids=pace.served_ids | {str(video_id) for video_id in taken},
                threshold=pace.threshold,
                daily_limit=pace.daily_limit,
                day=day,
            ),
        )

    async def resume(self, user: User) -> Resumed | None:
        """Start a new session if the current one is at its break; what ended, if one was started."""
        keys = self._keys(user, now().date())[:2]
        session_id = uuid.uuid4().hex
        try:
            raw = await self._resume(keys=keys, args=[session_id, SESSION_TTL_SECONDS])
        except RedisError as exc:
            raise FeedUnavailable() from exc
        if not int(raw[0]):
            return None
        _, ended, *served = raw
        return Resumed(
            session_id=session_id,
            ended_session_id=as_text(ended),
            ended_served=frozenset(as_text(member) for member in served),
        )

    def break_of(self, pace: Pace) -> Break | None:
        """The break the session is at, if any: the teen's daily cap first, then the session's."""
        if pace.daily_limit is not None and pace.day_count >= pace.daily_limit:
            return Break("teen_daily_limit", pace.day_count, _next_midnight(pace.day))
        if pace.break_number > 0:
            wellbeing = pace.break_number % self.settings.feed_wellbeing_every == 0
            return Break("wellbeing_check" if wellbeing else "paced", pace.served, None)
        return None
