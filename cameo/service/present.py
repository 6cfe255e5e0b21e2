"""How cameos look from outside: the owner's view, and the snapshot a moderation item keeps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from cameo import queries
from cameo.models import Cameo, CameoStatus
from cameo.schemas import CameoOut, ChallengeOut


def recording_url(cameo: Cameo) -> str:
    return f"/v1/cameos/{cameo.id}/recording"


def challenge_of(cameo: Cameo) -> ChallengeOut:
    return msgspec.convert(
        {
            "phrase": cameo.challenge_phrase,
            "head_turns": list(cameo.challenge_head_turns),
            "expires_at": cameo.challenge_expires_at,
        },
        ChallengeOut,
    )


def owner_view(cameo: Cameo, owner_username: str, approved: list[str]) -> CameoOut:
    return msgspec.convert(
        {
            "id": str(cameo.id),
            "owner": owner_username,
            "status": cameo.status,
            "permission": cameo.permission,
            "approved": approved,
            "preferences": cameo.preferences,
            "restrictions": cameo.restrictions,
            "appearance_count": cameo.appearance_count,
            "created_at": cameo.created_at,
            "challenge": challenge_of(cameo) if cameo.status == CameoStatus.AWAITING_RECORDING else None,
            "challenge_expires_at": cameo.challenge_expires_at,
            "recorded_at": cameo.recorded_at,
            "recording_seconds": cameo.recording_seconds,
            "reviewed_at": cameo.reviewed_at,
            "revoked_at": cameo.revoked_at,
        },
        CameoOut,
    )


async def present_owner_view(session: AsyncSession, cameo: Cameo, owner_username: str) -> CameoOut:
    return owner_view(cameo, owner_username, await queries.approved_usernames(session, cameo.id))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def cameo_snapshot(cameo: Cameo, owner_username: str) -> dict[str, Any]:
    """What a moderator reviewing the cameo sees, captured when the item is filed: the challenge
    the recording had to answer, and where the (private) recording is."""
    return {
        "type": "cameo",
        "id": str(cameo.id),
        "owner": owner_username,
        "status": cameo.status,
        "permission": cameo.permission,
        "challenge": {
            "phrase": cameo.challenge_phrase,
            "head_turns": list(cameo.challenge_head_turns),
            "expires_at": _iso(cameo.challenge_expires_at),
        },
        "recording_url": recording_url(cameo),
        "recording_content_type": cameo.recording_content_type,
        "recording_seconds": cameo.recording_seconds,
        "recorded_at": _iso(cameo.recorded_at),
    }
