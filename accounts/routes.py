"""HTTP routes of accounts: thin controllers that parse, call a service and return a schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, MultipartBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from accounts import deps
from accounts.deps import (
    ACTIVE_USER_DEPENDENCY,
    ActiveUser,
    Auth,
    Avatars,
    CurrentUser,
    Deletion,
    PasswordResets,
    Profiles,
)
from accounts.notifications import Notifications, provide_notification_service
from accounts.schemas import (
    Availability,
    AvatarOut,
    DeleteAccountIn,
    InviteOut,
    MarkReadIn,
    Me,
    MePatch,
    NotificationOut,
    PasswordChangeIn,
    PasswordResetAccepted,
    PasswordResetConfirmIn,
    PasswordResetIn,
    Profile,
    RefreshIn,
    SessionOut,
    SignupIn,
    TokenIn,
    Tokens,
)
from accounts.service import NewAccount
from accounts.service.auth import CountAttempt
from accounts.service.avatars import MAX_BYTES
from accounts.service.password_reset import ACCEPTED, MailBudget
from app.dependencies import SettingsDep
from app.errors import problem_responses
from app.openapi import OptionalBodyOperation
from app.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page
from app.ratelimit import Limit, RateLimiter, client_network
from app.security import PUBLIC, access_claims
from app.settings import Settings

# The 10 MB image plus multipart framing; a larger body is refused before it is read.
AVATAR_MAX_BODY = MAX_BYTES + 512 * 1024

SIGNUP_LIMIT = Limit(name="signup", rule=lambda s: s.signup_limit, subject=client_network)
TOKEN_LIMIT = Limit(name="token", rule=lambda s: s.token_limit, subject=client_network)
REFRESH_LIMIT = Limit(name="refresh", rule=lambda s: s.token_limit, subject=client_network)


@dataclass
class AvatarForm:
    """multipart/form-data with the image in a part named `file`."""

    file: UploadFile


AUTHENTICATED: list[dict[str, list[str]]] = [{"bearer": []}]


def _user_agent(request: Request[Any, Any, Any]) -> str | None:
    """What the login's device is named from (`accounts.devices`)."""
    return request.headers.get("user-agent")


def _limiter(state: State) -> RateLimiter:
    limiter: RateLimiter = state.rate_limiter
    return limiter


def login_attempts(limiter: RateLimiter, settings: Settings) -> CountAttempt:
    """Counts each password tried (a login, a password change, an account deletion) against the
    one login budget (REMIXFEED_LOGIN_RATE_LIMIT), 429 once spent: no route gives extra guesses."""

    async def count_attempt(name: str, subject: str) -> None:
        await limiter.enforce(name, subject, settings.login_limit)

    return count_attempt


def reset_mail_budget(limiter: RateLimiter, settings: Settings) -> MailBudget:
    """Counts each reset mail asked for an account against its budget
    (REMIXFEED_PASSWORD_RESET_RATE_LIMIT): False once spent, and the request still answers 202
    (a 429 would tell whether the email has an account)."""

    async def within(name: str, subject: str) -> bool:
        usage = await limiter.hit(name, subject, settings.password_reset_limit)
        return usage is None or not usage.exceeded

    return within


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]
    opt = {PUBLIC: True}
    dependencies = {
        "auth": Provide(deps.provide_auth_service, sync_to_thread=False),
        "profiles": Provide(deps.provide_profile_service, sync_to_thread=False),
        "limiter": Provide(_limiter, sync_to_thread=False),
        "resets": Provide(deps.provide_password_reset_service, sync_to_thread=False),
    }

    @post(
        "/signup",
        status_code=HTTP_201_CREATED,
        opt={"rate_limits": [SIGNUP_LIMIT]},
        responses=problem_responses(400, 403, 409, 422, 429),
    )
    async def sign_up(
        self, request: Request[Any, Any, Any], data: JSONBody[SignupIn], auth: Auth, profiles: Profiles
    ) -> Tokens:
        """Create an account (with an invite code unless invites are off) and log in."""
        account = NewAccount(
            email=data.email,
            password=data.password,
            username=data.username,
            birthdate=data.birthdate,
            display_name=data.display_name,
            invite_code=data.invite_code,
        )
        return await profiles.tokens(await auth.sign_up(account, user_agent=_user_agent(request)))

    @post(
        "/token",
        status_code=HTTP_200_OK,
        opt={"rate_limits": [TOKEN_LIMIT]},
        responses=problem_responses(400, 401, 422, 429),
    )
    async def token(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TokenIn],
        auth: Auth,
        profiles: Profiles,
        limiter: NamedDependency[RateLimiter],
        settings: SettingsDep,
    ) -> Tokens:
        """Log in with a username or email and a password."""

        # Per typed name first, before any hashing: a name whose budget is spent is refused at the
        # cost of one Redis call, however many addresses a guessing attack comes from (hashes are
        # what a flood would spend). Then per account, once the turn knows it, so alternating its
        # username and email gives no extra guesses; and per address (TOKEN_LIMIT).
        count_attempt = login_attempts(limiter, settings)
        await count_attempt("login-name", data.login.strip().lower())
        return await profiles.tokens(
            await auth.log_in(data.login, data.password, count_attempt, _user_agent(request))
        )

    @post(
        "/refresh",
        status_code=HTTP_200_OK,
        opt={"rate_limits": [REFRESH_LIMIT]},
        responses=problem_responses(400, 401, 422, 429),
    )
    async def refresh(self, data: JSONBody[RefreshIn], auth: Auth, profiles: Profiles) -> Tokens:
        """Trade a refresh token for a new pair. Each refresh token works once; presenting a used one
        revokes every token of that login."""
        return await profiles.tokens(await auth.refresh(data.refresh_token))

    @post("/logout", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(400, 422))
    async def log_out(self, data: JSONBody[RefreshIn], auth: Auth) -> None:
        """End the login the refresh token belongs to (idempotent)."""
        await auth.log_out(data.refresh_token)

    @post(
        "/password-reset",
        status_code=HTTP_202_ACCEPTED,
        # Per address, sharing the login's budget (TOKEN_LIMIT): a step of signing in.
        opt={"rate_limits": [TOKEN_LIMIT]},
        responses=problem_responses(400, 422, 429),
    )
    async def request_password_reset(
        self,
        data: JSONBody[PasswordResetIn],
        resets: PasswordResets,
        limiter: NamedDependency[RateLimiter],
        settings: SettingsDep,
    ) -> PasswordResetAccepted:
        """Forgot password: mail a reset token to the account with this email. The same 202 whether
        or not there is one; nothing is sent past the account's budget of reset mails
        (REMIXFEED_PASSWORD_RESET_RATE_LIMIT), nor for a deleted account."""
        await resets.request(data.email, reset_mail_budget(limiter, settings))
        return PasswordResetAccepted(detail=ACCEPTED)

    @post(
        "/password-reset/confirm",
        status_code=HTTP_204_NO_CONTENT,
        opt={"rate_limits": [TOKEN_LIMIT]},
        responses=problem_responses(400, 422, 429),
    )
    async def confirm_password_reset(
        self, data: JSONBody[PasswordResetConfirmIn], resets: PasswordResets
    ) -> None:
        """Set a new password with the token from the reset mail. Every session of the account is
        signed out (refresh tokens revoked, access tokens refused); log in with the new password.
        The token then works no more: 400 reset_token_invalid for it, and for one expired, tampered
        with, made before another password change, or of a deleted account."""
        await resets.confirm(data.token, data.new_password)


class UsernameController(Controller):
    path = "/v1/usernames"
    tags = ["auth"]
    opt = {PUBLIC: True}
    dependencies = {"auth": Provide(deps.provide_auth_service, sync_to_thread=False)}

    @get("/{username:str}/availability")
    async def availability(self, username: FromPath[str], auth: Auth) -> Availability:
        """Whether a username can be taken at sign-up, and if not why."""
        return await auth.availability(username)


class MeController(Controller):
    path = "/v1/me"
    tags = ["accounts"]
    security = AUTHENTICATED
    dependencies = {
        "profiles": Provide(deps.provide_profile_service, sync_to_thread=False),
        "avatars": Provide(deps.provide_avatar_service, sync_to_thread=False),
        "auth": Provide(deps.provide_auth_service, sync_to_thread=False),
        "deletion": Provide(deps.provide_deletion_service, sync_to_thread=False),
        "limiter": Provide(_limiter, sync_to_thread=False),
        **ACTIVE_USER_DEPENDENCY,
    }

    @get("/", responses=problem_responses(401, 422))
    async def me(self, current_user: CurrentUser, profiles: Profiles) -> Me:
        """The caller's own account."""
        return await profiles.me(current_user)

    @patch("/", responses=problem_responses(400, 401, 403, 422))
    async def update_me(self, data: JSONBody[MePatch], active_user: ActiveUser, profiles: Profiles) -> Me:
        """Change display name or bio. Other fields are not the caller's to set. 403
        account_suspended while suspended."""
        return await profiles.update_me(active_user, data)

    @put(
        "/avatar",
        request_max_body_size=AVATAR_MAX_BODY,
        opt={"too_large_code": "image_too_large"},
        responses=problem_responses(400, 401, 403, 413, 415, 422),
    )
    async def set_avatar(
        self,
        data: MultipartBody[AvatarForm],
        active_user: ActiveUser,
        avatars: Avatars,
    ) -> AvatarOut:
        """Upload a JPEG, PNG or WebP (at most 10 MB and 40 megapixels) as the avatar, in a part
        named `file` with a filename or an image Content-Type. 413 image_too_large for a larger
        image or body, 413 request_too_large for a multipart body over a part limit (more than 32
        parts, a part header line over 4224 bytes or more than 8 of them). 403 account_suspended
        while suspended."""
        content = await data.file.read()
        return AvatarOut(avatar_url=await avatars.replace(active_user, content))

    @post(
        "/password",
        status_code=HTTP_200_OK,
        # Per address too, sharing the login's budget (TOKEN_LIMIT), as the account deletion does.
        opt={"rate_limits": [TOKEN_LIMIT]},
        responses=problem_responses(400, 401, 403, 422, 429),
    )
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PasswordChangeIn],
        current_user: CurrentUser,
        auth: Auth,
        profiles: Profiles,
        limiter: NamedDependency[RateLimiter],
        settings: SettingsDep,
    ) -> Tokens:
        """Change the password, giving the current one (403 password_incorrect otherwise; each try
        counts against the account's login budget, 429 once spent). Every other session is signed
        out at once: its refresh tokens are revoked and its access tokens refused. The answer is a
        new token pair for this device. Allowed while suspended."""
        changed = await auth.change_password(
            current_user,
            data.current_password,
            data.new_password,
            login_attempts(limiter, settings),
            _user_agent(request),
        )
        return await profiles.tokens(changed)

    @delete(
        "/",
        status_code=HTTP_204_NO_CONTENT,
        # Per address, sharing the login's budget (TOKEN_LIMIT): a password guessed here is one
        # guess fewer at the login, and the other way round.
        opt={"rate_limits": [TOKEN_LIMIT]},
        responses=problem_responses(400, 401, 403, 422, 429),
    )
    async def delete_me(
        self,
        data: JSONBody[DeleteAccountIn],
        current_user: CurrentUser,
        deletion: Deletion,
        limiter: NamedDependency[RateLimiter],
        settings: SettingsDep,
    ) -> None:
        """Delete the caller's account for good, re-authenticated by its password (403
        password_incorrect when it is wrong, counted against the account's login attempts). At
        once: every token of it stops working, it is gone from every profile, list and feed with
        its videos, those its cameo is in, and its comments; the rest is purged in the background.
        Its username stays taken; its email may sign up again."""
        await deletion.delete(current_user, data.password, login_attempts(limiter, settings))

    @get("/blocks", responses=problem_responses(400, 401, 422))
    async def blocks(
        self,
        current_user: CurrentUser,
        profiles: Profiles,
        cursor: CursorParam = None,
        limit: LimitParam = DEFAULT_LIMIT,
    ) -> Page[Profile]:
        """The users the caller blocks, newest block first (each with `is_blocked: true`), to
        unblock from. Those who block the caller too are left out, as from every list."""
        return await profiles.block_list(current_user, cursor, limit)

    @get("/sessions", responses=problem_responses(400, 401, 422))
    async def sessions(
        self,
        request: Request[Any, Any, Any],
        current_user: CurrentUser,
        auth: Auth,
        cursor: CursorParam = None,
        limit: LimitParam = DEFAULT_LIMIT,
    ) -> Page[SessionOut]:
        """The caller's logins (devices signed in), neither ended nor expired, latest used first,
        `current` marking the one this request's access token comes from."""
        return await auth.login_page(current_user, access_claims(request).session_id, cursor, limit)

    @delete("/sessions", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401))
    async def end_other_sessions(
        self, request: Request[Any, Any, Any], current_user: CurrentUser, auth: Auth
    ) -> None:
        """Sign every other device out: every login but this request's ends at once (refresh tokens
        revoked, access tokens refused). 401 session_unknown for an access token issued before
        logins were tracked: refresh it and send again. Allowed while suspended."""
        await auth.end_other_logins(current_user, access_claims(request).session_id)

    @delete(
        "/sessions/{session_id:str}", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 404)
    )
    async def end_session(self, session_id: FromPath[str], current_user: CurrentUser, auth: Auth) -> None:
        """Sign one device out: that login ends at once (refresh tokens revoked, access tokens
        refused), this request's own included. Idempotent for the caller's logins; 404
        session_not_found for an id that names none of them. Allowed while suspended."""
        await auth.end_login(current_user, session_id)

    @get("/invite", responses=problem_responses(401, 422))
    async def invite(self, current_user: CurrentUser, profiles: Profiles) -> InviteOut:
        """The caller's invite code and how many of its uses are spent."""
        return await profiles.my_invite(current_user)


class UsersController(Controller):
    path = "/v1/users/{username:str}"
    tags = ["social"]
    security = AUTHENTICATED
    dependencies = {"profiles": Provide(deps.provide_profile_service, sync_to_thread=False)}

    @get("/", responses=problem_responses(401, 404, 422))
    async def profile(
        self, username: FromPath[str], current_user: CurrentUser, profiles: Profiles
    ) -> Profile:
        """A profile with counts and how the caller stands with that person."""
        return await profiles.profile(current_user, username)

    @post("/follow", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 404, 422))
    async def follow(self, username: FromPath[str], current_user: CurrentUser, profiles: Profiles) -> None:
        """Follow (idempotent)."""
        await profiles.follow(current_user, username)

    @delete("/follow", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 404))
    async def unfollow(self, username: FromPath[str], current_user: CurrentUser, profiles: Profiles) -> None:
        """Unfollow (idempotent)."""
        await profiles.unfollow(current_user, username)

    @get("/followers", responses=problem_responses(400, 401, 404, 422))
    async def followers(
        self,
        username: FromPath[str],
        current_user: CurrentUser,
        profiles: Profiles,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[Profile]:
        """Who follows this person, newest first."""
        return await profiles.follow_list(current_user, username, "followers", cursor, limit)

    @get("/following", responses=problem_responses(400, 401, 404, 422))
    async def following(
        self,
        username: FromPath[str],
        current_user: CurrentUser,
        profiles: Profiles,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[Profile]:
        """Whom this person follows, newest first."""
        return await profiles.follow_list(current_user, username, "following", cursor, limit)

    @post("/block", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 404, 422))
    async def block(self, username: FromPath[str], current_user: CurrentUser, profiles: Profiles) -> None:
        """Block: ends follows both ways and hides the caller from that person."""
        await profiles.block(current_user, username)

    @delete("/block", status_code=HTTP_204_NO_CONTENT, responses=problem_responses(401, 404))
    async def unblock(self, username: FromPath[str], current_user: CurrentUser, profiles: Profiles) -> None:
        """Unblock (idempotent)."""
        await profiles.unblock(current_user, username)


class NotificationsController(Controller):
    path = "/v1/notifications"
    tags = ["notifications"]
    security = AUTHENTICATED
    dependencies = {"notifications": Provide(provide_notification_service, sync_to_thread=False)}

    @get("/", responses=problem_responses(400, 401, 422))
    async def list_notifications(
        self,
        current_user: CurrentUser,
        notifications: Notifications,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[NotificationOut]:
        """What others did to the caller's videos and comments, newest first."""
        return await notifications.page(current_user, cursor, limit)

    @post(
        "/read",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(400, 401, 422),
        operation_class=OptionalBodyOperation,
    )
    async def mark_read(
        self,
        current_user: CurrentUser,
        notifications: Notifications,
        data: JSONBody[MarkReadIn | None] = None,
    ) -> None:
        """Mark the notifications named in `ids` as read, or all of them without a body or `ids`."""
        await notifications.mark_read(current_user, data.ids if data is not None else None)


route_handlers = [AuthController, UsernameController, MeController, UsersController, NotificationsController]
