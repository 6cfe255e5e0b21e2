"""GET/PATCH /v1/me, profiles, follows and the followers/following lists."""

from __future__ import annotations

from datetime import datetime

import pytest

from accounts.models import Role
from app.factory import create_app
from tests.accounts.helpers import (
    assert_client_error,
    assert_problem,
    bearer,
    counts,
    error_fields,
    follow,
    list_page,
    me,
    profile,
    unfollow,
    usernames_in,
    years_ago,
)
from tests.conftest import TEST_SECRET, make_settings, serve_in_process

ME_FIELDS = {
    "id",
    "username",
    "display_name",
    "bio",
    "avatar_url",
    "age_band",
    "role",
    "follower_count",
    "following_count",
    "post_count",
    "created_at",
}
PROFILE_FIELDS = {
    "id",
    "username",
    "display_name",
    "bio",
    "avatar_url",
    "follower_count",
    "following_count",
    "post_count",
    "is_following",
    "follows_you",
    "is_mutual",
    "is_blocked",
}


def is_utc_timestamp(value: str) -> bool:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    offset = parsed.utcoffset()
    return offset is not None and offset.total_seconds() == 0


async def profile_of(client, viewer, username: str) -> dict:
    response = await profile(client, viewer.headers, username)
    assert response.status_code == 200, response.text
    return response.json()


# --- own account ----------------------------------------------------------------------------


async def test_me_fields(client, users):
    alice = await users.create("alice")

    body = await me(client, alice.headers)

    assert set(body) >= ME_FIELDS, ME_FIELDS - set(body)
    assert body["id"] == alice.id
    assert isinstance(body["id"], str)
    assert body["username"] == "alice"
    assert body["display_name"] == "alice"
    assert body["bio"] == ""
    assert body["avatar_url"] is None
    assert body["age_band"] == "adult"
    assert body["role"] == "user"
    assert (body["follower_count"], body["following_count"], body["post_count"]) == (0, 0, 0)
    assert is_utc_timestamp(body["created_at"])


async def test_me_reports_teen_band_and_role(client, users):
    teen = await users.create("teen", birthdate=years_ago(15))
    moderator = await users.create("mod", role=Role.MODERATOR)

    assert (await me(client, teen.headers))["age_band"] == "teen"
    assert (await me(client, moderator.headers))["role"] == "moderator"


async def test_patch_me_changes_display_name_and_bio(client, users):
    alice = await users.create("alice")
    bob = await users.create("bob")

    response = await client.patch(
        "/v1/me", json={"display_name": "Alice A.", "bio": "I make videos."}, headers=alice.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == "Alice A."
    assert response.json()["bio"] == "I make videos."
    assert set(response.json()) >= ME_FIELDS

    # Only the bio: the display name stays.
    response = await client.patch("/v1/me", json={"bio": "b" * 300}, headers=alice.headers)
    assert response.status_code == 200, response.text

    mine = await me(client, alice.headers)
    assert (mine["display_name"], mine["bio"]) == ("Alice A.", "b" * 300)
    seen = await profile_of(client, bob, "alice")
    assert (seen["display_name"], seen["bio"]) == ("Alice A.", "b" * 300)


async def test_patch_me_bio_over_300_chars_is_rejected(client, users):
    alice = await users.create("alice")
    await client.patch("/v1/me", json={"bio": "before"}, headers=alice.headers)

    response = await client.patch("/v1/me", json={"bio": "x" * 301}, headers=alice.headers)

    body = assert_problem(response, 422, "validation_failed")
    assert "bio" in error_fields(body)
    assert (await me(client, alice.headers))["bio"] == "before"


@pytest.mark.parametrize(
    "extra",
    [{"role": "admin"}, {"follower_count": 1000}],
    ids=["role", "follower_count"],
)
async def test_patch_me_protected_fields_are_rejected_and_nothing_changes(client, users, extra):
    alice = await users.create("alice")

    response = await client.patch("/v1/me", json={"display_name": "Changed", **extra}, headers=alice.headers)

    assert_problem(response, 422, "validation_failed")
    mine = await me(client, alice.headers)
    assert mine["role"] == "user"
    assert mine["follower_count"] == 0
    assert mine["display_name"] == "alice"


async def test_patch_me_protected_field_is_named_in_errors(client, users):
    alice = await users.create("alice")

    response = await client.patch("/v1/me", json={"follower_count": 1000}, headers=alice.headers)

    body = assert_problem(response, 422, "validation_failed")
    # API.md: "Validation errors list the offending fields in `errors`".
    assert "follower_count" in error_fields(body), body


async def test_me_requires_authentication(client):
    assert_problem(await client.get("/v1/me"), 401)
    assert_problem(await client.patch("/v1/me", json={"bio": "x"}), 401)


# --- profiles and follows -------------------------------------------------------------------


async def test_profile_shows_counts_and_relationship_flags(client, users):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    assert (await follow(client, bob.headers, "alice")).status_code == 204
    assert (await follow(client, carol.headers, "alice")).status_code == 204
    assert (await follow(client, alice.headers, "carol")).status_code == 204

    bob_seen_by_alice = await profile_of(client, alice, "bob")
    assert set(bob_seen_by_alice) >= PROFILE_FIELDS, PROFILE_FIELDS - set(bob_seen_by_alice)
    assert bob_seen_by_alice["id"] == bob.id
    assert bob_seen_by_alice["username"] == "bob"
    assert (bob_seen_by_alice["follower_count"], bob_seen_by_alice["following_count"]) == (0, 1)
    assert bob_seen_by_alice["is_following"] is False
    assert bob_seen_by_alice["follows_you"] is True
    assert bob_seen_by_alice["is_mutual"] is False
    assert bob_seen_by_alice["is_blocked"] is False

    carol_seen_by_alice = await profile_of(client, alice, "carol")
    assert carol_seen_by_alice["is_following"] is True
    assert carol_seen_by_alice["follows_you"] is True
    assert carol_seen_by_alice["is_mutual"] is True

    alice_seen_by_bob = await profile_of(client, bob, "alice")
    assert (alice_seen_by_bob["follower_count"], alice_seen_by_bob["following_count"]) == (2, 1)
    assert alice_seen_by_bob["is_following"] is True
    assert alice_seen_by_bob["follows_you"] is False
    assert alice_seen_by_bob["is_mutual"] is False

    assert await counts(client, alice.headers) == (2, 1)


async def test_unknown_user_is_404(client, users):
    alice = await users.create("alice")

    assert_problem(await profile(client, alice.headers, "nobody"), 404)
    assert_problem(await follow(client, alice.headers, "nobody"), 404)
    assert_problem(await list_page(client, alice.headers, "nobody", "followers"), 404)
    assert await counts(client, alice.headers) == (0, 0)


async def test_follow_and_unfollow_are_idempotent(client, users):
    alice = await users.create("alice")
    bob = await users.create("bob")

    for _ in range(2):
        response = await follow(client, bob.headers, "alice")
        assert response.status_code == 204, response.text
        assert response.content == b""
    assert await counts(client, alice.headers) == (1, 0)
    assert await counts(client, bob.headers) == (0, 1)
    assert await usernames_in(client, bob.headers, "alice", "followers") == ["bob"]
    assert await usernames_in(client, alice.headers, "bob", "following") == ["alice"]

    for _ in range(2):
        response = await unfollow(client, bob.headers, "alice")
        assert response.status_code == 204, response.text
    assert await counts(client, alice.headers) == (0, 0)
    assert await counts(client, bob.headers) == (0, 0)
    assert await usernames_in(client, bob.headers, "alice", "followers") == []
    assert (await profile_of(client, bob, "alice"))["is_following"] is False


async def test_cannot_follow_yourself(client, users):
    alice = await users.create("alice")

    assert_problem(await follow(client, alice.headers, "alice"), 422)
    assert await counts(client, alice.headers) == (0, 0)


async def test_follow_requires_authentication(client, users):
    await users.create("alice")

    assert_problem(await client.post("/v1/users/alice/follow"), 401)
    assert_problem(await client.get("/v1/users/alice"), 401)


# --- lists and pagination -------------------------------------------------------------------


async def collect_pages(client, headers, username: str, direction: str, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        params = {"limit": limit} if cursor is None else {"limit": limit, "cursor": cursor}
        response = await list_page(client, headers, username, direction, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) >= {"items", "next_cursor"}
        assert len(body["items"]) <= limit
        for item in body["items"]:
            assert set(item) >= PROFILE_FIELDS
        pages.append([item["username"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str)
        assert cursor
        assert len(pages) < 10, "pagination does not end"


@pytest.fixture
async def five_mutuals(client, users):
    """alice follows fan1..fan5 and each of them follows alice, in that order."""
    alice = await users.create("alice")
    friends = [await users.create(f"fan{n}") for n in range(1, 6)]
    for friend in friends:
        assert (await follow(client, friend.headers, "alice")).status_code == 204
        assert (await follow(client, alice.headers, friend.username)).status_code == 204
    return alice, friends


@pytest.mark.parametrize("direction", ["followers", "following"])
async def test_follow_lists_paginate_without_repeats_or_gaps(client, five_mutuals, direction):
    _alice, friends = five_mutuals
    viewer = friends[0]

    pages = await collect_pages(client, viewer.headers, "alice", direction, limit=2)

    assert [len(page) for page in pages] == [2, 2, 1]
    flat = [name for page in pages for name in page]
    # Newest follow first, every follow exactly once.
    assert flat == ["fan5", "fan4", "fan3", "fan2", "fan1"]


async def test_follow_list_items_carry_flags_for_the_viewer(client, five_mutuals):
    _alice, friends = five_mutuals
    f1 = friends[0]
    assert (await follow(client, f1.headers, "fan2")).status_code == 204

    response = await list_page(client, f1.headers, "alice", "followers", limit=100)

    items = {item["username"]: item for item in response.json()["items"]}
    assert items["fan2"]["is_following"] is True
    assert items["fan3"]["is_following"] is False
    assert items["fan1"]["follower_count"] == 1  # alice
    assert items["fan2"]["follower_count"] == 2  # alice and f1


async def test_garbage_cursor_is_invalid_cursor(client, users):
    alice = await users.create("alice")

    for cursor in ("garbage", "%%%", "A" * 40):
        response = await list_page(client, alice.headers, "alice", "followers", cursor=cursor)
        assert_problem(response, 400, "invalid_cursor")


async def test_cursor_is_bound_to_its_list(client, five_mutuals):
    alice, _friends = five_mutuals
    first = await list_page(client, alice.headers, "alice", "followers", limit=2)
    cursor = first.json()["next_cursor"]
    assert cursor

    # Another user's followers list, and the same user's following list, refuse it.
    other_user = await list_page(client, alice.headers, "fan1", "followers", limit=2, cursor=cursor)
    other_direction = await list_page(client, alice.headers, "alice", "following", limit=2, cursor=cursor)

    assert_problem(other_user, 400, "invalid_cursor")
    assert_problem(other_direction, 400, "invalid_cursor")
    # The cursor still works where it came from.
    again = await list_page(client, alice.headers, "alice", "followers", limit=2, cursor=cursor)
    assert again.status_code == 200
    assert [item["username"] for item in again.json()["items"]] == ["fan3", "fan2"]


ROTATED_SECRET = "the-key-after-a-scheduled-rotation-0123456789"


def names_of(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["username"] for item in response.json()["items"]]


async def test_a_key_rotation_keeps_cursors_working_while_the_old_key_is_listed(
    servers, tmp_path, client, five_mutuals
):
    """REMIXFEED_PREVIOUS_SECRET_KEYS covers list cursors as it covers access tokens: a client
    paging through a list when the key changes goes on where it was; the cursors the rotated app
    issues carry the new key, and once the old key is dropped its cursors are invalid_cursor."""
    alice, _friends = five_mutuals
    first = await list_page(client, alice.headers, "alice", "followers", limit=2)
    assert names_of(first) == ["fan5", "fan4"]
    old_cursor = first.json()["next_cursor"]

    rotated = make_settings(servers, tmp_path, secret_key=ROTATED_SECRET, previous_secret_keys=TEST_SECRET)
    async with serve_in_process(create_app(rotated)) as http:
        second = await list_page(http, alice.headers, "alice", "followers", limit=2, cursor=old_cursor)
        assert names_of(second) == ["fan3", "fan2"]
        new_cursor = second.json()["next_cursor"]
        assert new_cursor
        login = await http.post("/v1/auth/token", json={"login": "alice", "password": alice.password})
        assert login.status_code == 200, login.text
        new_headers = bearer(login.json()["access_token"])

    # An app that knows only the old key refuses the new key's cursor.
    stale = await list_page(client, alice.headers, "alice", "followers", limit=2, cursor=new_cursor)
    assert_problem(stale, 400, "invalid_cursor")

    dropped = make_settings(servers, tmp_path, secret_key=ROTATED_SECRET)
    async with serve_in_process(create_app(dropped)) as http:
        third = await list_page(http, new_headers, "alice", "followers", limit=2, cursor=new_cursor)
        assert names_of(third) == ["fan1"]
        unlisted = await list_page(http, new_headers, "alice", "followers", limit=2, cursor=old_cursor)
        assert_problem(unlisted, 400, "invalid_cursor")


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc"])
async def test_out_of_range_limit_is_a_client_error(client, users, limit):
    alice = await users.create("alice")

    response = await list_page(client, alice.headers, "alice", "followers", limit=limit)

    assert_client_error(response)


async def test_default_and_maximum_limit(client, five_mutuals):
    alice, _ = five_mutuals

    default = await list_page(client, alice.headers, "alice", "followers")
    maximum = await list_page(client, alice.headers, "alice", "followers", limit=100)

    assert default.status_code == 200
    assert maximum.status_code == 200
    assert len(default.json()["items"]) == 5
    assert default.json()["next_cursor"] is None
    assert len(maximum.json()["items"]) == 5
