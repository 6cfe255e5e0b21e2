"""Argon2id password hashing, off the event loop (each hash costs tens of milliseconds by design)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified when the login names nobody, so an unknown user costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("remixfeed-timing-equaliser")

# Each hash holds 64 MiB while it runs (and already keeps 4 threads busy), so a burst of logins
# would otherwise take 64 MiB per thread of anyio's pool at once: they take turns instead
# (REMIXFEED_PASSWORD_HASHES_AT_ONCE per process). One limiter per event loop, which owns it.
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _hashing_slots(at_once: int) -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _slots.get(loop)
    if limiter is None:
        limiter = _slots[loop] = anyio.CapacityLimiter(at_once)
    elif limiter.total_tokens != at_once:
        limiter.total_tokens = at_once
    return limiter


class HashingTurn:
    """One of the process's hashing turns, held for the `async with hashing_turn(...)` block:
    the hashes run in it do not queue again."""

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(_hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def verify() -> bool:
            try:
                return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
            except (VerificationError, InvalidHashError):
                return False

        return await anyio.to_thread.run_sync(verify)


@asynccontextmanager
async def hashing_turn(at_once: int) -> AsyncIterator[HashingTurn]:
    """Waits for a hashing turn and holds it for the block. A request takes its turn before it
    reads what it hashes against, so while it queues it holds no pooled database connection: a
    burst of logins would otherwise take the whole pool and leave every other request waiting."""
    async with _hashing_slots(at_once):
        yield HashingTurn()


async def hash_password(password: str, *, at_once: int) -> str:
    async with hashing_turn(at_once) as turn:
        return await turn.hash(password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
