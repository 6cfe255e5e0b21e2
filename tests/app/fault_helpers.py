"""A real `remixfeed serve` process on servers of the test's own, which the fault tests stop and
start under it; and the few HTTP steps those tests repeat."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
from sqlalchemy.engine import make_url

from app.db import async_url
from app.embedded import EmbeddedPostgres
from tests.conftest import TEST_SECRET
from tests.harness import RunServers, execute_statement, free_port

REMIXFEED = str(Path(sys.executable).parent / "remixfeed")


def serve_env(
    data_dir: Path, *, database_url: str, redis_url: str, namespace: str, simulator_url: str
) -> dict[str, str]:
    """A production-style process (its servers named, the job worker inside it, as in the embedded
    default) with limits that a test's handful of requests never reach."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "OPENAI_BASE_URL": simulator_url,
        "REMIXFEED_REDIS_NAMESPACE": namespace,
        "REMIXFEED_SECRET_KEY": TEST_SECRET,
        "REMIXFEED_DATA_DIR": str(data_dir),
        "REMIXFEED_WORKER_IN_PROCESS": "true",
        "REMIXFEED_INVITE_REQUIRED": "false",
        "REMIXFEED_GENERATION_POLL_SECONDS": "0.1",
        "REMIXFEED_LOG_LEVEL": "WARNING",
    }
    for name in ("SIGNUP", "TOKEN", "LOGIN", "WRITE", "FEED", "READ", "IP_WRITE", "IP_READ"):
        env[f"REMIXFEED_{name}_RATE_LIMIT"] = "100000/minute"
    env.pop("OPENAI_API_KEY", None)
    return env


class Served:
    """`remixfeed serve` in a session of its own, its output in a file (shown when a test fails)."""

    def __init__(
        self, process: asyncio.subprocess.Process, log: IO[bytes], log_path: Path, port: int
    ) -> None:
        self.process = process
        self._log = log
        self.log_path = log_path
        self.port = port

    @classmethod
    @asynccontextmanager
    async def running(cls, env: dict[str, str], log_path: Path) -> AsyncIterator[Served]:
        port = free_port()
        log = log_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            REMIXFEED,
            "serve",
            "--port",
            str(port),
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        served = cls(process, log, log_path, port)
        try:
            await served.wait_ready()
            yield served
        finally:
            await served.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def processes(self) -> list[psutil.Process]:
        """The serve process and its server workers (where the app and its job worker run)."""
        parent = psutil.Process(self.process.pid)
        return [parent, *parent.children(recursive=True)]

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in self.processes():
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    async def wait_ready(self, within: float = 60) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:

            async def ready() -> bool:
                assert self.process.returncode is None, self.output()
                try:
                    return (await http.get("/health/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, within=within, what="serve answers /health/ready", output=self.output)

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 40)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self._log.close()


async def eventually(
    check: Callable[[], Awaitable[bool]],
    *,
    within: float,
    what: str,
    interval: float = 0.1,
    output: Callable[[], str] | None = None,
) -> None:
    """Waits until `check()` is true; fails naming `what` (and showing the server's output) after
    `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            shown = f"\n--- server output ---\n{output()}" if output else ""
            raise AssertionError(f"not within {within} s: {what}{shown}")
        await asyncio.sleep(interval)


@contextmanager
def private_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of the test's own, which it may stop and start. Its data is not under pytest's
    temporary directory: the server runs as another user (embedded_postgres, when the tests run as
    root), and every pytest session that starts takes other users' access to that directory away
    again, which a server living there only notices at its next checkpoint, and dies of."""
    directory = Path(tempfile.mkdtemp(prefix="remixfeed-faults-"))
    server = EmbeddedPostgres(directory / "postgres")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@asynccontextmanager
async def database_of_its_own(servers: RunServers) -> AsyncIterator[str]:
    """An empty database for the server under test (which migrates it): on the run's PostgreSQL when
    that is an external one, else on a private embedded server (see `private_postgres`)."""
    if servers.embedded_postgres is not None:
        with private_postgres() as server:
            yield server.url()
        return
    url = make_url(async_url(servers.database_url))
    name = f"faults_{uuid.uuid4().hex[:10]}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    await execute_statement(admin, f'CREATE DATABASE "{name}"')
    try:
        yield url.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    finally:
        await execute_statement(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    headers: dict[str, str]


async def sign_up(http: httpx.AsyncClient, username: str) -> Account:
    """A new adult account, signed in."""
    response = await http.post(
        "/v1/auth/signup",
        json={
            "email": f"{username}@example.test",
            "password": f"{username} password",
            "username": username,
            "birthdate": "1990-01-01",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(body["user"]["id"], username, {"Authorization": f"Bearer {body['access_token']}"})


async def request_generation(http: httpx.AsyncClient, headers: dict[str, str], prompt: str) -> str:
    response = await http.post("/v1/generations", json={"prompt": prompt, "seconds": 4}, headers=headers)
    assert response.status_code == 202, response.text
    generation_id: str = response.json()["id"]
    return generation_id


async def finished_generation(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    generation_id: str,
    *,
    within: float = 30,
    output: Callable[[], str] | None = None,
) -> dict[str, Any]:
    """The generation once it has completed (fails if it ends otherwise or takes too long)."""
    found: dict[str, Any] = {}

    async def done() -> bool:
        response = await http.get(f"/v1/generations/{generation_id}", headers=headers)
        assert response.status_code == 200, response.text
        found.update(response.json())
        assert found["status"] not in ("failed", "blocked", "cancelled"), found
        return found["status"] == "completed"

    await eventually(done, within=within, what=f"generation {generation_id} completes", output=output)
    return found


async def published_video(
    http: httpx.AsyncClient, headers: dict[str, str], generation: dict[str, Any], caption: str
) -> str:
    video_id: str = generation["video_id"]
    response = await http.post(f"/v1/videos/{video_id}/publish", json={"caption": caption}, headers=headers)
    assert response.status_code == 200, response.text
    return video_id
