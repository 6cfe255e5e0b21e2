"""Follower and following counts are kept on the users row with every follow, unfollow and block
(not counted on each profile read), so they must agree with the follows through repeats, blocks
and many follows at once."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text

from app.resources import Resources
from tests.accounts.helpers import block, counts, follow, profile, unblock, unfollow
from tests.factories import UserFactory


async def assert_counts_agree_with_follows(resources: Resources) -> None:
    async with resources.engine.connect() as connection:
        disagreeing = (
            await connection.execute(
                text(
                    """SELECT username FROM users u
                       WHERE follower_count <> (SELECT count(*) FROM follows WHERE followee_id = u.id)
                          OR following_count <> (SELECT count(*) FROM follows WHERE follower_id = u.id)"""
                )
            )
        ).all()
    assert disagreeing == []


async def test_repeats_unfollows_and_blocks_move_the_counts_once(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    for _ in range(2):  # following twice is one follow
        assert (await follow(client, alice.headers, "bob")).status_code == 204
    assert (await follow(client, bob.headers, "alice")).status_code == 204
    assert await counts(client, alice.headers) == (1, 1)
    assert (await profile(client, alice.headers, "bob")).json()["follower_count"] == 1

    for _ in range(2):  # unfollowing twice is one unfollow
        assert (await unfollow(client, alice.headers, "bob")).status_code == 204
    assert await counts(client, alice.headers) == (1, 0)
    assert await counts(client, bob.headers) == (0, 1)

    # A block ends the follows both ways, and moves both people's counts.
    assert (await follow(client, alice.headers, "bob")).status_code == 204
    assert (await block(client, bob.headers, "alice")).status_code == 204
    assert await counts(client, alice.headers) == (0, 0)
    assert await counts(client, bob.headers) == (0, 0)
    assert (await unblock(client, bob.headers, "alice")).status_code == 204
    assert (await follow(client, alice.headers, "bob")).status_code == 204
    assert await counts(client, bob.headers) == (1, 0)
    await assert_counts_agree_with_follows(resources)


async def test_many_follows_at_once_count_exactly_and_do_not_deadlock(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    star = await users.create("star")
    fans = [await users.create(f"fan{n}") for n in range(12)]
    ring = [await users.create(f"ring{n}") for n in range(6)]

    # Twelve people follow one at once; a ring follows itself round at once (each follow touches
    # two users' counts, in an order the ring would turn into a deadlock if rows were locked as met).
    answers = await asyncio.gather(
        *(follow(client, fan.headers, "star") for fan in fans),
        *(follow(client, member.headers, f"ring{(n + 1) % len(ring)}") for n, member in enumerate(ring)),
        *(follow(client, member.headers, f"ring{(n - 1) % len(ring)}") for n, member in enumerate(ring)),
    )
    assert [answer.status_code for answer in answers] == [204] * len(answers), [a.text for a in answers]
    assert await counts(client, star.headers) == (12, 0)
    assert await counts(client, ring[0].headers) == (2, 2)

    answers = await asyncio.gather(*(unfollow(client, fan.headers, "star") for fan in fans[:5]))
    assert [answer.status_code for answer in answers] == [204] * 5
    assert await counts(client, star.headers) == (7, 0)
    await assert_counts_agree_with_follows(resources)


async def follows_versions(resources: Resources, *usernames: str) -> list[int]:
    async with resources.engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT username, follows_version FROM users WHERE username = ANY(:names)"),
                {"names": list(usernames)},
            )
        ).all()
    version = dict(rows)
    return [version[name] for name in usernames]


async def test_every_change_of_someones_follows_moves_their_follows_version_only(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    # The feed ranks again when it moves (feed.timeline.ranking): a follow then an unfollow leaves
    # the count as it was, so the count alone cannot tell.
    alice, bob = await users.create("alice"), await users.create("bob")
    assert await follows_versions(resources, "alice", "bob") == [0, 0]
    assert (await follow(client, alice.headers, "bob")).status_code == 204
    assert await follows_versions(resources, "alice", "bob") == [1, 0]
    assert (await follow(client, alice.headers, "bob")).status_code == 204  # no change: no move
    assert (await unfollow(client, alice.headers, "bob")).status_code == 204
    assert await follows_versions(resources, "alice", "bob") == [2, 0]
    assert (await unfollow(client, alice.headers, "bob")).status_code == 204  # no change: no move
    assert await follows_versions(resources, "alice", "bob") == [2, 0]

    # A block ends the follows both ways: both people's follows changed.
    assert (await follow(client, alice.headers, "bob")).status_code == 204
    assert (await follow(client, bob.headers, "alice")).status_code == 204
    assert (await block(client, bob.headers, "alice")).status_code == 204
    assert await follows_versions(resources, "alice", "bob") == [4, 2]
