"""Appeals end to end: only the affected user, only removals, warnings and suspensions, once per
decision; restore_content grants (undoing what was done), dismiss denies."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select, update

from accounts.models import Role, User
from app.db import in_transaction
from moderation.models import ModerationItem
from tests.accounts.helpers import assert_problem, error_fields
from tests.feed.helpers import all_items, comment, get_video, video
from tests.moderation.helpers import (
    appeal,
    claim,
    claimed,
    decide,
    decided,
    decision_id_for,
    item,
    notifications_of,
    queues,
    report,
    reported,
)


async def _removed_video(client, users, published, mod):
    """alice's video, reported by bob and removed by mod; (alice, bob, video id, decision id)."""
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)
    await reported(client, bob, "video", video_id, "sexual")
    held = await claimed(client, mod)
    await decided(client, mod, held["id"], "remove_content", note="nudity")
    return alice, bob, video_id, await decision_id_for(client, alice)


async def test_removing_and_restoring_move_the_counts_of_listed_videos_only(
    client, users, published, mod, admin
):
    """post_count and remix_count count published, public videos: taking down or restoring an
    unlisted one moves neither, and one made unlisted while it was down comes back uncounted."""
    alice, bob = await users.create("alice"), await users.create("bob")
    parent = await published(bob)
    unlisted = await published(alice, remix_of=parent, visibility="unlisted")
    public = await published(alice, remix_of=parent)

    async def counts() -> tuple[int, int]:
        profile = (await client.get("/v1/users/alice", headers=bob.headers)).json()
        return profile["post_count"], (await video(client, bob, parent))["remix_count"]

    assert await counts() == (1, 1)
    decisions = []
    for video_id in (unlisted, public):
        await reported(client, bob, "video", video_id, "spam")
        await decided(client, mod, (await claimed(client, mod))["id"], "remove_content", note="spam")
        decisions.append(await decision_id_for(client, alice))
        assert await counts() == ((1, 1) if video_id == unlisted else (0, 0))
    patched = await client.patch(
        f"/v1/videos/{public}", headers=alice.headers, json={"visibility": "unlisted"}
    )
    assert patched.status_code == 200, patched.text

    for decision_id in decisions:
        assert (await appeal(client, alice, decision_id)).status_code == 201
        await decided(
            client, admin, (await claimed(client, admin, "appeals"))["id"], "restore_content", note="ok"
        )

    assert {(await video(client, bob, v))["status"] for v in (unlisted, public)} == {"published"}
    assert await counts() == (0, 0)
    assert await all_items(client, bob, "/v1/users/alice/videos") == []


async def test_a_granted_appeal_restores_the_removed_video(client, users, published, mod, admin):
    alice, bob, video_id, decision_id = await _removed_video(client, users, published, mod)
    assert_problem(await get_video(client, bob, video_id), 404)

    filed = await appeal(client, alice, decision_id, "It is a statue in a museum")
    assert filed.status_code == 201, filed.text
    assert filed.json()["status"] == "open"
    assert filed.json()["decision_id"] == decision_id

    held = await claimed(client, admin, "appeals")
    assert held["queue"] == "appeals"
    assert held["target"] == {"type": "decision", "id": decision_id}
    assert held["subject"]["user"]["username"] == "alice"
    assert held["subject"]["snapshot"]["statement"] == "It is a statue in a museum"
    assert held["subject"]["snapshot"]["decision"]["action"] == "remove_content"
    assert held["subject"]["snapshot"]["original"]["target"] == {"type": "video", "id": video_id}
    closed = await decided(client, admin, held["id"], "restore_content", note="art, not nudity")
    assert closed["status"] == "closed"

    # Published again: visible, listed and counted.
    assert (await video(client, bob, video_id))["status"] == "published"
    assert [v["id"] for v in await all_items(client, bob, "/v1/users/alice/videos")] == [video_id]
    profile = (await client.get("/v1/users/alice", headers=bob.headers)).json()
    assert profile["post_count"] == 1
    (outcome,) = await notifications_of(client, alice, "appeal_outcome")
    assert outcome["subject"]["type"] == "appeal"
    assert outcome["subject"]["id"] == filed.json()["id"]
    assert outcome["subject"]["excerpt"] == "granted"


async def test_a_denied_appeal_keeps_the_removal(client, users, published, mod, admin):
    alice, bob, video_id, decision_id = await _removed_video(client, users, published, mod)
    assert (await appeal(client, alice, decision_id)).status_code == 201

    held = await claimed(client, admin, "appeals")
    await decided(client, admin, held["id"], "dismiss", note="the removal stands")

    assert_problem(await get_video(client, bob, video_id), 404)
    assert (await video(client, alice, video_id))["status"] == "removed"
    (outcome,) = await notifications_of(client, alice, "appeal_outcome")
    assert outcome["subject"]["excerpt"] == "denied"
    # Decided once: the appeal cannot be filed again, and an appeal decision is not appealable.
    assert_problem(await appeal(client, alice, decision_id), 409, "appeal_exists")


async def test_the_author_deleting_a_removed_video_keeps_the_decision_they_appeal_with(
    client, users, published, mod, admin
):
    """The moderation_decision notification is where the author finds the decision id and what was
    done: deleting the video keeps it, read or not, no longer naming the video (404 to them now),
    and the decision may still be appealed (granting it restores nothing)."""
    alice, _, video_id, decision_id = await _removed_video(client, users, published, mod)
    (told,) = await notifications_of(client, alice, "moderation_decision")
    assert told["subject"] == {
        "type": "decision",
        "id": decision_id,
        "video_id": video_id,
        "excerpt": "remove_content",
        "reason": "sexual",
        "appealable": True,
    }

    assert (await client.delete(f"/v1/videos/{video_id}", headers=alice.headers)).status_code == 204

    assert_problem(await get_video(client, alice, video_id), 404, "video_not_found")
    (kept,) = await notifications_of(client, alice, "moderation_decision")
    assert kept["id"] == told["id"]
    assert kept["subject"] == {
        "type": "decision",
        "id": decision_id,
        "excerpt": "remove_content",
        "reason": "sexual",
        "appealable": True,
    }
    read = await client.post("/v1/notifications/read", headers=alice.headers, json={"ids": [kept["id"]]})
    assert read.status_code == 204, read.text
    assert [n["read"] for n in await notifications_of(client, alice, "moderation_decision")] == [True]

    filed = await appeal(client, alice, decision_id, "It was mine to delete, but it broke no rule")
    assert filed.status_code == 201, filed.text
    held = await claimed(client, admin, "appeals")
    assert held["subject"]["snapshot"]["original"]["target"] == {"type": "video", "id": video_id}
    await decided(client, admin, held["id"], "restore_content", note="no rule broken")
    assert_problem(await get_video(client, alice, video_id), 404, "video_not_found")
    (outcome,) = await notifications_of(client, alice, "appeal_outcome")
    assert outcome["subject"]["excerpt"] == "granted"


async def test_removing_a_video_keeps_an_earlier_decision_on_it(client, users, published, mod):
    """A warning over a video, then its removal on a later report: the removal retracts what its
    author was told about the video, but not the warning, which they may still appeal."""
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    video_id = await published(alice)
    await reported(client, bob, "video", video_id, "spam")
    await decided(client, mod, (await claimed(client, mod))["id"], "warn_user", note="borderline")
    warning_id = await decision_id_for(client, alice)
    await reported(client, carol, "video", video_id, "spam")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content", note="spam")

    told = await notifications_of(client, alice, "moderation_decision")
    assert [(n["subject"]["excerpt"], n["subject"]["video_id"]) for n in told] == [
        ("remove_content", video_id),
        ("warn_user", video_id),
    ]
    assert told[1]["subject"]["id"] == warning_id
    assert (await appeal(client, alice, warning_id)).status_code == 201


async def test_a_granted_appeal_lifts_a_suspension(client, users, published, mod, admin):
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(bob)
    await reported(client, bob, "user", alice.id, "harassment")
    held = await claimed(client, mod)
    await decided(client, mod, held["id"], "suspend_user", duration_hours=72)
    assert_problem(await comment(client, alice, video_id), 403, "account_suspended")

    # A suspended user may still appeal.
    assert (await appeal(client, alice, await decision_id_for(client, alice))).status_code == 201
    held = await claimed(client, admin, "appeals")
    await decided(client, admin, held["id"], "restore_content", note="lifted")

    assert (await comment(client, alice, video_id)).status_code == 201
    assert (await report(client, alice, "video", video_id)).status_code == 201


async def test_one_appeal_per_decision_and_only_by_the_affected_user(client, users, published, mod):
    alice, bob, _, decision_id = await _removed_video(client, users, published, mod)
    stranger = await users.create("stranger")

    # Anyone else (the reporter, a stranger, a moderator) is told there is no such decision.
    for someone in (bob, stranger, mod):
        assert_problem(await appeal(client, someone, decision_id), 404, "decision_not_found")
    assert_problem(
        await appeal(client, alice, "00000000-0000-0000-0000-000000000000"), 404, "decision_not_found"
    )
    assert_problem(await appeal(client, alice, "nope"), 404, "decision_not_found")
    for statement in ("", "  ", "x" * 2001):
        problem = assert_problem(await appeal(client, alice, decision_id, statement), 422)
        assert "statement" in error_fields(problem)

    assert (await appeal(client, alice, decision_id)).status_code == 201
    assert_problem(await appeal(client, alice, decision_id), 409, "appeal_exists")


async def test_only_removals_warnings_and_suspensions_can_be_appealed(client, users, published, mod):
    alice, _, video_id, decision_id = await _removed_video(client, users, published, mod)
    assert (await appeal(client, alice, decision_id)).status_code == 201
    other = await users.create("othermod", role=Role.MODERATOR)
    held = await claimed(client, other, "appeals")
    granted = await decided(client, other, held["id"], "restore_content")
    # The appeal's own decision is about alice, but restoring is nothing to appeal.
    restore_id = granted["history"][0]["id"]
    assert_problem(await appeal(client, alice, restore_id), 422, "decision_not_appealable")

    # A dismissal is about nobody.
    carol = await users.create("carol")
    await reported(client, carol, "video", video_id)
    dismissed = await decided(client, mod, (await claimed(client, mod))["id"], "dismiss")
    assert_problem(await appeal(client, alice, dismissed["history"][0]["id"]), 404, "decision_not_found")


async def test_appeal_items_take_only_grant_deny_or_escalate(client, users, published, mod, admin):
    alice, _, _, decision_id = await _removed_video(client, users, published, mod)
    assert (await appeal(client, alice, decision_id)).status_code == 201
    held = await claimed(client, admin, "appeals")

    for action in ("remove_content", "warn_user", "approve_cameo"):
        assert_problem(await decide(client, admin, held["id"], action), 422, "action_not_applicable")
    assert_problem(
        await decide(client, admin, held["id"], "suspend_user", duration_hours=1),
        422,
        "action_not_applicable",
    )
    escalated = await decided(client, admin, held["id"], "escalate")
    assert escalated["status"] == "open"
    assert (await item(client, admin, held["id"]))["escalated"] is True


async def test_the_moderator_who_decided_does_not_review_the_appeal(client, users, published, mod, admin):
    alice, _, _, decision_id = await _removed_video(client, users, published, mod)
    assert (await appeal(client, alice, decision_id, "Please look again")).status_code == 201

    assert (
        await claim(client, mod, "appeals")
    ).status_code == 204  # their own decision: not theirs to review
    held = await claimed(client, admin, "appeals")
    assert held["target"] == {"type": "decision", "id": decision_id}


async def test_a_granted_appeal_brings_a_removed_comment_back_with_its_replies(
    client, users, published, mod, admin
):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    video_id = await published(alice)
    first = (await comment(client, carol, video_id, "first")).json()
    remark = (await comment(client, bob, video_id, "a sharp remark")).json()
    reply = (await comment(client, carol, video_id, "a reply", parent_id=remark["id"])).json()
    await reported(client, alice, "comment", remark["id"], "harassment")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")
    assert (await video(client, alice, video_id))["comment_count"] == 1

    filed = await appeal(client, bob, await decision_id_for(client, bob), "It was a joke between friends")
    assert filed.status_code == 201, filed.text
    await decided(client, admin, (await claimed(client, admin, "appeals"))["id"], "restore_content")

    shown = await all_items(client, alice, f"/v1/videos/{video_id}/comments")
    assert [c["id"] for c in shown] == [first["id"], remark["id"], reply["id"]]
    assert (await video(client, alice, video_id))["comment_count"] == 3


async def test_deleting_a_thread_with_a_removed_reply_keeps_the_count_exact(client, users, published, mod):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    video_id = await published(alice)
    question = (await comment(client, bob, video_id, "a question")).json()
    rude = (await comment(client, carol, video_id, "a rude answer", parent_id=question["id"])).json()
    await comment(client, alice, video_id, "a kind answer", parent_id=question["id"])
    await reported(client, bob, "comment", rude["id"], "harassment")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")
    assert (await video(client, alice, video_id))["comment_count"] == 2

    assert (await client.delete(f"/v1/comments/{question['id']}", headers=bob.headers)).status_code == 204
    assert (await video(client, alice, video_id))["comment_count"] == 0


async def _set_role(resources, actor, role: Role) -> None:
    async def work(session) -> None:
        await session.execute(update(User).where(User.id == UUID(actor.id)).values(role=role.value))

    await in_transaction(resources.session_factory, work)


async def test_the_appeal_of_a_moderators_suspension_is_for_admins_only(client, users, resources, mod, admin):
    """Only an admin may suspend a moderator, so only an admin may lift it: the appeal waits as
    an escalated item, a plain moderator is not handed it, and cannot decide it if they hold it."""
    bob = await users.create("bob")
    suspended = await users.create("modtwo", role=Role.MODERATOR)
    other_admin = await users.create("bosstwo", role=Role.ADMIN)
    await reported(client, bob, "user", suspended.id, "harassment")
    await decided(client, mod, (await claimed(client, mod))["id"], "escalate")
    await decided(client, admin, (await claimed(client, admin))["id"], "suspend_user", duration_hours=24)
    assert (await appeal(client, suspended, await decision_id_for(client, suspended))).status_code == 201

    assert (await claim(client, mod, "appeals")).status_code == 204
    held = await claimed(client, other_admin, "appeals")
    assert held["escalated"] is True
    # An admin made a moderator meanwhile still holds the lease, but may only escalate.
    await _set_role(resources, other_admin, Role.MODERATOR)
    for action in ("restore_content", "dismiss"):
        assert_problem(await decide(client, other_admin, held["id"], action), 403, "insufficient_role")
    assert_problem(await report(client, suspended, "user", bob.id), 403, "account_suspended")
    assert (await decided(client, other_admin, held["id"], "escalate"))["status"] == "open"


async def test_the_appeal_of_a_decision_on_an_escalated_item_is_for_admins_only(
    client, users, published, mod, admin
):
    """A decision an admin made on an item moderators escalated is not overruled by a moderator."""
    alice, bob = await users.create("alice"), await users.create("bob")
    other_mod = await users.create("othermod", role=Role.MODERATOR)
    other_admin = await users.create("bosstwo", role=Role.ADMIN)
    video_id = await published(alice)
    await reported(client, bob, "video", video_id, "violence")
    await decided(client, mod, (await claimed(client, mod))["id"], "escalate")
    await decided(client, admin, (await claimed(client, admin))["id"], "remove_content")
    assert (await appeal(client, alice, await decision_id_for(client, alice))).status_code == 201

    for plain in (mod, other_mod):
        assert (await claim(client, plain, "appeals")).status_code == 204
    held = await claimed(client, other_admin, "appeals")
    await decided(client, other_admin, held["id"], "restore_content")
    assert (await video(client, bob, video_id))["status"] == "published"


async def _appeal_item_id(resources) -> str:
    async def work(session) -> str:
        return str(await session.scalar(select(ModerationItem.id).where(ModerationItem.queue == "appeals")))

    found: str = await in_transaction(resources.session_factory, work)
    return found


async def test_an_appeal_only_the_deciding_admin_could_take_waits_for_another_admin(
    client, users, resources, mod, admin
):
    """Nobody judges the appeal of their own decision, not even the only admin: the appeal stays
    open, and the queue and the item say it waits for another admin, who then takes it."""
    bob = await users.create("bob")
    suspended = await users.create("modtwo", role=Role.MODERATOR)
    await reported(client, bob, "user", suspended.id, "harassment")
    await decided(client, mod, (await claimed(client, mod))["id"], "escalate")
    await decided(client, admin, (await claimed(client, admin))["id"], "suspend_user", duration_hours=24)
    assert (await appeal(client, suspended, await decision_id_for(client, suspended))).status_code == 201
    item_id = await _appeal_item_id(resources)

    for anyone in (admin, mod):
        assert (await claim(client, anyone, "appeals")).status_code == 204
    waiting = (await queues(client, mod))["appeals"]
    assert (waiting["open_count"], waiting["escalated_count"]) == (1, 1)
    assert waiting["waiting_for_another_admin_count"] == 1
    assert (await queues(client, mod))["reports"]["waiting_for_another_admin_count"] == 0
    shown = await item(client, mod, item_id)
    assert (shown["status"], shown["escalated"], shown["waiting_for"]) == ("open", True, "another_admin")

    other_admin = await users.create("bosstwo", role=Role.ADMIN)
    assert (await queues(client, mod))["appeals"]["waiting_for_another_admin_count"] == 0
    assert (await item(client, mod, item_id))["waiting_for"] is None
    held = await claimed(client, other_admin, "appeals")
    assert held["id"] == item_id
    await decided(client, other_admin, held["id"], "restore_content", note="lifted")
    assert (await report(client, suspended, "user", bob.id)).status_code == 201
