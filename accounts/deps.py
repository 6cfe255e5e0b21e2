"""Who is calling: the `current_user` dependency and role checks, used by every domain's routes."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from uuid import UUID

from litestar import Request
from litestar.di import NamedDependency

from accounts.errors import InsufficientRole
from accounts.models import Role, User
from accounts.service import AuthService, AvatarService, ProfileService
from app.dependencies import DbSession, SettingsDep, StorageDep
from app.errors import NotAuthenticated
from app.security import access_claims

CurrentUser = NamedDependency[User]
Auth = NamedDependency[AuthService]
Profiles = NamedDependency[ProfileService]
Avatars = NamedDependency[AvatarService]


async def provide_current_user(
    request: Request[Any, Any, Any], db_session: DbSession, settings: SettingsDep
) -> User:
    claims = access_claims(request)
    try:
        user_id = UUID(claims.user_id)
    except ValueError as exc:
        raise NotAuthenticated("The access token is not valid") from exc
    user = await db_session.get(User, user_id)
    if user is None:
        raise NotAuthenticated("The account no longer exists")
    return user


def require_role(*roles: Role) -> Callable[[User], Coroutine[Any, Any, User]]:
    allowed = {role.value for role in roles}

    async def check(current_user: CurrentUser) -> User:
        if current_user.role not in allowed:
            raise InsufficientRole()
        return current_user

    return check


def provide_auth_service(db_session: DbSession, settings: SettingsDep) -> AuthService:
    return AuthService(db_session, settings)


def provide_profile_service(
    db_session: DbSession, storage: StorageDep, settings: SettingsDep
) -> ProfileService:
    assert settings.secret_key is not None
    return ProfileService(db_session, storage, settings.secret_key)


def provide_avatar_service(db_session: DbSession, storage: StorageDep) -> AvatarService:
    return AvatarService(db_session, storage)
