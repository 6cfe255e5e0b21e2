"""Password hashing takes turns: a burst of logins must not hold 64 MiB per thread at once."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from accounts import passwords


class CountingHasher:
    """Stands in for Argon2 to count how many hashes run at the same moment."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def _run(self) -> None:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1

    def hash(self, password: str) -> str:
        self._run()
        return f"hashed:{password}"

    def verify(self, password_hash: str, password: str) -> bool:
        self._run()
        return password_hash == f"hashed:{password}"


@pytest.mark.parametrize("at_once", [1, 3])
async def test_no_more_hashes_run_at_once_than_allowed(monkeypatch: pytest.MonkeyPatch, at_once: int) -> None:
    counting = CountingHasher()
    monkeypatch.setattr(passwords, "_hasher", counting)

    hashes = await asyncio.gather(*(passwords.hash_password(f"pw{n}", at_once=at_once) for n in range(8)))

    async def verify(digest: str, password: str) -> bool:
        async with passwords.hashing_turn(at_once) as turn:
            return await turn.verify(digest, password)

    checks = await asyncio.gather(*(verify(digest, f"pw{n}") for n, digest in enumerate(hashes)))

    assert all(checks)
    assert counting.most == at_once
