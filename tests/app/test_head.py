"""HEAD on GET routes (app.head): GET's status and headers without the body, authorized and
rate-limited as the GET is."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from app.factory import create_app
from app.resources import Resources
from tests.conftest import make_settings, serve_in_process
from tests.factories import UserFactory
from tests.generation.helpers import stored_generation
from tests.harness import RunServers
from tests.metrics import sample
from tests.processes import eventually

# What differs between two answers to the same question.
_PER_ANSWER = {"x-request-id", "date"}


def same_headers(head: httpx.Response, get: httpx.Response) -> None:
    assert head.status_code == get.status_code, (head.status_code, get.status_code)
    assert head.content == b"", head.content
    seen = {name: value for name, value in head.headers.items() if name not in _PER_ANSWER}
    expected = {name: value for name, value in get.headers.items() if name not in _PER_ANSWER}
    assert seen == expected


async def test_head_answers_as_get_without_the_body(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create("alice")
    for path, headers in (
        ("/health/live", {}),
        ("/health/ready", {}),
        ("/v1/me", alice.headers),
        (f"/v1/users/{alice.username}", alice.headers),
        ("/v1/me", {}),  # refused: 401 with its WWW-Authenticate, as GET is
        ("/v1/no-such-thing", {}),
    ):
        head = await client.head(path, headers=headers)
        get = await client.get(path, headers=headers)
        same_headers(head, get)
        assert int(head.headers["content-length"]) == len(get.content), path

    # A path that takes no GET is still 405 for HEAD, and its Allow names what it takes.
    refused = await client.head("/v1/auth/token")
    assert refused.status_code == 405
    assert "HEAD" not in refused.headers["allow"]
    assert "POST" in refused.headers["allow"]
    assert refused.content == b""
    # And a path that takes GET names HEAD too.
    assert "HEAD" in (await client.delete("/health/live")).headers["allow"]


async def test_metrics_count_a_head_as_head(client: httpx.AsyncClient) -> None:
    """The HTTP metrics name the method the client sent, as the access log does, though HEAD is
    handled as the GET."""

    def counted(metrics: str, method: str) -> float:
        return sample(
            metrics,
            "remixfeed_requests_total",
            app_name="remixfeed",
            method=method,
            path="/health/live",
            status_code="200",
        )

    before = (await client.get("/metrics")).text
    for _ in range(2):
        assert (await client.head("/health/live")).status_code == 200
    assert (await client.get("/health/live")).status_code == 200
    after = (await client.get("/metrics")).text

    assert counted(after, "HEAD") - counted(before, "HEAD") == 2
    assert counted(after, "GET") - counted(before, "GET") == 1


async def test_head_spends_the_budget_of_the_get(
    servers: RunServers, tmp_path: Path, users: UserFactory
) -> None:
    alice = await users.create("alice")
    settings = make_settings(servers, tmp_path, feed_rate_limit="2/minute")
    async with serve_in_process(create_app(settings)) as client:
        first = await client.head("/v1/feed", headers=alice.headers)
        assert first.status_code == 200
        assert first.headers["ratelimit-remaining"] == "1"
        assert (await client.get("/v1/feed", headers=alice.headers)).status_code == 200
        refused = await client.head("/v1/feed", headers=alice.headers)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert refused.content == b""


async def test_head_on_a_progress_stream_ends_and_gives_its_place_back(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    waiting = str((await stored_generation(resources, alice.id, "a generation nothing moves on")).id)
    head = await asyncio.wait_for(
        client.head(f"/v1/generations/{waiting}/events", headers=alice.headers), timeout=10
    )
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/event-stream")
    assert head.content == b""
    key = f"{resources.settings.redis_namespace}:generation:streams:{alice.id}"

    async def given_back() -> bool:
        return int(await resources.redis.zcard(key)) == 0

    await eventually(given_back, within=10, what="the HEAD's stream place is given back")
