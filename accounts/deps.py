"""Who is calling: the `current_user` and `active_user` dependencies and role checks, used by every
domain's routes.

`ActiveUser` is `CurrentUser` for the writes a suspended account may not make (posting, publishing
and editing captions, commenting, generating, reporting): while `users.suspended_until` is in the
future it answers 403 `account_suspended`, whose detail says until when. Reading stays allowed, and
so do the writes that only withdraw or passively record something (unlike, unfollow, block, views,
deleting one's own content). A handler takes it as `active_user: ActiveUser`; the `active_user`
provider must be in scope, either app-wide or through `ACTIVE_USER_DEPENDENCY` on the controller.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from litestar import Request
from litestar.di import NamedDependency, Provide

from accounts import queries
from accounts.errors import AccountSuspended, InsufficientRole
from accounts.models import Role, User
from accounts.service import AuthService, AvatarService, ProfileService
from accounts.service.deletion import AccountDeletionService
from accounts.service.password_reset import PasswordResetService
from app.dependencies import DbSession, MediaDeletionsDep, SettingsDep, SigningKeysDep, StorageDep
from app.errors import NotAuthenticated
from app.resources import Resources
from app.security import access_claims

CurrentUser = NamedDependency[User]
# The caller, refused with 403 account_suspended while suspended (see the module docstring).
ActiveUser = NamedDependency[User]
Auth = NamedDependency[AuthService]
Profiles = NamedDependency[ProfileService]
Avatars = NamedDependency[AvatarService]
Deletion = NamedDependency[AccountDeletionService]
PasswordResets = NamedDependency[PasswordResetService]


async def provide_current_user(
    request: Request[Any, Any, Any], db_session: DbSession, settings: SettingsDep
) -> User:
    claims = access_claims(request)
    try:
        user_id = UUID(claims.user_id)
        login_id = UUID(claims.session_id) if claims.session_id is not None else None
    except ValueError as exc:
        raise NotAuthenticated("The access token is not valid") from exc
    # The login's row comes with the user's, by primary key, in the one query: ending a login
    # refuses its access tokens at once, for no extra round trip.
    user, login_ended = await queries.user_and_login(db_session, user_id, login_id)
    # A deleted account's tombstone is no account: its access tokens stop working at once.
    if user is None or user.deleted_at is not None:
        raise NotAuthenticated("The account no longer exists")
    if signed_out_by_password_change(user, claims.issued_at):
        raise NotAuthenticated("The password was changed after this access token was issued; log in again")
    if login_ended:
        raise NotAuthenticated("This session was ended; log in again")
    return user


def signed_out_by_password_change(user: User, issued_at: datetime) -> bool:
    # `iat` has whole seconds: a token issued in the second of the change, before or after it, is
    # kept, so the one answering the change itself works.
    changed = user.password_changed_at
    return changed is not None and issued_at < changed.replace(microsecond=0)


def suspension_error(user: User, now: datetime | None = None) -> AccountSuspended | None:
    """The refusal for a user suspended at `now`, or None once the suspension has ended."""
    until = user.suspended_until
    if until is None or until <= (now or datetime.now(UTC)):
        return None
    stamp = until.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return AccountSuspended(f"Your account is suspended until {stamp}")


async def provide_active_user(current_user: CurrentUser) -> User:
    # Raising here is safe for the pool: AbandonedSessionMiddleware releases the request's session.
    error = suspension_error(current_user)
    if error is not None:
        raise error
    return current_user


# For controllers (or the app) whose handlers take `active_user: ActiveUser`.
ACTIVE_USER_DEPENDENCY: dict[str, Provide] = {"active_user": Provide(provide_active_user)}


def require_role(*roles: Role) -> Callable[[User], Coroutine[Any, Any, User]]:
    allowed = {role.value for role in roles}

    async def check(current_user: CurrentUser) -> User:
        if current_user.role not in allowed:
            raise InsufficientRole()
        # A suspended moderator or admin does not moderate while suspended.
        if (error := suspension_error(current_user)) is not None:
            raise error
        return current_user

    return check


def provide_auth_service(
    db_session: DbSession, settings: SettingsDep, resources: NamedDependency[Resources]
) -> AuthService:
    return AuthService(db_session, settings, jobs=resources.jobs, keys=resources.signing_keys)


def provide_profile_service(
    db_session: DbSession, storage: StorageDep, signing_keys: SigningKeysDep
) -> ProfileService:
    return ProfileService(db_session, storage, signing_keys)


def provide_avatar_service(
    db_session: DbSession, storage: StorageDep, media_deletions: MediaDeletionsDep
) -> AvatarService:
    return AvatarService(db_session, storage, media_deletions)


def provide_deletion_service(
    db_session: DbSession,
    settings: SettingsDep,
    media_deletions: MediaDeletionsDep,
    resources: NamedDependency[Resources],
) -> AccountDeletionService:
    return AccountDeletionService(db_session, settings, media_deletions, resources.jobs)


def provide_password_reset_service(
    db_session: DbSession, settings: SettingsDep, resources: NamedDependency[Resources]
) -> PasswordResetService:
    return PasswordResetService(db_session, settings, resources.jobs, resources.signing_keys)
