"""Reports on cameos: filed like any report (target_type cameo), seen by moderators with the cameo's
snapshot; remove_content revokes the cameo, and granting the owner's appeal reinstates it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, NamedTuple

from sqlalchemy import select, text

from accounts.models import Role
from cameo.models import Cameo, Permission
from moderation.service import cameos as moderation_cameos
from tests.accounts.helpers import assert_problem, block
from tests.cameo.media import recorded
from tests.factories import Actor
from tests.locks import someone_waits_for_a_lock
from tests.moderation.helpers import (
    appeal,
    claimed,
    decide,
    decided,
    decision_id_for,
    notifications_of,
    report,
    reported,
)


async def availability(client, caster, owner) -> dict[str, Any] | None:
    response = await client.get(f"/v1/users/{owner.username}/cameo", headers=caster.headers)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class Cast(NamedTuple):
    """Olivia's cameo, Ruth who reports it, and two moderators."""

    olivia: Actor
    ruth: Actor
    mod: Actor
    other: Actor
    cameo: dict[str, Any]


async def cast(client, users, *, verified: bool = True, permission: str | None = None) -> Cast:
    """Olivia records her cameo (so it has a recording, what a reinstatement needs) and `mod`
    approves it unless `verified` is False; `permission`, when given, is set on it."""
    olivia = await users.create("olivia")
    ruth = await users.create("ruth")
    mod = await users.create("mod", role=Role.MODERATOR)
    other = await users.create("other", role=Role.MODERATOR)
    cameo = await recorded(client, olivia)
    if verified:
        await decided(client, mod, (await claimed(client, mod, "cameo_verification"))["id"], "approve_cameo")
    if permission is not None:
        patched = await client.patch(
            f"/v1/cameos/{cameo['id']}", headers=olivia.headers, json={"permission": permission}
        )
        assert patched.status_code == 200, patched.text
    return Cast(olivia, ruth, mod, other, cameo)


async def removed_and_appealed(client, cast: Cast, reason: str = "spam") -> None:
    """Ruth reports the cameo, `mod` removes it, and Olivia appeals the removal."""
    await reported(client, cast.ruth, "cameo", cast.cameo["id"], reason)
    await decided(client, cast.mod, (await claimed(client, cast.mod))["id"], "remove_content")
    decision = await decision_id_for(client, cast.olivia)
    assert (await appeal(client, cast.olivia, decision)).status_code == 201


async def test_remove_content_on_a_reported_cameo_revokes_it_and_an_appeal_reinstates_it(client, users):
    olivia, ruth, mod, other, cameo = await cast(client, users, permission="everyone")
    assert (await availability(client, ruth, olivia))["can_use"] is True

    body = await reported(client, ruth, "cameo", cameo["id"], "likeness")
    assert body["target"] == {"type": "cameo", "id": cameo["id"]}
    held = await claimed(client, mod)

    assert held["target"] == {"type": "cameo", "id": cameo["id"]}
    assert held["subject"]["user"]["username"] == "olivia"
    assert held["subject"]["snapshot"]["type"] == "cameo"
    assert held["subject"]["snapshot"]["owner"] == "olivia"
    assert held["subject"]["snapshot"]["status"] == "active"
    assert held["subject"]["snapshot"]["permission"] == "everyone"
    await decided(client, mod, held["id"], "remove_content", note="not their face")

    mine = await client.get("/v1/me/cameo", headers=olivia.headers)
    assert_problem(mine, 404)
    assert await availability(client, ruth, olivia) is None
    told = await notifications_of(client, olivia, "moderation_decision")
    assert [item["subject"]["excerpt"] for item in told] == ["remove_content", "approve_cameo"]
    (outcome,) = await notifications_of(client, ruth, "report_outcome")
    assert outcome["subject"]["excerpt"] == "remove_content"

    assert (
        await appeal(client, olivia, await decision_id_for(client, olivia), "it is me")
    ).status_code == 201
    await decided(client, other, (await claimed(client, other, "appeals"))["id"], "restore_content")

    reinstated = await client.get("/v1/me/cameo", headers=olivia.headers)
    assert reinstated.status_code == 200, reinstated.text
    assert reinstated.json()["status"] == "active"
    assert (await availability(client, ruth, olivia))["can_use"] is True


async def test_an_appeal_cannot_bring_back_a_cameo_its_owner_replaced(client, users):
    case = await cast(client, users)
    olivia, _, _, other, _ = case
    await removed_and_appealed(client, case)
    # Meanwhile the owner starts a new cameo.
    assert (await client.post("/v1/cameos", headers=olivia.headers)).status_code == 201
    held = await claimed(client, other, "appeals")

    assert_problem(await decide(client, other, held["id"], "restore_content"), 422, "action_not_applicable")
    await decided(client, other, held["id"], "dismiss", note="a new cameo is on its way")


async def test_what_cannot_be_reported(client, users, cameos):
    olivia = await users.create("olivia")
    ruth = await users.create("ruth")
    blocker = await users.create("blocker")
    mod = await users.create("mod", role=Role.MODERATOR)
    cameo = await cameos.active(olivia, permission=Permission.EVERYONE)
    assert (await block(client, olivia.headers, "blocker")).status_code in (200, 204)

    assert_problem(await report(client, olivia, "cameo", cameo), 422, "cannot_report_self")
    assert_problem(await report(client, blocker, "cameo", cameo), 404, "cameo_not_found")
    assert_problem(await report(client, ruth, "cameo", "not-a-uuid"), 404, "cameo_not_found")
    assert_problem(await report(client, ruth, "cameo", ruth.id), 404, "cameo_not_found")
    assert (await client.post(f"/v1/cameos/{cameo}/revoke", headers=olivia.headers)).status_code == 200
    assert_problem(await report(client, ruth, "cameo", cameo), 404, "cameo_not_found")
    assert (await claimed_or_none(client, mod)) is None


async def test_a_cameo_revoked_by_its_owner_before_the_decision_cannot_be_removed(client, users, cameos):
    olivia = await users.create("olivia")
    ruth = await users.create("ruth")
    mod = await users.create("mod", role=Role.MODERATOR)
    cameo = await cameos.active(olivia, permission=Permission.EVERYONE)
    await reported(client, ruth, "cameo", cameo)
    held = await claimed(client, mod)
    assert (await client.post(f"/v1/cameos/{cameo}/revoke", headers=olivia.headers)).status_code == 200

    assert_problem(await decide(client, mod, held["id"], "remove_content"), 422, "action_not_applicable")
    await decided(client, mod, held["id"], "dismiss")


async def test_a_pending_cameo_can_be_reported(client, users):
    olivia = await users.create("olivia")
    ruth = await users.create("ruth")
    cameo = await recorded(client, olivia)

    assert (await report(client, ruth, "cameo", cameo["id"], "likeness")).status_code == 201


async def test_an_appeal_puts_a_cameo_reported_before_its_review_back_to_review(client, users):
    """A cameo taken down on a report while it still waited for verification is not made active by
    the owner's granted appeal: it goes back to review, where a moderator still decides it."""
    case = await cast(client, users, verified=False)
    olivia, ruth, mod, other, _ = case
    await removed_and_appealed(client, case, "likeness")

    await decided(client, other, (await claimed(client, other, "appeals"))["id"], "restore_content")

    mine = await client.get("/v1/me/cameo", headers=olivia.headers)
    assert mine.status_code == 200, mine.text
    assert mine.json()["status"] == "pending_review"
    assert await availability(client, ruth, olivia) is None
    # Its verification item decides it, as before the report.
    await decided(client, mod, (await claimed(client, mod, "cameo_verification"))["id"], "approve_cameo")
    assert (await client.get("/v1/me/cameo", headers=olivia.headers)).json()["status"] == "active"


async def claimed_or_none(client, actor) -> dict[str, Any] | None:
    response = await client.post("/v1/moderation/queues/reports/claim", headers=actor.headers)
    if response.status_code == 204:
        return None
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_appeal_cannot_bring_back_a_cameo_its_owner_revoked_after_the_removal(client, users):
    """The owner revokes a cameo moderation already took down (they no longer want it used, say,
    after appealing): the revocation is theirs from then on, so granting the appeal leaves it
    revoked, as it does a cameo its owner revoked first."""
    case = await cast(client, users, permission="everyone")
    olivia, ruth, _, other, cameo = case
    await removed_and_appealed(client, case)
    # The owner changes their mind: they revoke it themselves (answered 200, revoked).
    revoked = await client.post(f"/v1/cameos/{cameo['id']}/revoke", headers=olivia.headers)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    held = await claimed(client, other, "appeals")

    assert_problem(await decide(client, other, held["id"], "restore_content"), 422, "action_not_applicable")
    assert_problem(await client.get("/v1/me/cameo", headers=olivia.headers), 404)
    assert await availability(client, ruth, olivia) is None


async def test_an_appeal_cannot_bring_back_the_cameo_of_a_deleted_account(client, users, resources):
    """An account deleted while the appeal of its cameo's removal waits: the deletion is the owner's
    last word on their likeness, so granting the appeal before the purge has run (a backed-up
    worker) does not make the cameo active again (nor hand the recording to the provider)."""
    case = await cast(client, users)
    olivia, _, _, other, cameo = case
    await removed_and_appealed(client, case)
    assert (await block(client, olivia.headers, "ruth")).status_code in (200, 204)

    async with resources.engine.connect() as holder:
        # The purge stalls at its blocks step, before it deletes the recording.
        await holder.execute(
            text("SELECT 1 FROM blocks WHERE blocker_id = :id FOR UPDATE"), {"id": olivia.id}
        )
        deleted = await client.request(
            "DELETE", "/v1/me", headers=olivia.headers, json={"password": olivia.password}
        )
        assert deleted.status_code == 204, deleted.text
        held = await claimed(client, other, "appeals")

        assert_problem(
            await decide(client, other, held["id"], "restore_content"), 422, "action_not_applicable"
        )
        async with resources.session_factory() as session:
            status = await session.scalar(select(Cameo.status).where(Cameo.id == uuid.UUID(cameo["id"])))
        assert status == "revoked"
        await holder.rollback()


async def test_a_cameo_put_back_to_review_by_an_appeal_is_in_the_verification_queue_again(client, users):
    """The verification item of a cameo taken down before its review may be dismissed meanwhile
    (the cameo no longer waits); granting the appeal puts the cameo back to review, and so back in
    the queue: otherwise it waits for a review that never comes, and its owner can neither record
    again nor start another cameo."""
    olivia, ruth, mod, other, cameo = await cast(client, users, verified=False)
    await reported(client, ruth, "cameo", cameo["id"], "likeness")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")
    # Nothing waits for review any more: the verification item is closed.
    await decided(client, mod, (await claimed(client, mod, "cameo_verification"))["id"], "dismiss")
    assert (await appeal(client, olivia, await decision_id_for(client, olivia))).status_code == 201

    await decided(client, other, (await claimed(client, other, "appeals"))["id"], "restore_content")

    mine = await client.get("/v1/me/cameo", headers=olivia.headers)
    assert mine.json()["status"] == "pending_review"
    held = await claimed(client, mod, "cameo_verification")
    assert held["target"] == {"type": "cameo", "id": cameo["id"]}
    assert held["subject"]["snapshot"]["status"] == "pending_review"
    await decided(client, mod, held["id"], "approve_cameo")
    assert (await client.get("/v1/me/cameo", headers=olivia.headers)).json()["status"] == "active"


async def _held_for_review_and_appeal(client, users) -> tuple[Cast, dict[str, Any], dict[str, Any]]:
    """A cameo taken down on a report before its review, its removal appealed: `mod` holds its
    verification item (still open: nothing closed it) and `other` the appeal."""
    case = await cast(client, users, verified=False)
    await removed_and_appealed(client, case, "likeness")
    verification = await claimed(client, case.mod, "cameo_verification")
    assert verification["target"] == {"type": "cameo", "id": case.cameo["id"]}
    return case, verification, await claimed(client, case.other, "appeals")


async def _back_to_review(client, case: Cast, verification: dict[str, Any]) -> None:
    """The grant put the cameo back to review, and its verification item (open again) decides it."""
    mine = await client.get("/v1/me/cameo", headers=case.olivia.headers)
    assert mine.json()["status"] == "pending_review"
    again = await claimed(client, case.mod, "cameo_verification")
    assert again["id"] == verification["id"]
    await decided(client, case.mod, again["id"], "approve_cameo")
    assert (await client.get("/v1/me/cameo", headers=case.olivia.headers)).json()["status"] == "active"


async def test_a_verification_decided_while_an_appeal_puts_its_cameo_back_to_review_is_waited_for(
    client, users, resources, monkeypatch
):
    """Granting the appeal locks the cameo, then (putting it back to review) its verification item;
    a decision on that item takes them in the same order, so the two wait for each other. Here the
    decision comes first: the grant waits for it, it finds the cameo still revoked (422), and the
    grant goes through. The decision locked the item, then the cameo: each held what the other
    wanted, and PostgreSQL ended the grant (503)."""
    case, verification, held = await _held_for_review_and_appeal(client, users)
    approve = moderation_cameos.approve
    decision_holds_its_locks = asyncio.Event()

    async def approve_once_the_grant_waits(session, jobs, cameo_id):
        decision_holds_its_locks.set()
        await someone_waits_for_a_lock(resources)
        await approve(session, jobs, cameo_id)

    async def grant():
        await decision_holds_its_locks.wait()
        return await decide(client, case.other, held["id"], "restore_content")

    monkeypatch.setattr(moderation_cameos, "approve", approve_once_the_grant_waits)
    approved, granted = await asyncio.gather(
        decide(client, case.mod, verification["id"], "approve_cameo"), grant()
    )
    monkeypatch.undo()

    assert_problem(approved, 422, "action_not_applicable")
    assert granted.status_code == 200, granted.text
    await _back_to_review(client, case, verification)


async def test_an_appeal_granted_while_its_cameos_verification_is_decided_is_waited_for(
    client, users, resources, monkeypatch
):
    """The other way round: the grant holds the cameo when the decision on its verification item
    comes. The decision waits for the cameo before it takes the item, so the grant files the
    cameo back to review (ending `mod`'s lease: the item waits for a fresh look) and commits; the
    decision then finds its lease gone (409). The decision locked the item first: the grant, wanting
    the item, waited for it while it waited for the cameo, and PostgreSQL ended the decision (503)."""
    case, verification, held = await _held_for_review_and_appeal(client, users)
    file_verification = moderation_cameos.file_verification
    grant_holds_the_cameo = asyncio.Event()

    async def file_once_the_decision_waits(session, cameo):
        grant_holds_the_cameo.set()
        await someone_waits_for_a_lock(resources)
        await file_verification(session, cameo)

    async def approve():
        await grant_holds_the_cameo.wait()
        return await decide(client, case.mod, verification["id"], "approve_cameo")

    monkeypatch.setattr(moderation_cameos, "file_verification", file_once_the_decision_waits)
    granted, approved = await asyncio.gather(
        decide(client, case.other, held["id"], "restore_content"), approve()
    )
    monkeypatch.undo()

    assert granted.status_code == 200, granted.text
    assert_problem(approved, 409, "lease_not_held")
    await _back_to_review(client, case, verification)
