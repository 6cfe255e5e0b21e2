"""What a deleted account leaves in the generation domain (registered from the composition root
with `accounts.hooks.on_account_purge`): its generations are deleted, in batches, each one under
way ended `cancelled` first and its reference image released (deleted from storage after the
commit, `references.release_reference`). A step of one of them that comes later finds no row and
stops. A draft a step made just before is hidden by the feed's part of the purge, which runs after
this one."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import in_batches
from app.media_deletion import MediaDeletions
from app.resources import Resources
from generation import queries
from generation.models import GenerationStatus
from generation.references import release_reference

BATCH = 200
ACCOUNT_DELETED = "account_deleted"


async def purge_account(resources: Resources, user_id: UUID) -> None:
    deletions = MediaDeletions.of(resources)

    async def batch(session: AsyncSession) -> int:
        generations = await queries.of_user_for_update(session, user_id, BATCH)
        for generation in generations:
            if not GenerationStatus(generation.status).terminal:
                generation.end(GenerationStatus.CANCELLED, ACCOUNT_DELETED, "The account was deleted")
            release_reference(session, deletions, generation)
            await session.delete(generation)
        await session.flush()
        return len(generations)

    await in_batches(resources.session_factory, batch, batch=BATCH, max_batches=10_000)
