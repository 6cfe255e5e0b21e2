"""What a deleted account leaves in the generation domain (registered from the composition root
with `accounts.hooks`).

In the deleting request (`on_account_deleted`, the first hook, before its videos are hidden): its
unfinished generations end `cancelled` (account_deleted), each cameo they cast told so in its
ledger (`cancelled`, basis account_deleted) and the reference image released (deleted from storage
after the commit, `references.release_reference`), so from the 204 on none is submitted to the
provider or becomes a draft. One a step holds at that moment (it may be inside a provider call)
is skipped, not waited for: that step, and every later one, reads the requester first and stops
the generation the same way before asking the provider anything (`runner._step`); a step already
inside a provider call when the deletion commits is stopped by the next. A step about to make a
draft reads the account again under the shared side of the lock the deletion takes first
(`queries.hold_off_drafts`): a deletion under way is waited for and then seen (no draft), and a
draft made first is committed before the deletion goes on, so its hiding of the account's videos
hides that draft too. Each one cancelled that the provider was asked for has its provider copy
deleted after the commit (`provider_deletion`). A generation asked for meanwhile takes the video
it remixes and the cameos it casts (which the deletion holds) before the account's users row (its
quota lock), and reads the account again under that lock: it waits for the deletion and is then
refused (404 for the video, 401 for the account), never deadlocked with it.

In the background purge (`on_account_purge`): its generations are deleted, in batches, one still
under way ended as above first (and its reference image released). A step of one of them that
comes later finds no row and stops. The provider's copy of each goes too: the account's videos
go with it, so none is a remix source any more.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.db import in_batches
from app.media_deletion import MediaDeletions
from app.resources import Resources
from generation import cameos, queries
from generation.models import GenerationStatus
from generation.provider_deletion import delete_after_commit
from generation.references import release_reference

BATCH = 200


async def cancel_unfinished(session: AsyncSession, user: User, deletions: MediaDeletions) -> None:
    """accounts.hooks.on_account_deleted. Bounded by the daily quota; never waits for a step but
    one making a draft (its last statements before the commit)."""
    await queries.hold_off_drafts(session, user.id)
    for generation in await queries.unfinished_of_user_for_update(session, user.id):
        await cameos.cancel_for_deleted_account(session, generation)
        release_reference(session, deletions, generation)
        delete_after_commit(session, deletions.jobs, generation.provider_video_id)
    await session.flush()


async def purge_account(resources: Resources, user_id: UUID) -> None:
    deletions = MediaDeletions.of(resources)

    async def batch(session: AsyncSession) -> int:
        generations = await queries.of_user_for_update(session, user_id, BATCH)
        for generation in generations:
            if not GenerationStatus(generation.status).terminal:
                await cameos.cancel_for_deleted_account(session, generation)
            release_reference(session, deletions, generation)
            # Its draft goes with the account: no copy at the provider is of use any more.
            delete_after_commit(session, resources.jobs, generation.provider_video_id)
            await session.delete(generation)
        await session.flush()
        return len(generations)

    await in_batches(resources.session_factory, batch, batch=BATCH, max_batches=10_000)
