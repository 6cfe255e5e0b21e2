"""What other domains do when an account is deleted. Accounts may not import the domains above it
(feed, cameo, generation), so they register here, once, from the composition root; the deletion
service and the purge job call them.

- `on_account_deleted(session, user, deletions)`: in the deleting request's transaction, before its
  users row is locked and made a tombstone (a video's row is taken before its author's everywhere,
  so these run first): what must be gone for everyone once the 204 is sent (its generations under
  way stopped, the videos hidden, the cameo revoked), in the order registered; media no longer
  pointed at goes through `deletions` (deleted after the commit). Never commits.
- `on_account_purge(resources, user_id)`: in the background purge after that commit (and again
  from the sweep if a purge did not finish): what the account left behind (likes, comments, media,
  Redis state). Each hook runs its own transactions, in batches, and must be harmless to run twice
  and to resume after a failure anywhere.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.hooks import Hooks
from app.media_deletion import MediaDeletions
from app.resources import Resources

_deleted: Hooks[[AsyncSession, User, MediaDeletions]] = Hooks()
_purge: Hooks[[Resources, UUID]] = Hooks()
on_account_deleted = _deleted.add
account_deleted = _deleted.run
on_account_purge = _purge.add
purge = _purge.run
