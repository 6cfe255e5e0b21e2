"""Liveness and readiness."""

from __future__ import annotations

import asyncio

import structlog
from litestar import Controller, MediaType, Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.plugins.prometheus import PrometheusController
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from app.composition import METRICS_REFRESHERS
from app.openapi import NEEDS_NO_SERVICES
from app.resources import Resources
from app.security import PUBLIC

log = structlog.get_logger(__name__)


class MetricsController(PrometheusController):
    """Prometheus text format; public like the health checks (put it behind the network edge),
    and left out of the API document, which describes JSON endpoints.

    Before rendering, the refreshers the composition root registers (METRICS_REFRESHERS) update
    the gauges that are read from the database; one that fails is logged and the rest still render."""

    include_in_schema = False
    opt = {PUBLIC: True}

    @get()
    async def get(self, state: State) -> Response[bytes]:
        resources: Resources = state.resources
        for refresh in METRICS_REFRESHERS:
            try:
                await asyncio.wait_for(refresh(resources), timeout=5)
            except Exception as exc:
                log.warning("metrics_refresh_failed", refresher=refresh.__qualname__, error=repr(exc))
        rendered: Response[bytes] = await PrometheusController.get.fn(self)
        return rendered


# Each check, including the wait for a pooled connection, answers within this: a load balancer's
# probe must not hang behind a taken pool (a request there waits up to 10 s, then gets a 503).
CHECK_TIMEOUT_SECONDS = 2.0


async def _select_one(resources: Resources) -> None:
    async with resources.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def _pool_taken(resources: Resources) -> bool:
    """Every connection the pool may hold is in use (and it may not open more)."""
    settings, pool = resources.settings, resources.engine.pool
    if settings.db_max_overflow < 0 or not isinstance(pool, QueuePool):
        return False
    return pool.checkedout() >= settings.db_pool_size + settings.db_max_overflow


async def _database_state(resources: Resources) -> str:
    """ok; busy (every pooled connection was in use when the check began, and none came free
    within the bound); or unreachable. Taken at the start, since a connection the check itself
    is opening counts as in use."""
    taken = _pool_taken(resources)
    try:
        await asyncio.wait_for(_select_one(resources), timeout=CHECK_TIMEOUT_SECONDS)
        return "ok"
    except TimeoutError:
        return "busy" if taken else "unreachable"
    except Exception:
        return "unreachable"


async def _redis_ok(resources: Resources) -> bool:
    try:
        pong = await asyncio.wait_for(resources.redis.ping(), timeout=CHECK_TIMEOUT_SECONDS)  # type: ignore[arg-type]
        return bool(pong)
    except Exception:
        return False


class HealthController(Controller):
    path = "/health"
    tags = ["operations"]
    opt = {PUBLIC: True}

    @get("/live", media_type=MediaType.JSON, opt={NEEDS_NO_SERVICES: True})
    async def live(self) -> dict[str, str]:
        """The process is up and serving."""
        return {"status": "ok"}

    @get(
        "/ready",
        media_type=MediaType.JSON,
        responses={503: ResponseSpec(dict[str, str], description="Unavailable", generate_examples=False)},
    )
    async def ready(self, state: State) -> Response[dict[str, str]]:
        """PostgreSQL and Redis are both reachable (503 naming what is not). A database whose
        pooled connections are all in use is reachable: `busy`, and still 200."""
        resources: Resources = state.resources
        database, redis = await asyncio.gather(_database_state(resources), _redis_ok(resources))
        # A busy pool is a loaded process, not a broken one: taking it out of the load balancer
        # would only push its load onto the others, which are likely as busy.
        ready = database in ("ok", "busy") and redis
        body = {
            "status": "ok" if ready else "unavailable",
            "database": database,
            "redis": "ok" if redis else "unreachable",
        }
        return Response(body, status_code=200 if ready else 503)
