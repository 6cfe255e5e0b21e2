"""POST/DELETE /v1/users/{username}/block and what a block hides from whom."""

from __future__ import annotations

import pytest

from tests.accounts.helpers import (
    assert_problem,
    block,
    counts,
    follow,
    list_page,
    profile,
    unblock,
    unfollow,
    usernames_in,
)


@pytest.fixture
async def mutual_pair(client, users):
    """alice and bob follow each other."""
    alice = await users.create("alice")
    bob = await users.create("bob")
    assert (await follow(client, alice.headers, "bob")).status_code == 204
    assert (await follow(client, bob.headers, "alice")).status_code == 204
    assert await counts(client, alice.headers) == (1, 1)
    return alice, bob


async def test_block_removes_follows_both_ways(client, mutual_pair):
    alice, bob = mutual_pair

    response = await block(client, alice.headers, "bob")

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert await counts(client, alice.headers) == (0, 0)
    assert await counts(client, bob.headers) == (0, 0)
    assert await usernames_in(client, alice.headers, "alice", "followers") == []
    assert await usernames_in(client, alice.headers, "alice", "following") == []
    # Blocking again is harmless.
    assert (await block(client, alice.headers, "bob")).status_code == 204


async def test_blocked_user_cannot_see_or_follow_the_blocker(client, mutual_pair):
    alice, bob = mutual_pair
    assert (await block(client, alice.headers, "bob")).status_code == 204

    assert_problem(await profile(client, bob.headers, "alice"), 404)
    assert_problem(await list_page(client, bob.headers, "alice", "followers"), 404)
    assert_problem(await list_page(client, bob.headers, "alice", "following"), 404)
    assert_problem(await follow(client, bob.headers, "alice"), 404)
    assert_problem(await unfollow(client, bob.headers, "alice"), 404)

    # The 404 is the same as for someone who does not exist.
    missing = await profile(client, bob.headers, "nobody")
    hidden = await profile(client, bob.headers, "alice")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["code"] == missing.json()["code"]

    # The refused follow did not happen.
    assert await counts(client, alice.headers) == (0, 0)
    assert await counts(client, bob.headers) == (0, 0)


async def test_blocker_still_sees_the_blocked_profile(client, mutual_pair):
    alice, _bob = mutual_pair
    assert (await block(client, alice.headers, "bob")).status_code == 204

    response = await profile(client, alice.headers, "bob")

    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["username"] == "bob"
    assert seen["is_blocked"] is True
    assert seen["is_following"] is False
    assert seen["follows_you"] is False
    assert seen["is_mutual"] is False
    # Following needs both sides willing: the blocker cannot follow while blocking.
    assert_problem(await follow(client, alice.headers, "bob"), 404)
    assert await counts(client, alice.headers) == (0, 0)


async def test_followers_list_hides_people_who_blocked_the_viewer(client, users):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    dave = await users.create("dave")
    for fan in (carol, dave):
        assert (await follow(client, fan.headers, "alice")).status_code == 204
    assert (await follow(client, alice.headers, "carol")).status_code == 204
    # carol blocks bob; alice, the list's owner, blocked nobody.
    assert (await block(client, carol.headers, "bob")).status_code == 204

    assert await usernames_in(client, bob.headers, "alice", "followers") == ["dave"]
    assert await usernames_in(client, bob.headers, "alice", "following") == []
    # Others still see carol in alice's lists.
    assert await usernames_in(client, alice.headers, "alice", "followers") == ["dave", "carol"]
    assert await usernames_in(client, dave.headers, "alice", "following") == ["carol"]
    # And the counts on alice's profile are not affected by carol's block of bob.
    assert (await profile(client, bob.headers, "alice")).json()["follower_count"] == 2


async def test_unblock_restores_visibility_but_not_follows(client, mutual_pair):
    alice, bob = mutual_pair
    assert (await block(client, alice.headers, "bob")).status_code == 204

    response = await unblock(client, alice.headers, "bob")

    assert response.status_code == 204, response.text
    seen = await profile(client, bob.headers, "alice")
    assert seen.status_code == 200, seen.text
    assert seen.json()["is_following"] is False
    assert seen.json()["follows_you"] is False
    assert (await profile(client, alice.headers, "bob")).json()["is_blocked"] is False
    assert await counts(client, alice.headers) == (0, 0)
    assert (await list_page(client, bob.headers, "alice", "followers")).status_code == 200

    # Following works again, and only when asked for.
    assert (await follow(client, bob.headers, "alice")).status_code == 204
    assert await counts(client, alice.headers) == (1, 0)
    # Unblocking again is harmless.
    assert (await unblock(client, alice.headers, "bob")).status_code == 204


async def test_block_unknown_user_or_yourself(client, users):
    alice = await users.create("alice")

    assert_problem(await block(client, alice.headers, "nobody"), 404)
    assert_problem(await block(client, alice.headers, "alice"), 422)
    assert (await profile(client, alice.headers, "alice")).json()["is_blocked"] is False


async def test_block_requires_authentication(client, users):
    await users.create("alice")

    assert_problem(await client.post("/v1/users/alice/block"), 401)


async def blocked_by_me(client, headers, **params) -> dict:
    response = await client.get("/v1/me/blocks", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_caller_lists_whom_they_block_newest_first(client, users):
    alice = await users.create("alice")
    for name in ("bob", "carol", "dave"):
        await users.create(name)
        assert (await block(client, alice.headers, name)).status_code == 204
    # Someone else's blocks are not alice's.
    erin = await users.create("erin")
    assert (await block(client, erin.headers, "bob")).status_code == 204

    first = await blocked_by_me(client, alice.headers, limit=2)
    second = await blocked_by_me(client, alice.headers, limit=2, cursor=first["next_cursor"])

    assert [item["username"] for item in first["items"]] == ["dave", "carol"]
    assert [item["username"] for item in second["items"]] == ["bob"]
    assert second["next_cursor"] is None
    item = first["items"][0]
    assert (item["is_blocked"], item["is_following"], item["follows_you"]) == (True, False, False)
    assert (await blocked_by_me(client, erin.headers))["items"][0]["username"] == "bob"
    assert (await blocked_by_me(client, (await users.create("frank")).headers))["items"] == []


async def test_the_block_list_follows_unblocks_and_leaves_out_who_blocks_back(client, users):
    alice = await users.create("alice")
    bob = await users.create("bob")
    await users.create("carol")
    for name in ("bob", "carol"):
        assert (await block(client, alice.headers, name)).status_code == 204

    assert (await unblock(client, alice.headers, "carol")).status_code == 204
    # bob blocks alice back: he no longer exists for her, as in every list (unblocking by name works).
    assert (await block(client, bob.headers, "alice")).status_code == 204

    assert (await blocked_by_me(client, alice.headers))["items"] == []
    assert (await unblock(client, alice.headers, "bob")).status_code == 204
    assert (await unblock(client, bob.headers, "alice")).status_code == 204
    assert (await blocked_by_me(client, alice.headers))["items"] == []


async def test_a_block_list_cursor_is_the_callers_own(client, users):
    alice = await users.create("alice")
    bob = await users.create("bob")
    for name in ("carol", "dave"):
        await users.create(name)
        for blocker in (alice, bob):
            assert (await block(client, blocker.headers, name)).status_code == 204
    cursor = (await blocked_by_me(client, alice.headers, limit=1))["next_cursor"]

    foreign = await client.get("/v1/me/blocks", headers=bob.headers, params={"cursor": cursor})
    tampered = await client.get("/v1/me/blocks", headers=alice.headers, params={"cursor": cursor[:-2] + "xx"})

    assert_problem(foreign, 400, "invalid_cursor")
    assert_problem(tampered, 400, "invalid_cursor")
