"""Account failures with the stable codes from the API contract."""

from app.errors import AppError, Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from app.images import ImageTooLarge, InvalidImage, UnsupportedMedia

__all__ = ["ImageTooLarge", "InvalidImage", "UnsupportedMedia"]


class UsernameTaken(Conflict):
    code = "username_taken"
    title = "That username is taken"


class EmailTaken(Conflict):
    code = "email_taken"
    title = "An account with that email already exists"


class AgeRestricted(Forbidden):
    code = "age_restricted"
    title = "You must be at least 13 to sign up"


class InviteInvalid(ValidationFailed):
    code = "invite_invalid"
    title = "That invite code is not valid"


class InviteExhausted(ValidationFailed):
    code = "invite_exhausted"
    title = "That invite code has no uses left"


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    title = "Wrong login or password"


class InvalidRefreshToken(NotAuthenticated):
    code = "invalid_refresh_token"
    title = "The refresh token is not valid"


class PasswordIncorrect(Forbidden):
    code = "password_incorrect"
    title = "The password is not right"


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "No such user"


class CannotFollowSelf(ValidationFailed):
    code = "cannot_follow_self"
    title = "You cannot follow yourself"


class CannotBlockSelf(ValidationFailed):
    code = "cannot_block_self"
    title = "You cannot block yourself"


class InsufficientRole(Forbidden):
    code = "insufficient_role"
    title = "Your role does not allow this"


class AccountSuspended(Forbidden):
    code = "account_suspended"
    title = "Your account is suspended"


class SessionNotFound(NotFound):
    code = "session_not_found"
    title = "No such session"


class SessionUnknown(NotAuthenticated):
    code = "session_unknown"
    title = "This access token does not say which login it belongs to; refresh it and try again"


class ResetTokenInvalid(AppError):
    """Malformed, tampered with, expired, used, or made void by a later password change or the
    account's deletion: one answer for all, which tells nothing about the account."""

    status = 400
    code = "reset_token_invalid"
    title = "The password reset token is not valid"
