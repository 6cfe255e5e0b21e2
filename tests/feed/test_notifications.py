"""Notifications for likes, comments, replies and remixes; GET /v1/notifications and marking read."""

from __future__ import annotations

from sqlalchemy import Text, bindparam, select, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from accounts.models import Notification, Role, notification_video_id
from tests.accounts.helpers import assert_problem, block, error_fields, unblock
from tests.feed.helpers import all_items, comment, notifications, publish
from tests.generation.helpers import generate, wait_until_done
from tests.moderation.helpers import claimed, decided, reported

NOTIFICATION_FIELDS = {"id", "kind", "actor", "subject", "created_at", "read"}


async def test_a_like_notifies_the_author_once(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)

    for method in ("post", "delete", "post", "delete", "post"):
        response = await client.request(method.upper(), f"/v1/videos/{video_id}/like", headers=bob.headers)
        assert response.status_code == 204

    items = await notifications(client, alice)
    assert len(items) == 1
    (item,) = items
    assert set(item) == NOTIFICATION_FIELDS
    assert item["kind"] == "like"
    assert item["actor"] == {
        "username": "bob",
        "display_name": item["actor"]["display_name"],
        "avatar_url": None,
    }
    assert item["subject"]["type"] == "video"
    assert item["subject"]["id"] == video_id
    assert item["read"] is False
    assert await notifications(client, bob) == []


async def test_own_actions_do_not_notify(client, users, published):
    alice = await users.create("alice")
    video_id = await published(alice)
    top = (await comment(client, alice, video_id, "mine")).json()
    await comment(client, alice, video_id, "also mine", parent_id=top["id"])
    assert (await client.post(f"/v1/videos/{video_id}/like", headers=alice.headers)).status_code == 204
    await published(alice, remix_of=video_id)

    assert await notifications(client, alice) == []


async def test_comments_and_replies_notify_the_right_people(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    video_id = await published(alice)

    bobs = (await comment(client, bob, video_id, "great video")).json()
    carols_reply = (await comment(client, carol, video_id, "agreed", parent_id=bobs["id"])).json()
    alices_reply = (await comment(client, alice, video_id, "thank you both", parent_id=bobs["id"])).json()
    bobs_reply_to_alice = (
        await comment(client, bob, video_id, "welcome", parent_id=alices_reply["id"])
    ).json()

    to_alice = await notifications(client, alice)
    to_bob = await notifications(client, bob)
    to_carol = await notifications(client, carol)

    # alice: bob's comment, carol's comment (a reply to bob, but on her video), bob's reply to her.
    assert [(n["kind"], n["actor"]["username"], n["subject"]["id"]) for n in to_alice] == [
        ("reply", "bob", bobs_reply_to_alice["id"]),
        ("comment", "carol", carols_reply["id"]),
        ("comment", "bob", bobs["id"]),
    ]
    assert to_alice[-1]["subject"]["type"] == "comment"
    assert to_alice[-1]["subject"]["video_id"] == video_id
    assert to_alice[-1]["subject"]["excerpt"] == "great video"
    # bob: the two replies to his comment.
    assert [(n["kind"], n["actor"]["username"]) for n in to_bob] == [("reply", "alice"), ("reply", "carol")]
    assert to_bob[0]["subject"]["parent_id"] == bobs["id"]
    assert to_carol == []


async def test_deleting_a_comment_retracts_its_notifications(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    bobs = (await comment(client, bob, video_id, "oops")).json()
    assert len(await notifications(client, alice)) == 1

    assert (await client.delete(f"/v1/comments/{bobs['id']}", headers=bob.headers)).status_code == 204

    assert await notifications(client, alice) == []


async def test_publishing_a_remix_notifies_the_parent_author(client, users, videos, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    root = await published(alice)
    draft = await videos.draft(bob, remix_of=root)
    assert await notifications(client, alice) == []  # a draft is private

    assert (await publish(client, bob, draft.id)).status_code == 200

    (item,) = await notifications(client, alice)
    assert item["kind"] == "remix"
    assert item["actor"]["username"] == "bob"
    assert item["subject"]["type"] == "video"
    assert item["subject"]["id"] == draft.id
    assert item["subject"]["remix_of"] == root


async def test_notifications_paginate_newest_first(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    made = [await published(alice) for _ in range(5)]
    for video_id in made:
        assert (await client.post(f"/v1/videos/{video_id}/like", headers=bob.headers)).status_code == 204

    page = (await client.get("/v1/notifications", headers=alice.headers, params={"limit": 2})).json()
    everything = await all_items(client, alice, "/v1/notifications", limit=2)

    assert len(page["items"]) == 2
    assert page["next_cursor"]
    assert [item["subject"]["id"] for item in everything] == list(reversed(made))


async def test_mark_read_by_id_and_all(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    for _ in range(3):
        video_id = await published(alice)
        assert (await client.post(f"/v1/videos/{video_id}/like", headers=bob.headers)).status_code == 204
    first, second, third = await notifications(client, alice)

    response = await client.post(
        "/v1/notifications/read", headers=alice.headers, json={"ids": [second["id"]]}
    )

    assert response.status_code == 204, response.text
    assert [item["read"] for item in await notifications(client, alice)] == [False, True, False]
    # Someone else's ids change nothing of theirs.
    assert (
        await client.post("/v1/notifications/read", headers=bob.headers, json={"ids": [first["id"]]})
    ).status_code == 204
    assert [item["read"] for item in await notifications(client, alice)] == [False, True, False]

    for body in ({}, None):
        kwargs = {"json": body} if body is not None else {}
        response = await client.post("/v1/notifications/read", headers=alice.headers, **kwargs)
        assert response.status_code == 204, response.text
    assert [item["read"] for item in await notifications(client, alice)] == [True, True, True]
    assert third


async def test_mark_read_validates_ids(client, users):
    alice = await users.create("alice")

    bad_id = await client.post("/v1/notifications/read", headers=alice.headers, json={"ids": ["nope"]})
    unknown = await client.post("/v1/notifications/read", headers=alice.headers, json={"everything": True})

    assert "ids" in error_fields(assert_problem(bad_id, 422))
    assert "everything" in error_fields(assert_problem(unknown, 422))


async def test_notifications_from_blocked_people_are_hidden(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    video_id = await published(alice)
    for actor in (bob, carol):
        assert (await client.post(f"/v1/videos/{video_id}/like", headers=actor.headers)).status_code == 204

    assert (await block(client, alice.headers, "bob")).status_code == 204

    assert [item["actor"]["username"] for item in await notifications(client, alice)] == ["carol"]


async def test_a_block_with_the_videos_author_hides_what_was_said_on_it(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    video_id = await published(carol)
    bobs = (await comment(client, bob, video_id, "great video")).json()
    await comment(client, alice, video_id, "agreed", parent_id=bobs["id"])
    assert [item["kind"] for item in await notifications(client, bob)] == ["reply"]

    # Neither bob nor alice blocks the other, but bob no longer sees carol's video (404): alice's
    # reply on it is not shown to him, whichever side blocked, until the block is lifted.
    for blocker, blocked in ((bob, "carol"), (carol, "bob")):
        assert (await block(client, blocker.headers, blocked)).status_code == 204
        assert (await client.get(f"/v1/videos/{video_id}", headers=bob.headers)).status_code == 404
        assert await notifications(client, bob) == []
        assert (await unblock(client, blocker.headers, blocked)).status_code == 204
        assert [item["kind"] for item in await notifications(client, bob)] == ["reply"]


async def test_deleting_videos_retracts_what_pointed_at_them(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    remix = await published(bob, remix_of=video_id)
    assert (await client.post(f"/v1/videos/{video_id}/like", headers=bob.headers)).status_code == 204
    await comment(client, bob, video_id, "hi")
    assert [item["kind"] for item in await notifications(client, alice)] == ["comment", "like", "remix"]

    # bob deletes his remix: alice is no longer told about it.
    assert (await client.delete(f"/v1/videos/{remix}", headers=bob.headers)).status_code == 204
    assert [item["kind"] for item in await notifications(client, alice)] == ["comment", "like"]
    # alice deletes her video: nothing points at it any more.
    assert (await client.delete(f"/v1/videos/{video_id}", headers=alice.headers)).status_code == 204
    assert await notifications(client, alice) == []


async def test_deleting_a_video_retracts_what_commenters_were_told_about_it(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    video_id = await published(alice)
    bobs = (await comment(client, bob, video_id, "great video")).json()
    await comment(client, carol, video_id, "agreed", parent_id=bobs["id"])
    assert [item["kind"] for item in await notifications(client, bob)] == ["reply"]

    # A deleted video exists for nobody: bob is no longer pointed at it, nor shown carol's reply on it.
    assert (await client.delete(f"/v1/videos/{video_id}", headers=alice.headers)).status_code == 204
    assert await notifications(client, bob) == []


async def test_a_later_block_blanks_the_actor_of_what_must_reach_and_hides_the_rest(
    client, users, videos, cameos, published
):
    alice = await users.create("alice")
    bob = await users.create("bob")
    cameo_id = await cameos.active(bob, permission="everyone")
    # To bob: alice used his cameo, posted the video and liked his post.
    generation = await generate(client, alice.headers, cameos=["bob"])
    done = await wait_until_done(client, alice.headers, generation["id"])
    assert done["status"] == "completed", done
    assert (await publish(client, alice, done["video_id"])).status_code == 200
    bobs_post = await published(bob)
    assert (await client.post(f"/v1/videos/{bobs_post}/like", headers=alice.headers)).status_code == 204
    # To alice: bob deleted her draft with his cameo in it, and liked her post.
    draft = await videos.draft(alice, appearances=[(bob, cameo_id)])
    assert (await client.delete(f"/v1/videos/{draft.id}", headers=bob.headers)).status_code == 204
    alices_post = await published(alice)
    assert (await client.post(f"/v1/videos/{alices_post}/like", headers=bob.headers)).status_code == 204

    def listed(items):
        return [(item["kind"], item["actor"] and item["actor"]["username"]) for item in items]

    assert listed(await notifications(client, bob)) == [
        ("like", "alice"),
        ("cameo_posted", "alice"),
        ("cameo_used", "alice"),
    ]
    assert listed(await notifications(client, alice)) == [("like", "bob"), ("appearance_removed", "bob")]

    # A block made since, either way: the uses of bob's likeness and the deletion of alice's draft
    # are still listed, naming nobody, as when the block came first; the likes are hidden.
    for blocker, blocked in ((bob, "alice"), (alice, "bob")):
        assert (await block(client, blocker.headers, blocked)).status_code == 204
        assert listed(await notifications(client, bob)) == [("cameo_posted", None), ("cameo_used", None)]
        assert listed(await notifications(client, alice)) == [("appearance_removed", None)]
        assert (await unblock(client, blocker.headers, blocked)).status_code == 204
        assert listed(await notifications(client, bob))[0] == ("like", "alice")


async def test_a_remix_notification_names_the_parent_only_while_its_author_can_open_it(
    client, users, published
):
    alice = await users.create("alice")
    bob = await users.create("bob")
    mod = await users.create("mod", role=Role.MODERATOR)
    removed, deleted = await published(alice), await published(alice)
    removed_remix = await published(bob, remix_of=removed)
    deleted_remix = await published(bob, remix_of=deleted)
    # One of alice's videos is taken down by a moderator, she deletes the other.
    await reported(client, bob, "video", removed, "spam")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")
    assert (await client.delete(f"/v1/videos/{deleted}", headers=alice.headers)).status_code == 204

    # She still opens the removed one (as removed): her notification points at it, and a granted
    # appeal would bring it back. The deleted one is 404 to her too: the remix is shown alone.
    as_author = await client.get(f"/v1/videos/{removed}", headers=alice.headers)
    assert (as_author.status_code, as_author.json()["status"]) == (200, "removed")
    assert (await client.get(f"/v1/videos/{deleted}", headers=alice.headers)).status_code == 404
    told = {
        item["subject"]["id"]: item["subject"]
        for item in await notifications(client, alice)
        if item["kind"] == "remix"
    }
    assert told == {
        deleted_remix: {"type": "video", "id": deleted_remix, "video_id": deleted_remix},
        removed_remix: {"type": "video", "id": removed_remix, "video_id": removed_remix, "remix_of": removed},
    }


async def test_a_remix_is_told_to_the_parents_author_while_their_tree_lists_it(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    root = await published(alice)
    remix = await published(bob, remix_of=root, visibility="unlisted")

    async def tree_and_told() -> tuple[list[str], list[str]]:
        tree = await client.get(f"/v1/videos/{root}/tree", headers=alice.headers)
        assert tree.status_code == 200, tree.text
        told = [
            item["subject"]["id"] for item in await notifications(client, alice) if item["kind"] == "remix"
        ]
        return [node["video"]["id"] for node in tree.json()["children"]], told

    # Unlisted, it opens by link only: not in alice's tree, so she is not handed its link.
    assert await tree_and_told() == ([], [])
    for visibility, shown in (("public", [remix]), ("unlisted", []), ("public", [remix])):
        changed = await client.patch(
            f"/v1/videos/{remix}", headers=bob.headers, json={"visibility": visibility}
        )
        assert changed.status_code == 200, changed.text
        assert await tree_and_told() == (shown, shown)  # told once, shown while it is listed


async def test_the_notifications_about_a_video_are_found_by_their_index(resources):
    """A video's deletion or removal finds what anyone was told about it in ix_notifications_video_id,
    not by reading every notification: the queries spell `data ->> 'video_id'` as the index does,
    the key a literal, which a generic plan of the prepared statement still matches (a bound key,
    `data ->> $1`, matched only the plans made for its values)."""
    about = select(Notification.id).where(notification_video_id == bindparam("video_id", type_=Text))
    sql = str(about.compile(dialect=asyncpg_dialect()))
    async with resources.engine.connect() as connection:
        await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        await connection.exec_driver_sql(f"PREPARE about_video AS {sql}")
        plan = [row[0] for row in await connection.exec_driver_sql("EXPLAIN EXECUTE about_video('x')")]
        await connection.rollback()
    assert any("ix_notifications_video_id" in line for line in plan), plan


# More comments than the driver could bind as one parameter each (2 keys a comment, 32,767 binds).
MANY_COMMENTS = 17_000


async def _pile_of_replies(resources, video_id: str, author_id: str, parent_id: str) -> None:
    async with resources.session_factory() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO comments (id, video_id, author_id, parent_id, body, created_at, updated_at) "
                "SELECT gen_random_uuid(), :video, :author, :parent, 'me too', now(), now() "
                "FROM generate_series(1, :many)"
            ),
            {"video": video_id, "author": author_id, "parent": parent_id, "many": MANY_COMMENTS},
        )
        await session.execute(
            text("UPDATE videos SET comment_count = comment_count + :many WHERE id = :video"),
            {"video": video_id, "many": MANY_COMMENTS},
        )


async def test_a_thread_with_more_comments_than_binds_is_deleted(client, users, published, resources):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    first = (await comment(client, bob, video_id, "first")).json()
    await _pile_of_replies(resources, video_id, bob.id, first["id"])

    response = await client.delete(f"/v1/comments/{first['id']}", headers=bob.headers)

    assert response.status_code == 204, response.text
    assert await notifications(client, alice) == []
    video = (await client.get(f"/v1/videos/{video_id}", headers=alice.headers)).json()
    assert video["comment_count"] == 0


async def test_a_video_with_more_comments_than_binds_is_deleted(client, users, published, resources):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    first = (await comment(client, bob, video_id, "first")).json()
    await _pile_of_replies(resources, video_id, bob.id, first["id"])

    response = await client.delete(f"/v1/videos/{video_id}", headers=alice.headers)

    assert response.status_code == 204, response.text
    assert await notifications(client, alice) == []
