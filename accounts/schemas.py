"""Request and response bodies for accounts. Inputs forbid unknown fields, so a protected field
(role, counts, id) sent by a client is a 422 naming that field rather than silently ignored."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

# `(?!\n)` after `$`: Python's `$` (msgspec's patterns, `re`) also matches before a final newline,
# so "alice\n" passed and reached the database's check (`$` there is the end of the string). It
# changes nothing where `$` is the end already (ECMA, for readers of the OpenAPI document).
USERNAME_PATTERN = r"^[a-z0-9_.]{3,30}$(?!\n)"

Username = Annotated[
    str, Meta(min_length=3, max_length=30, pattern=USERNAME_PATTERN, description="3-30 of a-z 0-9 _ .")
]
Email = Annotated[str, Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Password = Annotated[str, Meta(min_length=8, max_length=1024)]
DisplayName = Annotated[str, Meta(max_length=50)]
Bio = Annotated[str, Meta(max_length=300)]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class SignupIn(Input):
    email: Email
    password: Password
    username: Username
    birthdate: date
    display_name: DisplayName | None = None
    invite_code: Annotated[str, Meta(max_length=32)] | None = None


class TokenIn(Input):
    login: Annotated[str, Meta(min_length=1, max_length=254, description="username or email")]
    password: Annotated[str, Meta(min_length=1, max_length=1024)]


class PasswordChangeIn(Input):
    current_password: Annotated[str, Meta(min_length=1, max_length=1024)]
    new_password: Password


class PasswordResetIn(Input):
    email: Email


class PasswordResetConfirmIn(Input):
    token: Annotated[str, Meta(min_length=1, max_length=256, description="from the password reset mail")]
    new_password: Password


class PasswordResetAccepted(msgspec.Struct, kw_only=True):
    """The same answer whether or not the email has an account."""

    detail: str


class RefreshIn(Input):
    refresh_token: Annotated[str, Meta(min_length=1, max_length=512)]


class MePatch(Input):
    display_name: DisplayName | UnsetType = UNSET
    bio: Bio | UnsetType = UNSET


class Me(msgspec.Struct, kw_only=True):
    id: str
    username: str
    email: str
    display_name: str
    bio: str
    avatar_url: str | None
    birthdate: date
    age_band: Literal["teen", "adult"]
    role: Literal["user", "moderator", "admin"]
    follower_count: int
    following_count: int
    post_count: int
    created_at: datetime


class Profile(msgspec.Struct, kw_only=True):
    id: str
    username: str
    display_name: str
    bio: str
    avatar_url: str | None
    follower_count: int
    following_count: int
    post_count: int
    is_following: bool
    follows_you: bool
    is_mutual: bool
    is_blocked: bool
    created_at: datetime


class Tokens(msgspec.Struct, kw_only=True):
    user: Me
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int


class SessionOut(msgspec.Struct, kw_only=True):
    """One login: a device signed in to the account."""

    id: str
    created_at: Annotated[datetime, Meta(description="when it logged in")]
    last_used_at: Annotated[datetime, Meta(description="its latest token refresh (its login, before any)")]
    device: Annotated[str, Meta(description='from its User-Agent at login, e.g. "Safari on iOS"')]
    current: Annotated[bool, Meta(description="the login of the access token of this request")]


class InviteOut(msgspec.Struct, kw_only=True):
    code: str
    redeemed_count: int
    total_count: int


class Availability(msgspec.Struct, kw_only=True):
    username: str
    available: bool
    reason: Literal["taken", "invalid", "reserved"] | None = None


class AvatarOut(msgspec.Struct, kw_only=True):
    avatar_url: str


class NotificationActor(msgspec.Struct, kw_only=True):
    username: str
    display_name: str
    avatar_url: str | None


class NotificationSubject(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the notification is about (`video` or `comment`), with a little context to show it."""

    type: str
    id: str | None
    video_id: str | None = None
    parent_id: str | None = None
    remix_of: str | None = None
    excerpt: str | None = None
    reason: Annotated[
        str | None,
        Meta(description="moderation_decision against the user: the rule broken (a report reason)"),
    ] = None
    statement: Annotated[
        str | None, Meta(description="moderation_decision: what the moderator told the user, if anything")
    ] = None
    appealable: Annotated[
        bool | None,
        Meta(description="moderation_decision: whether it may be appealed (once, POST /v1/appeals)"),
    ] = None
    kept_removed: Annotated[
        str | None,
        Meta(
            description=(
                "appeal_outcome, granted: the removed video or comment stays down all the same, and "
                "why: `cameo_revoked` (a cameo in the video was revoked since: its owner said no to "
                "every new viewer) or `another_removal` (another removal of it still stands)"
            )
        ),
    ] = None


class NotificationOut(msgspec.Struct, kw_only=True):
    id: str
    kind: Annotated[str, Meta(description="like, comment, reply or remix")]
    actor: NotificationActor | None
    subject: NotificationSubject
    created_at: datetime
    read: bool


class MarkReadIn(Input):
    ids: Annotated[list[Annotated[str, Meta(max_length=64)]], Meta(max_length=500)] | None = None


class DeleteAccountIn(Input):
    """The account's password: deleting it takes re-authentication, not only an access token."""

    password: Annotated[str, Meta(min_length=1, max_length=1024)]
