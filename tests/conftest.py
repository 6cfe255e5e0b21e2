"""Fixtures: one set of servers per run, one app per run, clean data for every test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.factory import create_app
from app.resources import Resources
from app.settings import Settings
from generation.simulator import SimulatorHandle, run_simulator_in_thread
from migrations.models import metadata
from tests.cameo.factories import CameoFactory
from tests.factories import Actor, UserFactory
from tests.feed.factories import VideoFactory
from tests.feed.helpers import publish
from tests.harness import RunServers, namespace_patterns, start_test_servers

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
# How long the simulator takes per video in tests: long enough to see progress, short enough to wait for.
SIMULATED_SECONDS = 0.6


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    """The local Sora API simulator, over real HTTP, for the whole run."""
    handle = run_simulator_in_thread(
        seconds_per_video=SIMULATED_SECONDS, state_dir=tmp_path_factory.mktemp("simulator")
    )
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunServers]:
    started = start_test_servers(tmp_path_factory.mktemp("servers"))
    yield started
    started.close()


def make_settings(
    servers: RunServers, data_dir: Path, simulator: SimulatorHandle | None = None, **overrides: object
) -> Settings:
    return Settings(
        database_url=servers.database_url,
        redis_url=servers.redis_url,
        redis_namespace=servers.redis_namespace,
        secret_key=TEST_SECRET,
        data_dir=data_dir,
        db_pool_size=5,
        # Many test apps share one small embedded PostgreSQL: few kept connections, more on demand.
        db_max_overflow=10,
        # Generous limits by default; the rate-limit tests build an app with tight ones.
        signup_rate_limit="10000/hour",
        token_rate_limit="10000/minute",
        login_rate_limit="10000/minute",
        # The access log's line per request is for operators; a failing test's output needs only warnings.
        log_level="WARNING",
        write_rate_limit="100000/minute",
        feed_rate_limit="100000/minute",
        read_rate_limit="100000/minute",
        # Every test client comes from one address.
        ip_write_rate_limit="1000000/minute",
        ip_read_rate_limit="1000000/minute",
        openai_base_url=simulator.url if simulator else None,
        generation_poll_seconds=0.1,
        # Tests that run worker processes keep their generations in their own Redis namespace and
        # simulator; an app's sweep (every minute) stepping into one left idle by a killed worker
        # would ask its own simulator and fail it. The sweep's test backdates its generation.
        generation_sweep_idle_seconds=86400,
        # The job worker runs inside the test app, as in the embedded default.
        worker_in_process=simulator is not None,
    ).replace(**overrides)


@pytest.fixture(scope="session")
def settings(
    servers: RunServers, simulator: SimulatorHandle, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return make_settings(servers, tmp_path_factory.mktemp("data"), simulator)


@pytest.fixture(scope="session")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@asynccontextmanager
async def serve_in_process(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the test's own event loop (so factories and the app share one pool), spoken to
    over HTTP semantics through httpx's ASGI transport."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def hold_lifespan() -> None:
        # Entered and exited in this one task, as Litestar's lifespan requires.
        async with app.lifespan():
            started.set()
            await stop.wait()

    holder = asyncio.create_task(hold_lifespan())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({holder, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if holder.done():
        waiter.cancel()
        holder.result()  # startup failed: raise its error
    try:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        stop.set()
        await holder


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(app) as http:
        yield http


@pytest.fixture(scope="session")
def resources(app: Litestar, client: httpx.AsyncClient) -> Resources:
    found: Resources = app.state.resources
    return found


async def wipe(resources: Resources) -> None:
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    for attempt in range(5):
        try:
            async with resources.engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            break
        except DBAPIError as exc:
            # A job the previous test started may still be writing (a generation step, a fan-out);
            # when PostgreSQL picks the TRUNCATE as the deadlock victim, try again.
            if "deadlock detected" not in str(exc) or attempt == 4:
                raise
            await asyncio.sleep(0.2)
    for pattern in namespace_patterns(resources.settings.redis_namespace):
        keys = [key async for key in resources.redis.scan_iter(match=pattern, count=500)]
        if keys:
            await resources.redis.delete(*keys)


@pytest.fixture(autouse=True)
async def clean_data(request: pytest.FixtureRequest) -> None:
    """Every test that touches the app starts from empty tables and an empty Redis namespace."""
    if "client" in request.fixturenames or "users" in request.fixturenames:
        await wipe(request.getfixturevalue("resources"))


@pytest.fixture
def users(resources: Resources) -> UserFactory:
    return UserFactory(resources)


@pytest.fixture
def videos(resources: Resources) -> VideoFactory:
    """Drafts made without generation (for tests about what happens to videos afterwards)."""
    return VideoFactory(resources)


@pytest.fixture
def published(client: httpx.AsyncClient, videos: VideoFactory) -> Callable[..., Awaitable[str]]:
    """Make a draft and publish it through the API; returns its id."""

    async def make(author: Actor, *, remix_of: str | None = None, **body: object) -> str:
        draft = await videos.draft(author, remix_of=remix_of)
        response = await publish(client, author, draft.id, **body)
        assert response.status_code == 200, response.text
        return draft.id

    return make


@pytest.fixture
def cameos(resources: Resources) -> CameoFactory:
    return CameoFactory(resources)
