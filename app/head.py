"""HEAD on every GET route, as HTTP asks: the status and headers GET would answer, and no body.

Litestar 2 routes HEAD only to handlers declared for it (and refuses a HEAD handler that returns a
body), so without this every GET route answered HEAD with 405: load balancers and uptime checkers
probing /health/live with HEAD saw the service as broken. Here a HEAD request is handled as the GET
it asks about, through the same routing, guards, rate limits and handler (a HEAD is counted and
authorized exactly as the GET), and the body is dropped on its way out. Content-Length stays what
GET's would be. The API document does not list HEAD, which HTTP implies wherever GET is.

The HTTP metrics, which run inside this, label such a request HEAD (`requested_method`), as the
access log around it does: a load balancer's HEAD probes are not counted as clients' GETs.

A streamed answer (a generation's progress events) ends once its first chunk is produced: the
client has its headers, and the app is told the client went away, so the stream stops and gives
its place back as it does for a GET whose client disconnects.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send
from litestar.types.asgi_types import HTTPDisconnectEvent, HTTPScope

_DISCONNECT: HTTPDisconnectEvent = {"type": "http.disconnect"}
# Set in the scope state of a HEAD handled as its GET.
_SERVED_AS_GET = "remixfeed.head_served_as_get"


def requested_method(request: Request[Any, Any, Any]) -> str:
    """The method the client sent: HEAD for a HEAD handled here as its GET (the Prometheus
    `method` label)."""
    scope: Scope = request.scope  # the metrics middleware takes websockets too (none are routed now)
    if scope["type"] != ScopeType.HTTP:
        return str(scope["type"])
    return "HEAD" if scope.get("state", {}).get(_SERVED_AS_GET) else request.method


def allow_with_head(allow: str) -> str:
    """A 405's Allow header naming HEAD wherever it names GET (the error handler applies it)."""
    methods = [method.strip() for method in allow.split(",")]
    return f"{allow}, HEAD" if "GET" in methods and "HEAD" not in methods else allow


class HeadAsGetMiddleware:
    """A plain ASGI wrapper rather than Litestar's `ASGIMiddleware`: every request passes through
    it, and anything but a HEAD goes straight on, with nothing wrapped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        answered = asyncio.Event()

        async def send_without_body(message: Message) -> None:
            if answered.is_set():
                return
            if message["type"] == "http.response.start":
                await send(message)
            elif message["type"] == "http.response.body":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                answered.set()

        async def receive_until_answered() -> ReceiveMessage:
            # Once answered, the client is gone as far as the app is concerned (a stream stops).
            if answered.is_set():
                return _DISCONNECT
            received = asyncio.ensure_future(receive())
            done = asyncio.ensure_future(answered.wait())
            await asyncio.wait({received, done}, return_when=asyncio.FIRST_COMPLETED)
            done.cancel()
            if received.done():
                return received.result()
            received.cancel()
            return _DISCONNECT

        # A copy: the access log around this still sees the HEAD the client sent.
        as_get: HTTPScope = {
            **scope,
            "method": "GET",
            "state": {**scope.get("state", {}), _SERVED_AS_GET: True},
        }
        await self.app(as_get, receive_until_answered, send_without_body)
