"""Background jobs of generation: advancing each generation to its end, and recovering any whose
job was lost (a flushed Redis, a worker killed between steps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import in_transaction
from app.jobs import Job, JobTurns, run_again_in
from app.resources import Resources
from generation import queries
from generation.cameos import REGISTER_CAMEO_JOB, register_character, sweep_unregistered
from generation.provider import VideoProvider, create_provider
from generation.provider_deletion import (
    DELETE_AT_PROVIDER_JOB,
    FORGET_CAMEO_AT_PROVIDER_JOB,
    delete_video,
    forget_cameo,
)
from generation.references import (
    REFERENCE_CHECK_JOB,
    REFERENCE_SWEEP_JOB,
    check_reference,
    sweep_ended_references,
)
from generation.runner import advance
from generation.service import ADVANCE_JOB, advance_job_key

log = structlog.get_logger(__name__)

_PROVIDER = "generation.provider"
_STEP_TURNS = "generation.step_turns"
SWEEP_BATCH = 500


def provider_for(resources: Resources) -> VideoProvider:
    """One provider client per process, closed with the process's resources."""
    provider = resources.extras.get(_PROVIDER)
    if provider is None:
        provider = create_provider(resources.settings)
        resources.extras[_PROVIDER] = provider
        resources.closers.append(provider.close)
    assert isinstance(provider, object)
    return provider  # type: ignore[return-value]


def step_turns(resources: Resources) -> JobTurns:
    """Generation steps take turns (REMIXFEED_PROVIDER_JOBS_AT_ONCE per process), none waiting in
    a job slot: a provider call can take up to REMIXFEED_PROVIDER_TIMEOUT_SECONDS, and a step holds
    its generation's row, so a pooled connection, through its calls. Without turns a slow provider
    would hold every job slot (fan-outs, rankings and the rest waiting behind it) and, in `serve`
    with the worker inside, half the API's connections. A step sent back comes again; one lost on
    the way is found by the sweep."""
    return JobTurns.of(resources, _STEP_TURNS, at_once=resources.settings.provider_jobs_at_once, may_wait=0)


async def advance_generation(
    resources: Resources, generation_id: str, follow_up: bool = True
) -> dict[str, Any]:
    async def step() -> dict[str, Any]:
        # A one-off step (a webhook's) does not wait behind a step that holds the generation (and
        # a turn, and a connection, through its provider calls): that one sees what it would.
        done = await advance(
            resources, provider_for(resources), UUID(generation_id), wait_for_others=follow_up
        )
        if done.finished or not follow_up:
            return {}
        return run_again_in(done.next_in_seconds)

    # A one-off step sent back for want of a turn comes again too.
    return await step_turns(resources).run(step)


async def register_cameo(resources: Resources, cameo_id: str) -> dict[str, Any]:
    """Enqueued after a cameo is approved (key `generation.cameos.register_job_key`). It takes no
    turn: approvals come at a moderator's pace, and nothing would find one that was sent back and
    lost on the way. It holds no database connection through its provider call."""
    return await register_character(resources, provider_for(resources), UUID(cameo_id))


async def delete_at_provider(
    resources: Resources, provider_video_id: str, requested_at: str
) -> dict[str, Any]:
    """Kept in the outbox of the transaction that decided it (`provider_deletion`). It takes no
    turn and holds no database connection: one provider call, two when the video still renders."""
    return await delete_video(provider_for(resources), provider_video_id, requested_at)


async def sweep_unfinished(resources: Resources) -> int:
    """Re-enqueue the step of every unfinished generation nothing touched lately. The step's key
    is the generation's, so one still queued or scheduled is left as it is."""

    idle_for = timedelta(seconds=resources.settings.generation_sweep_idle_seconds)

    async def idle(session: AsyncSession) -> list[UUID]:
        return await queries.unfinished_idle_since(session, datetime.now(UTC) - idle_for, SWEEP_BATCH)

    generation_ids: list[UUID] = await in_transaction(resources.session_factory, idle)
    for generation_id in generation_ids:
        await resources.jobs.enqueue(
            ADVANCE_JOB, key=advance_job_key(generation_id, 0), generation_id=str(generation_id)
        )
    if generation_ids:
        log.info("generations_swept", count=len(generation_ids))
    return len(generation_ids)


jobs = [
    Job(name=ADVANCE_JOB, function=advance_generation),
    Job(name=REGISTER_CAMEO_JOB, function=register_cameo),
    Job(name=DELETE_AT_PROVIDER_JOB, function=delete_at_provider),
    Job(name=FORGET_CAMEO_AT_PROVIDER_JOB, function=forget_cameo, timeout_seconds=60),
    Job(name=REFERENCE_CHECK_JOB, function=check_reference, timeout_seconds=60),
    Job(name=REFERENCE_SWEEP_JOB, function=sweep_ended_references, cron="*/5 * * * *"),
    Job(name="generation.sweep", function=sweep_unfinished, cron="* * * * *"),
    Job(name="generation.sweep_cameo_registrations", function=sweep_unregistered, cron="*/5 * * * *"),
]
