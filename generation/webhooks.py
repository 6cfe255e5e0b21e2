"""Provider callbacks: verified with the Standard Webhooks signature the `openai` SDK checks, then
turned into an immediate step of the matching generation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec
import openai
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.resources import Resources
from generation import queries
from generation.errors import InvalidWebhook
from generation.service import ADVANCE_JOB, advance_job_key

log = structlog.get_logger(__name__)

VIDEO_EVENTS = frozenset({"video.completed", "video.failed"})


class _EventData(msgspec.Struct):
    # No NUL (which PostgreSQL cannot compare with) and no absurd length: the id is looked up.
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"^[^\x00]*$")]


class _Event(msgspec.Struct):
    id: str
    type: str
    data: _EventData | None = None


WEBHOOK_VERIFIER = "generation.webhook_verifier"


def _verifier(resources: Resources, secret: str) -> openai.AsyncOpenAI:
    """One client per process (it only checks signatures, but each one holds an HTTP connection
    pool), closed with the process's resources."""
    verifier = resources.extras.get(WEBHOOK_VERIFIER)
    if not isinstance(verifier, openai.AsyncOpenAI):
        verifier = openai.AsyncOpenAI(api_key="webhook-verification-only", webhook_secret=secret)
        resources.extras[WEBHOOK_VERIFIER] = verifier
        resources.closers.append(verifier.close)
    return verifier


async def accept_webhook(
    session: AsyncSession, resources: Resources, provider: str, body: bytes, headers: Mapping[str, str]
) -> None:
    secret = resources.settings.openai_webhook_secret
    if not secret:
        raise NotFound("Webhooks are not configured")
    try:
        _verifier(resources, secret).webhooks.verify_signature(body, dict(headers))
    except (openai.InvalidWebhookSignatureError, ValueError, TypeError) as exc:  # TypeError: non-ASCII
        raise InvalidWebhook("The webhook signature does not verify") from exc
    # From here on the provider sent it: a refusal would only be redelivered, for days, and no
    # delivery of the same body can ever fare better. It is acknowledged and logged instead.
    try:
        event = msgspec.json.decode(body, type=_Event)
    except (msgspec.MsgspecError, RecursionError) as exc:  # RecursionError: absurd nesting
        log.warning(
            "webhook_unusable",
            webhook_id=headers.get("webhook-id"),
            reason=str(exc),
            size=len(body),
        )
        return
    if event.type not in VIDEO_EVENTS:
        log.info("webhook_ignored", event_id=event.id, event_type=event.type)
        return
    if event.data is None:
        log.warning("webhook_unusable", event_id=event.id, event_type=event.type, reason="no data")
        return
    generation = await queries.by_provider_video_id(session, provider, event.data.id)
    if generation is None:
        return
    # A one-off step keyed by the event: a redelivered event is not enqueued twice while pending,
    # and running it twice is harmless anyway (the step takes the generation's row lock).
    resources.jobs.enqueue_after_commit(
        session,
        ADVANCE_JOB,
        key=advance_job_key(generation.id, f"webhook:{event.id}"),
        generation_id=str(generation.id),
        follow_up=False,
    )
