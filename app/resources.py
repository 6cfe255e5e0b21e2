"""The long-lived things a process needs (database pool, Redis, storage, job queue), opened once
and shared by the API and the job worker so both see the world the same way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar, cast

import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db import create_engine, create_session_factory
from app.jobs import JobQueue
from app.redis import create_redis
from app.security import SigningKeys
from app.settings import Settings
from app.storage import MediaStorage, create_storage

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    redis: Redis
    storage: MediaStorage
    jobs: JobQueue
    # Per-process clients that domains open lazily (a video provider), closed with the rest.
    extras: dict[str, object] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @cached_property
    def signing_keys(self) -> SigningKeys:
        """The keys cursors are signed and verified with, made on first use: a process that signs
        nothing (a benchmark's) needs no secret key."""
        return SigningKeys.of(self.settings)

    def per_process(self, name: str, make: Callable[[], T]) -> T:
        """The per-process object kept under `name`, made by `make` on first use."""
        if name not in self.extras:
            self.extras[name] = make()
        return cast("T", self.extras[name])

    async def close(self) -> None:
        # Each step runs even if an earlier one fails: shutting down while Redis or PostgreSQL is
        # unreachable must still release everything else.
        for step in (*self.closers, self.jobs.close, self.redis.aclose, self.engine.dispose):
            try:
                await step()
            except Exception as exc:
                log.warning("resource_close_failed", step=step.__qualname__, error=str(exc))
        log.info("resources_closed", process=self.settings.process_name)


def open_resources(settings: Settings) -> Resources:
    engine = create_engine(settings)
    redis = create_redis(settings)
    return Resources(
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine),
        redis=redis,
        storage=create_storage(settings),
        jobs=JobQueue(redis, settings, engine),
    )
