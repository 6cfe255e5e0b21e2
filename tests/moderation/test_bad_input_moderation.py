"""Bad input, races and authorization around moderation (API.md "Moderation", issue 4).

Found by fuzzing the running API with schemathesis and by hand. The tests named after a defect
reproduce it and assert the contract's answer; the others guard odd input and races that are
already handled.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from accounts.models import Role, User
from tests.accounts.helpers import assert_problem
from tests.feed.helpers import all_items, comment, video
from tests.moderation.helpers import (
    appeal,
    audit_log,
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
    takedown,
)


@pytest.fixture
async def openapi(client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def _notifications(client: httpx.AsyncClient, actor) -> list[dict[str, Any]]:
    return await all_items(client, actor, "/v1/notifications", limit=100)


# --- Defects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/me/reports", "/v1/moderation/audit-log"])
async def test_moderation_lists_document_the_422_they_answer(client, mod, openapi, path):
    response = await client.get(path, params={"limit": 0}, headers=mod.headers)

    assert_problem(response, 422, "validation_failed")
    documented = openapi["paths"][path]["get"]["responses"]
    assert "422" in documented, f"{path} answers 422 for limit=0 but documents only {sorted(documented)}"


async def test_a_removed_video_leaves_other_peoples_notifications(client, users, published, mod):
    """A removed video "disappears from every listing": the notifications of people other than its
    author must no longer point at it (a delete already retracts the remix notification)."""
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    parent = await published(bob)
    removed = await published(alice, remix_of=parent)
    reply_to = (await comment(client, carol, removed, "first!")).json()
    assert (await comment(client, alice, removed, "thanks", parent_id=reply_to["id"])).status_code == 201
    assert [n["subject"]["id"] for n in await notifications_of(client, bob, "remix")] == [removed]
    assert len(await notifications_of(client, carol, "reply")) == 1

    await reported(client, carol, "video", removed, "violence")
    held = await claimed(client, mod)
    await decided(client, mod, held["id"], "remove_content")

    still_pointing = [
        (person.username, n["kind"])
        for person in (bob, carol)
        for n in await _notifications(client, person)
        if removed in (n["subject"].get("id"), n["subject"].get("video_id"))
    ]
    assert still_pointing == []


async def test_granting_an_appeal_of_a_short_suspension_keeps_a_later_longer_one(
    client, users, published, mod, admin
):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    video_id = await published(bob)
    await reported(client, bob, "user", alice.id, "harassment")
    await decided(client, mod, (await claimed(client, mod))["id"], "suspend_user", duration_hours=1)
    short_decision = await decision_id_for(client, alice)
    # A second, separate item about alice: a month's suspension.
    await reported(client, carol, "user", alice.id, "hate")
    await decided(client, mod, (await claimed(client, mod))["id"], "suspend_user", duration_hours=720)

    assert (await appeal(client, alice, short_decision)).status_code == 201
    # Another moderator reviews the appeal (nobody reviews their own decision).
    held = await claimed(client, admin, "appeals")
    await decided(client, admin, held["id"], "restore_content", note="the first one was a mistake")

    # Only the appealed suspension is undone; the month-long one still stands.
    assert_problem(await comment(client, alice, video_id), 403, "account_suspended")


async def test_a_shorter_suspension_does_not_cut_a_longer_one_short(client, users, resources, mod):
    """Two separate suspensions of one account: the later, shorter one must not lift the earlier,
    longer one early (granting one appeal already keeps the others, see above)."""
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    before = datetime.now(UTC)
    await reported(client, bob, "user", alice.id, "hate")
    await decided(client, mod, (await claimed(client, mod))["id"], "suspend_user", duration_hours=720)
    await reported(client, carol, "user", alice.id, "spam")
    await decided(client, mod, (await claimed(client, mod))["id"], "suspend_user", duration_hours=1)

    async with resources.session_factory() as session:
        until = (await session.get(User, UUID(alice.id))).suspended_until
    assert until is not None
    assert until > before + timedelta(hours=719), until


async def test_granting_one_removals_appeal_keeps_a_removal_that_still_stands(
    client, users, published, mod, admin
):
    """A video reported and also taken down: two items, two removals. Granting the appeal of one
    must not bring back a video the other still removes (as with suspensions, above)."""
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    video_id = await published(alice)
    await reported(client, bob, "video", video_id, "spam")
    filed = await takedown(client, carol, video_id, "impersonation")
    assert filed.status_code == 201, filed.text
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content", note="spam")
    spam_removal = await decision_id_for(client, alice)
    await decided(client, mod, (await claimed(client, mod, "takedowns"))["id"], "remove_content")

    assert (await appeal(client, alice, spam_removal, "it is not spam")).status_code == 201
    held = await claimed(client, admin, "appeals")
    await decided(client, admin, held["id"], "restore_content", note="not spam indeed")

    # The takedown (never appealed) still stands: the impersonation stays down.
    assert_problem(await client.get(f"/v1/videos/{video_id}", headers=carol.headers), 404)
    assert (await video(client, alice, video_id))["status"] == "removed"
    # Granted all the same, and alice is told why the video stays down.
    (outcome,) = await notifications_of(client, alice, "appeal_outcome")
    assert (outcome["subject"]["excerpt"], outcome["subject"]["kept_removed"]) == (
        "granted",
        "another_removal",
    )
    # Once that one is granted too, nothing keeps it down.
    takedown_removal = await decision_id_for(client, alice)
    assert takedown_removal != spam_removal
    assert (await appeal(client, alice, takedown_removal, "it is me")).status_code == 201
    held = await claimed(client, admin, "appeals")
    await decided(client, admin, held["id"], "restore_content", note="it is her")
    assert (await video(client, carol, video_id))["status"] == "published"
    latest, _ = await notifications_of(client, alice, "appeal_outcome")
    assert "kept_removed" not in latest["subject"]


async def test_granting_a_replys_appeal_keeps_it_hidden_while_its_parent_stays_removed(
    client, users, published, mod, admin
):
    """A reply removed on its own, then its parent removed (which hides the parent with its
    replies): granting the reply's appeal must not show it under a parent that is still removed;
    it comes back with the parent."""
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    video_id = await published(alice)
    remark = (await comment(client, bob, video_id, "a sharp remark")).json()
    reply = (await comment(client, carol, video_id, "a reply", parent_id=remark["id"])).json()
    await reported(client, alice, "comment", reply["id"], "harassment")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")
    reply_removal = await decision_id_for(client, carol)
    await reported(client, alice, "comment", remark["id"], "harassment")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")

    assert (await appeal(client, carol, reply_removal)).status_code == 201
    await decided(client, admin, (await claimed(client, admin, "appeals"))["id"], "restore_content")

    assert await all_items(client, alice, f"/v1/videos/{video_id}/comments") == []
    assert (await video(client, alice, video_id))["comment_count"] == 0
    # The parent's appeal granted too: the whole thread is back.
    assert (await appeal(client, bob, await decision_id_for(client, bob))).status_code == 201
    await decided(client, admin, (await claimed(client, admin, "appeals"))["id"], "restore_content")
    shown = await all_items(client, alice, f"/v1/videos/{video_id}/comments")
    assert [c["id"] for c in shown] == [remark["id"], reply["id"]]
    assert (await video(client, alice, video_id))["comment_count"] == 2


async def test_both_removals_appeals_granted_at_once_bring_the_video_back(
    client, users, published, mod, admin
):
    """The two removals of the test above, both appeals granted at the same moment: each grant
    must see the other, or the video stays down with no removal standing."""
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    other_mod = await users.create("othermod", role=Role.MODERATOR)
    video_id = await published(alice)
    await reported(client, bob, "video", video_id, "spam")
    filed = await takedown(client, carol, video_id, "other")
    assert filed.status_code == 201, filed.text
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")
    first = await decision_id_for(client, alice)
    await decided(client, mod, (await claimed(client, mod, "takedowns"))["id"], "remove_content")
    second = await decision_id_for(client, alice)
    for decision_id in (first, second):
        assert (await appeal(client, alice, decision_id)).status_code == 201
    held = [await claimed(client, admin, "appeals"), await claimed(client, other_mod, "appeals")]

    granted = await asyncio.gather(
        decide(client, admin, held[0]["id"], "restore_content"),
        decide(client, other_mod, held[1]["id"], "restore_content"),
    )

    assert [response.status_code for response in granted] == [200, 200]
    assert (await video(client, carol, video_id))["status"] == "published"


# --- Guards: odd input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "queue", ["REPORTS", "reports ", "%00", "%E2%80%8Breports", "reports%0A", "x" * 2000, "decision"]
)
async def test_odd_queue_names_are_404(client, mod, queue):
    assert_problem(await claim(client, mod, queue), 404, "queue_not_found")


@pytest.mark.parametrize(
    "item_id",
    ["00000000-0000-0000-0000-000000000000", "%00", "-1", "1e9", "%F0%9F%98%80", "x" * 5000],
)
async def test_odd_item_ids_are_404_on_every_item_endpoint(client, mod, item_id):
    base = f"/v1/moderation/items/{item_id}"
    answers = [
        await client.get(base, headers=mod.headers),
        await client.post(f"{base}/decision", json={"action": "dismiss", "note": "x"}, headers=mod.headers),
        await client.post(f"{base}/release", headers=mod.headers),
    ]
    for response in answers:
        assert_problem(response, 404, "item_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"action": "dismiss", "note": "a\u0000b"},
        {"action": "remove_content", "note": "\u0000"},
        {"action": "dismiss", "note": "x" * 10_000},
        {"action": "dismiss", "note": " \n\t "},
        {"action": "suspend_user", "note": "x", "duration_hours": 0},
        {"action": "suspend_user", "note": "x", "duration_hours": -1},
        {"action": "suspend_user", "note": "x", "duration_hours": 8761},
        {"action": "suspend_user", "note": "x", "duration_hours": 2**63},
        {"action": "suspend_user", "note": "x", "duration_hours": 1.5},
        {"action": "suspend_user", "note": "x", "duration_hours": True},
        {"action": "suspend_user", "note": "x"},
        {"action": "warn_user", "note": "x", "duration_hours": 1},
        {"action": "warn_user", "note": "x", "reason": "my_likeness"},
        {"action": "warn_user", "note": "x", "reason": "Violence"},
        {"action": "warn_user", "note": "x", "reason": 3},
        {"action": "warn_user", "note": "x", "reason": "spam", "statement": "x" * 1001},
        {"action": "warn_user", "note": "x", "reason": "spam", "statement": 7},
        {"action": "warn_user", "note": "x", "reason": "spam", "statement": "a\u0000b"},
        {"action": "DISMISS", "note": "x"},
        {"action": "dismiss", "note": "x", "moderator": "someone"},
    ],
    ids=repr,
)
async def test_odd_decisions_are_422_and_leave_the_item_held(client, users, published, mod, body):
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)
    await reported(client, bob, "video", video_id, "violence")
    held = await claimed(client, mod)

    response = await client.post(
        f"/v1/moderation/items/{held['id']}/decision", json=body, headers=mod.headers
    )

    assert_problem(response, 422)
    shown = await item(client, mod, held["id"])
    assert (shown["status"], shown["lease_holder"], shown["history"]) == ("claimed", "mod", [])
    assert (await video(client, bob, video_id))["status"] == "published"
    assert await audit_log(client, mod) == []
    await decided(client, mod, held["id"], "dismiss")


@pytest.mark.parametrize("hours", [1, 8760])
async def test_suspension_bounds_are_accepted(client, users, mod, hours):
    alice, bob = await users.create("alice"), await users.create("bob")
    await reported(client, bob, "user", alice.id, "harassment")
    closed = await decided(
        client, mod, (await claimed(client, mod))["id"], "suspend_user", duration_hours=hours
    )
    assert closed["history"][0]["duration_hours"] == hours


@pytest.mark.parametrize(
    "body",
    [
        {"statement": "a\u0000b"},
        {"statement": "x" * 10_000},
        {"statement": "   "},
        {"statement": ""},
        {"decision_id": "\u0000", "statement": "x"},
        {"decision_id": "x" * 65, "statement": "x"},
    ],
    ids=repr,
)
async def test_odd_appeals_are_refused_and_make_no_item(client, users, published, mod, body):
    alice, bob = await users.create("alice"), await users.create("bob")
    await reported(client, bob, "user", alice.id, "harassment")
    await decided(client, mod, (await claimed(client, mod))["id"], "warn_user")
    payload = {"decision_id": await decision_id_for(client, alice), **body}

    response = await client.post("/v1/appeals", json=payload, headers=alice.headers)

    assert 400 <= response.status_code < 500, response.text
    assert response.json()["code"]
    assert (await queues(client, mod))["appeals"]["open_count"] == 0


@pytest.mark.parametrize("details", ["a\u0000b", "x" * 1001])
async def test_odd_report_details_are_422_and_make_no_item(client, users, mod, details):
    alice, bob = await users.create("alice"), await users.create("bob")
    assert_problem(await report(client, bob, "user", alice.id, details=details), 422)
    assert (await queues(client, mod))["reports"]["open_count"] == 0
    assert await all_items(client, bob, "/v1/me/reports") == []


async def test_reports_on_gone_or_hidden_comments_are_404(client, users, published, mod):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    removed_video, deleted_video, blocker_video = (
        await published(alice),
        await published(alice),
        await published(bob),
    )
    on_removed = (await comment(client, bob, removed_video, "one")).json()["id"]
    on_deleted = (await comment(client, bob, deleted_video, "two")).json()["id"]
    by_blocker = (await comment(client, bob, blocker_video, "three")).json()["id"]
    await reported(client, carol, "video", removed_video, "violence")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")
    assert (await client.delete(f"/v1/videos/{deleted_video}", headers=alice.headers)).status_code == 204
    assert (await client.post("/v1/users/carol/block", headers=bob.headers)).status_code == 204

    for comment_id in (on_removed, on_deleted, by_blocker):
        assert_problem(await report(client, carol, "comment", comment_id), 404, "comment_not_found")
    assert_problem(await report(client, carol, "video", deleted_video), 404, "video_not_found")
    assert_problem(await report(client, carol, "user", bob.id), 404, "user_not_found")
    assert (await queues(client, mod))["reports"]["open_count"] == 0


# --- Guards: races -----------------------------------------------------------------------------


async def test_concurrent_decisions_on_one_item_close_it_once(client, users, published, mod):
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(alice)
    await reported(client, bob, "video", video_id, "violence")
    held = await claimed(client, mod)
    actions = ["remove_content", "dismiss", "warn_user", "escalate"] * 5

    responses = await asyncio.gather(*(decide(client, mod, held["id"], action) for action in actions))

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 1, 409: len(actions) - 1}, statuses
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "lease_not_held")
    assert len(await audit_log(client, mod)) == 1
    assert len((await item(client, mod, held["id"]))["history"]) == 1


async def test_a_decision_racing_a_release_either_wins_or_loses_cleanly(client, users, published, mod):
    alice, bob = await users.create("alice"), await users.create("bob")
    for _ in range(10):
        await reported(client, bob, "user", alice.id, "spam")
        held = await claimed(client, mod)
        release = client.post(f"/v1/moderation/items/{held['id']}/release", headers=mod.headers)
        decision, released = await asyncio.gather(decide(client, mod, held["id"], "dismiss"), release)

        shown = await item(client, mod, held["id"])
        if decision.status_code == 200:
            assert_problem(released, 409, "lease_not_held")
            assert shown["status"] == "closed"
        else:
            assert_problem(decision, 409, "lease_not_held")
            assert released.status_code == 204
            assert (shown["status"], shown["history"]) == ("open", [])
            await decided(client, mod, (await claimed(client, mod))["id"], "dismiss")


async def test_racing_appeals_of_one_decision_make_one_appeal(client, users, mod):
    alice, bob = await users.create("alice"), await users.create("bob")
    await reported(client, bob, "user", alice.id, "harassment")
    await decided(client, mod, (await claimed(client, mod))["id"], "suspend_user", duration_hours=24)
    decision_id = await decision_id_for(client, alice)

    responses = await asyncio.gather(*(appeal(client, alice, decision_id, f"take {n}") for n in range(12)))

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 1, 409: 11}, statuses
    assert (await queues(client, mod))["appeals"]["open_count"] == 1


async def test_others_cannot_appeal_a_decision_or_see_it(client, users, mod):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    await reported(client, bob, "user", alice.id, "harassment")
    await decided(client, mod, (await claimed(client, mod))["id"], "warn_user")
    decision_id = await decision_id_for(client, alice)

    for other in (bob, carol, mod):
        assert_problem(await appeal(client, other, decision_id), 404, "decision_not_found")
    assert (await queues(client, mod))["appeals"]["open_count"] == 0


async def test_racing_reports_from_many_users_join_one_item(client, users, published, mod):
    author = await users.create("author")
    video_id = await published(author)
    reporters = [await users.create(f"reporter{n}") for n in range(12)]

    responses = await asyncio.gather(
        *(report(client, who, "video", video_id, reason) for who in reporters for reason in ("spam", "hate"))
    )

    # One report per reporter: each one's second, racing the first, is 409 report_exists.
    assert Counter(response.status_code for response in responses) == {201: 12, 409: 12}
    assert (await queues(client, mod))["reports"]["open_count"] == 1
    held = await claimed(client, mod)
    assert (held["report_count"], len(held["reports"])) == (12, 12)
    assert sorted(r["reporter"] for r in held["reports"]) == sorted(who.username for who in reporters)
    assert (await claim(client, mod)).status_code == 204
