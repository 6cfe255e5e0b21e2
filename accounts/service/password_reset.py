"""Password reset by email ("forgot password").

`POST /v1/auth/password-reset {email}` answers the same 202 whether or not the email has an
account (nobody learns who has one); for an account, a mail job is kept in the request's outbox and
sends the reset token once the request has committed (`accounts.jobs.send_password_reset`).
`POST /v1/auth/password-reset/confirm {token, new_password}` sets the password the way a password
change does (`AuthService.replace_password`: every login of the account ends).

The token is stored nowhere, as Django's: it carries the account's id and its expiry, signed with
the secret key together with what it is bound to, the account's password hash, the time of its
last password change and its email, as they are when the mail is made. Any password change (this
reset's included: a new hash has a new salt, whatever the password) or a change of email makes
every token made before it fail its signature, so a token works once; the deleted account's has no
account to set a password on. The confirm checks the token again under the account's sessions
lock, which every password change and the account's deletion hold until they commit: of two
confirms of one token at once, the second finds the password changed and is refused.
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries
from accounts.errors import ResetTokenInvalid
from accounts.mail import MAIL_JOB_RETRIES, MAIL_JOB_TIMEOUT_SECONDS, PASSWORD_RESET_MAIL_JOB
from accounts.models import User
from accounts.passwords import hash_password
from accounts.service.auth import AuthService
from app.db import release_connection
from app.jobs import JobQueue
from app.security import SigningKeys
from app.settings import Settings

log = structlog.get_logger(__name__)

ACCEPTED = "If an account has this email, a message to reset its password is on its way"

_PURPOSE = "password-reset"
# The account's id and the token's expiry (Unix seconds).
_PAYLOAD = struct.Struct(">16sQ")
_SIGNATURE_BYTES = 16
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Counts one reset mail against (limit name, subject): False once the budget is spent.
MailBudget = Callable[[str, str], Awaitable[bool]]


def now() -> datetime:
    """The clock tokens are made and checked by (tests move it)."""
    return datetime.now(UTC)


class Binding(NamedTuple):
    """What a token is bound to: any change to one of these voids it."""

    password_hash: str
    password_changed_at: datetime | None
    email: str


class Claim(NamedTuple):
    user_id: uuid.UUID
    payload: bytes
    signature: bytes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """The bytes of unpadded base64url, refusing any other spelling of them (other characters, or
    unused bits set): a token has exactly one form."""
    data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64(data) != text:
        raise ValueError("not canonical base64url")
    return data


def _signed(payload: bytes, binding: Binding) -> bytes:
    changed = binding.password_changed_at
    # Whole microseconds as an integer: no text form of the time to drift between reads.
    changed_us = -1 if changed is None else (changed - _EPOCH) // timedelta(microseconds=1)
    parts = (payload, binding.password_hash.encode(), str(changed_us).encode(), binding.email.encode())
    return b"\x00".join(parts)


def make_token(keys: SigningKeys, user_id: uuid.UUID, binding: Binding, expires_at: datetime) -> str:
    payload = _PAYLOAD.pack(user_id.bytes, int(expires_at.timestamp()))
    return f"{_b64(payload)}.{_b64(keys.sign(_PURPOSE, _signed(payload, binding)))}"


def read_token(token: str, at: datetime) -> Claim:
    """The claim of a well-formed token that has not expired (its signature is checked against the
    account, `is_bound_to`); 400 reset_token_invalid otherwise."""
    head, _, tail = token.partition(".")
    try:
        payload, signature = _unb64(head), _unb64(tail)
    except (ValueError, binascii.Error) as exc:  # UnicodeEncodeError is a ValueError
        raise ResetTokenInvalid() from exc
    if len(payload) != _PAYLOAD.size or len(signature) != _SIGNATURE_BYTES:
        raise ResetTokenInvalid()
    user_id, expires = _PAYLOAD.unpack(payload)
    if expires <= at.timestamp():
        raise ResetTokenInvalid()
    return Claim(uuid.UUID(bytes=user_id), payload, signature)


def is_bound_to(keys: SigningKeys, claim: Claim, binding: Binding) -> bool:
    """Signed with the current key or, a key rotation ago, a previous one (a mail sent just before
    the rotation still works)."""
    return keys.verify(_PURPOSE, _signed(claim.payload, binding), claim.signature)


async def current_binding(session: AsyncSession, user_id: uuid.UUID) -> Binding | None:
    """What a token for the account is bound to, as committed now; None for no account or a
    deleted one."""
    state = await queries.password_reset_state(session, user_id)
    if state is None:
        return None
    password_hash, changed_at, email, deleted_at = state
    if deleted_at is not None:
        return None
    return Binding(password_hash, changed_at, email)


class PasswordResetService:
    def __init__(self, session: AsyncSession, settings: Settings, jobs: JobQueue, keys: SigningKeys) -> None:
        self.session = session
        self.settings = settings
        self.jobs = jobs
        self.keys = keys

    async def request(self, email: str, within_budget: MailBudget) -> None:
        """Send a reset mail to the account with `email`, if there is one and its budget of mails
        allows: after the commit, from a job. Nothing tells the caller which happened. The budget
        is counted for an email with no account too (on the email), so both take the same Redis
        call."""
        email = email.strip()
        user = await queries.user_by_email(self.session, email)
        subject = (
            ("password-reset-account", str(user.id)) if user else ("password-reset-email", email.lower())
        )
        allowed = await within_budget(*subject)
        if user is None:
            return
        if not allowed:
            log.info("password_reset_mail_limited", user_id=str(user.id))
            return
        self.jobs.enqueue_after_commit(
            self.session,
            PASSWORD_RESET_MAIL_JOB,
            timeout_seconds=MAIL_JOB_TIMEOUT_SECONDS,
            retries=MAIL_JOB_RETRIES,
            user_id=str(user.id),
        )

    async def confirm(self, token: str, new_password: str) -> None:
        """Set the account's password from a reset token, as a password change does (every login
        ends); 400 reset_token_invalid for a token that is malformed, expired or no longer bound
        to the account (used, a password changed since, the account deleted)."""
        claim = read_token(token, now())
        binding = await current_binding(self.session, claim.user_id)
        if binding is None or not is_bound_to(self.keys, claim, binding):
            raise ResetTokenInvalid()
        # Hashed with the request's connection given back (it has written nothing), as a password
        # change does: the hash and the wait for a hashing turn hold none.
        await release_connection(self.session)
        new_hash = await hash_password(new_password, at_once=self.settings.password_hashes_at_once)
        user = await self.session.get(User, claim.user_id)
        if user is None:
            raise ResetTokenInvalid()

        async def still_bound() -> None:
            # Read again under the sessions lock: another confirm of this token, a password change
            # or the deletion that committed meanwhile has voided it.
            again = await current_binding(self.session, claim.user_id)
            if again is None or not is_bound_to(self.keys, claim, again):
                raise ResetTokenInvalid()

        auth = AuthService(self.session, self.settings, jobs=self.jobs)
        await auth.replace_password(user, new_hash, still_bound, how="reset")
        log.info("password_reset", user_id=str(user.id))
