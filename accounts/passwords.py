"""Argon2id password hashing, off the event loop (each hash costs tens of milliseconds by design)."""

from __future__ import annotations

import asyncio
import weakref

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


async def hash_password(password: str, *, at_once: int) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password, limiter=_hashing_slots(at_once))


async def verify_password(password_hash: str | None, password: str, *, at_once: int) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(verify, limiter=_hashing_slots(at_once))


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
