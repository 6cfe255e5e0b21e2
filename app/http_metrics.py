"""Requests no route takes, in the HTTP metrics.

Litestar's Prometheus middleware is route middleware: it runs only for a request the router has
matched, so a 404 for an unknown path, a 405 for a method the path does not take (or a 400 for a
bad Host) was counted nowhere but the access log, and a flood of them was invisible to operators.
This wraps the whole app and counts those in the same families as routed requests
(`remixfeed_requests_total`, `remixfeed_request_duration_seconds`, `remixfeed_requests_error_total`),
with the same labels, under the one fixed path `unrouted`: never the path sent, which anyone can
make up, so a scan cannot grow the metrics without bound.

A request is unrouted when the router left no route handler in its scope. A routed request has one
and is counted by the route middleware, so nothing is counted twice. The status is the one the
error handler answered with, noted in the scope (`note_unrouted_status`): wrapping `send` to read
it would cost every request, routed or not, a few microseconds. A CORS preflight is answered
before routing and is not a request for a route that is missing: it is left out.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.types.asgi_types import HTTPScope

UNROUTED = "unrouted"
# Scope state: the status the error handler answered an unrouted request with.
_UNROUTED_STATUS = "remixfeed.unrouted_status"


def note_unrouted_status(scope: Scope, status: int) -> None:
    """Called by the error handler for every HTTP error it answers; kept only when no route took
    the request (which is when routing itself raised)."""
    if scope.get("route_handler") is None:
        scope["state"][_UNROUTED_STATUS] = status


class UnroutedRequestMetrics:
    """Inside the HEAD handling (app.head), so that a HEAD to an unknown path is named HEAD, and it
    sees the scope the router fills in."""

    def __init__(self, app: ASGIApp, config: PrometheusConfig) -> None:
        self.app = app
        self._config = config
        # Only for its metric families, which Litestar keeps per process by name: the counters the
        # route middleware counts routed requests in.
        self._families = PrometheusMiddleware(app, config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # No wrapper around `send` for every request: the error handler that answers an unrouted
        # request notes its status in the scope (`note_unrouted_status`).
        if scope["type"] != ScopeType.HTTP or _is_preflight(scope):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            # Typed as always there, which only routing makes true.
            if scope.get("route_handler") is None:
                status = scope["state"].get(_UNROUTED_STATUS, HTTP_500_INTERNAL_SERVER_ERROR)
                self._count(scope, receive, status, time.perf_counter() - started)

    def _count(self, scope: Scope, receive: Receive, status: int, duration: float) -> None:
        request = Request[Any, Any, Any](scope, receive)
        # The labels the route middleware gives, in its order (a family's label names are fixed by
        # whichever counts first), with the path replaced.
        labels: dict[str, str | int | float] = {
            "method": request.method,
            "path": UNROUTED,
            "status_code": status,
            "app_name": self._config.app_name,
        }
        for name, value in (self._config.labels or {}).items():
            labels[name] = str(value(request) if callable(value) else value)
        labels["path"] = UNROUTED
        values = list(labels.values())
        if status >= HTTP_500_INTERNAL_SERVER_ERROR:
            self._families.requests_error_count(labels).labels(*values).inc()
        self._families.request_count(labels).labels(*values).inc()
        self._families.request_time(labels).labels(*values).observe(duration)


def _is_preflight(scope: HTTPScope) -> bool:
    # Litestar's CORS middleware answers these itself, before routing.
    return scope["method"] == "OPTIONS" and any(name == b"origin" for name, _ in scope["headers"])
