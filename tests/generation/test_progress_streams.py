"""How many progress streams one user may hold open (`generation.streams`): each holds a Redis
connection while its generation runs, so the count is capped per user, across API processes."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from app.resources import Resources
from tests.accounts.helpers import assert_problem
from tests.factories import Actor, UserFactory
from tests.generation.helpers import generate, stored_generation, wait_until_done
from tests.processes import eventually


def leases_key(resources: Resources, actor: Actor) -> str:
    return f"{resources.settings.redis_namespace}:generation:streams:{actor.id}"


async def events(client: httpx.AsyncClient, actor: Actor, generation_id: str) -> httpx.Response:
    return await client.get(f"/v1/generations/{generation_id}/events", headers=actor.headers)


async def test_an_open_stream_holds_a_place_until_its_client_goes_away(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    waiting = str((await stored_generation(resources, alice.id, "a generation nothing moves on")).id)
    stream = asyncio.create_task(events(client, alice, waiting))
    key = leases_key(resources, alice)

    async def counted() -> bool:
        assert not stream.done(), stream.result().text
        return int(await resources.redis.zcard(key)) == 1

    await eventually(counted, within=15, what="the open stream is counted")
    stream.cancel()  # the client goes away
    with contextlib.suppress(asyncio.CancelledError):
        await stream

    async def given_back() -> bool:
        return int(await resources.redis.zcard(key)) == 0

    await eventually(given_back, within=10, what="the stream's place is given back")


async def test_one_stream_more_than_a_user_may_hold_is_429_and_others_are_not_affected(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    mine = (await generate(client, alice.headers))["id"]
    theirs = (await generate(client, bob.headers))["id"]
    for actor, generation_id in ((alice, mine), (bob, theirs)):
        await wait_until_done(client, actor.headers, generation_id)

    # Alice already holds as many streams as she may, on other API processes.
    cap = resources.settings.progress_streams_per_user
    key = leases_key(resources, alice)
    await resources.redis.zadd(key, {f"elsewhere-{n}": time.time() + 60 for n in range(cap)})
    refused = await events(client, alice, mine)
    assert_problem(refused, 429, "too_many_streams")
    assert int(refused.headers["retry-after"]) > 0
    assert await resources.redis.zcard(key) == cap

    # Bob's streams are counted apart.
    assert (await events(client, bob, theirs)).status_code == 200

    # Streams whose process died stop counting once their leases lapse.
    await resources.redis.zadd(key, {f"elsewhere-{n}": time.time() - 1 for n in range(cap)})
    answered = await events(client, alice, mine)
    assert answered.status_code == 200, answered.text
    assert "event: completed" in answered.text
    assert await resources.redis.zcard(key) == 0
