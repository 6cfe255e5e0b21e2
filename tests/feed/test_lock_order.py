"""Requests that lock the same rows at once wait for each other rather than deadlock: every
writer takes a video's row before its parent's and both before the author's users row."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest
from sqlalchemy import text

from feed.service import videos as video_service
from tests.accounts.helpers import me
from tests.feed.helpers import all_items, comment, notifications, publish, video
from tests.locks import someone_waits_for_a_lock


async def test_deleting_a_remix_and_its_source_at_once(
    client, users, videos, published, resources, monkeypatch: pytest.MonkeyPatch
):
    alice = await users.create("alice")
    source = await published(alice)
    remix = await published(alice, remix_of=source)
    assert (await me(client, alice.headers))["post_count"] == 2

    # Both deletes hold their own video's row when they come to the counts. The remix's goes first
    # and waits for its source's row; only then does the source's go on.
    recount = video_service.recount
    source_holds_its_row = asyncio.Event()

    async def in_order(session, deleted, *, was_counted):
        if str(deleted.id) == remix:
            await source_holds_its_row.wait()
        else:
            source_holds_its_row.set()
            await someone_waits_for_a_lock(resources)
        await recount(session, deleted, was_counted=was_counted)

    monkeypatch.setattr(video_service, "recount", in_order)
    answers = await asyncio.gather(
        client.delete(f"/v1/videos/{remix}", headers=alice.headers),
        client.delete(f"/v1/videos/{source}", headers=alice.headers),
    )

    assert [answer.status_code for answer in answers] == [204, 204], [answer.text for answer in answers]
    assert (await me(client, alice.headers))["post_count"] == 0


async def test_publishing_editing_deleting_and_commenting_at_once_keep_the_counts(
    client, users, videos, published
):
    alice, bob = await users.create("alice"), await users.create("bob")
    source = await published(alice)
    for _ in range(5):
        draft = await videos.draft(alice, remix_of=source)
        answers = await asyncio.gather(
            publish(client, alice, draft.id),
            client.patch(f"/v1/videos/{draft.id}", headers=alice.headers, json={"visibility": "unlisted"}),
            client.patch(f"/v1/videos/{draft.id}", headers=alice.headers, json={"visibility": "public"}),
            comment(client, bob, draft.id),
            client.delete(f"/v1/videos/{draft.id}", headers=alice.headers),
            client.delete(f"/v1/videos/{draft.id}", headers=alice.headers),
        )
        assert all(answer.status_code < 500 for answer in answers), [answer.text for answer in answers]

    listed = await all_items(client, bob, "/v1/users/alice/videos")
    assert (await me(client, alice.headers))["post_count"] == len(listed)
    remixes = await all_items(client, bob, f"/v1/videos/{source}/remixes")
    assert (await video(client, bob, source))["remix_count"] == len(remixes)


async def _notification_ids(client, actor) -> dict[tuple[str, str], str]:
    """The recipient's notifications by (kind, the video they are about)."""
    items = await notifications(client, actor)
    return {(item["kind"], item["subject"]["video_id"]): item["id"] for item in items}


async def test_marking_all_read_while_a_video_is_deleted(client, users, published, resources):
    """Both take the author's notifications in id order, so they wait for each other. Marking all
    read took them in scan order, and the delete took the comments' notifications before the like's:
    each came to hold one the other wanted, and PostgreSQL ended one (a 503)."""
    alice, bob = await users.create("alice"), await users.create("bob")
    deleted, kept = await published(alice), await published(alice)
    for video_id in (deleted, kept):
        assert (await client.post(f"/v1/videos/{video_id}/like", headers=bob.headers)).status_code == 204
    assert (await comment(client, bob, deleted)).status_code == 201
    told = await _notification_ids(client, alice)
    like, held, commented = told["like", deleted], told["like", kept], told["comment", deleted]
    assert UUID(like) < UUID(held) < UUID(commented)

    async with resources.engine.connect() as other:
        # Marking all read takes the first like, then waits for the second, held here.
        await other.execute(text("SELECT 1 FROM notifications WHERE id = :id FOR UPDATE"), {"id": UUID(held)})
        marking = asyncio.ensure_future(client.post("/v1/notifications/read", headers=alice.headers))
        await someone_waits_for_a_lock(resources)
        # The delete comes to wait for the first like (and may hold the comment's by then).
        deleting = asyncio.ensure_future(client.delete(f"/v1/videos/{deleted}", headers=alice.headers))
        await someone_waits_for_a_lock(resources, at_least=2)
        await other.rollback()
        answers = [await marking, await deleting]

    assert [answer.status_code for answer in answers] == [204, 204], [answer.text for answer in answers]
    left = await notifications(client, alice)
    assert [(item["kind"], item["subject"]["video_id"], item["read"]) for item in left] == [
        ("like", kept, True)
    ]
