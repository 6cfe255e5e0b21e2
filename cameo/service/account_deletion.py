"""What a deleted account leaves in the cameo domain (registered from the composition root with
`accounts.hooks`).

In the deleting request: the account's cameo is revoked (`lifecycle.revoke`, so the generations
using it are cancelled through `cameo.hooks`), a cameo moderation revoked becomes the owner's
revocation (no appeal brings it back), and the approvals it held to cast others' cameos end.
In the background purge: those approvals again, since one granted while the deletion was under
way may have committed after the request's step (before its users row was locked); a grant after
that waits for the deletion and is refused (`controls.approve` reads the person under a key-share
lock). The recordings of its cameos are deleted from storage at once, not after the usual
retention (nobody is left to appeal a verdict on them); the rows stay, for the ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.db import in_transaction
from app.media_deletion import MediaDeletions
from app.resources import Resources
from cameo import queries
from cameo.service.lifecycle import MODERATION, OWNER, revoke


async def revoke_account_cameo(session: AsyncSession, user: User, _deletions: MediaDeletions) -> None:
    """accounts.hooks.on_account_deleted (the recording is deleted by the purge)."""
    # A cameo moderation revoked becomes the owner's revocation too: an appeal of it granted
    # before the purge has deleted the recording must not bring the likeness back. First, so one
    # reinstated just before these rows are locked is found below as the current cameo.
    for revoked in await queries.revoked_cameos_of(session, user.id, revoked_by=MODERATION):
        await revoke(session, revoked, by=OWNER, retention_days=0)
    current = await queries.current_cameo_of(session, user.id)
    if current is not None:
        locked = await queries.cameo_for_update(session, current.id)
        if locked is not None:
            # Due for purging at once; the account's purge deletes the recording itself.
            await revoke(session, locked, by=OWNER, retention_days=0)
    await queries.remove_approvals_of(session, user.id)


async def purge_account(resources: Resources, user_id: UUID) -> None:
    """accounts.hooks.on_account_purge: the objects are deleted while the rows are locked, then the
    rows forget their keys (as the retention job does), so a failure leaves at worst a key whose
    object is gone, which the next run deletes again."""

    async def work(session: AsyncSession) -> None:
        recordings = await queries.recordings_of_owner(session, user_id)
        for _, stored in recordings:
            await resources.storage.delete(stored)
        await queries.mark_purged(session, [cameo_id for cameo_id, _ in recordings], datetime.now(UTC))
        await queries.remove_approvals_of(session, user_id)

    await in_transaction(resources.session_factory, work)
