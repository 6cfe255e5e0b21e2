"""Browsers: the API answers web clients on other origins (ARCHITECTURE.md: mobile and web clients),
so a preflight must accept every header the API documents a client may send, and cross-origin
answers must let a page read the headers the API documents it answers with."""

from __future__ import annotations

import httpx

from tests.accounts.helpers import assert_problem
from tests.factories import UserFactory
from tests.feed.factories import VideoFactory

ORIGIN = "https://web.example"


async def preflight(client: httpx.AsyncClient, path: str, method: str, headers: str) -> httpx.Response:
    """What a browser asks before a cross-origin request with these headers."""
    asked = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }
    return await client.options(path, headers=asked)


async def test_preflight_accepts_every_header_a_client_may_send(client: httpx.AsyncClient) -> None:
    # X-Request-ID is one a client may send (README, Observability); asking for it was refused with a
    # text/plain 400 ("Disallowed CORS headers"), so the browser never sent the request at all.
    response = await preflight(
        client, "/v1/generations", "POST", "authorization, content-type, idempotency-key, x-request-id"
    )

    assert response.status_code == 204, response.text
    allowed = {name.strip().lower() for name in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "x-request-id"} <= allowed


async def test_a_page_may_ask_for_a_range_of_media_and_read_what_it_got(
    client: httpx.AsyncClient, users: UserFactory, videos: VideoFactory
) -> None:
    # A page fetching a video with its token is preflighted, Range and If-Range included (README,
    # conventions: media takes them); and it reads which bytes it got from Content-Range.
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    path = f"/v1/videos/{draft.id}/content"

    asked = await preflight(client, path, "GET", "authorization, range, if-range")
    answer = await client.get(path, headers={**alice.headers, "Origin": ORIGIN, "Range": "bytes=0-9"})

    assert asked.status_code == 204, asked.text
    allowed = {name.strip().lower() for name in asked.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "range", "if-range"} <= allowed
    assert answer.status_code == 206
    exposed = {name.strip().lower() for name in answer.headers["access-control-expose-headers"].split(",")}
    assert {"accept-ranges", "content-range"} <= exposed


async def test_a_page_may_read_the_headers_the_api_documents(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    # Without Access-Control-Expose-Headers a page sees only the CORS-safelisted headers: not the
    # Retry-After and RateLimit-* of a 429 (API.md, Conventions), nor the request id.
    alice = await users.create("alice")

    response = await client.get("/v1/me", headers={**alice.headers, "Origin": ORIGIN})

    assert response.status_code == 200
    exposed = {
        name.strip().lower() for name in response.headers.get("access-control-expose-headers", "").split(",")
    }
    assert {
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-request-id",
    } <= exposed


async def test_a_page_may_revalidate_media_and_read_its_etag(
    client: httpx.AsyncClient, users: UserFactory, videos: VideoFactory
) -> None:
    # A page keeping a video revalidates it (If-None-Match, If-Modified-Since) and resumes it
    # (If-Range with the ETag it read): the preflight must accept them and the page read the ETag.
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    path = f"/v1/videos/{draft.id}/content"

    asked = await preflight(client, path, "GET", "authorization, if-none-match, if-modified-since, if-range")
    answer = await client.get(path, headers={**alice.headers, "Origin": ORIGIN})
    revalidated = await client.get(
        path, headers={**alice.headers, "Origin": ORIGIN, "If-None-Match": answer.headers["etag"]}
    )

    assert asked.status_code == 204, asked.text
    allowed = {name.strip().lower() for name in asked.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "if-none-match", "if-modified-since", "if-range"} <= allowed
    assert revalidated.status_code == 304
    for response in (answer, revalidated):
        exposed = {
            name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")
        }
        assert "etag" in exposed


async def test_a_refused_preflight_is_a_problem_like_every_other_error(client: httpx.AsyncClient) -> None:
    # Litestar's CORS middleware answers it itself: it was 400 text/plain "Disallowed CORS headers".
    refused = await preflight(client, "/v1/me", "PATCH", "authorization, x-not-allowed")

    body = assert_problem(refused, 400, "bad_request")
    assert body["detail"] == "Disallowed CORS headers"
    assert int(refused.headers["content-length"]) == len(refused.content)
    assert "access-control-allow-origin" not in refused.headers
