"""Liveness, readiness, metrics, and what still works when Redis is unreachable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sqlalchemy import text

from app.factory import create_app
from app.health import CHECK_TIMEOUT_SECONDS
from tests.conftest import make_settings, serve_in_process
from tests.harness import RunServers


async def test_live_and_ready(client: httpx.AsyncClient) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "redis": "ok"}


async def test_metrics_count_requests_by_route(client: httpx.AsyncClient) -> None:
    await client.get("/health/live")
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'remixfeed_requests_total{app_name="remixfeed",method="GET",path="/health/live"' in metrics.text


async def test_without_redis_ready_says_so_and_sign_in_still_works(
    servers: RunServers, tmp_path: Path, client: httpx.AsyncClient
) -> None:
    settings = make_settings(
        servers, tmp_path, redis_url=f"unix://{tmp_path}/no-redis-here.sock", invite_required=False
    )
    async with serve_in_process(create_app(settings)) as degraded:
        ready = await degraded.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "database": "ok", "redis": "unreachable"}

        # Rate limits cannot be counted, so they are not enforced; sign-up and login go on.
        signup = await degraded.post(
            "/v1/auth/signup",
            json={
                "email": "r@example.test",
                "password": "no redis today",
                "username": "noredis",
                "birthdate": "1990-01-01",
            },
        )
        assert signup.status_code == 201, signup.text
        assert "ratelimit-limit" not in signup.headers
        login = await degraded.post("/v1/auth/token", json={"login": "noredis", "password": "no redis today"})
        assert login.status_code == 200
        me = await degraded.get("/v1/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
        assert me.json()["username"] == "noredis"


async def ready_within_bound(http: httpx.AsyncClient) -> httpx.Response:
    """GET /health/ready, which must answer within its bound (and a little slack), not after the
    10 s a request waits for a pooled connection or a new one."""
    started = time.monotonic()
    ready = await http.get("/health/ready")
    assert time.monotonic() - started < CHECK_TIMEOUT_SECONDS + 3
    return ready


async def test_ready_answers_within_its_bound_when_the_pool_is_taken(
    servers: RunServers, tmp_path: Path
) -> None:
    """A taken pool (every connection in use) is a busy database, not an unreachable one, and the
    check says so within its bound, not after the 10 s a request would wait for a connection (a
    load balancer's probe would give up first). Busy is still ready: dropping a loaded process from
    the load balancer would only push its load onto the others."""
    settings = make_settings(servers, tmp_path, db_pool_size=1, db_max_overflow=0)
    app = create_app(settings)
    async with serve_in_process(app) as http:
        resources = app.state.resources
        async with resources.engine.connect() as held:
            await held.execute(text("SELECT 1"))
            ready = await ready_within_bound(http)
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "database": "busy", "redis": "ok"}
        # The check gave back what it was given: once the connection is free, the database is ok.
        again = await http.get("/health/ready")
        assert again.json() == {"status": "ok", "database": "ok", "redis": "ok"}
        assert resources.engine.pool.checkedout() == 0


@asynccontextmanager
async def silent_listener() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word, like a hung server."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_ready_answers_within_its_bound_when_the_database_does_not(
    servers: RunServers, tmp_path: Path
) -> None:
    """A database that takes connections and never answers (a hung server, a black-holed network)
    is unreachable within the bound, though connecting could take 10 s."""
    async with silent_listener() as port:
        settings = make_settings(servers, tmp_path).replace(
            database_url=f"postgresql://postgres@127.0.0.1:{port}/postgres"
        )
        app = create_app(settings)
        async with serve_in_process(app) as http:
            ready = await ready_within_bound(http)
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "unreachable", "redis": "ok"}
