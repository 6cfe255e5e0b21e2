"""Per-user feed inboxes in Redis: fan-out on write, ids only, capped (as Mastodon's home feeds and
Misskey's timelines are).

- `feed:inbox:<user>` is a sorted set of video ids scored by publication time (epoch seconds),
  trimmed to the newest REMIXFEED_FEED_INBOX_SIZE.
- `feed:inbox_built:<user>` is the sentinel: present when the inbox was built (so an empty inbox
  is not rebuilt on every read); its value is when (epoch seconds). Follows made after that are
  covered by ranking's "new follows" candidates, so a new follow needs no backfill here.
- Both live INBOX_TTL_SECONDS, refreshed on every read. A user back after a longer absence, or
  after Redis lost its data, has no sentinel: the inbox is rebuilt from SQL (recent posts of the
  people they follow) on their next read.
- Publishing pushes only into inboxes whose sentinel exists (a Lua script checks it), so nobody's
  inbox is written while they are away; removed, deleted, unlisted or blocked videos and unfollowed
  authors are filtered when the ids are read back through SQL, so no cleanup is needed.
- `feed:popular` holds the popular candidates (ids scored by engagement with time decay),
  refreshed every minute by the `feed.refresh_popular` job and rebuilt on a miss.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from redis.asyncio import Redis

from app.redis import as_text, key
from app.settings import Settings

INBOX_TTL_SECONDS = 14 * 24 * 3600
POPULAR_TTL_SECONDS = 15 * 60
# How many inbox and popular ids a ranked read considers.
INBOX_READ = 300
POPULAR_READ = 200

# Inboxes per call of the push script. Redis runs a script whole while every other client waits,
# about 7 us an inbox: a call for 1,000 held each feed read behind it ~8 ms during a large fan-out,
# one for 100 holds it under 1 ms, at the same total cost (the calls share one pipeline).
PUSH_CHUNK = 100

# ARGV: the inbox key prefix, the sentinel key prefix, score, video id, size, ttl, then the followers'
# ids. Pushes only into built inboxes. The keys are made here from the ids: a third of the bytes to
# send and parse, and no key strings to build in Python (a 100k push measured alone: 0.46-0.48 s of
# Python and 0.72-0.86 s of Redis CPU with both keys sent, 0.25-0.28 s and 0.63-0.66 s with the ids).
# Not Redis Cluster material, as a call for many users' keys never was.
_PUSH = """
local inbox, sentinel, score, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local cut, ttl = -(tonumber(ARGV[5]) + 1), ARGV[6]
local pushed = 0
for i = 7, #ARGV do
  if redis.call('EXISTS', sentinel .. ARGV[i]) == 1 then
    local key = inbox .. ARGV[i]
    redis.call('ZADD', key, score, member)
    redis.call('ZREMRANGEBYRANK', key, 0, cut)
    redis.call('EXPIRE', key, ttl)
    pushed = pushed + 1
  end
end
return pushed
"""


@dataclass(frozen=True)
class InboxRead:
    video_ids: list[UUID]
    # When the inbox was built (epoch seconds), or None when it must be rebuilt.
    built_at: float | None
    popular_ids: list[UUID]
    popular_cached: bool
    # The score (publication epoch) of the newest inbox entry; 0 when there is none.
    newest_score: float = 0.0


def _ids(raw: Sequence[bytes | str]) -> list[UUID]:
    out = []
    for item in raw:
        try:
            out.append(UUID(as_text(item)))
        except ValueError:
            continue
    return out


class Inboxes:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._push = redis.register_script(_PUSH)
        # One layout for the keys made here and those the push script makes from the same prefixes.
        self._inbox_prefix = key(settings, "feed", "inbox", "")
        self._sentinel_prefix = key(settings, "feed", "inbox_built", "")

    def inbox_key(self, user_id: UUID) -> str:
        return f"{self._inbox_prefix}{user_id}"

    def sentinel_key(self, user_id: UUID) -> str:
        return f"{self._sentinel_prefix}{user_id}"

    @property
    def popular_key(self) -> str:
        return key(self.settings, "feed", "popular")

    async def read(self, user_id: UUID, *, with_inbox: bool = True) -> InboxRead:
        """The newest inbox ids, the sentinel and the popular ids, in one round trip; refreshes
        the inbox's time to live."""
        inbox, sentinel = self.inbox_key(user_id), self.sentinel_key(user_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            if with_inbox:
                pipe.get(sentinel)
                pipe.zrevrange(inbox, 0, INBOX_READ - 1)
                pipe.expire(inbox, INBOX_TTL_SECONDS)
                pipe.expire(sentinel, INBOX_TTL_SECONDS)
                pipe.zrevrange(inbox, 0, 0, withscores=True)
            pipe.zrevrange(self.popular_key, 0, POPULAR_READ - 1)
            pipe.exists(self.popular_key)
            results = await pipe.execute()
        popular, popular_exists = results[-2], results[-1]
        built_at: float | None = None
        video_ids: list[UUID] = []
        newest_score = 0.0
        if with_inbox:
            raw_sentinel = results[0]
            if raw_sentinel is not None:
                try:
                    built_at = float(raw_sentinel)
                except ValueError:
                    built_at = None
            video_ids = _ids(results[1]) if built_at is not None else []
            newest = results[4]
            newest_score = float(newest[0][1]) if newest and built_at is not None else 0.0
        return InboxRead(
            video_ids=video_ids,
            built_at=built_at,
            popular_ids=_ids(popular),
            popular_cached=bool(popular_exists),
            newest_score=newest_score,
        )

    async def replace(self, user_id: UUID, entries: Sequence[tuple[UUID, float]]) -> float:
        """Rebuild the inbox from `entries` (video id, publication epoch) and mark it built."""
        built_at = time.time()
        inbox, sentinel = self.inbox_key(user_id), self.sentinel_key(user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(inbox)
            if entries:
                pipe.zadd(inbox, {str(video_id): score for video_id, score in entries})
                pipe.zremrangebyrank(inbox, 0, -(self.settings.feed_inbox_size + 1))
                pipe.expire(inbox, INBOX_TTL_SECONDS)
            pipe.set(sentinel, repr(built_at), ex=INBOX_TTL_SECONDS)
            await pipe.execute()
        return built_at

    async def push(self, follower_ids: Sequence[UUID | str], video_id: UUID, published_epoch: float) -> int:
        """Push one video into many followers' inboxes in one round trip (a script call per
        PUSH_CHUNK followers, pipelined); how many inboxes (built ones) took it."""
        if not follower_ids:
            return 0
        head: list[float | str | int] = [
            self._inbox_prefix,
            self._sentinel_prefix,
            published_epoch,
            str(video_id),
            self.settings.feed_inbox_size,
            INBOX_TTL_SECONDS,
        ]
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(follower_ids), PUSH_CHUNK):
                chunk = [str(follower_id) for follower_id in follower_ids[start : start + PUSH_CHUNK]]
                await self._push(keys=[], args=[*head, *chunk], client=pipe)
            pushed = await pipe.execute()
        return sum(int(count) for count in pushed)

    async def store_popular(self, entries: Sequence[tuple[UUID, float]]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.popular_key)
            if entries:
                pipe.zadd(self.popular_key, {str(video_id): score for video_id, score in entries})
            else:
                # An empty set does not exist in Redis: keep a placeholder so the miss is remembered.
                pipe.zadd(self.popular_key, {"-": -1.0})
            pipe.expire(self.popular_key, POPULAR_TTL_SECONDS)
            await pipe.execute()
