"""create_app(): the Litestar application, used by the server, the tests and `remixfeed openapi`.

Building the app connects to nothing; the lifespan opens the database pool, Redis and the job
worker (when it runs in this process) and closes them on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncGenerator
from typing import Any

import structlog
from litestar import Litestar, Request
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig

from app.bodies import strict_json_body
from app.composition import DEPENDENCIES, JOBS, ROUTE_HANDLERS
from app.dependencies import (
    AbandonedSessionMiddleware,
    provide_db_session,
    provide_media_deletions,
    provide_resources,
    provide_settings,
    provide_signing_keys,
    provide_storage,
)
from app.errors import ProblemOnlyErrors, exception_handlers
from app.head import HeadAsGetMiddleware, requested_method
from app.health import HealthController, MetricsController
from app.http_metrics import UnroutedRequestMetrics
from app.jobs import build_worker, run_worker_forever
from app.logging import configure_logging
from app.media import media
from app.openapi import StrictStructSchemaPlugin, document_common_answers
from app.query import refuse_repeated_query_params, single_valued_query_params
from app.ratelimit import RateLimiter, RateLimitMiddleware
from app.requestid import RequestIdMiddleware
from app.resources import Resources, open_resources
from app.security import OPENAPI_PATH, authentication_guard, resolve_secret_key
from app.settings import Settings, load_settings

log = structlog.get_logger(__name__)

API_VERSION = "1.0.0"
JSON_BODY_LIMIT = 1024 * 1024


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="remixfeed",
        version=API_VERSION,
        description="API of a short-video social app: accounts, follows, a paced feed, remix lineage, "
        "consent-gated cameos and moderation. Errors are application/problem+json with a stable `code`.",
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
            }
        ),
        use_handler_docstrings=True,
        path=OPENAPI_PATH,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = resolve_secret_key(settings or load_settings())
    configure_logging(settings)
    prometheus = PrometheusConfig(
        app_name="remixfeed",
        prefix="remixfeed",
        group_path=True,
        exclude=["/metrics"],
        # Replaces the default `method` label, which would name a HEAD as the GET it is handled as.
        labels={"method": requested_method},
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        resources = open_resources(settings)
        app.state.resources = resources
        app.state.rate_limiter = RateLimiter(resources.redis, settings)
        worker_task = _start_worker(resources)
        try:
            yield
        finally:
            if worker_task is not None:
                worker_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker_task
            await resources.close()

    app = Litestar(
        route_handlers=[*ROUTE_HANDLERS, HealthController, MetricsController, media],
        dependencies={
            "db_session": Provide(provide_db_session),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "signing_keys": Provide(provide_signing_keys, sync_to_thread=False),
            "resources": Provide(provide_resources, sync_to_thread=False),
            "storage": Provide(provide_storage, sync_to_thread=False),
            "media_deletions": Provide(provide_media_deletions, sync_to_thread=False),
            **DEPENDENCIES,
        },
        lifespan=[lifespan],
        before_request=_before_request,
        state=_initial_state(settings),
        exception_handlers=exception_handlers,
        guards=[authentication_guard],
        middleware=[
            prometheus.middleware,
            AbandonedSessionMiddleware(),
            RateLimitMiddleware(),
        ],
        openapi_config=openapi_config(),
        plugins=[StrictStructSchemaPlugin()],
        # Web clients on other origins: the headers a client may send (X-Request-ID too; Range and
        # the conditional headers for media), and the answer headers a page must be able to read (a
        # 429's Retry-After and RateLimit-*, a media range's Content-Range, media's validators;
        # Last-Modified is safelisted).
        cors_config=CORSConfig(
            allow_origins=["*"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "X-Request-ID",
                "Range",
                "If-Range",
                "If-None-Match",
                "If-Modified-Since",
            ],
            expose_headers=[
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "X-Request-ID",
                "Accept-Ranges",
                "Content-Range",
                "ETag",
            ],
        ),
        request_max_body_size=JSON_BODY_LIMIT,
        logging_config=None,  # app.logging configures logging; Litestar must not replace it
        debug=False,
    )
    document_common_answers(app)
    app.state.single_valued_query_params = single_valued_query_params(app)
    # Around the whole app rather than among the routes' middleware, which only a routed request
    # reaches: a 404 for an unknown path or a 405 also names its request id, is logged and is
    # counted in the request metrics (as `unrouted`). HEAD is turned into GET before routing
    # (Litestar would answer it 405), inside the access log. An error answered by something other
    # than the exception handlers (a refused CORS preflight) is made problem+json inside that.
    app.asgi_handler = RequestIdMiddleware()(
        HeadAsGetMiddleware(ProblemOnlyErrors(UnroutedRequestMetrics(app.asgi_handler, prometheus)))
    )
    return app


def create_served_app() -> Litestar:
    """The app as `remixfeed serve` runs it: one per serving process, for the process's life."""
    app = create_app()
    # What exists now (modules, the app, its routes, schemas and mappers) lives as long as the
    # process. Frozen, it is left out of the collector's full passes, which otherwise walk it all:
    # 200-300 ms per pass in an API process under the feed benchmark, a pause for every request.
    gc.collect()
    gc.freeze()
    return app


async def _before_request(request: Request[Any, Any, Any]) -> None:
    """Run before every handler's arguments are read: a repeated query parameter (app.query), then
    a body of the wrong type or one that only coerced values fit (app.bodies)."""
    refuse_repeated_query_params(request)
    await strict_json_body(request)


def _initial_state(settings: Settings) -> State:
    return State({"settings": settings})


def _start_worker(resources: Resources) -> asyncio.Task[None] | None:
    settings = resources.settings
    in_process = settings.worker_in_process
    if in_process is None:
        in_process = settings.embedded_database and settings.embedded_redis
    if not in_process:
        return None
    worker = build_worker(resources, JOBS, in_process=True)
    log.info("job_worker_in_process")
    return asyncio.create_task(run_worker_forever(worker), name="remixfeed-worker")
