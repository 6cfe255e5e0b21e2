"""Sign-up with invites and age bands, login, refresh-token rotation with reuse detection, logout,
and the logins (devices) a user has signed in with."""

from __future__ import annotations

import re
import secrets
import string
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries
from accounts.ages import MINIMUM_AGE, age_on, today
from accounts.devices import UNKNOWN_DEVICE, device_label
from accounts.errors import (
    AgeRestricted,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    InviteExhausted,
    InviteInvalid,
    PasswordIncorrect,
    SessionNotFound,
    SessionUnknown,
    UsernameTaken,
)
from accounts.mail import HowChanged, tell_password_changed
from accounts.models import LoginSession, RefreshToken, Role, User
from accounts.passwords import hash_password, hashing_turn, needs_rehash
from accounts.schemas import USERNAME_PATTERN, Availability, SessionOut
from app.db import release_connection, violated_constraint
from app.errors import FieldError, NotAuthenticated, ValidationFailed
from app.jobs import JobQueue
from app.pagination import CursorCodec, Page
from app.security import SigningKeys, encode_access_token, new_opaque_token, token_digest
from app.settings import Settings

# Names that would confuse people or impersonate the service.
RESERVED_USERNAMES = frozenset(
    {
        "admin",
        "administrator",
        "root",
        "remixfeed",
        "moderator",
        "moderation",
        "support",
        "help",
        "me",
        "api",
        "staff",
        "security",
        "system",
        "official",
        "null",
        "undefined",
        "anonymous",
    }
)
USERNAME_FORMAT = re.compile(USERNAME_PATTERN)
_INVITE_ALPHABET = string.ascii_uppercase + string.digits


# Counts one login attempt against (limit name, subject), raising when the budget is spent.
CountAttempt = Callable[[str, str], Awaitable[None]]


def login_attempt_subject(user: User | None, login: str) -> tuple[str, str]:
    """What a login attempt is counted on: the account, whichever of its names (username, email,
    in any case) was typed, so alternating them gives no extra guesses; a name that has no account
    is counted by the name, lower-cased. Either way it is one lookup, one hash and one count, so
    neither the answer nor its timing tells whether the account exists. (An attacker who spends
    an account's budget by its username does learn, from a 429, that an email names that account:
    the price of one budget per account.)"""
    if user is not None:
        return "login-account", str(user.id)
    return "login", login.strip().lower()


class RefreshTokenReused(InvalidRefreshToken):
    """A rotated token came back: someone holds a copy. The family's revocation must commit."""

    keeps_changes = True


class IssuedTokens:
    def __init__(self, user: User, access_token: str, refresh_token: str, expires_in: int) -> None:
        self.user = user
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.expires_in = expires_in


class NewAccount:
    def __init__(
        self,
        *,
        email: str,
        password: str,
        username: str,
        birthdate: date,
        display_name: str | None = None,
        invite_code: str | None = None,
        role: Role = Role.USER,
    ) -> None:
        self.email = email.strip()
        self.password = password
        self.username = username
        self.birthdate = birthdate
        self.display_name = (display_name or "").strip()
        self.invite_code = (invite_code or "").strip().upper() or None
        self.role = role


class AuthService:
    # `jobs` take the mail telling an account its password changed, and `keys` sign access tokens
    # and the list of logins' cursors: setting a password needs the one, issuing tokens and listing
    # logins the other. Creating accounts (the CLI, which runs without a secret key) needs neither.
    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        jobs: JobQueue | None = None,
        keys: SigningKeys | None = None,
    ) -> None:
        self.session = session
        self.settings = settings
        self.jobs = jobs
        self.keys = keys

    async def sign_up(
        self, account: NewAccount, *, require_invite: bool | None = None, user_agent: str | None = None
    ) -> IssuedTokens:
        user = await self.create_user(account, require_invite=require_invite)
        return await self.issue_tokens(user, user_agent)

    async def create_user(self, account: NewAccount, *, require_invite: bool | None = None) -> User:
        _check_birthdate(account.birthdate)
        if account.username in RESERVED_USERNAMES and account.role == Role.USER:
            raise UsernameTaken("That username is reserved")
        require = self.settings.invite_required if require_invite is None else require_invite
        if account.invite_code is None and require:
            raise InviteInvalid("An invite code is required to sign up")
        password_hash = await self._hash_unless_refused(account)
        if await queries.username_exists(self.session, account.username):
            raise UsernameTaken()
        if await queries.email_exists(self.session, account.email):
            raise EmailTaken()

        inviter_id: uuid.UUID | None = None
        if account.invite_code is not None:
            invite = await queries.invite_for_update(self.session, account.invite_code)
            if invite is None:
                raise InviteInvalid()
            if invite.redeemed_count >= invite.total_count:
                raise InviteExhausted()
            invite.redeemed_count += 1
            inviter_id = invite.owner_id

        user = User(
            username=account.username,
            email=account.email,
            password_hash=password_hash,
            display_name=account.display_name or account.username,
            birthdate=account.birthdate,
            role=account.role.value,
            invited_by_id=inviter_id,
        )
        self.session.add(user)
        try:
            await self.session.flush()
        except IntegrityError as exc:  # lost a race with a concurrent sign-up
            name = violated_constraint(exc) or ""
            if "email" in name:
                raise EmailTaken() from exc
            if "username" in name:
                raise UsernameTaken() from exc
            raise
        await queries.insert_invite(
            self.session, user.id, await self._fresh_invite_code(), self.settings.invite_uses
        )
        return user

    async def _hash_unless_refused(self, account: NewAccount) -> str:
        """The password's hash, once a look at what is committed finds nothing to refuse the
        sign-up for: a taken name or email, or a wrong or used-up invite, costs one query, not a
        hash and its turn, which logins wait for. The look runs in the turn, so a sign-up waiting
        for one holds no pooled connection, and the connection is given back before the hash (nor
        does it hold the invite's row lock then); the locked checks after the hash decide."""
        async with hashing_turn(self.settings.password_hashes_at_once) as turn:
            username_taken, email_taken, uses = await queries.sign_up_obstacles(
                self.session, account.username, account.email, account.invite_code
            )
            if username_taken:
                raise UsernameTaken()
            if email_taken:
                raise EmailTaken()
            if account.invite_code is not None:
                if uses is None:
                    raise InviteInvalid()
                redeemed, total = uses
                if redeemed >= total:
                    raise InviteExhausted()
            await release_connection(self.session)
            return await turn.hash(account.password)

    async def _fresh_invite_code(self) -> str:
        while True:
            code = "".join(secrets.choice(_INVITE_ALPHABET) for _ in range(6))
            if not await queries.invite_code_exists(self.session, code):
                return code

    async def availability(self, username: str) -> Availability:
        if not USERNAME_FORMAT.match(username):
            return Availability(username=username, available=False, reason="invalid")
        if username in RESERVED_USERNAMES:
            return Availability(username=username, available=False, reason="reserved")
        if await queries.username_exists(self.session, username):
            return Availability(username=username, available=False, reason="taken")
        return Availability(username=username, available=True)

    async def log_in(
        self,
        login: str,
        password: str,
        count_attempt: CountAttempt | None = None,
        user_agent: str | None = None,
    ) -> IssuedTokens:
        # The account is read once the turn is ours: a login waiting for its turn holds no pooled
        # connection. In the turn, at most `password_hashes_at_once` logins of a process hold one.
        rehashed: str | None = None
        async with hashing_turn(self.settings.password_hashes_at_once) as turn:
            user = await queries.user_by_login(self.session, login.strip())
            verified = await turn.verify(user.password_hash if user else None, password)
            if verified and user is not None and needs_rehash(user.password_hash):
                rehashed = await turn.hash(password)
        # Counted once the account is known, and after the turn: a Redis that hangs (up to 5 s a
        # call) must not hold a hashing turn, which would queue every other login behind it. A
        # refused attempt is refused whatever the password.
        if count_attempt is not None:
            await count_attempt(*login_attempt_subject(user, login))
        if not verified or user is None:
            raise InvalidCredentials()
        # A password change that committed after the check above would not see this login, which
        # it must end: under the account's sessions lock (shared, as a token rotation takes it) the
        # password must still be the one verified. Nor may a rehash put the old one back.
        if not await queries.password_still(self.session, user.id, user.password_hash):
            raise InvalidCredentials()
        if rehashed is not None:
            user.password_hash = rehashed
        return await self.issue_tokens(user, user_agent)

    async def issue_tokens(self, user: User, user_agent: str | None = None) -> IssuedTokens:
        """A new login (`LoginSession`) and its first token pair; `user_agent` names the device."""
        now = datetime.now(UTC)
        login = LoginSession(
            id=uuid.uuid4(),
            user_id=user.id,
            device=device_label(user_agent),
            last_used_at=now,
            expires_at=self._refresh_expiry(now),
            created_at=now,
            updated_at=now,
        )
        self.session.add(login)
        return await self._token_pair(user, login.id, login.expires_at)

    def _refresh_expiry(self, now: datetime) -> datetime:
        return now + timedelta(days=self.settings.refresh_token_ttl_days)

    async def _token_pair(self, user: User, login_id: uuid.UUID, expires_at: datetime) -> IssuedTokens:
        refresh_token = new_opaque_token()
        self.session.add(
            RefreshToken(
                user_id=user.id,
                family_id=login_id,
                token_digest=token_digest(refresh_token),
                expires_at=expires_at,
            )
        )
        await self.session.flush()
        assert self.keys is not None
        access_token, expires_in = encode_access_token(
            self.keys,
            str(user.id),
            user.role,
            self.settings.access_token_ttl_seconds,
            session_id=str(login_id),
        )
        return IssuedTokens(user, access_token, refresh_token, expires_in)

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        now = datetime.now(UTC)
        stored = await queries.refresh_token_for_update(self.session, token_digest(refresh_token))
        if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
            raise InvalidRefreshToken()
        if stored.rotated_at is not None:
            await queries.revoke_family(self.session, stored.family_id, now)
            raise RefreshTokenReused(
                "This refresh token was already used; every session of that login is revoked"
            )
        stored.rotated_at = now
        user = await self.session.get(User, stored.user_id)
        if user is None or user.deleted_at is not None:
            raise InvalidRefreshToken()
        expires_at = self._refresh_expiry(now)
        await queries.touch_login(self.session, stored.family_id, user.id, now, expires_at, UNKNOWN_DEVICE)
        return await self._token_pair(user, stored.family_id, expires_at)

    async def change_password(
        self,
        user: User,
        current: str,
        new: str,
        count_attempt: CountAttempt | None = None,
        user_agent: str | None = None,
    ) -> IssuedTokens:
        """Re-authenticated by the current password (`reauthenticate`). Every other session ends:
        the refresh tokens are revoked, and access tokens issued before now are refused. The
        caller gets a fresh pair."""
        await reauthenticate(self.session, self.settings, user, current, count_attempt)
        # Still without a connection, as the check was: the session's next statement takes one.
        new_hash = await hash_password(new, at_once=self.settings.password_hashes_at_once)

        async def unchanged() -> None:
            # The password was checked against the hash read with the caller; another change may
            # have committed since, signing this caller out.
            await refuse_if_password_changed(self.session, user)

        await self.replace_password(user, new_hash, unchanged, how="changed")
        return await self.issue_tokens(user, user_agent)

    async def replace_password(
        self,
        user: User,
        new_hash: str,
        still_allowed: Callable[[], Awaitable[None]],
        *,
        how: HowChanged,
    ) -> None:
        """The one way a password is set on an account (a change, a reset): every login of it ends
        (refresh tokens revoked, access tokens issued before now refused) and `new_hash` becomes its
        password, under the account's sessions lock, taken exclusively and held until commit, which
        a token rotation, a login's last check, another change and the account's deletion take too.
        `still_allowed` runs under that lock, first, and raises when what the caller checked before
        taking it no longer holds. Once it commits, the account is told by mail (`how` it
        changed)."""
        if self.jobs is None:
            raise RuntimeError("setting a password needs the job queue, to tell the account by mail")
        now = datetime.now(UTC)
        await queries.lock_out_sessions(self.session, user.id, now)
        await still_allowed()
        user.password_hash = new_hash
        user.password_changed_at = now
        await self.session.flush()
        tell_password_changed(self.jobs, self.session, user.id, now, how)

    async def log_out(self, refresh_token: str) -> None:
        stored = await queries.refresh_token_for_update(self.session, token_digest(refresh_token))
        if stored is not None:
            await queries.revoke_family(self.session, stored.family_id, datetime.now(UTC))

    async def login_page(
        self, user: User, current: str | None, cursor: str | None, limit: int
    ) -> Page[SessionOut]:
        """The user's logins neither ended nor expired, latest used first; `current` is the login
        of the caller's access token."""
        assert self.keys is not None
        codec = CursorCodec(self.keys, f"sessions:{user.id}")
        after = codec.decode_position(cursor)
        rows = await queries.active_login_page(self.session, user.id, datetime.now(UTC), after, limit)
        page, more = rows[:limit], len(rows) > limit
        items = [
            SessionOut(
                id=str(login.id),
                created_at=login.created_at,
                last_used_at=login.last_used_at,
                device=login.device,
                current=str(login.id) == current,
            )
            for login in page
        ]
        next_cursor = codec.encode_position(page[-1].last_used_at, page[-1].id) if more else None
        return Page(items=items, next_cursor=next_cursor)

    async def end_login(self, user: User, login_id: str) -> None:
        """End one of the user's logins (the caller's own included): its refresh tokens are revoked,
        a rotation of it in flight included, and its access tokens refused from then on. One that
        has ended already is left so; one that is not the user's is 404, as one that does not
        exist."""
        try:
            identifier = uuid.UUID(login_id)
        except ValueError as exc:
            raise SessionNotFound() from exc
        login = await queries.login_of(self.session, user.id, identifier)
        if login is None:
            raise SessionNotFound()
        await queries.lock_login(self.session, user.id, login.id)
        await queries.revoke_family(self.session, login.id, datetime.now(UTC))

    async def end_other_logins(self, user: User, current: str | None) -> None:
        """End every login of the user but the caller's. An access token that does not say which
        login it came from (issued before they were tracked) is refused, rather than ending the
        caller's login with the rest: a refresh gives one that does."""
        if current is None:
            raise SessionUnknown()
        await queries.lock_out_sessions(self.session, user.id, datetime.now(UTC), keep=uuid.UUID(current))


async def reauthenticate(
    session: AsyncSession,
    settings: Settings,
    user: User,
    password: str,
    count_attempt: CountAttempt | None = None,
) -> None:
    """Asks for the password again before a grave change (a stolen access token alone changes
    nothing): 403 password_incorrect when it is wrong. Each attempt counts against the account's
    login budget, as a login would, so the route gives no extra password guesses.

    Checked against the hash the request read with its caller (`provide_current_user`), as
    before, but with the request's pooled connection given back first (`release_connection`: it
    has written nothing yet): the wait for a hashing turn and the hash itself (tens of ms) hold
    none, as a login's wait does not. `user` stays loaded as it was read."""
    await release_connection(session)
    async with hashing_turn(settings.password_hashes_at_once) as turn:
        verified = await turn.verify(user.password_hash, password)
    # Counted after the turn, as the login does: a Redis that hangs must not hold a turn.
    if count_attempt is not None:
        await count_attempt(*login_attempt_subject(user, user.username))
    if not verified:
        raise PasswordIncorrect()


async def refuse_if_password_changed(session: AsyncSession, user: User) -> None:
    """401 when the password changed, or the account was deleted, after `user` was read: the
    password `reauthenticate` checked against the hash read then is stale, and that change or
    deletion signed this caller out. The caller holds the account's sessions lock, which both hold
    until their commit, so none slips in after this."""
    changed_at, deleted_at = await queries.password_changed_and_deleted(session, user.id)
    if deleted_at is not None:
        raise NotAuthenticated("The account no longer exists")
    if changed_at != user.password_changed_at:
        raise NotAuthenticated("The password was changed after this access token was issued; log in again")


def _check_birthdate(birthdate: date) -> None:
    now = today()
    if birthdate > now or birthdate.year < 1900:
        raise ValidationFailed(
            "birthdate is not a plausible date of birth",
            errors=[FieldError(field="birthdate", message="must be a past date after 1900")],
        )
    if age_on(birthdate, now) < MINIMUM_AGE:
        raise AgeRestricted()
