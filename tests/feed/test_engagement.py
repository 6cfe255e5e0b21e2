"""Likes, views and comments: idempotency, exact counts (also under concurrency) and who may do what."""

from __future__ import annotations

import asyncio

import pytest

from tests.accounts.helpers import assert_problem, error_fields
from tests.feed.helpers import all_items, comment, video
from tests.statements import statements_of


async def test_likes_are_idempotent_and_counted_exactly(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)

    for _ in range(3):
        response = await client.post(f"/v1/videos/{video_id}/like", headers=bob.headers)
        assert response.status_code == 204, response.text
    seen = await video(client, bob, video_id)
    assert seen["like_count"] == 1
    assert seen["liked_by_me"] is True
    assert (await video(client, alice, video_id))["liked_by_me"] is False

    for _ in range(2):
        response = await client.delete(f"/v1/videos/{video_id}/like", headers=bob.headers)
        assert response.status_code == 204, response.text
    seen = await video(client, bob, video_id)
    assert seen["like_count"] == 0
    assert seen["liked_by_me"] is False


async def test_concurrent_likes_count_exactly(client, users, published):
    alice = await users.create("alice")
    likers = [await users.create(f"liker{n}") for n in range(6)]
    video_id = await published(alice)

    # Each liker sends the same like three times at once, everyone together.
    responses = await asyncio.gather(
        *(
            client.post(f"/v1/videos/{video_id}/like", headers=liker.headers)
            for liker in likers
            for _ in range(3)
        )
    )

    assert [response.status_code for response in responses] == [204] * 18
    assert (await video(client, alice, video_id))["like_count"] == 6

    unlikes = await asyncio.gather(
        *(
            client.delete(f"/v1/videos/{video_id}/like", headers=liker.headers)
            for liker in likers[:4]
            for _ in range(2)
        )
    )
    assert [response.status_code for response in unlikes] == [204] * 8
    assert (await video(client, alice, video_id))["like_count"] == 2


async def test_liking_or_commenting_on_a_draft(client, users, videos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    draft = await videos.draft(alice)

    # Invisible to others: 404. The author sees it but it is not published: 409.
    assert_problem(await client.post(f"/v1/videos/{draft.id}/like", headers=bob.headers), 404)
    assert_problem(await comment(client, bob, draft.id), 404)
    assert_problem(
        await client.post(f"/v1/videos/{draft.id}/like", headers=alice.headers), 409, "video_not_published"
    )
    assert_problem(await comment(client, alice, draft.id), 409, "video_not_published")
    assert (await video(client, alice, draft.id))["like_count"] == 0


async def test_views_count_once_per_viewer_and_never_the_author(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    video_id = await published(alice)

    for actor in (bob, bob, carol, alice, alice):
        response = await client.post(f"/v1/videos/{video_id}/views", headers=actor.headers)
        assert response.status_code == 204, response.text
    await asyncio.gather(
        *(client.post(f"/v1/videos/{video_id}/views", headers=carol.headers) for _ in range(5))
    )

    assert (await video(client, alice, video_id))["view_count"] == 2


async def test_the_author_viewing_a_draft_counts_nothing(client, users, videos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    draft = await videos.draft(alice)

    assert (await client.post(f"/v1/videos/{draft.id}/views", headers=alice.headers)).status_code == 204
    assert_problem(await client.post(f"/v1/videos/{draft.id}/views", headers=bob.headers), 404)
    assert (await video(client, alice, draft.id))["view_count"] == 0


@pytest.mark.parametrize(
    ("write", "added"),
    [("like", "INSERT INTO likes"), ("views", "INSERT INTO views"), ("comments", "INSERT INTO comments")],
)
async def test_a_new_like_view_or_comment_sends_one_statement_for_its_count_and_its_callers_check(
    client, users, published, resources, write, added
):
    """Once its row is added, a new like, view or comment moves the video's counter in a statement
    that also reads its caller again (`caller_presence`): a read of the caller on its own, one more
    statement on the hottest writes there are, fails this."""
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)

    async def send() -> None:
        body = {"body": "nice"} if write == "comments" else None
        response = await client.post(f"/v1/videos/{video_id}/{write}", headers=bob.headers, json=body)
        assert response.status_code == (201 if write == "comments" else 204), response.text

    sent = [" ".join(statement.split()) for statement, _ in await statements_of(resources, bool, send)]
    inserts = [n for n, statement in enumerate(sent) if statement.startswith(added)]
    assert len(inserts) == 1, sent
    after = sent[inserts[0] + 1 :]
    # A like or a comment then tells the author; a view tells nobody.
    expected = ("UPDATE videos ",) if write == "views" else ("UPDATE videos ", "INSERT INTO notifications ")
    assert len(after) == len(expected) and all(map(str.startswith, after, expected)), after
    assert "FROM users WHERE users.id" in after[0] and "FOR KEY SHARE" in after[0], after[0]
    seen = await video(client, alice, video_id)
    assert seen[{"like": "like_count", "views": "view_count", "comments": "comment_count"}[write]] == 1


@pytest.mark.parametrize("write", ["like", "views", "comments"])
async def test_a_like_view_or_comment_asks_once_whether_a_block_stands_between_the_two(
    client, users, published, resources, write
):
    """Seeing the video already asked (`feed.visibility`); engaging with it must not ask again."""
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)

    async def send() -> None:
        body = {"body": "nice"} if write == "comments" else None
        response = await client.post(f"/v1/videos/{video_id}/{write}", headers=bob.headers, json=body)
        assert response.status_code in (201, 204), response.text

    block_checks = await statements_of(resources, lambda statement: "FROM blocks" in statement, send)
    assert len(block_checks) == 1, block_checks


async def test_comments_thread_and_list_oldest_first(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)

    first = await comment(client, bob, video_id, "first!")
    assert first.status_code == 201, first.text
    top = first.json()
    assert set(top) == {"id", "video_id", "author", "body", "parent_id", "created_at"}
    assert top["video_id"] == video_id
    assert top["author"]["username"] == "bob"
    assert top["parent_id"] is None
    reply = await comment(client, alice, video_id, "  thanks  ", parent_id=top["id"])
    assert reply.status_code == 201, reply.text
    assert reply.json()["parent_id"] == top["id"]
    assert reply.json()["body"] == "thanks"
    nested = await comment(client, bob, video_id, "you're welcome", parent_id=reply.json()["id"])
    assert nested.status_code == 201

    listed = await all_items(client, alice, f"/v1/videos/{video_id}/comments")

    assert [item["body"] for item in listed] == ["first!", "thanks", "you're welcome"]
    assert (await video(client, alice, video_id))["comment_count"] == 3


async def test_comments_paginate(client, users, published):
    alice = await users.create("alice")
    video_id = await published(alice)
    for n in range(5):
        assert (await comment(client, alice, video_id, f"c{n}")).status_code == 201

    page = (
        await client.get(f"/v1/videos/{video_id}/comments", headers=alice.headers, params={"limit": 2})
    ).json()
    everything = await all_items(client, alice, f"/v1/videos/{video_id}/comments", limit=2)

    assert [item["body"] for item in page["items"]] == ["c0", "c1"]
    assert [item["body"] for item in everything] == [f"c{n}" for n in range(5)]


async def test_a_reply_must_answer_a_comment_on_the_same_video(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    here = await published(alice)
    elsewhere = await published(alice)
    other_comment = (await comment(client, bob, elsewhere, "elsewhere")).json()

    for parent in (other_comment["id"], "not-a-uuid", "0195f3c2-0000-7000-8000-000000000000"):
        response = await comment(client, bob, here, "reply", parent_id=parent)
        assert "parent_id" in error_fields(assert_problem(response, 422, "invalid_parent"))
    assert (await video(client, bob, here))["comment_count"] == 0


@pytest.mark.parametrize("body", ["", "   ", "x" * 1001])
async def test_comment_length_is_checked(client, users, published, body):
    alice = await users.create("alice")
    video_id = await published(alice)

    response = await comment(client, alice, video_id, body)

    assert "body" in error_fields(assert_problem(response, 422))
    assert (await video(client, alice, video_id))["comment_count"] == 0


async def test_comment_of_exactly_1000_characters_and_unknown_fields(client, users, published):
    alice = await users.create("alice")
    video_id = await published(alice)

    assert (await comment(client, alice, video_id, "x" * 1000)).status_code == 201
    extra = await client.post(
        f"/v1/videos/{video_id}/comments", headers=alice.headers, json={"body": "hi", "author_id": "me"}
    )
    assert "author_id" in error_fields(assert_problem(extra, 422))


async def test_deleting_a_comment_takes_its_replies_and_keeps_counts_exact(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    video_id = await published(alice)
    top = (await comment(client, bob, video_id, "top")).json()
    reply = (await comment(client, carol, video_id, "reply", parent_id=top["id"])).json()
    await comment(client, alice, video_id, "reply to reply", parent_id=reply["id"])
    keep = (await comment(client, carol, video_id, "separate")).json()
    assert (await video(client, alice, video_id))["comment_count"] == 4

    # carol may not delete bob's comment (403: she can see it); bob may.
    assert_problem(
        await client.delete(f"/v1/comments/{top['id']}", headers=carol.headers), 403, "not_comment_author"
    )
    response = await client.delete(f"/v1/comments/{top['id']}", headers=bob.headers)

    assert response.status_code == 204, response.text
    listed = await all_items(client, alice, f"/v1/videos/{video_id}/comments")
    assert [item["id"] for item in listed] == [keep["id"]]
    assert (await video(client, alice, video_id))["comment_count"] == 1
    # Gone means gone, for the replies too.
    assert_problem(
        await client.delete(f"/v1/comments/{top['id']}", headers=bob.headers), 404, "comment_not_found"
    )
    assert_problem(await client.delete(f"/v1/comments/{reply['id']}", headers=carol.headers), 404)


async def test_the_video_author_may_delete_any_comment_on_it(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    top = (await comment(client, bob, video_id, "rude")).json()

    response = await client.delete(f"/v1/comments/{top['id']}", headers=alice.headers)

    assert response.status_code == 204, response.text
    assert (await video(client, alice, video_id))["comment_count"] == 0


async def test_concurrent_comments_and_deletes_keep_the_count(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    top = (await comment(client, bob, video_id, "top")).json()

    results = await asyncio.gather(
        *(comment(client, alice, video_id, f"reply {n}", parent_id=top["id"]) for n in range(5)),
        client.delete(f"/v1/comments/{top['id']}", headers=bob.headers),
        *(comment(client, alice, video_id, f"plain {n}") for n in range(3)),
    )

    statuses = [response.status_code for response in results]
    assert all(status in (201, 204, 422) for status in statuses), statuses
    listed = await all_items(client, alice, f"/v1/videos/{video_id}/comments")
    assert (await video(client, alice, video_id))["comment_count"] == len(listed)
