"""What a video or comment shown to one viewer says about others: never a username, video or
comment that a block, a removal, a deletion or a draft hides from that viewer (a 404 elsewhere).

- `cameos` leaves out people who block the viewer or whom the viewer blocks.
- `remix_of` and `remix_root` are null when the viewer may not open that video; every id they do
  show answers 200.
- A comment by someone across a block is hidden with every reply under it, so no listed reply has
  a `parent_id` the viewer cannot see, and the hidden replies cannot be answered, deleted or
  reported by the viewer either (404 / 422, as for the blocked person's own comment).

Every place that shows a video goes through the one presenter, so each is checked here.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from accounts.models import Role
from tests.accounts.helpers import assert_problem, block
from tests.factories import Actor
from tests.feed.factories import VideoFactory
from tests.feed.helpers import all_items, comment, publish, video
from tests.moderation.helpers import claimed, decided, report, reported

DIRECTIONS = ["they_block_the_viewer", "the_viewer_blocks_them"]


async def blocked_apart(client: httpx.AsyncClient, viewer: Actor, other: Actor, direction: str) -> None:
    if direction == "they_block_the_viewer":
        response = await block(client, other.headers, viewer.username)
    else:
        response = await block(client, viewer.headers, other.username)
    assert response.status_code == 204, response.text


async def feed_videos(client: httpx.AsyncClient, viewer: Actor) -> dict[str, dict[str, Any]]:
    response = await client.get("/v1/feed", headers=viewer.headers, params={"cut": "latest", "limit": 20})
    assert response.status_code == 200, response.text
    return {item["video"]["id"]: item["video"] for item in response.json()["items"]}


async def published_draft(
    client: httpx.AsyncClient, videos: VideoFactory, author: Actor, **draft: Any
) -> str:
    made = await videos.draft(author, **draft)
    response = await publish(client, author, made.id)
    assert response.status_code == 200, response.text
    return made.id


@pytest.mark.parametrize("direction", DIRECTIONS)
async def test_cameos_never_name_someone_across_a_block(client, users, videos, cameos, published, direction):
    alice = await users.create("alice")  # the author
    bob = await users.create("bob")  # the viewer
    carol = await users.create("carol")  # cast in the video, across a block from bob
    dave = await users.create("dave")  # cast in it too, across a block from carol
    parent = await published(alice)
    cast = [(carol, await cameos.active(carol)), (dave, await cameos.active(dave))]
    starring = await published_draft(client, videos, alice, remix_of=parent, appearances=cast)
    child = await published(alice, remix_of=starring)
    await blocked_apart(client, bob, carol, direction)
    assert (await block(client, dave.headers, "carol")).status_code == 204

    # bob sees the video (its author blocks no one), without carol's name, wherever it is shown.
    shown_to_bob = [
        await video(client, bob, starring),
        (await feed_videos(client, bob))[starring],
        *[v for v in await all_items(client, bob, "/v1/users/alice/videos") if v["id"] == starring],
        *await all_items(client, bob, f"/v1/videos/{parent}/remixes"),
        (await client.get(f"/v1/videos/{parent}/tree", headers=bob.headers)).json()["children"][0]["video"],
        (await client.get(f"/v1/videos/{child}/lineage", headers=bob.headers)).json()["ancestors"][-1],
    ]
    assert [(v["id"], v["cameos"]) for v in shown_to_bob] == [(starring, ["dave"])] * 6
    if direction == "they_block_the_viewer":
        assert_problem(await client.get("/v1/users/carol", headers=bob.headers), 404)

    # dave, blocking carol, finds his appearance without her name, and she sees it without his;
    # the author, across no block, sees both.
    appearances = await all_items(client, dave, "/v1/me/appearances")
    assert [(v["id"], v["cameos"]) for v in appearances] == [(starring, ["dave"])]
    assert (await video(client, dave, starring))["cameos"] == ["dave"]
    assert (await video(client, carol, starring))["cameos"] == ["carol"]
    assert (await video(client, alice, starring))["cameos"] == ["carol", "dave"]


async def test_remix_links_name_only_videos_the_viewer_may_open(client, users, videos, published):
    alice = await users.create("alice")
    bob = await users.create("bob")  # the viewer
    carol = await users.create("carol")  # blocks bob
    dave = await users.create("dave")
    mod = await users.create("mod", role=Role.MODERATOR)

    # A chain through a video of someone who blocks bob: its root stays, the hidden parent does not.
    root = await published(alice)
    middle = await published(carol, remix_of=root)
    leaf = await published(dave, remix_of=middle)
    assert (await block(client, carol.headers, "bob")).status_code == 204
    # A remix of its author's own draft: the draft is hers alone.
    draft = (await videos.draft(alice)).id
    of_draft = await published(alice, remix_of=draft)
    # A remix of a video a moderator took down, and of one its author deleted.
    taken_down = await published(alice)
    of_taken_down = await published(dave, remix_of=taken_down)
    await reported(client, dave, "video", taken_down, "spam")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")
    deleted = await published(alice)
    of_deleted = await published(dave, remix_of=deleted)
    assert (await client.delete(f"/v1/videos/{deleted}", headers=alice.headers)).status_code == 204

    def links(shown: dict[str, Any]) -> tuple[str | None, str | None, int]:
        return shown["remix_of"], shown["remix_root"], shown["remix_depth"]

    expected = [
        # (viewer, {video: (remix_of, remix_root, remix_depth)})
        (
            bob,
            {
                leaf: (None, root, 2),
                of_draft: (None, None, 1),
                of_taken_down: (None, None, 1),
                of_deleted: (None, None, 1),
            },
        ),
        # The author opens her removed video (as removed) and her draft; no one a deleted one.
        (
            alice,
            {
                leaf: (middle, root, 2),
                of_draft: (draft, draft, 1),
                of_taken_down: (taken_down, taken_down, 1),
                of_deleted: (None, None, 1),
            },
        ),
        (
            dave,
            {
                leaf: (middle, root, 2),
                of_draft: (None, None, 1),
                of_taken_down: (None, None, 1),
                of_deleted: (None, None, 1),
            },
        ),
    ]
    in_bobs_feed = await feed_videos(client, bob)
    assert set(expected[0][1]) <= set(in_bobs_feed)
    for viewer, wanted in expected:
        # The feed leaves out the viewer's own videos; the others are in it as GET shows them.
        in_feed = in_bobs_feed if viewer is bob else await feed_videos(client, viewer)
        assert set(wanted) & set(in_feed), viewer.username
        for video_id, answer in wanted.items():
            shown = await video(client, viewer, video_id)
            assert links(shown) == answer, (viewer.username, video_id)
            if video_id in in_feed:
                assert links(in_feed[video_id]) == answer, (viewer.username, video_id)
            # Whatever is named opens; the rest is the 404 it always was.
            for named in {shown["remix_of"], shown["remix_root"]} - {None}:
                assert (await client.get(f"/v1/videos/{named}", headers=viewer.headers)).status_code == 200
    for hidden in (middle, draft, taken_down, deleted):
        assert_problem(await client.get(f"/v1/videos/{hidden}", headers=bob.headers), 404)

    # The lineage endpoint agrees: the root, without the hidden parent.
    lineage = (await client.get(f"/v1/videos/{leaf}/lineage", headers=bob.headers)).json()
    assert [v["id"] for v in lineage["ancestors"]] == [root]


@pytest.mark.parametrize("direction", DIRECTIONS)
async def test_replies_go_with_a_comment_hidden_by_a_block(client, users, published, direction):
    alice = await users.create("alice")
    bob = await users.create("bob")  # the viewer
    carol = await users.create("carol")  # across a block from bob
    dave = await users.create("dave")
    erin = await users.create("erin")
    video_id = await published(alice)
    carols = (await comment(client, carol, video_id, "carol here")).json()
    daves_reply = (await comment(client, dave, video_id, "hi carol", parent_id=carols["id"])).json()
    erins_reply = (await comment(client, erin, video_id, "hi dave", parent_id=daves_reply["id"])).json()
    daves = (await comment(client, dave, video_id, "dave on his own")).json()
    await blocked_apart(client, bob, carol, direction)

    def threads(items: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
        return [(item["body"], item["parent_id"]) for item in items]

    path = f"/v1/videos/{video_id}/comments"
    assert threads(await all_items(client, bob, path)) == [("dave on his own", None)]
    assert threads(await all_items(client, alice, path)) == [
        ("carol here", None),
        ("hi carol", carols["id"]),
        ("hi dave", daves_reply["id"]),
        ("dave on his own", None),
    ]
    # Paged one by one, the same: the hidden thread does not cut pages short.
    assert threads(await all_items(client, bob, path, limit=1)) == [("dave on his own", None)]

    # The hidden replies are as the blocked person's comment is to bob: not there.
    for hidden in (daves_reply, erins_reply):
        assert_problem(
            await comment(client, bob, video_id, "hello", parent_id=hidden["id"]), 422, "invalid_parent"
        )
        assert_problem(await client.delete(f"/v1/comments/{hidden['id']}", headers=bob.headers), 404)
        assert_problem(await report(client, bob, "comment", hidden["id"]), 404)
    # A visible comment still takes a reply, is still reportable, and is not bob's to delete.
    assert (await comment(client, bob, video_id, "hi", parent_id=daves["id"])).status_code == 201
    assert (await report(client, bob, "comment", daves["id"])).status_code == 201
    assert_problem(await client.delete(f"/v1/comments/{daves['id']}", headers=bob.headers), 403)
    # Everyone else still sees and answers the whole thread.
    assert (await comment(client, alice, video_id, "hey", parent_id=erins_reply["id"])).status_code == 201
