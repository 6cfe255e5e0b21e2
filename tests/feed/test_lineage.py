"""Remix lineage: ancestors root first, direct remixes, the remix tree, and remix counts."""

from __future__ import annotations

from sqlalchemy import event

from tests.accounts.helpers import assert_problem, block
from tests.feed.helpers import all_items, publish, video


async def chain(users, published):
    """root (alice) <- middle (bob) <- leaf (carol), all published."""
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    root = await published(alice)
    middle = await published(bob, remix_of=root)
    leaf = await published(carol, remix_of=middle)
    return (alice, bob, carol), (root, middle, leaf)


async def test_lineage_is_root_first_ending_with_the_parent(client, users, published):
    (alice, _bob, carol), (root, middle, leaf) = await chain(users, published)

    response = await client.get(f"/v1/videos/{leaf}/lineage", headers=alice.headers)

    assert response.status_code == 200, response.text
    ancestors = response.json()["ancestors"]
    assert [item["id"] for item in ancestors] == [root, middle]
    leaf_video = await video(client, carol, leaf)
    assert (leaf_video["remix_of"], leaf_video["remix_root"], leaf_video["remix_depth"]) == (middle, root, 2)
    assert ancestors[1]["remix_depth"] == 1
    root_lineage = await client.get(f"/v1/videos/{root}/lineage", headers=alice.headers)
    assert root_lineage.json() == {"ancestors": []}


async def test_lineage_leaves_out_what_the_caller_cannot_see(client, users, published):
    (alice, bob, carol), (root, middle, leaf) = await chain(users, published)
    assert (await client.delete(f"/v1/videos/{middle}", headers=bob.headers)).status_code == 204

    response = await client.get(f"/v1/videos/{leaf}/lineage", headers=carol.headers)

    # The deleted middle is skipped; the walk still reaches the root above it.
    assert [item["id"] for item in response.json()["ancestors"]] == [root]
    assert alice


async def test_publishing_a_remix_counts_on_the_parent(client, users, videos, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    root = await published(alice)
    draft = await videos.draft(bob, remix_of=root)
    # A draft remix is private: it does not count yet.
    assert (await video(client, alice, root))["remix_count"] == 0

    assert (await publish(client, bob, draft.id)).status_code == 200

    assert (await video(client, alice, root))["remix_count"] == 1
    assert (await client.delete(f"/v1/videos/{draft.id}", headers=bob.headers)).status_code == 204
    assert (await video(client, alice, root))["remix_count"] == 0


async def test_counts_are_what_anyone_can_list(client, users, published):
    """A video counts on its author's post_count and its parent's remix_count while it is listed:
    published and public. An unlisted one opens by link but stays out of every list, and so out of
    the counts, through publishing, visibility changes and deletion."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    root = await published(alice)
    first = await published(bob, remix_of=root)
    second = await published(bob, remix_of=root, visibility="unlisted")

    async def listed() -> set[str]:
        posts = await all_items(client, carol, "/v1/users/bob/videos")
        remixes = await all_items(client, carol, f"/v1/videos/{root}/remixes")
        assert {item["id"] for item in posts} == {item["id"] for item in remixes}
        assert (await client.get("/v1/users/bob", headers=carol.headers)).json()["post_count"] == len(posts)
        assert (await video(client, carol, root))["remix_count"] == len(remixes)
        return {item["id"] for item in posts}

    assert await listed() == {first}
    for video_id, visibility, expected in (
        (second, "public", {first, second}),
        (second, "public", {first, second}),  # no change, nothing moves
        (first, "unlisted", {second}),
    ):
        patched = await client.patch(
            f"/v1/videos/{video_id}", headers=bob.headers, json={"visibility": visibility}
        )
        assert patched.status_code == 200, patched.text
        assert await listed() == expected
    # Deleting the unlisted one takes nothing off; deleting the public one does.
    for video_id, expected in ((first, {second}), (second, set())):
        assert (await client.delete(f"/v1/videos/{video_id}", headers=bob.headers)).status_code == 204
        assert await listed() == expected


async def test_a_draft_remix_across_a_block_made_since_cannot_be_published(client, users, videos, published):
    """Its parent's author could not see it to delete it; it would count on their video and join
    its tree. Either side's block stops it; the remixer's own videos are not concerned."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    root = await published(alice)
    blocked_by_parent, blocking_parent = (
        await videos.draft(bob, remix_of=root),
        await videos.draft(carol, remix_of=root),
    )
    own = await videos.draft(bob, remix_of=(await videos.draft(bob)).id)
    assert (await block(client, alice.headers, "bob")).status_code == 204
    assert (await block(client, carol.headers, "alice")).status_code == 204

    assert_problem(await publish(client, bob, blocked_by_parent.id), 403, "remix_not_allowed")
    assert_problem(await publish(client, carol, blocking_parent.id), 403, "remix_not_allowed")
    assert (await video(client, alice, root))["remix_count"] == 0
    assert (await publish(client, bob, own.id)).status_code == 200


async def test_an_unlisted_remix_across_a_block_made_since_cannot_be_made_public(client, users, published):
    """Making it public is publishing it to the parent's remix list and tree: the rule that stops a
    draft (above) stops this too, whichever side blocked. It stays unlisted and may still be
    edited otherwise; the remixer's own lineage is not concerned."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    root = await published(alice)
    blocked_by_parent = await published(bob, remix_of=root, visibility="unlisted")
    blocking_parent = await published(carol, remix_of=root, visibility="unlisted")
    own = await published(bob, remix_of=await published(bob), visibility="unlisted")
    assert (await block(client, alice.headers, "bob")).status_code == 204
    assert (await block(client, carol.headers, "alice")).status_code == 204

    for actor, remix in ((bob, blocked_by_parent), (carol, blocking_parent)):
        made_public = await client.patch(
            f"/v1/videos/{remix}", headers=actor.headers, json={"visibility": "public"}
        )
        assert_problem(made_public, 403, "remix_not_allowed")
        captioned = await client.patch(
            f"/v1/videos/{remix}", headers=actor.headers, json={"caption": "still mine"}
        )
        assert captioned.status_code == 200, captioned.text
        assert captioned.json()["visibility"] == "unlisted"
    assert (await video(client, alice, root))["remix_count"] == 0
    made_public = await client.patch(f"/v1/videos/{own}", headers=bob.headers, json={"visibility": "public"})
    assert made_public.status_code == 200, made_public.text


async def test_a_remix_whose_original_is_across_a_block_is_refused(client, users, videos, published):
    """A remix of a remix joins the original's tree too: someone its author blocked (or who blocked
    them) may not remix any video of that lineage (403 remix_not_allowed; the video asked for is
    visible, so not 404), nor publish a draft made from one before the block."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    root = await published(alice)
    middle = await published(bob, remix_of=root)
    draft = await videos.draft(carol, remix_of=middle)
    assert (await block(client, alice.headers, "carol")).status_code == 204

    asked = await client.post(
        "/v1/generations", json={"prompt": "again", "remix_of": middle}, headers=carol.headers
    )
    assert_problem(asked, 403, "remix_not_allowed")
    assert_problem(await publish(client, carol, draft.id), 403, "remix_not_allowed")
    assert (await video(client, carol, middle))["remix_count"] == 0


async def test_remixes_lists_visible_direct_remixes_newest_first(client, users, videos, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    root = await published(alice)
    first = await published(bob, remix_of=root)
    second = await published(carol, remix_of=root)
    bobs_draft = await videos.draft(bob, remix_of=root)
    await published(carol, remix_of=first)  # a grandchild is not a direct remix
    unlisted = await published(carol, remix_of=root, visibility="unlisted")

    seen_by_alice = await all_items(client, alice, f"/v1/videos/{root}/remixes")
    seen_by_bob = await all_items(client, bob, f"/v1/videos/{root}/remixes")
    seen_by_carol = await all_items(client, carol, f"/v1/videos/{root}/remixes")

    assert [item["id"] for item in seen_by_alice] == [second, first]
    assert [item["id"] for item in seen_by_bob] == [bobs_draft.id, second, first]
    assert [item["id"] for item in seen_by_carol] == [unlisted, second, first]


async def test_remixes_paginate(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    root = await published(alice)
    made = [await published(bob, remix_of=root) for _ in range(5)]

    page = (await client.get(f"/v1/videos/{root}/remixes", headers=alice.headers, params={"limit": 2})).json()
    everything = await all_items(client, alice, f"/v1/videos/{root}/remixes", limit=2)

    assert len(page["items"]) == 2
    assert page["next_cursor"]
    assert [item["id"] for item in everything] == list(reversed(made))


async def test_tree_has_the_shape_of_the_remixes(client, users, videos, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    root = await published(alice)
    a = await published(bob, remix_of=root)
    b = await published(bob, remix_of=root)
    a1 = await published(alice, remix_of=a)
    a1x = await published(bob, remix_of=a1)
    a1xy = await published(bob, remix_of=a1x)
    hidden = await videos.draft(alice, remix_of=b)  # alice's draft: only alice sees it

    response = await client.get(f"/v1/videos/{root}/tree", headers=bob.headers)

    assert response.status_code == 200, response.text
    tree = response.json()
    assert tree["video"]["id"] == root
    assert tree["truncated"] is False
    assert [child["video"]["id"] for child in tree["children"]] == [b, a]
    b_node, a_node = tree["children"]
    assert b_node["children"] == []
    assert [child["video"]["id"] for child in a_node["children"]] == [a1]
    assert [child["video"]["id"] for child in a_node["children"][0]["children"]] == [a1x]
    # Default depth 3: a1xy (level 4) is not there.
    assert a_node["children"][0]["children"][0]["children"] == []

    deep = (await client.get(f"/v1/videos/{root}/tree", headers=bob.headers, params={"max_depth": 5})).json()
    assert deep["children"][1]["children"][0]["children"][0]["children"][0]["video"]["id"] == a1xy
    shallow = (
        await client.get(f"/v1/videos/{root}/tree", headers=bob.headers, params={"max_depth": 1})
    ).json()
    assert [child["children"] for child in shallow["children"]] == [[], []]
    # The author of the draft sees it in her tree.
    own = (await client.get(f"/v1/videos/{root}/tree", headers=alice.headers)).json()
    assert [child["video"]["id"] for child in own["children"][0]["children"]] == [hidden.id]


async def test_tree_depth_is_bounded(client, users, published):
    alice = await users.create("alice")
    root = await published(alice)

    for depth in ("0", "6", "-1", "many"):
        response = await client.get(
            f"/v1/videos/{root}/tree", headers=alice.headers, params={"max_depth": depth}
        )
        assert 400 <= response.status_code < 500, (depth, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_tree_takes_few_queries(client, users, resources, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    root = await published(alice)
    level = [root]
    for _ in range(3):
        level = [await published(bob, remix_of=parent) for parent in level for _ in range(2)]

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = resources.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = await client.get(f"/v1/videos/{root}/tree", headers=alice.headers)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert response.status_code == 200, response.text
    selects = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    # 14 remixes in the tree; the number of queries does not depend on it.
    assert sum(1 for _ in response.json()["children"]) == 2
    # The caller, the root and a block check, the recursive query, then authors and likes in batches.
    assert len(selects) <= 6, selects


async def test_lineage_endpoints_on_hidden_videos_are_404(client, users, videos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    draft = await videos.draft(alice)

    for path in ("lineage", "remixes", "tree"):
        assert_problem(await client.get(f"/v1/videos/{draft.id}/{path}", headers=bob.headers), 404)
