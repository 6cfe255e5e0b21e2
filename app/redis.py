"""The Redis client. Keys are namespaced (REMIXFEED_REDIS_NAMESPACE) so several deployments, or a
test run, can share one server without touching each other's data."""

from __future__ import annotations

from redis.asyncio import Redis

from app.settings import Settings

# A read that waits longer than this is a dead connection. Blocking commands must ask the server
# for a shorter wait (see app.jobs.DEQUEUE_WAIT_SECONDS), or their answers can be lost.
SOCKET_TIMEOUT_SECONDS = 5.0


def create_redis(settings: Settings, url: str | None = None) -> Redis:
    redis_url = url or settings.redis_url
    if not redis_url:
        raise RuntimeError("REDIS_URL is not set and no embedded Redis was started")
    return Redis.from_url(
        redis_url,
        client_name=settings.process_name,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=5,
        health_check_interval=30,
        decode_responses=False,
    )


def key(settings: Settings, *parts: str) -> str:
    return ":".join((settings.redis_namespace, *parts))


def as_text(value: bytes | str) -> str:
    """A reply as text: the client keeps replies as bytes (decode_responses=False)."""
    return value.decode() if isinstance(value, bytes) else value
