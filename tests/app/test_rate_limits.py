"""Per-user budgets on every signed-in write and on feed pages, counted in Redis so that they hold
across API processes, with the RateLimit headers and Retry-After."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from litestar import Litestar

from app.factory import create_app
from generation.simulator import SimulatorHandle
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


def from_address(actor: Actor | None, address: str) -> dict[str, str]:
    # The test app trusts 127.0.0.1 as its proxy, so X-Forwarded-For names the client.
    return {**(actor.headers if actor else {}), "X-Forwarded-For": address}


async def test_writes_have_a_budget_per_address_whoever_signs_in(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish
) -> None:
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    video_id = await published(await users.create("author"))
    settings = make_settings(servers, tmp_path, ip_write_rate_limit="2/minute", trusted_proxies="127.0.0.1")
    async with serve_in_process(create_app(settings)) as client:
        like_path = f"/v1/videos/{video_id}/like"
        assert (await client.post(like_path, headers=from_address(alice, "203.0.113.7"))).status_code == 204
        assert (await client.post(like_path, headers=from_address(bob, "203.0.113.7"))).status_code == 204
        # A third account behind the same address shares its budget...
        refused = await client.post(like_path, headers=from_address(carol, "203.0.113.7"))
        assert_problem(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) > 0
        # ...and so does anyone signing in from there: public writes count too.
        login = await client.post(
            "/v1/auth/token",
            json={"login": "carol", "password": "wrong password"},
            headers=from_address(None, "203.0.113.7"),
        )
        assert_problem(login, 429, "rate_limited")
        # Another address has a budget of its own.
        assert (await client.post(like_path, headers=from_address(carol, "198.51.100.4"))).status_code == 204
        liked = await client.get(f"/v1/videos/{video_id}", headers=carol.headers)
        assert liked.json()["like_count"] == 3


async def test_the_signed_provider_webhook_is_not_a_client_write(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    settings = make_settings(servers, tmp_path, openai_base_url=simulator.url, ip_write_rate_limit="1/minute")
    event = b'{"id": "evt_1", "type": "video.completed", "data": {"id": "video_1"}}'
    async with serve_in_process(create_app(settings)) as client:
        for _ in range(3):
            # Unconfigured webhooks answer 404; what matters is that none is refused as a write.
            answer = await client.post("/v1/webhooks/sora", content=event)
            assert_problem(answer, 404)
            assert "ratelimit-limit" not in answer.headers


async def test_expensive_reads_have_a_budget_per_user_and_per_address(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(await users.create("author"))
    settings = make_settings(
        servers,
        tmp_path,
        read_rate_limit="2/minute",
        ip_read_rate_limit="2/minute",
        trusted_proxies="127.0.0.1",
    )
    tree, lineage = f"/v1/videos/{video_id}/tree", f"/v1/videos/{video_id}/lineage"
    async with serve_in_process(create_app(settings)) as client:
        assert (await client.get(tree, headers=from_address(alice, "203.0.113.7"))).status_code == 200
        answer = await client.get(lineage, headers=from_address(alice, "198.51.100.4"))
        assert answer.status_code == 200
        assert answer.headers["ratelimit-remaining"] == "0"  # alice's own budget is the tighter
        assert_problem(await client.get(tree, headers=from_address(alice, "192.0.2.1")), 429, "rate_limited")
        # A cheap read is not counted.
        assert (await client.get(f"/v1/videos/{video_id}", headers=alice.headers)).status_code == 200

        # bob has a budget of his own, but shares 203.0.113.7's with alice: one left there.
        assert (await client.get(tree, headers=from_address(bob, "203.0.113.7"))).status_code == 200
        feed = await client.get("/v1/feed", headers=from_address(bob, "203.0.113.7"))
        assert_problem(feed, 429, "rate_limited")


def test_the_openapi_document_lists_429_wherever_a_limit_applies(app: Litestar) -> None:
    document = app.openapi_schema.to_schema()
    expensive_reads = {
        "/v1/feed",
        "/v1/videos/{video_id}/tree",
        "/v1/videos/{video_id}/lineage",
        "/v1/videos/{video_id}/remixes",
        "/v1/generations/{generation_id}/events",
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            limited = (method != "get" and path != "/v1/webhooks/sora") or (
                method == "get" and path in expensive_reads
            )
            assert ("429" in operation["responses"]) is limited, (method, path)
