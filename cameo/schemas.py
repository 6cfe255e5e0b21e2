"""Request and response bodies of cameos. Inputs forbid unknown fields, so a protected field
(status, owner, counts) sent by a client is a 422 naming that field rather than silently ignored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

PermissionName = Literal["only_me", "approved", "mutuals", "everyone"]
StatusName = Literal["awaiting_recording", "pending_review", "active", "rejected", "revoked"]
HeadTurn = Literal["left", "right", "up", "down"]
EventName = Literal["requested", "submitted", "refused", "cancelled", "appeared"]
FreeText = Annotated[str, Meta(max_length=1000, description="At most 1000 characters")]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class CameoPatch(Input):
    permission: PermissionName | UnsetType = UNSET
    preferences: FreeText | UnsetType = UNSET
    restrictions: FreeText | UnsetType = UNSET


class ChallengeOut(msgspec.Struct, kw_only=True):
    """What the recording must show: the person reading `phrase` aloud and turning their head in
    the two directions of `head_turns`, uploaded before `expires_at`."""

    phrase: str
    head_turns: list[HeadTurn]
    expires_at: datetime


class CameoOut(msgspec.Struct, kw_only=True):
    """A cameo as its owner sees it."""

    id: str
    owner: str
    status: StatusName
    permission: PermissionName
    approved: list[str]
    preferences: str
    restrictions: str
    appearance_count: int
    created_at: datetime
    # The challenge to answer, while the cameo waits for its recording (null otherwise).
    challenge: ChallengeOut | None
    challenge_expires_at: datetime
    recorded_at: datetime | None
    recording_seconds: float | None
    reviewed_at: datetime | None
    revoked_at: datetime | None


class CameoWithChallenge(msgspec.Struct, kw_only=True):
    cameo: CameoOut
    challenge: ChallengeOut


class CameoAvailability(msgspec.Struct, kw_only=True):
    """Whether the caller may cast someone's cameo, and the permission level in force."""

    cameo_id: str
    permission: PermissionName
    can_use: bool


class CameoUseOut(msgspec.Struct, kw_only=True):
    """One entry of the consent ledger: what happened in one generation that used the cameo, the
    permission level in force then, and the rule that let the caster in (`basis`: owner, approved,
    mutuals, everyone) or why not (refused and cancelled entries)."""

    id: str
    cameo_id: str
    event: EventName
    caster: str | None
    generation_id: str
    video_id: str | None
    permission: PermissionName
    basis: str
    created_at: datetime
