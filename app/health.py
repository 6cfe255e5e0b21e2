"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from litestar import Controller, MediaType, Response, get
from litestar.datastructures import State
from sqlalchemy import text

from app.resources import Resources


async def _database_ok(resources: Resources) -> bool:
    try:
        async with resources.engine.connect() as connection:
            await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=2)
        return True
    except Exception:
        return False


async def _redis_ok(resources: Resources) -> bool:
    try:
        pong = await asyncio.wait_for(resources.redis.ping(), timeout=2)  # type: ignore[arg-type]
        return bool(pong)
    except Exception:
        return False


class HealthController(Controller):
    path = "/health"
    tags = ["operations"]
    include_in_schema = True

    @get("/live", media_type=MediaType.JSON)
    async def live(self) -> dict[str, str]:
        """The process is up and serving."""
        return {"status": "ok"}

    @get("/ready", media_type=MediaType.JSON)
    async def ready(self, state: State) -> Response[dict[str, str]]:
        """PostgreSQL and Redis are both reachable (503 naming what is not)."""
        resources: Resources = state.resources
        database, redis = await asyncio.gather(_database_ok(resources), _redis_ok(resources))
        body = {
            "status": "ok" if database and redis else "unavailable",
            "database": "ok" if database else "unreachable",
            "redis": "ok" if redis else "unreachable",
        }
        return Response(body, status_code=200 if database and redis else 503)
