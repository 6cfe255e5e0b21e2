"""Automated screening's borderline verdicts become items of the `automated` queue (the
`moderation.flag_content` job that app/screening.py describes).

Flags on one target join its undecided item, which keeps every flag (categories, which text, the
text as it was) in its snapshot and is prioritised like reports, from the gravest category. A
flag a decided item already carries (the same text, for the same categories or fewer) is not filed
again: its job ran again after the decision (at least once), and a human has seen it. A flag
whose text has been edited since it was screened is not filed at all (the job carries the text's
fingerprint): the edit was screened on its own. A
flagged generation prompt has no content of its own yet (its video comes later, as a draft), so it
is filed against the account that wrote it, with the generation named in the flag.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.screening import text_fingerprint
from feed.models import Comment, Video
from generation.models import Generation
from moderation import policy, queries
from moderation.service.targets import comment_snapshot, user_snapshot, video_snapshot

log = structlog.get_logger(__name__)

# Moderation category names (omni-moderation, and what the screener adds) as report reasons.
_CATEGORY_REASONS = {
    "sexual/minors": "minor_safety",
    "self-harm": "self_harm",
    "self-harm/intent": "self_harm",
    "self-harm/instructions": "self_harm",
    "sexual": "sexual",
    "violence": "violence",
    "violence/graphic": "violence",
    "illicit/violent": "violence",
    "hate": "hate",
    "hate/threatening": "hate",
    "harassment": "harassment",
    "harassment/threatening": "harassment",
}


def reason_of(category: str) -> str:
    return _CATEGORY_REASONS.get(category, "other")


def flag_priority(flags: Iterable[dict[str, Any]]) -> int:
    flags = list(flags)
    reasons = [reason_of(str(category)) for flag in flags for category in flag.get("categories", [])]
    return policy.priority(reasons, len(flags))


async def flag_content(
    session: AsyncSession,
    *,
    target_type: str,
    target_id: str,
    categories: list[str],
    text_kind: str,
    text_sha: str | None = None,
) -> UUID | None:
    """File one flag; the item's id, or None when the target is gone (nothing left to review) or
    its text is no longer the one flagged (`text_sha`, its fingerprint, when the job carries one)."""
    try:
        identifier = UUID(target_id)
    except ValueError:
        log.warning("flag_target_invalid", target_type=target_type, target_id=target_id)
        return None
    found = await _target(session, target_type, identifier, text_kind)
    if found is None:
        log.info("flag_target_gone", target_type=target_type, target_id=target_id)
        return None
    item_type, item_target, subject_id, snapshot, text = found
    if text_sha is not None and text_fingerprint(text) != text_sha:
        # Edited since it was screened (this job is late, or a replay): the verdict was on the old
        # text, and the new one was screened, and flagged if need be, on its own.
        log.info("flag_text_changed", target_type=target_type, target_id=target_id, text_kind=text_kind)
        return None
    source = {"source_type": target_type, "source_id": target_id, "text_kind": text_kind}
    await queries.lock_flags_of(session, item_type, item_target)
    if await queries.flag_already_recorded(
        session,
        target_type=item_type,
        target_id=item_target,
        source=source,
        text=text,
        categories=list(categories),
    ):
        return None
    flag = {
        **source,
        "categories": list(categories),
        "text": text,
        "flagged_at": datetime.now(UTC).isoformat(),
    }
    item_id, flags = await queries.join_flagged_item(
        session,
        target_type=item_type,
        target_id=item_target,
        subject_user_id=subject_id,
        snapshot=snapshot,
        flag=flag,
    )
    await queries.set_priority(session, item_id, flag_priority(flags))
    return item_id


async def _target(
    session: AsyncSession, target_type: str, identifier: UUID, text_kind: str
) -> tuple[str, UUID, UUID, dict[str, Any], str] | None:
    """(item target type, its id, whom it is about, its snapshot, the flagged text)."""
    if target_type == "video":
        video = await session.get(Video, identifier)
        if video is None or video.deleted_at is not None:
            return None
        author = await session.get(User, video.author_id)
        text = video.prompt if text_kind == "prompt" else video.caption
        return "video", video.id, video.author_id, video_snapshot(video, author), text
    if target_type == "comment":
        comment = await session.get(Comment, identifier)
        if comment is None:
            return None
        author = await session.get(User, comment.author_id)
        return "comment", comment.id, comment.author_id, comment_snapshot(comment, author), comment.body
    if target_type == "generation":
        generation = await session.get(Generation, identifier)
        if generation is None:
            return None
        user = await session.get(User, generation.user_id)
        if user is None:
            return None
        return "user", user.id, user.id, user_snapshot(user), generation.prompt
    log.warning("flag_target_type_unknown", target_type=target_type)
    return None
