"""The statement of reasons: a decision against a user (remove_content, warn_user, suspend_user,
reject_cameo) names the rule broken (`reason`, a report reason; inferred from the item when the
moderator names none) and may state the facts (`statement`); the user it acts against is told
both, and whether they may appeal, never the moderator's `note`. The other actions take neither
(422 reason_not_applicable)."""

from __future__ import annotations

from typing import Any

import pytest

from moderation.jobs import file_flag
from tests.accounts.helpers import assert_problem, error_fields
from tests.cameo.media import recorded
from tests.feed.helpers import all_items, video
from tests.moderation.helpers import (
    appeal,
    audit_log,
    claimed,
    decide,
    decided,
    decision_id_for,
    item,
    notifications_of,
    reported,
    takedown,
)

NOTE = "internal: third account of the same spammer, see item 41"
STATEMENT = "Your video shows a street fight filmed to glorify it, which the violence rule forbids."


async def _held_report(client, users, published, mod) -> tuple[Any, Any, str, dict[str, Any]]:
    """alice's video reported by bob, held by `mod`: (alice, bob, the video's id, the item)."""
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)
    await reported(client, bob, "video", video_id, "violence")
    return alice, bob, video_id, await claimed(client, mod)


def _extra(action: str) -> dict[str, Any]:
    return {"duration_hours": 24} if action == "suspend_user" else {}


@pytest.mark.parametrize("action", ["remove_content", "warn_user", "suspend_user"])
async def test_without_a_reason_the_user_is_told_the_one_most_reporters_gave(
    client, users, published, mod, action
):
    """The v1 body has no reason: a decision without one is taken, its reason inferred from the
    reports, stored, and told to the user; a statement may come
    without a reason."""
    alice, _, video_id, held = await _held_report(client, users, published, mod)
    # violence: bob (in _held_report); spam: carol, dave and erin, the most reporters.
    carol, dave, erin = await users.create("carol"), await users.create("dave"), await users.create("erin")
    for reporter, reason in ((carol, "spam"), (dave, "spam"), (erin, "spam")):
        await reported(client, reporter, "video", video_id, reason)

    answer = await client.post(
        f"/v1/moderation/items/{held['id']}/decision",
        headers=mod.headers,
        json={"action": action, "note": NOTE, "statement": STATEMENT, **_extra(action)},
    )
    assert answer.status_code == 200, answer.text
    (decision,) = answer.json()["history"]
    assert (decision["reason"], decision["statement"]) == ("spam", STATEMENT)
    (told,) = await notifications_of(client, alice, "moderation_decision")
    assert told["subject"] == {
        "type": "decision",
        "id": decision["id"],
        "video_id": video_id,
        "excerpt": action,
        "reason": "spam",
        "statement": STATEMENT,
        "appealable": True,
    }
    (entry,) = await audit_log(client, mod)
    assert (entry["reason"], entry["statement"]) == ("spam", STATEMENT)


async def test_an_inferred_reason_breaks_ties_by_severity(client, users, published, mod):
    alice, _, video_id, held = await _held_report(client, users, published, mod)
    # violence (bob, first) and sexual (carol, later), one reporter each: sexual is the more severe.
    carol = await users.create("carol")
    await reported(client, carol, "video", video_id, "sexual")
    await decided(client, mod, held["id"], "warn_user")
    (told,) = await notifications_of(client, alice, "moderation_decision")
    assert (told["subject"]["excerpt"], told["subject"]["reason"]) == ("warn_user", "sexual")


async def test_an_explicit_reason_wins_over_the_inferred_one(client, users, published, mod):
    alice, _, _, held = await _held_report(client, users, published, mod)
    await decided(client, mod, held["id"], "remove_content", reason="harassment")
    (told,) = await notifications_of(client, alice, "moderation_decision")
    assert told["subject"]["reason"] == "harassment"


async def test_a_takedown_removal_without_a_reason_is_for_likeness(client, users, published, mod):
    alice, carol = await users.create("alice"), await users.create("carol")
    video_id = await published(alice)
    filed = await takedown(client, carol, video_id, "other")
    assert filed.status_code == 201, filed.text
    held = await claimed(client, mod, "takedowns")
    closed = await decided(client, mod, held["id"], "remove_content", note=NOTE)
    assert closed["history"][0]["reason"] == "likeness"
    (told,) = await notifications_of(client, alice, "moderation_decision")
    assert (told["subject"]["excerpt"], told["subject"]["reason"]) == ("remove_content", "likeness")


async def test_a_cameo_rejection_without_a_reason_is_for_likeness(client, users, mod):
    olivia = await users.create("olivia")
    await recorded(client, olivia)
    held = await claimed(client, mod, "cameo_verification")
    await decided(client, mod, held["id"], "reject_cameo", note=NOTE, statement="The face is not yours.")
    decision_id = await decision_id_for(client, olivia)
    (told,) = await notifications_of(client, olivia, "moderation_decision")
    assert told["subject"] == {
        "type": "decision",
        "id": decision_id,
        "excerpt": "reject_cameo",
        "reason": "likeness",
        "statement": "The face is not yours.",
        "appealable": True,
    }


async def test_a_cameo_rejection_takes_an_explicit_reason(client, users, mod):
    olivia = await users.create("olivia")
    await recorded(client, olivia)
    held = await claimed(client, mod, "cameo_verification")

    await decided(
        client,
        mod,
        held["id"],
        "reject_cameo",
        note=NOTE,
        reason="minor_safety",
        statement="The recording shows a child.",
    )
    decision_id = await decision_id_for(client, olivia)
    (told,) = await notifications_of(client, olivia, "moderation_decision")
    assert told["subject"] == {
        "type": "decision",
        "id": decision_id,
        "excerpt": "reject_cameo",
        "reason": "minor_safety",
        "statement": "The recording shows a child.",
        "appealable": True,
    }


async def test_the_other_actions_need_no_reason_and_take_none(
    client, users, published, resources, mod, admin
):
    """dismiss, escalate, restore_content (on an appeal or not) and approve_cameo act against
    nobody: they need no reason, and a reason or statement sent with them is refused."""

    async def refused(actor, item_id: str, action: str) -> None:
        before = (await item(client, actor, item_id))["history"]
        for body in ({"reason": "spam"}, {"statement": "why"}, {"reason": "spam", "statement": "why"}):
            answer = await decide(client, actor, item_id, action, **body)
            problem = assert_problem(answer, 422, "reason_not_applicable")
            assert error_fields(problem) == set(body), problem
        assert (await item(client, actor, item_id))["history"] == before

    alice, _, video_id, held = await _held_report(client, users, published, mod)
    await decided(client, mod, held["id"], "remove_content", reason="violence")

    # The screener flags the removed video: a second look restores it, outside any appeal.
    await file_flag(resources, "video", video_id, ["violence"], "caption")
    flagged = await claimed(client, mod, "automated")
    await refused(mod, flagged["id"], "restore_content")
    await decided(client, mod, flagged["id"], "restore_content")
    assert (await video(client, alice, video_id))["status"] == "published"

    carol = await users.create("carol")
    await reported(client, carol, "user", alice.id, "spam")
    report_item = await claimed(client, mod)
    await refused(mod, report_item["id"], "escalate")
    await decided(client, mod, report_item["id"], "escalate")
    escalated = await claimed(client, admin)
    await refused(admin, escalated["id"], "dismiss")
    await decided(client, admin, escalated["id"], "dismiss")

    olivia = await users.create("olivia")
    await recorded(client, olivia)
    cameo_item = await claimed(client, mod, "cameo_verification")
    await refused(mod, cameo_item["id"], "approve_cameo")
    await decided(client, mod, cameo_item["id"], "approve_cameo")

    told = await notifications_of(client, alice, "moderation_decision")
    assert [
        (n["subject"]["excerpt"], n["subject"].get("reason"), n["subject"]["appealable"]) for n in told
    ] == [
        ("restore_content", None, False),
        ("remove_content", "violence", True),
    ]
    (approved,) = await notifications_of(client, olivia, "moderation_decision")
    assert ("reason" in approved["subject"], approved["subject"]["appealable"]) == (False, False)

    # On an appeal, granting (restore_content) and denying (dismiss) need no reason either.
    removal_id = told[1]["subject"]["id"]
    assert (await appeal(client, alice, removal_id)).status_code == 201
    appeal_item = await claimed(client, admin, "appeals")
    for action in ("restore_content", "dismiss"):
        await refused(admin, appeal_item["id"], action)
    await decided(client, admin, appeal_item["id"], "dismiss")
    (outcome,) = await notifications_of(client, alice, "appeal_outcome")
    assert outcome["subject"]["excerpt"] == "denied"


async def test_the_user_is_told_the_reason_and_statement_but_never_the_note(client, users, published, mod):
    alice, bob, video_id, held = await _held_report(client, users, published, mod)

    await decided(
        client, mod, held["id"], "remove_content", note=NOTE, reason="violence", statement=f"  {STATEMENT}\n"
    )

    decision_id = await decision_id_for(client, alice)
    (told,) = await notifications_of(client, alice, "moderation_decision")
    assert told["subject"] == {
        "type": "decision",
        "id": decision_id,
        "video_id": video_id,
        "excerpt": "remove_content",
        "reason": "violence",
        "statement": STATEMENT,
        "appealable": True,
    }
    # The note reaches neither the author nor the reporter, in any notification.
    for person in (alice, bob):
        listed = await client.get("/v1/notifications", headers=person.headers, params={"limit": 100})
        assert listed.status_code == 200, listed.text
        assert listed.json()["items"], listed.text
        assert "spammer" not in listed.text
    (outcome,) = await notifications_of(client, bob, "report_outcome")
    assert outcome["subject"]["excerpt"] == "remove_content"
    assert STATEMENT not in str(outcome)


async def test_moderators_see_the_reason_and_statement_with_the_note(client, users, published, mod, admin):
    """In the audit log, in the item's history, and in the appeal of the decision."""
    alice, _, _, held = await _held_report(client, users, published, mod)
    closed = await decided(
        client, mod, held["id"], "warn_user", note=NOTE, reason="harassment", statement=STATEMENT
    )

    (decision,) = closed["history"]
    assert (decision["note"], decision["reason"], decision["statement"]) == (NOTE, "harassment", STATEMENT)
    (entry,) = await audit_log(client, admin)
    assert (entry["action"], entry["note"], entry["reason"], entry["statement"]) == (
        "warn_user",
        NOTE,
        "harassment",
        STATEMENT,
    )

    # One without a statement (blanks are none), and an action against nobody: null both.
    carol, dave = await users.create("carol"), await users.create("dave")
    await reported(client, carol, "user", dave.id, "spam")
    await decided(
        client, mod, (await claimed(client, mod))["id"], "warn_user", reason="spam", statement=" \n "
    )
    await reported(client, carol, "user", alice.id, "spam")
    await decided(client, mod, (await claimed(client, mod))["id"], "dismiss")
    entries = await audit_log(client, admin)
    assert [(e["action"], e["reason"], e["statement"]) for e in entries] == [
        ("dismiss", None, None),
        ("warn_user", "spam", None),
        ("warn_user", "harassment", STATEMENT),
    ]
    (warned,) = await notifications_of(client, dave, "moderation_decision")
    assert (warned["subject"]["reason"], "statement" in warned["subject"]) == ("spam", False)

    assert (await appeal(client, alice, entries[2]["decision_id"])).status_code == 201
    appeal_item = await claimed(client, admin, "appeals")
    appealed = appeal_item["subject"]["snapshot"]["decision"]
    assert (appealed["note"], appealed["reason"], appealed["statement"]) == (NOTE, "harassment", STATEMENT)


async def test_a_decision_on_what_screening_flagged_without_a_reason_names_its_category(
    client, users, published, resources, mod
):
    """The automated queue holds no reporter's reason: without one from the moderator, the
    screening categories flagged most often, as report reasons, name it."""
    alice = await users.create("alice")
    video_id = await published(alice, caption="a fight at the station")
    await file_flag(resources, "video", video_id, ["violence/graphic", "harassment"], "caption")
    await file_flag(resources, "video", video_id, ["violence"], "prompt")
    held = await claimed(client, mod, "automated")
    assert [flag["categories"] for flag in held["subject"]["snapshot"]["flags"]] == [
        ["violence/graphic", "harassment"],
        ["violence"],
    ]

    await decided(client, mod, held["id"], "remove_content", note=NOTE)

    (told,) = await notifications_of(client, alice, "moderation_decision")
    assert (told["subject"]["excerpt"], told["subject"]["reason"], told["subject"]["appealable"]) == (
        "remove_content",
        "violence",
        True,
    )
    assert "spammer" not in str(await all_items(client, alice, "/v1/notifications"))
    (entry,) = await audit_log(client, mod)
    assert (entry["note"], entry["reason"]) == (NOTE, "violence")


async def test_a_decision_on_what_screening_flagged_takes_the_moderators_reason(
    client, users, published, resources, mod
):
    alice = await users.create("alice")
    video_id = await published(alice, caption="a fight at the station")
    await file_flag(resources, "video", video_id, ["violence/graphic"], "caption")
    held = await claimed(client, mod, "automated")
    await decided(client, mod, held["id"], "warn_user", note=NOTE, reason="spam")
    (told,) = await notifications_of(client, alice, "moderation_decision")
    assert (told["subject"]["excerpt"], told["subject"]["reason"]) == ("warn_user", "spam")
