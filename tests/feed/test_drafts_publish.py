"""GET /v1/me/drafts, POST /v1/videos/{id}/publish (with Idempotency-Key) and what publishing changes."""

from __future__ import annotations

import asyncio

import pytest

from tests.accounts.helpers import assert_problem, error_fields, me
from tests.feed.helpers import all_items, get_video, publish, video

VIDEO_FIELDS = {
    "id",
    "author",
    "status",
    "visibility",
    "caption",
    "prompt",
    "model",
    "seconds",
    "size",
    "media",
    "cameos",
    "remix_of",
    "remix_root",
    "remix_depth",
    "allow_remix",
    "like_count",
    "comment_count",
    "remix_count",
    "view_count",
    "liked_by_me",
    "created_at",
    "published_at",
}


async def test_drafts_are_listed_newest_first_for_their_author_only(client, users, videos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    first = await videos.draft(alice, prompt="first")
    second = await videos.draft(alice, prompt="second")
    await videos.draft(bob)

    response = await client.get("/v1/me/drafts", headers=alice.headers)

    assert response.status_code == 200, response.text
    page = response.json()
    assert [item["id"] for item in page["items"]] == [second.id, first.id]
    assert page["next_cursor"] is None
    assert all(item["status"] == "draft" for item in page["items"])
    assert all(item["published_at"] is None for item in page["items"])
    assert page["items"][0]["prompt"] == "second"
    # Others cannot see a draft at all.
    assert_problem(await get_video(client, bob, first.id), 404, "video_not_found")
    bobs = (await client.get("/v1/me/drafts", headers=bob.headers)).json()["items"]
    assert first.id not in [item["id"] for item in bobs]
    assert len(bobs) == 1


async def test_drafts_paginate_with_a_cursor(client, users, videos):
    alice = await users.create("alice")
    made = [(await videos.draft(alice)).id for _ in range(5)]

    first = (await client.get("/v1/me/drafts", headers=alice.headers, params={"limit": 2})).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    everything = await all_items(client, alice, "/v1/me/drafts", limit=2)

    assert [item["id"] for item in everything] == list(reversed(made))


async def test_a_published_video_leaves_the_drafts(client, users, videos):
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    assert (await publish(client, alice, draft.id)).status_code == 200

    response = await client.get("/v1/me/drafts", headers=alice.headers)

    assert response.json()["items"] == []


async def test_publish_makes_the_video_public_with_its_options(client, users, videos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    draft = await videos.draft(alice, prompt="a cat on a skateboard")

    response = await publish(client, alice, draft.id, caption="my cat", allow_remix=False)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= VIDEO_FIELDS
    assert body["id"] == draft.id
    assert body["status"] == "published"
    assert body["published_at"] is not None
    assert body["caption"] == "my cat"
    assert body["visibility"] == "public"
    assert body["allow_remix"] is False
    assert body["prompt"] == "a cat on a skateboard"
    assert body["author"]["username"] == "alice"
    assert body["author"]["avatar_url"] is None
    assert set(body["author"]) == {"username", "display_name", "avatar_url"}
    assert body["media"] == {
        "video_url": f"/v1/videos/{draft.id}/content?variant=video",
        "thumbnail_url": f"/v1/videos/{draft.id}/content?variant=thumbnail",
    }
    assert (body["like_count"], body["comment_count"], body["remix_count"], body["view_count"]) == (
        0,
        0,
        0,
        0,
    )
    assert body["liked_by_me"] is False
    # Now others see it.
    seen = await video(client, bob, draft.id)
    assert seen["status"] == "published"
    assert seen["caption"] == "my cat"


async def test_publishing_counts_a_post(client, users, videos):
    alice = await users.create("alice")
    assert (await me(client, alice.headers))["post_count"] == 0
    draft = await videos.draft(alice)
    await videos.draft(alice)  # an unpublished draft does not count

    assert (await publish(client, alice, draft.id)).status_code == 200

    assert (await me(client, alice.headers))["post_count"] == 1


async def test_prompt_is_hidden_from_others_when_show_prompt_is_false(client, users, videos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    draft = await videos.draft(alice, prompt="secret sauce")

    response = await publish(client, alice, draft.id, show_prompt=False)

    assert response.status_code == 200, response.text
    assert response.json()["prompt"] == "secret sauce"  # the author always sees it
    assert (await video(client, bob, draft.id))["prompt"] is None
    assert (await video(client, alice, draft.id))["prompt"] == "secret sauce"


async def test_republishing_is_a_conflict(client, users, videos):
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    assert (await publish(client, alice, draft.id)).status_code == 200

    assert_problem(await publish(client, alice, draft.id), 409, "already_published")
    assert (await me(client, alice.headers))["post_count"] == 1


async def test_same_idempotency_key_replays_the_first_answer(client, users, videos):
    alice = await users.create("alice")
    draft = await videos.draft(alice)

    first = await publish(client, alice, draft.id, key="publish-1", caption="hello")
    again = await publish(client, alice, draft.id, key="publish-1", caption="hello")

    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert (await me(client, alice.headers))["post_count"] == 1
    # Without the key, publishing again is the plain conflict.
    assert_problem(await publish(client, alice, draft.id, caption="hello"), 409, "already_published")


async def test_idempotency_key_with_another_body_is_refused(client, users, videos):
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    assert (await publish(client, alice, draft.id, key="k1", caption="one")).status_code == 200

    assert_problem(
        await publish(client, alice, draft.id, key="k1", caption="two"), 409, "idempotency_key_reused"
    )
    # The key also belongs to that video: using it for another one is a reuse.
    other = await videos.draft(alice)
    assert_problem(
        await publish(client, alice, other.id, key="k1", caption="one"), 409, "idempotency_key_reused"
    )
    assert (await video(client, alice, other.id))["status"] == "draft"


async def test_a_failed_publish_does_not_spend_the_key(client, users, videos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    draft = await videos.draft(alice)

    # bob cannot publish alice's draft (he cannot even see it) ...
    assert_problem(await publish(client, bob, draft.id, key="shared"), 404)
    # ... and alice publishing with a key of her own works.
    assert (await publish(client, alice, draft.id, key="shared")).status_code == 200


async def test_only_the_author_publishes(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)

    assert_problem(await publish(client, bob, video_id), 403, "not_video_author")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"caption": "x" * 2201}, "caption"),
        ({"visibility": "private"}, "visibility"),
        ({"show_prompt": "yes"}, "show_prompt"),
        ({"status": "published"}, "status"),
    ],
)
async def test_publish_validates_its_body(client, users, videos, body, field):
    alice = await users.create("alice")
    draft = await videos.draft(alice)

    response = await client.post(f"/v1/videos/{draft.id}/publish", headers=alice.headers, json=body)

    assert field in error_fields(assert_problem(response, 422, "validation_failed"))
    assert (await video(client, alice, draft.id))["status"] == "draft"


async def test_unlisted_and_long_caption_at_the_limit(client, users, videos):
    alice = await users.create("alice")
    draft = await videos.draft(alice)

    response = await publish(client, alice, draft.id, caption="x" * 2200, visibility="unlisted")

    assert response.status_code == 200, response.text
    assert response.json()["visibility"] == "unlisted"
    assert len(response.json()["caption"]) == 2200


async def test_concurrent_publishes_publish_once(client, users, videos):
    alice = await users.create("alice")
    plain = await videos.draft(alice)
    keyed = await videos.draft(alice)

    without_key = await asyncio.gather(*(publish(client, alice, plain.id) for _ in range(4)))
    with_key = await asyncio.gather(
        *(publish(client, alice, keyed.id, key="same", caption="c") for _ in range(4))
    )

    assert sorted(response.status_code for response in without_key) == [200, 409, 409, 409]
    assert [response.status_code for response in with_key] == [200] * 4
    assert len({response.text for response in with_key}) == 1
    assert (await me(client, alice.headers))["post_count"] == 2
