"""What other domains do when an account is deleted. Accounts may not import the domains above it
(feed, cameo, generation), so they register here, once, from the composition root; the deletion
service and the purge job call them.

- `on_account_deleted(session, user)`: in the deleting request's transaction, before its users row
  is locked and made a tombstone (a video's row is taken before its author's everywhere, so these
  run first): what must be gone for everyone once the 204 is sent (the videos hidden, the cameo
  revoked), in the order registered. Never commits.
- `on_account_purge(resources, user_id)`: in the background purge after that commit (and again
  from the sweep if a purge did not finish): what the account left behind (likes, comments, media,
  Redis state). Each hook runs its own transactions, in batches, and must be harmless to run twice
  and to resume after a failure anywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from app.resources import Resources

DeletedHook = Callable[[AsyncSession, User], Awaitable[None]]
PurgeHook = Callable[[Resources, UUID], Awaitable[None]]
H = TypeVar("H")

_deleted: list[DeletedHook] = []
_purge: list[PurgeHook] = []


def _add(hooks: list[H], hook: H) -> None:
    if hook not in hooks:  # registering twice (a second app in one process) is harmless
        hooks.append(hook)


def on_account_deleted(hook: DeletedHook) -> None:
    _add(_deleted, hook)


def on_account_purge(hook: PurgeHook) -> None:
    _add(_purge, hook)


async def account_deleted(session: AsyncSession, user: User) -> None:
    for hook in _deleted:
        await hook(session, user)


async def purge(resources: Resources, user_id: UUID) -> None:
    for hook in _purge:
        await hook(resources, user_id)
