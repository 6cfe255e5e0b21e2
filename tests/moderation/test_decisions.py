"""Each decision's effect, seen through the public API; what is not applicable; who is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from accounts.models import Role, User
from tests.accounts.helpers import assert_problem, error_fields
from tests.feed.helpers import all_items, comment, get_video, video
from tests.moderation.helpers import (
    claimed,
    decide,
    decided,
    notifications_of,
    report,
    reported,
)


async def _profile(client, viewer, username):
    response = await client.get(f"/v1/users/{username}", headers=viewer.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_remove_content_takes_a_video_down_everywhere_but_for_its_author(client, users, published, mod):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    parent = await published(bob)
    removed = await published(alice, remix_of=parent)
    kept = await published(alice)
    assert (await video(client, bob, parent))["remix_count"] == 1
    assert (await _profile(client, carol, "alice"))["post_count"] == 2

    await reported(client, carol, "video", removed, "violence")
    held = await claimed(client, mod)
    closed = await decided(client, mod, held["id"], "remove_content", note="graphic violence")
    assert closed["status"] == "closed"
    assert [(d["action"], d["note"], d["moderator"]) for d in closed["history"]] == [
        ("remove_content", "graphic violence", "mod")
    ]

    # 404 to everyone else, "removed" to its author, media included.
    for other in (bob, carol, mod):
        assert_problem(await get_video(client, other, removed), 404, "video_not_found")
        content = await client.get(f"/v1/videos/{removed}/content", headers=other.headers)
        assert content.status_code == 404
    mine = await video(client, alice, removed)
    assert mine["status"] == "removed"
    # Gone from every list, and counted like a delete.
    for viewer in (alice, carol):
        listed = await all_items(client, viewer, "/v1/users/alice/videos")
        assert [v["id"] for v in listed] == [kept]
    assert await all_items(client, carol, f"/v1/videos/{parent}/remixes") == []
    tree = (await client.get(f"/v1/videos/{parent}/tree", headers=carol.headers)).json()
    assert tree["children"] == []
    assert (await video(client, bob, parent))["remix_count"] == 0
    assert (await _profile(client, carol, "alice"))["post_count"] == 1
    # Nobody can act on it any more.
    assert (await client.post(f"/v1/videos/{removed}/like", headers=carol.headers)).status_code == 404
    assert (await comment(client, carol, removed)).status_code == 404
    # And it cannot be reported again by those who can no longer see it.
    assert_problem(await report(client, bob, "video", removed), 404, "video_not_found")


async def test_a_removed_remix_leaves_its_authors_own_remix_lists_tree_and_lineage(
    client, users, published, mod
):
    """Its author still opens it by its id (as removed), but no list shows it to them either: not
    the parent's remixes, not the tree (nor what hangs below it there), not a descendant's lineage."""
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    parent = await published(alice)
    removed = await published(bob, remix_of=parent)
    below = await published(carol, remix_of=removed)
    await reported(client, carol, "video", removed, "violence")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")

    assert (await video(client, bob, removed))["status"] == "removed"
    for viewer in (bob, alice, carol):
        assert await all_items(client, viewer, f"/v1/videos/{parent}/remixes") == []
        tree = (await client.get(f"/v1/videos/{parent}/tree", headers=viewer.headers)).json()
        assert tree["children"] == [], viewer.username
        lineage = (await client.get(f"/v1/videos/{below}/lineage", headers=viewer.headers)).json()
        assert [ancestor["id"] for ancestor in lineage["ancestors"]] == [parent], viewer.username
    # Its own tree still opens for its author, who may see the remix of it below.
    own_tree = (await client.get(f"/v1/videos/{removed}/tree", headers=bob.headers)).json()
    assert [child["video"]["id"] for child in own_tree["children"]] == [below]


async def test_remove_content_hides_a_comment_with_its_replies(client, users, published, mod):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    video_id = await published(alice)
    rude = (await comment(client, bob, video_id, "a rude remark")).json()
    await comment(client, carol, video_id, "a reply", parent_id=rude["id"])
    other = (await comment(client, carol, video_id, "something else")).json()
    assert (await video(client, alice, video_id))["comment_count"] == 3

    await reported(client, alice, "comment", rude["id"], "harassment")
    held = await claimed(client, mod)
    await decided(client, mod, held["id"], "remove_content")

    remaining = await all_items(client, alice, f"/v1/videos/{video_id}/comments")
    assert [c["id"] for c in remaining] == [other["id"]]
    assert (await video(client, alice, video_id))["comment_count"] == 1
    # Gone for everyone, its author included: no reply to it, no delete, no report.
    assert (await comment(client, carol, video_id, "late reply", parent_id=rude["id"])).status_code == 422
    assert (await client.delete(f"/v1/comments/{rude['id']}", headers=bob.headers)).status_code == 404
    assert_problem(await report(client, carol, "comment", rude["id"]), 404, "comment_not_found")


async def test_warn_user_tells_the_user_and_the_reporters(client, users, published, mod):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    video_id = await published(alice)
    bobs = await reported(client, bob, "video", video_id, "harassment")
    # Again while it is open: refused, so bob is told once, about the report he made.
    assert (await report(client, bob, "video", video_id, "hate")).status_code == 409
    carols = await reported(client, carol, "video", video_id, "harassment")
    held = await claimed(client, mod)

    closed = await decided(client, mod, held["id"], "warn_user", note="please be kind")

    (warning,) = await notifications_of(client, alice, "moderation_decision")
    decision_id = closed["history"][0]["id"]
    assert warning["subject"]["type"] == "decision"
    assert warning["subject"]["id"] == decision_id
    assert warning["subject"]["excerpt"] == "warn_user"
    assert warning["subject"]["video_id"] == video_id
    assert warning["actor"] is None  # moderators act anonymously
    # The video stays up.
    assert (await video(client, bob, video_id))["status"] == "published"
    (to_bob,) = await notifications_of(client, bob, "report_outcome")
    (to_carol,) = await notifications_of(client, carol, "report_outcome")
    assert to_bob["subject"] == {"type": "report", "id": bobs["id"], "excerpt": "warn_user"}
    assert to_carol["subject"]["id"] == carols["id"]
    assert await notifications_of(client, mod, "moderation_decision") == []


async def test_dismiss_changes_nothing_and_tells_only_the_reporters(client, users, published, mod):
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)
    await reported(client, bob, "video", video_id, "spam")
    held = await claimed(client, mod)

    closed = await decided(client, mod, held["id"], "dismiss", note="not spam")

    assert closed["status"] == "closed"
    assert (await video(client, bob, video_id))["status"] == "published"
    assert await notifications_of(client, alice, "moderation_decision") == []
    (outcome,) = await notifications_of(client, bob, "report_outcome")
    assert outcome["subject"]["excerpt"] == "dismiss"


async def test_suspend_user_stops_writes_but_not_reading(client, users, published, mod, resources):
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(bob)
    await reported(client, bob, "user", alice.id, "harassment")
    held = await claimed(client, mod)
    before = datetime.now(UTC)

    closed = await decided(client, mod, held["id"], "suspend_user", note="cool off", duration_hours=48)
    assert closed["history"][0]["duration_hours"] == 48

    # Reading still works; reporting and commenting do not.
    assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
    assert (await video(client, alice, video_id))["id"] == video_id
    assert_problem(await report(client, alice, "video", video_id), 403, "account_suspended")
    async with resources.session_factory() as session:
        until = (await session.get(User, UUID(alice.id))).suspended_until
    assert (
        before + timedelta(hours=48) - timedelta(minutes=1) < until < before + timedelta(hours=48, minutes=1)
    )
    assert_problem(await comment(client, alice, video_id), 403, "account_suspended")
    (told,) = await notifications_of(client, alice, "moderation_decision")
    assert told["subject"]["excerpt"] == "suspend_user"


async def test_suspend_user_needs_a_duration_in_range(client, users, mod):
    alice, bob = await users.create("alice"), await users.create("bob")
    await reported(client, bob, "user", alice.id)
    held = await claimed(client, mod)

    for extra in ({}, {"duration_hours": 0}, {"duration_hours": 8761}, {"duration_hours": "long"}):
        problem = assert_problem(await decide(client, mod, held["id"], "suspend_user", **extra), 422)
        assert "duration_hours" in error_fields(problem), problem
    # Only for suspensions, and the note is required (1-2000).
    problem = assert_problem(await decide(client, mod, held["id"], "warn_user", duration_hours=5), 422)
    assert "duration_hours" in error_fields(problem)
    for note in ("", "   ", "x" * 2001):
        problem = assert_problem(await decide(client, mod, held["id"], "warn_user", note=note), 422)
        assert "note" in error_fields(problem), problem
    problem = assert_problem(await decide(client, mod, held["id"], "ban_forever"), 422)
    assert "action" in error_fields(problem)
    # Nothing of that took effect; the lease still holds.
    await decided(client, mod, held["id"], "suspend_user", duration_hours=1)


async def test_actions_that_do_not_fit_the_target_are_422(client, users, published, mod):
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)
    await reported(client, bob, "user", alice.id)
    await reported(client, bob, "video", video_id)
    on_user = await claimed(client, mod)
    on_video = await claimed(client, mod)
    assert on_user["target"]["type"] == "user"

    cases = [
        (on_user, "remove_content"),
        (on_user, "restore_content"),
        (on_user, "approve_cameo"),
        (on_video, "reject_cameo"),
        (on_video, "restore_content"),  # it is not removed
    ]
    for held, action in cases:
        assert_problem(await decide(client, mod, held["id"], action), 422, "action_not_applicable")
    # Refused decisions leave no trace and keep the lease.
    assert (await client.get(f"/v1/moderation/items/{on_user['id']}", headers=mod.headers)).json()[
        "history"
    ] == []
    await decided(client, mod, on_user["id"], "dismiss")
    await decided(client, mod, on_video["id"], "dismiss")


async def test_remove_content_on_content_that_is_gone_is_422(client, users, published, mod):
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)
    await reported(client, bob, "video", video_id)
    held = await claimed(client, mod)
    assert (await client.delete(f"/v1/videos/{video_id}", headers=alice.headers)).status_code == 204

    assert_problem(await decide(client, mod, held["id"], "remove_content"), 422, "action_not_applicable")
    closed = await decided(client, mod, held["id"], "dismiss")
    # The snapshot keeps what was reported.
    assert closed["subject"]["snapshot"]["id"] == video_id


async def test_only_an_admin_suspends_staff(client, users, mod, admin):
    other_mod = await users.create("othermod", role=Role.MODERATOR)
    bob = await users.create("bob")
    await reported(client, bob, "user", admin.id, "harassment")
    on_admin = await claimed(client, mod)
    # Otherwise one report and any moderator could lock an admin out of moderation.
    refused = await decide(client, mod, on_admin["id"], "suspend_user", duration_hours=24)
    assert_problem(refused, 422, "action_not_applicable")
    assert (await client.get("/v1/moderation/queues", headers=admin.headers)).status_code == 200
    await decided(client, mod, on_admin["id"], "escalate", note="for an admin")

    await reported(client, bob, "user", other_mod.id, "harassment")
    on_moderator = await claimed(client, mod)
    assert on_moderator["subject"]["user"]["username"] == "othermod"
    refused = await decide(client, mod, on_moderator["id"], "suspend_user", duration_hours=24)
    assert_problem(refused, 422, "action_not_applicable")
    assert (await client.get("/v1/moderation/queues", headers=other_mod.headers)).status_code == 200
    await decided(client, mod, on_moderator["id"], "escalate", note="for an admin")

    # An admin may (never on an item about themselves: the claim hands them the other one).
    held = await claimed(client, admin)
    assert held["id"] == on_moderator["id"]
    await decided(client, admin, held["id"], "suspend_user", duration_hours=24)
    locked_out = await client.get("/v1/moderation/queues", headers=other_mod.headers)
    assert_problem(locked_out, 403, "account_suspended")
