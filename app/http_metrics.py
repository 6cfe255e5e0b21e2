"""Requests no route takes, in the HTTP metrics.

Litestar's Prometheus middleware is route middleware: it runs only for a request the router has
matched, so a 404 for an unknown path, a 405 for a method the path does not take (or a 400 for a
bad Host) was counted nowhere but the access log, and a flood of them was invisible to operators.
This wraps the whole app and counts those in the same families as routed requests
(`remixfeed_requests_total`, `remixfeed_request_duration_seconds`, `remixfeed_requests_error_total`),
with the same labels, under the one fixed path `unrouted`: never the path sent, which anyone can
make up, so a scan cannot grow the metrics without bound.

A request is unrouted when the router left no route handler in its scope. A routed request has one
and is counted by the route middleware, so nothing is counted twice. A CORS preflight is answered
before routing and is not a request for a route that is missing: it is left out.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.types.asgi_types import HTTPScope

UNROUTED = "unrouted"


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
        if scope["type"] != ScopeType.HTTP or _is_preflight(scope):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer = {"status": HTTP_500_INTERNAL_SERVER_ERROR, "duration": 0.0}

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                # As the route middleware measures: until the last of the body is handed on.
                answer["duration"] = time.perf_counter() - started
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            # Typed as always there, which only routing makes true.
            if scope.get("route_handler") is None:
                self._count(
                    scope, receive, int(answer["status"]), answer["duration"] or time.perf_counter() - started
                )

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
