"""Appearances: the owner of a cameo sees every video it is in (others' drafts included), may read
and delete any of them, and is told when one is published; the author is told of a deletion."""

from __future__ import annotations

import pytest

from accounts.models import Role
from tests.accounts.helpers import assert_problem, block, me
from tests.feed.helpers import all_items, get_video, notifications, publish, video
from tests.moderation.helpers import (
    appeal,
    claim,
    claimed,
    decided,
    decision_id_for,
    report,
    reported,
    takedown,
)


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


async def appearances(client, actor, **params) -> list[dict]:
    return await all_items(client, actor, "/v1/me/appearances", **params)


async def test_others_drafts_with_my_cameo_are_listed_and_readable_by_me_only(client, users, videos, cameos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    stranger = await users.create("stranger")
    cameo = await cameos.active(bob)
    draft = await videos.draft(alice, appearances=[(bob, cameo)])
    await videos.draft(alice)  # without bob

    listed = await appearances(client, bob)

    assert ids(listed) == [draft.id]
    assert listed[0]["status"] == "draft"
    assert listed[0]["author"]["username"] == "alice"
    assert listed[0]["cameos"] == ["bob"]
    assert (await video(client, bob, draft.id))["status"] == "draft"
    content = await client.get(
        f"/v1/videos/{draft.id}/content", headers=bob.headers, params={"variant": "video"}
    )
    assert content.status_code == 200, content.text
    assert content.content.startswith(b"\x00\x00\x00\x18ftyp")
    thumbnail = await client.get(
        f"/v1/videos/{draft.id}/content", headers=bob.headers, params={"variant": "thumbnail"}
    )
    assert thumbnail.status_code == 200
    # Somebody else's draft is nobody else's business.
    assert_problem(await get_video(client, stranger, draft.id), 404, "video_not_found")
    assert_problem(
        await client.get(
            f"/v1/videos/{draft.id}/content", headers=stranger.headers, params={"variant": "video"}
        ),
        404,
    )
    assert await appearances(client, stranger) == []
    assert await appearances(client, alice) == []
    # Being in a draft does not make it mine: no publishing, editing or liking it.
    assert_problem(await publish(client, bob, draft.id), 403, "not_video_author")
    assert_problem(
        await client.patch(f"/v1/videos/{draft.id}", headers=bob.headers, json={"caption": "x"}), 403
    )


async def test_appearances_are_newest_first_and_paginated(client, users, videos, cameos, published):
    alice = await users.create("alice")
    carol = await users.create("carol")
    bob = await users.create("bob")
    cameo = await cameos.active(bob)
    made = []
    for author in (alice, carol, alice, bob, carol):
        draft = await videos.draft(author, appearances=[(bob, cameo)])
        made.append(draft.id)
    assert (await publish(client, carol, made[1])).status_code == 200

    pages = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/me/appearances", headers=bob.headers, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(ids(body["items"]))
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == [made[4:2:-1], made[2:0:-1], made[0:1]]
    other = await client.get("/v1/me/appearances", headers=alice.headers, params={"cursor": cursor or "x"})
    assert_problem(other, 400, "invalid_cursor")


async def _removed_by_moderation(client, users, video_id: str) -> str:
    """Reported and taken down by a moderator; the item's id."""
    reporter = await users.create("reporter")
    mod = await users.create("mod", role=Role.MODERATOR)
    await reported(client, reporter, "video", video_id)
    item = await claimed(client, mod)
    await decided(client, mod, item["id"], "remove_content")
    return str(item["id"])


async def test_deleted_videos_leave_the_appearances_and_removed_ones_stay_as_removed(
    client, users, videos, cameos
):
    """A video a moderator removed is still a use of the owner's likeness, and an appeal may bring
    it back: the owner keeps finding and opening it (as its author does) until it is deleted."""
    alice = await users.create("alice")
    bob = await users.create("bob")
    cameo = await cameos.active(bob)
    kept = await videos.draft(alice, appearances=[(bob, cameo)])
    deleted = await videos.draft(alice, appearances=[(bob, cameo)])
    removed = await videos.draft(alice, appearances=[(bob, cameo)])
    assert (await publish(client, alice, removed.id)).status_code == 200
    assert (await client.delete(f"/v1/videos/{deleted.id}", headers=alice.headers)).status_code == 204
    await _removed_by_moderation(client, users, removed.id)

    listed = await appearances(client, bob)

    assert ids(listed) == [removed.id, kept.id]
    assert [item["status"] for item in listed] == ["removed", "draft"]
    assert (await video(client, bob, removed.id))["status"] == "removed"
    assert (await video(client, alice, removed.id))["status"] == "removed"
    assert_problem(await get_video(client, bob, deleted.id), 404)
    # Its media too, as its author still gets it: the owner judges what was made of their likeness.
    for viewer in (alice, bob):
        content = await client.get(
            f"/v1/videos/{removed.id}/content", headers=viewer.headers, params={"variant": "video"}
        )
        assert content.status_code == 200, content.text
        assert content.content.startswith(b"\x00\x00\x00\x18ftyp")
    # Seeing it is not engaging with it.
    assert_problem(await client.post(f"/v1/videos/{removed.id}/like", headers=bob.headers), 409)


async def test_a_removed_video_stays_hidden_from_everyone_but_its_author_and_cameo_owners(
    client, users, videos, cameos, published
):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    cameo = await cameos.active(bob)
    parent = await published(carol)
    draft = await videos.draft(alice, remix_of=parent, appearances=[(bob, cameo)])
    assert (await publish(client, alice, draft.id)).status_code == 200
    await _removed_by_moderation(client, users, draft.id)

    assert (await video(client, bob, draft.id))["status"] == "removed"
    assert_problem(await get_video(client, carol, draft.id), 404, "video_not_found")
    assert_problem(
        await client.get(
            f"/v1/videos/{draft.id}/content", headers=carol.headers, params={"variant": "thumbnail"}
        ),
        404,
    )
    assert await appearances(client, carol) == []
    # Out of every list, the cameo owner's included: only their appearances show it.
    for viewer in (bob, carol):
        assert await all_items(client, viewer, "/v1/users/alice/videos") == []
        assert await all_items(client, viewer, f"/v1/videos/{parent}/remixes") == []
        tree = await client.get(f"/v1/videos/{parent}/tree", headers=viewer.headers)
        assert tree.status_code == 200 and tree.json()["children"] == []
        feed = await client.get("/v1/feed", headers=viewer.headers, params={"cut": "latest"})
        assert feed.status_code == 200, feed.text
        assert draft.id not in [entry["video"]["id"] for entry in feed.json()["items"]]
    assert (await video(client, carol, parent))["remix_count"] == 0


async def test_the_owner_deletes_a_removed_video_and_a_granted_appeal_restores_nothing(
    client, users, videos, cameos
):
    """Deleting wins over the appeal: the appeal may still be decided (granting it records that
    the removal was wrong), but a deleted video stays deleted and is counted nowhere."""
    alice = await users.create("alice")
    bob = await users.create("bob")
    admin = await users.create("boss", role=Role.ADMIN)
    cameo = await cameos.active(bob)
    draft = await videos.draft(alice, appearances=[(bob, cameo)])
    assert (await publish(client, alice, draft.id)).status_code == 200
    await _removed_by_moderation(client, users, draft.id)
    decision_id = await decision_id_for(client, alice)
    assert (await appeal(client, alice, decision_id)).status_code == 201

    assert (await client.delete(f"/v1/videos/{draft.id}", headers=bob.headers)).status_code == 204

    held = await claimed(client, admin, "appeals")
    assert (await decided(client, admin, held["id"], "restore_content"))["status"] == "closed"
    for viewer in (alice, bob, admin):
        assert_problem(await get_video(client, viewer, draft.id), 404, "video_not_found")
    assert await appearances(client, bob) == []
    assert await all_items(client, admin, "/v1/users/alice/videos") == []
    assert (await me(client, alice.headers))["post_count"] == 0
    told = {item["kind"]: item["subject"] for item in await notifications(client, alice)}
    assert sorted(told) == ["appeal_outcome", "appearance_removed", "moderation_decision"]
    # The decision stays, no longer naming the video, which is 404 to alice now.
    assert told["moderation_decision"] == {
        "type": "decision",
        "id": decision_id,
        "excerpt": "remove_content",
        "reason": "spam",
        "appealable": True,
    }


async def test_a_removed_video_is_not_reported_or_taken_down_again(client, users, videos, cameos):
    """Its cameo owner sees it now, but it is already down: another report or takedown request would
    only queue an item with nothing to take down (409 video_removed); deleting it is theirs."""
    alice = await users.create("alice")
    bob = await users.create("bob")
    cameo = await cameos.active(bob)
    draft = await videos.draft(alice, appearances=[(bob, cameo)])
    assert (await publish(client, alice, draft.id)).status_code == 200
    await _removed_by_moderation(client, users, draft.id)

    assert_problem(await report(client, bob, "video", draft.id, "likeness"), 409, "video_removed")
    assert_problem(await takedown(client, bob, draft.id), 409, "video_removed")
    mod = await users.create("mod2", role=Role.MODERATOR)
    for queue in ("reports", "takedowns"):
        assert (await claim(client, mod, queue)).status_code == 204
    assert await all_items(client, bob, "/v1/me/takedown-requests") == []


async def test_the_owner_sees_a_use_of_their_cameo_across_a_block_but_cannot_engage(
    client, users, videos, cameos
):
    alice = await users.create("alice")
    bob = await users.create("bob")
    cameo = await cameos.active(bob)
    draft = await videos.draft(alice, appearances=[(bob, cameo)])
    post = await videos.draft(alice, appearances=[(bob, cameo)])
    assert (await publish(client, alice, post.id)).status_code == 200
    assert (await block(client, alice.headers, "bob")).status_code in (200, 204)

    assert set(ids(await appearances(client, bob))) == {draft.id, post.id}
    assert (await video(client, bob, draft.id))["id"] == draft.id
    assert (await video(client, bob, post.id))["id"] == post.id
    # Seeing it is for controlling one's likeness, not for engaging across the block.
    assert_problem(await client.post(f"/v1/videos/{post.id}/like", headers=bob.headers), 404)
    assert_problem(
        await client.post(f"/v1/videos/{post.id}/comments", headers=bob.headers, json={"body": "hi"}), 404
    )
    # Nor does it put the post back into lists across the block.
    assert_problem(await client.get("/v1/users/alice/videos", headers=bob.headers), 404)
    assert (await client.delete(f"/v1/videos/{post.id}", headers=bob.headers)).status_code == 204
    assert_problem(await get_video(client, alice, post.id), 404)


async def test_others_drafts_with_my_cameo_stay_out_of_ordinary_lists(
    client, users, videos, cameos, published
):
    alice = await users.create("alice")
    bob = await users.create("bob")
    cameo = await cameos.active(bob)
    parent = await published(alice)
    remix = await videos.draft(alice, remix_of=parent, appearances=[(bob, cameo)])

    assert (await video(client, bob, remix.id))["remix_of"] == parent
    assert await all_items(client, bob, f"/v1/videos/{parent}/remixes") == []
    tree = await client.get(f"/v1/videos/{parent}/tree", headers=bob.headers)
    assert tree.status_code == 200 and tree.json()["children"] == []
    assert await all_items(client, bob, "/v1/me/drafts") == []
    # The author still sees their own draft remix there.
    assert ids(await all_items(client, alice, f"/v1/videos/{parent}/remixes")) == [remix.id]


async def test_the_owner_deletes_someone_elses_draft_and_the_author_is_told(
    client, users, resources, videos, cameos
):
    alice = await users.create("alice")
    bob = await users.create("bob")
    cameo = await cameos.active(bob)
    draft = await videos.draft(alice, appearances=[(bob, cameo)])

    response = await client.delete(f"/v1/videos/{draft.id}", headers=bob.headers)

    assert response.status_code == 204, response.text
    assert_problem(await get_video(client, alice, draft.id), 404, "video_not_found")
    assert_problem(await get_video(client, bob, draft.id), 404, "video_not_found")
    assert await all_items(client, alice, "/v1/me/drafts") == []
    assert await appearances(client, bob) == []
    for key in (draft.video_key, draft.thumbnail_key):
        with pytest.raises(LookupError):
            await resources.storage.get(key)
    told = [item for item in await notifications(client, alice) if item["kind"] == "appearance_removed"]
    assert len(told) == 1
    assert told[0]["actor"]["username"] == "bob"
    assert told[0]["subject"]["type"] == "video"
    assert told[0]["subject"]["id"] == draft.id
    assert [item["kind"] for item in await notifications(client, bob)] == []


async def test_the_owner_deletes_a_published_video_for_everyone(client, users, videos, cameos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    cameo = await cameos.active(bob)
    draft = await videos.draft(alice, appearances=[(bob, cameo)])
    assert (await publish(client, alice, draft.id)).status_code == 200
    assert (await client.post(f"/v1/videos/{draft.id}/like", headers=carol.headers)).status_code == 204
    assert (await me(client, alice.headers))["post_count"] == 1

    assert (await client.delete(f"/v1/videos/{draft.id}", headers=bob.headers)).status_code == 204

    for viewer in (alice, bob, carol):
        assert_problem(await get_video(client, viewer, draft.id), 404)
    assert await all_items(client, carol, "/v1/users/alice/videos") == []
    assert (await me(client, alice.headers))["post_count"] == 0
    kinds = [item["kind"] for item in await notifications(client, alice)]
    # The like on a video that is gone is forgotten; the deletion is told.
    assert kinds == ["appearance_removed"]
    # What bob was told about the post (it was published) points nowhere now and is gone.
    assert [item["kind"] for item in await notifications(client, bob)] == []


async def test_nobody_else_may_delete(client, users, videos, cameos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    cameo = await cameos.active(bob)
    draft = await videos.draft(alice, appearances=[(bob, cameo)])
    post = await videos.draft(alice, appearances=[(bob, cameo)])
    assert (await publish(client, alice, post.id)).status_code == 200

    assert_problem(
        await client.delete(f"/v1/videos/{post.id}", headers=carol.headers), 403, "not_video_author"
    )
    assert_problem(
        await client.delete(f"/v1/videos/{draft.id}", headers=carol.headers), 404, "video_not_found"
    )
    assert (await video(client, alice, post.id))["status"] == "published"
    assert (await video(client, alice, draft.id))["status"] == "draft"
    assert await notifications(client, alice) == []


async def test_the_author_deleting_tells_nobody(client, users, videos, cameos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    cameo = await cameos.active(bob)
    draft = await videos.draft(alice, appearances=[(bob, cameo)])

    assert (await client.delete(f"/v1/videos/{draft.id}", headers=alice.headers)).status_code == 204

    assert await notifications(client, alice) == []
    assert await appearances(client, bob) == []


async def test_publishing_tells_each_owner_in_it_once(client, users, videos, cameos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    bobs = await cameos.active(bob)
    carols = await cameos.active(carol)
    alices = await cameos.active(alice)
    draft = await videos.draft(alice, appearances=[(bob, bobs), (carol, carols), (alice, alices)])
    quiet = await videos.draft(alice, appearances=[(bob, bobs)])

    # Before publishing nobody is told of a post.
    assert [item["kind"] for item in await notifications(client, bob)] == []
    assert (await publish(client, alice, draft.id, key="once")).status_code == 200
    assert (await publish(client, alice, draft.id, key="once")).status_code == 200

    for owner in (bob, carol):
        told = [item for item in await notifications(client, owner) if item["kind"] == "cameo_posted"]
        assert len(told) == 1, told
        assert told[0]["actor"]["username"] == "alice"
        assert told[0]["subject"] == {"type": "video", "id": draft.id, "video_id": draft.id}
    # Not the author, about their own cameo in their own video.
    assert await notifications(client, alice) == []
    assert quiet.id not in [item["subject"]["id"] for item in await notifications(client, bob)]
