"""Dependencies every domain's routes use: the request's database session and the shared resources."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import transaction
from app.ratelimit import RateLimiter
from app.resources import Resources
from app.settings import Settings
from app.storage import MediaStorage


def provide_resources(state: State) -> Resources:
    resources: Resources = state.resources
    return resources


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def provide_storage(state: State) -> MediaStorage:
    return provide_resources(state).storage


def provide_rate_limiter(state: State) -> RateLimiter:
    limiter: RateLimiter = state.rate_limiter
    return limiter


async def provide_db_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    # Litestar throws the handler's exception in at the yield; `async with` hands it to transaction().
    async with transaction(provide_resources(state).session_factory) as session:
        yield session


# Explicit markers for handler and provider signatures (Litestar 3 drops inferred dependencies).
DbSession = NamedDependency[AsyncSession]
SettingsDep = NamedDependency[Settings]
StorageDep = NamedDependency[MediaStorage]
