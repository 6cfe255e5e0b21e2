"""Progress streams (`GET /v1/generations/{id}/events`): the events, and how many one user may hold.

Each open stream holds a Redis pub/sub connection for as long as its generation runs, which can be
minutes, so the per-user rate limit alone would let one account (or one stolen token) open
hundreds at once and use up Redis's connections for everyone. A user holds at most
REMIXFEED_PROGRESS_STREAMS_PER_USER streams at a time; one more is 429 `too_many_streams`.

The count is kept in Redis, so it holds across API processes: a sorted set per user of stream ids
scored by when each one's lease ends. A stream renews its lease while it runs and gives it back
when it ends; a process that dies with streams open leaves leases that lapse within
LEASE_SECONDS, and so does the lease of a client that left before the stream's first event (the
stream never started, so it has nothing to give back). While Redis is unreachable, streams are not
counted (they read the database instead of pub/sub, and hold no Redis connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import msgspec
from litestar.response import ServerSentEventMessage
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from app.redis import key
from app.resources import Resources
from generation.errors import TooManyStreams
from generation.models import Generation, GenerationStatus
from generation.runner import progress_channel
from generation.schemas import GenerationOut
from generation.service import to_schema

# A stream waits at most this long for a message before it reads the row again.
SSE_RECHECK_SECONDS = 5.0
# While Redis (and so pub/sub) is unreachable, a stream reads the row this often instead.
SSE_POLL_SECONDS = 1.0
# A lease lapses this long after its last renewal; a stream renews it every RENEW_SECONDS.
LEASE_SECONDS = 60.0
RENEW_SECONDS = 20.0

# KEYS: the user's leases. ARGV: now, lease end, stream id, cap, key ttl. 1 if taken, else 0.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class StreamLease:
    """One open stream's place in its user's count."""

    def __init__(self, resources: Resources, user_id: uuid.UUID) -> None:
        self.redis = resources.redis
        self.key = key(resources.settings, "generation", "streams", str(user_id))
        self.stream_id = uuid.uuid4().hex
        self.renewed_at = 0.0

    @classmethod
    async def take(cls, resources: Resources, user_id: uuid.UUID) -> StreamLease | None:
        """A lease for one more stream of `user_id`; None when Redis is unreachable (not counted).
        Raises TooManyStreams when the user holds as many as they may."""
        lease = cls(resources, user_id)
        cap = resources.settings.progress_streams_per_user
        now = time.time()
        try:
            taken = await resources.redis.register_script(_TAKE)(
                keys=[lease.key], args=[now, now + LEASE_SECONDS, lease.stream_id, cap, int(LEASE_SECONDS)]
            )
        except RedisError:
            return None
        if not taken:
            raise TooManyStreams(
                f"at most {cap} progress streams may be open at once; close one first",
                headers={"Retry-After": str(int(RENEW_SECONDS))},
            )
        lease.renewed_at = now
        return lease

    async def renew(self) -> None:
        now = time.time()
        if now - self.renewed_at < RENEW_SECONDS:
            return
        with contextlib.suppress(RedisError):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(self.key, {self.stream_id: now + LEASE_SECONDS})
                pipe.expire(self.key, int(LEASE_SECONDS))
                await pipe.execute()
            self.renewed_at = now

    async def give_back(self) -> None:
        with contextlib.suppress(RedisError):
            await self.redis.zrem(self.key, self.stream_id)


async def _read(resources: Resources, generation_id: Any) -> GenerationOut | None:
    async with resources.session_factory() as session:
        generation = await session.get(Generation, generation_id)
        return to_schema(generation) if generation is not None else None


async def _subscribe(resources: Resources, generation_id: Any) -> PubSub | None:
    """The generation's progress channel, or None while Redis is unreachable."""
    pubsub = resources.redis.pubsub()
    try:
        await pubsub.subscribe(progress_channel(resources, generation_id))
    except RedisError:
        await _unsubscribe(pubsub)
        return None
    except BaseException:
        _close_on_its_own(pubsub, None)  # cancelled meanwhile: the connection is still let go
        raise
    return pubsub


async def _unsubscribe(pubsub: PubSub) -> None:
    with contextlib.suppress(RedisError):
        await pubsub.unsubscribe()
    with contextlib.suppress(RedisError):
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def progress_events(
    resources: Resources, generation_id: Any, lease: StreamLease | None
) -> AsyncGenerator[ServerSentEventMessage, None]:
    """`progress` events while the generation runs, then its one terminal event; the lease is
    renewed meanwhile and given back when the stream ends, however it ends."""
    # Subscribed first, then read, so no change between the two is missed. Without Redis the
    # stream reads the row every SSE_POLL_SECONDS instead, and subscribes again once it can.
    pubsub: PubSub | None = None
    try:
        pubsub = await _subscribe(resources, generation_id)
        current = await _read(resources, generation_id)
        last_sent: tuple[str, int] | None = None
        while current is not None:
            if (current.status, current.progress) != last_sent:
                last_sent = (current.status, current.progress)
                terminal = GenerationStatus(current.status).terminal
                yield ServerSentEventMessage(
                    data=msgspec.json.encode(current).decode(),
                    event=current.status if terminal else "progress",
                    id=f"{current.status}-{current.progress}",
                )
                if terminal:
                    return
            if lease is not None:
                await lease.renew()
            message: dict[str, Any] | None = None
            if pubsub is None:
                await asyncio.sleep(SSE_POLL_SECONDS)
                pubsub = await _subscribe(resources, generation_id)
            else:
                try:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=SSE_RECHECK_SECONDS
                    )
                except RedisError:
                    await _unsubscribe(pubsub)
                    pubsub = None
            if message is not None and message.get("type") == "message":
                current = msgspec.json.decode(message["data"], type=GenerationOut)
            else:
                # Nothing published lately, or no pub/sub: read the row, in case a message was lost.
                current = await _read(resources, generation_id)
            await asyncio.sleep(0)
    finally:
        # A client that goes away cancels this generator from Litestar's cancel scope, which would
        # cancel every await of the clean-up too (leaving a pub/sub connection and a lease behind):
        # the clean-up runs as a task of its own.
        await asyncio.shield(_close_on_its_own(pubsub, lease))


# Clean-ups running on their own, kept here so they are not garbage-collected before they end.
_CLEANUPS: set[asyncio.Future[None]] = set()


def _close_on_its_own(pubsub: PubSub | None, lease: StreamLease | None) -> asyncio.Future[None]:
    cleanup = asyncio.ensure_future(_close(pubsub, lease))
    _CLEANUPS.add(cleanup)
    cleanup.add_done_callback(_CLEANUPS.discard)
    return cleanup


async def _close(pubsub: PubSub | None, lease: StreamLease | None) -> None:
    if pubsub is not None:
        await _unsubscribe(pubsub)
    if lease is not None:
        await lease.give_back()
