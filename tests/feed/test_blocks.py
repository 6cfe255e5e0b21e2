"""A block, either way, hides a video from the other side on every video endpoint (404)."""

from __future__ import annotations

import pytest

from tests.accounts.helpers import assert_problem, block
from tests.feed.helpers import all_items, comment, video


@pytest.mark.parametrize("direction", ["author_blocks_viewer", "viewer_blocks_author"])
async def test_blocks_hide_videos_everywhere(client, users, published, direction):
    alice = await users.create("alice")  # the author
    bob = await users.create("bob")  # the other side
    carol = await users.create("carol")
    video_id = await published(alice)
    remix = await published(carol, remix_of=video_id)
    carols_comment = (await comment(client, carol, video_id, "hello")).json()
    if direction == "author_blocks_viewer":
        assert (await block(client, alice.headers, "bob")).status_code == 204
    else:
        assert (await block(client, bob.headers, "alice")).status_code == 204
    h = bob.headers

    for response in (
        await client.get(f"/v1/videos/{video_id}", headers=h),
        await client.get(f"/v1/videos/{video_id}/content", headers=h),
        await client.post(f"/v1/videos/{video_id}/like", headers=h),
        await client.delete(f"/v1/videos/{video_id}/like", headers=h),
        await client.get(f"/v1/videos/{video_id}/comments", headers=h),
        await comment(client, bob, video_id, "hi"),
        await client.post(f"/v1/videos/{video_id}/views", headers=h),
        await client.get(f"/v1/videos/{video_id}/lineage", headers=h),
        await client.get(f"/v1/videos/{video_id}/remixes", headers=h),
        await client.get(f"/v1/videos/{video_id}/tree", headers=h),
        await client.patch(f"/v1/videos/{video_id}", headers=h, json={"caption": "x"}),
        await client.delete(f"/v1/videos/{video_id}", headers=h),
        await client.post(f"/v1/videos/{video_id}/publish", headers=h, json={}),
        await client.delete(f"/v1/comments/{carols_comment['id']}", headers=h),
    ):
        assert_problem(response, 404)

    # The remix by carol is visible, but its lineage leaves alice's video out.
    lineage = await client.get(f"/v1/videos/{remix}/lineage", headers=h)
    assert lineage.json() == {"ancestors": []}
    # Nothing was counted.
    seen = await video(client, alice, video_id)
    assert (seen["like_count"], seen["comment_count"], seen["view_count"]) == (0, 1, 0)


async def test_user_videos_under_a_block(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    await published(alice)
    await published(bob)
    assert (await block(client, alice.headers, "bob")).status_code == 204

    # The blocked user gets 404 on the blocker's videos; the blocker sees none of the blocked's.
    assert_problem(await client.get("/v1/users/alice/videos", headers=bob.headers), 404, "user_not_found")
    assert await all_items(client, alice, "/v1/users/bob/videos") == []


async def test_blocked_users_vanish_from_comments_and_trees(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    video_id = await published(alice)
    await comment(client, bob, video_id, "from bob")
    await comment(client, carol, video_id, "from carol")
    carol_remix = await published(carol, remix_of=video_id)
    bob_remix = await published(bob, remix_of=video_id)
    assert (await block(client, bob.headers, "carol")).status_code == 204

    bobs_view = await all_items(client, bob, f"/v1/videos/{video_id}/comments")
    carols_view = await all_items(client, carol, f"/v1/videos/{video_id}/comments")
    alices_view = await all_items(client, alice, f"/v1/videos/{video_id}/comments")

    assert [item["body"] for item in bobs_view] == ["from bob"]
    assert [item["body"] for item in carols_view] == ["from carol"]
    assert [item["body"] for item in alices_view] == ["from bob", "from carol"]
    remixes = await all_items(client, bob, f"/v1/videos/{video_id}/remixes")
    assert [item["id"] for item in remixes] == [bob_remix]
    tree = (await client.get(f"/v1/videos/{video_id}/tree", headers=carol.headers)).json()
    assert [child["video"]["id"] for child in tree["children"]] == [carol_remix]


async def test_cannot_reply_to_someone_on_the_other_side_of_a_block(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    video_id = await published(alice)
    carols = (await comment(client, carol, video_id, "carol here")).json()
    assert (await block(client, carol.headers, "bob")).status_code == 204

    response = await comment(client, bob, video_id, "hey carol", parent_id=carols["id"])

    assert_problem(response, 422, "invalid_parent")
    # bob cannot delete carol's comment either; he cannot see it.
    assert_problem(await client.delete(f"/v1/comments/{carols['id']}", headers=bob.headers), 404)
