"""Dependencies every domain's routes use: the request's database session and the shared resources."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import transaction
from app.media_deletion import MediaDeletions
from app.ratelimit import RateLimiter
from app.resources import Resources
from app.security import SigningKeys
from app.settings import Settings
from app.storage import MediaStorage


def provide_resources(state: State) -> Resources:
    resources: Resources = state.resources
    return resources


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def provide_signing_keys(state: State) -> SigningKeys:
    return provide_resources(state).signing_keys


def provide_storage(state: State) -> MediaStorage:
    return provide_resources(state).storage


def provide_media_deletions(state: State) -> MediaDeletions:
    return MediaDeletions.of(provide_resources(state))


def provide_rate_limiter(state: State) -> RateLimiter:
    limiter: RateLimiter = state.rate_limiter
    return limiter


_OPEN_SESSION = "remixfeed.open_session"


async def provide_db_session(state: State, scope: Scope) -> AsyncGenerator[AsyncSession, None]:
    # Litestar throws the handler's exception in at the yield; `async with` hands it to transaction().
    async with transaction(provide_resources(state).session_factory) as session:
        scope.setdefault("state", {})[_OPEN_SESSION] = session
        try:
            yield session
        finally:
            scope["state"].pop(_OPEN_SESSION, None)


class AbandonedSessionMiddleware(ASGIMiddleware):
    """Closes a request's session that its dependency never got to close.

    When a dependency raises after the session dependency has started (a role check, a deleted
    account), Litestar never runs the cleanup of the dependencies already resolved, so the
    transaction would hold its pool connection until garbage collection. Closing it here rolls
    back and returns the connection at once.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        try:
            await next_app(scope, receive, send)
        finally:
            session = scope.get("state", {}).pop(_OPEN_SESSION, None)
            if isinstance(session, AsyncSession):
                await session.close()


# Explicit markers for handler and provider signatures (Litestar 3 drops inferred dependencies).
DbSession = NamedDependency[AsyncSession]
SettingsDep = NamedDependency[Settings]
SigningKeysDep = NamedDependency[SigningKeys]
StorageDep = NamedDependency[MediaStorage]
MediaDeletionsDep = NamedDependency[MediaDeletions]
