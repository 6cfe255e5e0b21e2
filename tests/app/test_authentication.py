"""Default deny: every route needs a valid access token except the few listed here. Walks the
app's own route table, so a new route cannot be forgotten."""

from __future__ import annotations

import asyncio
import gc
import re
import uuid
from typing import Any

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute

from app.resources import Resources
from app.security import OPENAPI_PATH, SigningKeys, encode_access_token
from tests.conftest import TEST_SECRET

# The only routes anyone may call without logging in, and why.
PUBLIC = {
    ("POST", "/v1/auth/signup"),  # the way in
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/auth/refresh"),  # the refresh token is the credential
    ("POST", "/v1/auth/logout"),
    ("POST", "/v1/auth/password-reset"),  # for whoever forgot their password
    ("POST", "/v1/auth/password-reset/confirm"),  # the token from the mail is the credential
    ("GET", "/v1/usernames/{username:str}/availability"),  # while signing up
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    ("GET", "/media/{key:path}"),  # public avatars, unguessable keys
    ("POST", "/v1/webhooks/sora"),  # authenticated by its signature
}


# The multipart routes.
_UPLOADS = {("PUT", "/v1/me/avatar"), ("POST", "/v1/cameos/{cameo_id:str}/recording")}


def _routes(app: Litestar) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(OPENAPI_PATH):
            continue
        for method in route.methods - {"OPTIONS", "HEAD"}:
            found.add((method, route.path))
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)


async def test_public_routes_are_exactly_the_listed_ones(app: Litestar) -> None:
    public = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method, (handler, _) in route.route_handler_map.items()
        if method not in ("OPTIONS", "HEAD") and handler.opt.get("public")
    }
    assert public == PUBLIC


async def test_every_other_route_refuses_an_anonymous_caller(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    private = sorted(_routes(app) - PUBLIC)
    assert len(private) > 30
    for method, path in private:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YTpi"}):
            # A body is sent too: it must not be read, let alone fail, before the token is checked.
            response = await client.request(
                method,
                _concrete(path),
                headers={**headers, "content-type": "application/json"},
                content=b"\xff{",
            )
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_valid_token_of_an_account_that_no_longer_exists_is_refused_cleanly(
    app: Litestar, client: httpx.AsyncClient, resources: Resources
) -> None:
    # The account check raises while the request's session is already open, beside other
    # dependencies. Each route must answer 401 and leave nothing behind: no connection held, and no
    # "Task exception was never retrieved" when the abandoned session's generator is collected.
    token, _ = encode_access_token(SigningKeys(TEST_SECRET), str(uuid.uuid4()), "user", 600)
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        for method, path in sorted(_routes(app) - PUBLIC):
            # The body is read before the dependencies run, so each route gets one it can parse.
            body: dict[str, Any] = (
                {"files": {"file": ("upload", b"0")}} if (method, path) in _UPLOADS else {"json": {}}
            )
            response = await client.request(
                method, _concrete(path), headers={"Authorization": f"Bearer {token}"}, **body
            )
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["code"] == "not_authenticated"
            gc.collect()
            await asyncio.sleep(0.01)  # lets the collected generators' aclose() tasks run
            assert reported == [], (method, path, reported)
    finally:
        loop.set_exception_handler(previous)
    assert resources.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
