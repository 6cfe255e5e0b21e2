"""Request ids and the access log: every request gets an id, every log line written while it is
handled carries it, and the response names it (`X-Request-ID`), so a client's report, a proxy's log
and ours meet. One `http_request` line per request (method, path, client address, status, duration)
is the access log, at INFO: structured like every other line, JSON with REMIXFEED_LOG_JSON. The
client address is the one rate limits count (`client_ip`: behind trusted proxies, from
X-Forwarded-For).

A sane id sent by the client or a proxy (up to 128 of letters, digits, `.`, `_`, `-`) is kept, so a
request can be followed across services; anything else is replaced by a fresh one.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.ratelimit import client_ip

log = structlog.get_logger("remixfeed.access")

HEADER = "x-request-id"
_SANE = re.compile(r"[A-Za-z0-9._-]{1,128}")


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name.lower() == HEADER.encode():
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                break
            # fullmatch: `$` would let a final newline through, into the answer's header and the log.
            if _SANE.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class RequestIdMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request_id = request_id_of(scope)
        started = time.perf_counter()
        status = 500  # what the client gets if nothing was sent

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableScopeHeaders.from_message(message)[HEADER] = request_id
            await send(message)

        # Each request runs in its own task, so its context variables are its own.
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await next_app(scope, receive, send_with_id)
            finally:
                log.info(
                    "http_request",
                    method=scope.get("method"),
                    path=scope.get("path"),
                    client=client_ip(scope),
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )
