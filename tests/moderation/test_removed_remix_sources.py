"""A remix made just before a moderator removed the video it remixes (a removed video cannot be
remixed) reaches nobody new while that removal stands: its draft is not published, an unlisted
one not made public (409 remix_source_removed). A granted appeal lifts that; a parent its author
deleted was no moderator's judgement, and does not stop it."""

from __future__ import annotations

import asyncio
from uuid import UUID

from sqlalchemy import text

from tests.accounts.helpers import assert_problem
from tests.feed.helpers import all_items, publish, video
from tests.locks import someone_waits_for_a_lock
from tests.moderation.helpers import appeal, claimed, decided, decision_id_for, reported


async def remove(client, mod, reporter, video_id):
    await reported(client, reporter, "video", video_id)
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content", note="spam")


async def grant_appeal(client, admin, author):
    assert (await appeal(client, author, await decision_id_for(client, author))).status_code == 201
    await decided(client, admin, (await claimed(client, admin, "appeals"))["id"], "restore_content")


async def make_public(client, actor, video_id):
    return await client.patch(f"/v1/videos/{video_id}", headers=actor.headers, json={"visibility": "public"})


async def test_a_draft_remix_of_a_video_removed_since_is_not_published_until_an_appeal_restores_it(
    client, users, videos, published, mod, admin
):
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    parent = await published(bob)
    draft = await videos.draft(alice, remix_of=parent)
    await remove(client, mod, carol, parent)

    assert_problem(await publish(client, alice, draft.id), 409, "remix_source_removed")
    assert draft.id in [item["id"] for item in await all_items(client, alice, "/v1/me/drafts")]

    await grant_appeal(client, admin, bob)
    published_now = await publish(client, alice, draft.id)
    assert published_now.status_code == 200, published_now.text
    assert published_now.json()["remix_of"] == parent
    assert (await video(client, carol, parent))["remix_count"] == 1


async def test_an_unlisted_remix_of_a_video_removed_since_is_not_made_public_until_an_appeal_restores_it(
    client, users, published, mod, admin
):
    """It stays as it was (unlisted, opening by link), and may still be edited in other ways."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    parent = await published(bob)
    remix = await published(alice, remix_of=parent, visibility="unlisted")
    await remove(client, mod, carol, parent)

    assert_problem(await make_public(client, alice, remix), 409, "remix_source_removed")
    captioned = await client.patch(f"/v1/videos/{remix}", headers=alice.headers, json={"caption": "mine"})
    assert captioned.status_code == 200, captioned.text
    assert captioned.json()["visibility"] == "unlisted"

    await grant_appeal(client, admin, bob)
    made_public = await make_public(client, alice, remix)
    assert made_public.status_code == 200, made_public.text
    assert [item["id"] for item in await all_items(client, carol, "/v1/users/alice/videos")] == [remix]


async def test_a_draft_remix_of_a_video_its_author_deleted_is_published(client, users, videos, published):
    """The author chose to delete their own video; its remixes live on."""
    alice, bob = await users.create("alice"), await users.create("bob")
    parent = await published(bob)
    draft = await videos.draft(alice, remix_of=parent)
    assert (await client.delete(f"/v1/videos/{parent}", headers=bob.headers)).status_code == 204

    published_now = await publish(client, alice, draft.id)

    assert published_now.status_code == 200, published_now.text
    assert published_now.json()["status"] == "published"


async def test_deleting_a_removed_video_does_not_free_its_remixes(client, users, videos, published, mod):
    """The removal stands (no appeal can restore a deleted video): its author deleting it does not
    launder what was taken down."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    parent = await published(bob)
    draft = await videos.draft(alice, remix_of=parent)
    await remove(client, mod, carol, parent)
    assert (await client.delete(f"/v1/videos/{parent}", headers=bob.headers)).status_code == 204

    assert_problem(await publish(client, alice, draft.id), 409, "remix_source_removed")


async def test_a_draft_remix_published_while_its_source_is_being_removed_waits_and_is_refused(
    client, users, videos, published, resources
):
    """A removal under way holds its video's row; the publish reads the parent under a lock that
    waits for it, so it sees the removal once committed. It read the parent unlocked, found it
    published and went on to publish the remix of a video removed by then (found in review)."""
    alice, bob = await users.create("alice"), await users.create("bob")
    parent = await published(bob)
    draft = await videos.draft(alice, remix_of=parent)
    async with resources.engine.connect() as moderator:
        # What a moderator's removal does first: the video's row lock, then its status.
        await moderator.execute(text("SELECT 1 FROM videos WHERE id = :id FOR UPDATE"), {"id": UUID(parent)})
        await moderator.execute(
            text("UPDATE videos SET status = 'removed', removed_at = now() WHERE id = :id"),
            {"id": UUID(parent)},
        )
        publishing = asyncio.ensure_future(publish(client, alice, draft.id))
        await someone_waits_for_a_lock(resources)
        await moderator.commit()
    assert_problem(await publishing, 409, "remix_source_removed")


async def remix(client, actor, video_id):
    return await client.post(
        "/v1/generations", json={"prompt": "again", "remix_of": video_id}, headers=actor.headers
    )


async def test_a_remix_of_a_video_whose_root_was_removed_is_refused_until_an_appeal_restores_it(
    client, users, published, mod, admin
):
    """A remix is made from what it remixes, which was made from its own source in turn: while a
    moderator's removal of the original stands, nothing new is made from its lineage (403
    remix_not_allowed, as for the removed video itself), by anyone, its own remixers included."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    root = await published(bob)
    child = await published(alice, remix_of=root)
    await remove(client, mod, carol, root)

    assert_problem(await remix(client, carol, child), 403, "remix_not_allowed")
    assert_problem(await remix(client, alice, child), 403, "remix_not_allowed")

    await grant_appeal(client, admin, bob)
    assert (await remix(client, carol, child)).status_code == 202


async def test_a_remix_whose_lineage_goes_through_a_removed_video_is_refused(client, users, published, mod):
    """Not only the root: any video between it and the one remixed, removed, stops it."""
    alice, bob, carol, dave = [await users.create(name) for name in ("alice", "bob", "carol", "dave")]
    root = await published(bob)
    middle = await published(alice, remix_of=root)
    leaf = await published(dave, remix_of=middle)
    await remove(client, mod, carol, middle)

    assert_problem(await remix(client, carol, leaf), 403, "remix_not_allowed")
    assert (await remix(client, carol, root)).status_code == 202


async def test_a_draft_remix_whose_grandparent_was_removed_since_is_not_published(
    client, users, videos, published, mod
):
    """The rule of the parent (above) holds for every video above it, up to the root: publishing,
    or making an unlisted remix public, is 409 remix_source_removed."""
    alice, bob, carol, dave = [await users.create(name) for name in ("alice", "bob", "carol", "dave")]
    root = await published(bob)
    middle = await published(dave, remix_of=root)
    draft = await videos.draft(alice, remix_of=middle)
    unlisted = await published(alice, remix_of=middle, visibility="unlisted")
    await remove(client, mod, carol, root)

    assert_problem(await publish(client, alice, draft.id), 409, "remix_source_removed")
    assert_problem(await make_public(client, alice, unlisted), 409, "remix_source_removed")
    assert (await video(client, carol, middle))["remix_count"] == 0
