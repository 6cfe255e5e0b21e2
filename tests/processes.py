"""Real `remixfeed` processes against the run's servers, for tests of what happens when they are
killed or asked to stop."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from saq.queue import Queue
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TEST_SECRET
from tests.harness import RunServers

REMIXFEED = str(Path(sys.executable).parent / "remixfeed")


def process_env(servers: RunServers, data_dir: Path, namespace: str, **extra: str) -> dict[str, str]:
    """The environment of a production-style process: the run's servers, its own queue namespace,
    a media directory shared with the test's app. `extra` adds REMIXFEED_… settings."""
    env = {
        **os.environ,
        "DATABASE_URL": servers.database_url,
        "REDIS_URL": servers.redis_url,
        "REMIXFEED_REDIS_NAMESPACE": namespace,
        "REMIXFEED_SECRET_KEY": TEST_SECRET,
        "REMIXFEED_DATA_DIR": str(data_dir),
        "REMIXFEED_LOG_LEVEL": "INFO",
    }
    env.pop("OPENAI_API_KEY", None)
    env.update(extra)
    return env


class Process:
    """A `remixfeed` subcommand in its own session (a Ctrl-C to the tests does not reach it), its
    output in a file so it never blocks on a full pipe."""

    def __init__(self, process: asyncio.subprocess.Process, log: IO[bytes], log_path: Path) -> None:
        self.process = process
        self._log = log
        self.log_path = log_path

    @classmethod
    async def start(cls, args: list[str], env: dict[str, str], log_path: Path) -> Process:
        log = log_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            REMIXFEED, *args, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True
        )
        return cls(process, log, log_path)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: signal.Signals) -> None:
        """To this process only, never its group (granian's workers handle their own signals)."""
        if self.running:
            self.process.send_signal(signum)

    async def wait(self, within: float) -> int:
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            raise AssertionError(
                f"process {self.pid} still running after {within} s:\n{self.output()}"
            ) from None

    async def terminate(self, within: float) -> int:
        """SIGTERM, then its exit code once it has stopped."""
        self.signal(signal.SIGTERM)
        return await self.wait(within)

    async def kill(self) -> None:
        self.signal(signal.SIGKILL)
        await self.wait(10)

    async def close(self) -> None:
        """Whatever state the test left it in: stopped, then its output file closed."""
        if self.running:
            self.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 40)
            except TimeoutError:
                await self.kill()
        self._log.close()


async def start_worker(env: dict[str, str], log_path: Path, *, ready_on: Queue | None = None) -> Process:
    """`remixfeed worker`; with `ready_on`, returns once it has joined that queue (SAQ registers a
    worker as it starts taking jobs), so a test's clock starts with a worker ready."""
    before = set((await ready_on.info())["workers"]) if ready_on is not None else set()
    worker = await Process.start(["worker"], env, log_path)
    if ready_on is not None:

        async def joined() -> bool:
            assert worker.running, worker.output()
            return bool(set((await ready_on.info())["workers"]) - before)

        await eventually(joined, within=60, what="the worker joins the queue", interval=0.2)
    return worker


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float, what: str, interval: float = 0.1
) -> None:
    """Waits until `check()` is true, failing with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(interval)


async def waiting_on_a_lock(engine: AsyncEngine, application_name: str) -> int:
    """How many of the named process's connections wait for a lock right now."""
    async with engine.connect() as connection:
        found = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = :name AND wait_event_type = 'Lock'"
            ),
            {"name": application_name},
        )
    return int(found or 0)
