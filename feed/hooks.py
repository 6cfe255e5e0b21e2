"""What other domains check, in the same transaction, when a video changes. Feed may not import
the domains beside or above it (cameo, generation), so they register here, once, from the
composition root; the video service calls them.

- `on_publishing(session, author, video)`: a draft is about to be published; a hook may refuse it
  by raising a problem (the transaction then rolls back).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from feed.models import Video

PublishHook = Callable[[AsyncSession, User, Video], Awaitable[None]]

_publishing: list[PublishHook] = []


def on_publishing(hook: PublishHook) -> None:
    if hook not in _publishing:  # registering twice (a second app in one process) is harmless
        _publishing.append(hook)


async def publishing(session: AsyncSession, author: User, video: Video) -> None:
    for hook in _publishing:
        await hook(session, author, video)
