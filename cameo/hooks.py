"""What other domains do, in the same transaction, when a cameo changes. Cameo may not import the
domains above it (generation cancels generations, moderation files verification items), so they
register here, once, from the composition root; the cameo service calls them.

- `on_recording_submitted(session, cameo)`: a recording was accepted; the cameo awaits review.
- `on_revoked(session, cameo)`: the cameo was revoked; nothing may use it from now on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from cameo.models import Cameo

CameoHook = Callable[[AsyncSession, Cameo], Awaitable[None]]

_recording_submitted: list[CameoHook] = []
_revoked: list[CameoHook] = []


def _add(hooks: list[CameoHook], hook: CameoHook) -> None:
    if hook not in hooks:  # registering twice (a second app in one process) is harmless
        hooks.append(hook)


def on_recording_submitted(hook: CameoHook) -> None:
    _add(_recording_submitted, hook)


def on_revoked(hook: CameoHook) -> None:
    _add(_revoked, hook)


async def recording_submitted(session: AsyncSession, cameo: Cameo) -> None:
    for hook in _recording_submitted:
        await hook(session, cameo)


async def revoked(session: AsyncSession, cameo: Cameo) -> None:
    for hook in _revoked:
        await hook(session, cameo)
