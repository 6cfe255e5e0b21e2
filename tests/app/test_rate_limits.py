"""Per-user budgets on every signed-in write and on feed pages, counted in Redis so that they hold
across API processes, with the RateLimit headers and Retry-After."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from app.factory import create_app
from tests.accounts.helpers import assert_problem
from tests.conftest import make_settings, serve_in_process
from tests.factories import Actor, UserFactory
from tests.harness import RunServers

Publish = Callable[..., Awaitable[str]]


async def like(client: httpx.AsyncClient, actor: Actor, video_id: str) -> httpx.Response:
    return await client.post(f"/v1/videos/{video_id}/like", headers=actor.headers)


async def test_writes_have_a_budget_per_user_shared_by_every_process(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish
) -> None:
    alice, bob, author = await users.create("alice"), await users.create("bob"), await users.create("author")
    video_id = await published(author)
    settings = make_settings(servers, tmp_path, write_rate_limit="3/minute")
    # Two API processes of one deployment: one Redis, one budget.
    async with (
        serve_in_process(create_app(settings)) as first,
        serve_in_process(create_app(settings)) as second,
    ):
        answers = [await like(first, alice, video_id), await like(second, alice, video_id)]
        answers.append(await first.delete(f"/v1/videos/{video_id}/like", headers=alice.headers))
        assert [answer.status_code for answer in answers] == [204, 204, 204]
        assert answers[-1].headers["ratelimit-limit"] == "3"
        assert answers[-1].headers["ratelimit-remaining"] == "0"

        refused = await like(second, alice, video_id)
        assert_problem(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) > 0
        assert refused.headers["ratelimit-remaining"] == "0"
        # The refused write did nothing: alice's unlike stands.
        seen = await first.get(f"/v1/videos/{video_id}", headers=alice.headers)
        assert seen.json()["liked_by_me"] is False

        # Reading is not a write, and the budget is alice's alone.
        assert seen.status_code == 200
        assert (await like(first, bob, video_id)).status_code == 204


async def test_a_forged_token_spends_nobodys_budget(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish
) -> None:
    alice, author = await users.create("alice"), await users.create("author")
    video_id = await published(author)
    settings = make_settings(servers, tmp_path, write_rate_limit="2/minute")
    header, payload, _ = alice.headers["Authorization"].removeprefix("Bearer ").split(".")
    forged = {"Authorization": f"Bearer {header}.{payload}.c2lnbmF0dXJl"}
    async with serve_in_process(create_app(settings)) as client:
        for _ in range(3):
            answer = await client.post(f"/v1/videos/{video_id}/like", headers=forged)
            assert_problem(answer, 401, "not_authenticated")
        assert (await like(client, alice, video_id)).status_code == 204


async def test_feed_pages_have_a_budget_per_user(
    servers: RunServers, tmp_path: Path, users: UserFactory
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    settings = make_settings(servers, tmp_path, feed_rate_limit="2/minute")
    async with serve_in_process(create_app(settings)) as client:
        for _ in range(2):
            page = await client.get("/v1/feed", headers=alice.headers)
            assert page.status_code == 200, page.text
            assert page.headers["ratelimit-limit"] == "2"
        refused = await client.get("/v1/feed", headers=alice.headers)
        assert_problem(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) > 0
        assert (await client.get("/v1/feed", headers=bob.headers)).status_code == 200
        # Other reads are not feed pages.
        assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
