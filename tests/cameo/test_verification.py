"""Verification: an accepted recording enters the `cameo_verification` queue with the recording and
the challenge; a moderator approves (the cameo becomes usable) or rejects it (appealable; a granted
appeal makes it active)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from accounts.models import Role
from app.db import in_transaction
from cameo.models import Cameo
from moderation.service.cameos import file_verification
from tests.accounts.helpers import assert_problem
from tests.cameo.helpers import registered_character
from tests.cameo.media import clip, recorded, start, upload
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
)

QUEUE = "cameo_verification"


async def my_cameo(client, actor) -> dict[str, Any]:
    response = await client.get("/v1/me/cameo", headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def can_use(client, caster, owner) -> bool:
    response = await client.get(f"/v1/users/{owner.username}/cameo", headers=caster.headers)
    if response.status_code == 404:
        return False
    assert response.status_code == 200, response.text
    return bool(response.json()["can_use"])


async def test_a_recording_is_reviewed_with_its_challenge_and_approved(client, users, resources):
    olivia = await users.create("olivia")
    mod = await users.create("mod", role=Role.MODERATOR)
    started = await start(client, olivia)
    cameo_id = started["cameo"]["id"]
    assert (await queues(client, mod))[QUEUE]["open_count"] == 0
    await recorded_again(client, olivia, cameo_id)

    assert (await queues(client, mod))[QUEUE]["open_count"] == 1
    held = await claimed(client, mod, QUEUE)

    assert held["target"] == {"type": "cameo", "id": cameo_id}
    assert held["subject"]["user"]["username"] == "olivia"
    snapshot = held["subject"]["snapshot"]
    assert snapshot["type"] == "cameo"
    assert snapshot["owner"] == "olivia"
    assert snapshot["status"] == "pending_review"
    assert snapshot["challenge"]["phrase"] == started["challenge"]["phrase"]
    assert snapshot["challenge"]["head_turns"] == started["challenge"]["head_turns"]
    assert snapshot["recording_content_type"] == "video/mp4"
    assert 2 <= snapshot["recording_seconds"] <= 20
    recording = await client.get(snapshot["recording_url"], headers=mod.headers)
    assert recording.status_code == 200, recording.text
    assert recording.content[4:8] == b"ftyp"
    assert await can_use(client, olivia, olivia) is False

    closed = await decided(client, mod, held["id"], "approve_cameo", note="matches the challenge")

    assert closed["status"] == "closed"
    assert closed["history"][-1]["action"] == "approve_cameo"
    assert closed["history"][-1]["affected_user"] == "olivia"
    assert (await my_cameo(client, olivia))["status"] == "active"
    assert await can_use(client, olivia, olivia) is True
    (told,) = await notifications_of(client, olivia, "moderation_decision")
    assert told["subject"]["excerpt"] == "approve_cameo"
    assert (await queues(client, mod))[QUEUE]["open_count"] == 0
    # An approval is not something to appeal.
    assert_problem(await appeal(client, olivia, told["subject"]["id"]), 422, "decision_not_appealable")
    # After the commit, the job registers the likeness with the provider.
    assert (await registered_character(resources, cameo_id)).startswith("char_")


async def recorded_again(client, actor, cameo_id: str) -> None:
    """Upload a clip to the cameo `start` made (tests/cameo/media.recorded makes its own cameo)."""
    response = await upload(client, actor, cameo_id, clip())
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending_review"


async def test_a_rejection_is_appealed_and_granted(client, users, resources):
    olivia = await users.create("olivia")
    mod = await users.create("mod", role=Role.MODERATOR)
    other = await users.create("other", role=Role.MODERATOR)
    cameo = await recorded(client, olivia)
    held = await claimed(client, mod, QUEUE)

    await decided(client, mod, held["id"], "reject_cameo", note="the numbers are not read aloud")

    assert (await my_cameo(client, olivia))["status"] == "rejected"
    assert await can_use(client, olivia, olivia) is False
    decision_id = await decision_id_for(client, olivia)
    (told,) = await notifications_of(client, olivia, "moderation_decision")
    assert told["subject"]["excerpt"] == "reject_cameo"
    # The recording is kept (for the appeal) and still visible to moderators.
    assert (await client.get(f"/v1/cameos/{cameo['id']}/recording", headers=mod.headers)).status_code == 200

    assert (await appeal(client, olivia, decision_id, "I did read them")).status_code == 201
    # The moderator who rejected it does not review the appeal.
    assert (await claim(client, mod, "appeals")).status_code == 204
    appeal_item = await claimed(client, other, "appeals")
    assert appeal_item["subject"]["snapshot"]["original"]["target"] == {"type": "cameo", "id": cameo["id"]}
    await decided(client, other, appeal_item["id"], "restore_content", note="they did")

    assert (await my_cameo(client, olivia))["status"] == "active"
    assert await can_use(client, olivia, olivia) is True
    (outcome,) = await notifications_of(client, olivia, "appeal_outcome")
    assert outcome["subject"]["excerpt"] == "granted"
    # Reinstated, it is registered with the provider as an approval would have done.
    assert (await registered_character(resources, cameo["id"])).startswith("char_")


async def test_a_denied_appeal_leaves_the_cameo_rejected(client, users):
    olivia = await users.create("olivia")
    mod = await users.create("mod", role=Role.MODERATOR)
    other = await users.create("other", role=Role.MODERATOR)
    await recorded(client, olivia)
    await decided(client, mod, (await claimed(client, mod, QUEUE))["id"], "reject_cameo")
    assert (await appeal(client, olivia, await decision_id_for(client, olivia))).status_code == 201

    await decided(client, other, (await claimed(client, other, "appeals"))["id"], "dismiss")

    assert (await my_cameo(client, olivia))["status"] == "rejected"


async def test_a_rejected_cameo_recorded_again_is_reviewed_again(client, users):
    olivia = await users.create("olivia")
    mod = await users.create("mod", role=Role.MODERATOR)
    cameo = await recorded(client, olivia)
    first = await claimed(client, mod, QUEUE)
    await decided(client, mod, first["id"], "reject_cameo")

    challenge = await client.post(f"/v1/cameos/{cameo['id']}/challenge", headers=olivia.headers)
    assert challenge.status_code == 200, challenge.text
    await recorded_again(client, olivia, cameo["id"])

    second = await claimed(client, mod, QUEUE)
    assert second["id"] != first["id"]
    assert second["subject"]["snapshot"]["challenge"]["phrase"] == challenge.json()["challenge"]["phrase"]
    await decided(client, mod, second["id"], "approve_cameo")
    assert (await my_cameo(client, olivia))["status"] == "active"


async def test_a_cameo_filed_again_while_undecided_keeps_one_item_and_drops_the_lease(
    client, users, resources
):
    """The hook filing the same cameo twice (a new recording while the first is undecided) leaves
    one open item with the newer snapshot, taken back from the moderator holding the older one."""
    olivia = await users.create("olivia")
    mod = await users.create("mod", role=Role.MODERATOR)
    cameo = await recorded(client, olivia)
    held = await claimed(client, mod, QUEUE)

    async def file_again(session: Any) -> None:
        found = await session.scalar(select(Cameo).where(Cameo.id == uuid.UUID(cameo["id"])))
        found.challenge_phrase = "98 76 54"
        await file_verification(session, found)

    await in_transaction(resources.session_factory, file_again)

    assert (await queues(client, mod))[QUEUE]["open_count"] == 1
    assert_problem(await decide(client, mod, held["id"], "approve_cameo"), 409, "lease_not_held")
    again = await claimed(client, mod, QUEUE)
    assert again["id"] == held["id"]
    assert again["subject"]["snapshot"]["challenge"]["phrase"] == "98 76 54"
    assert again["report_count"] == 0


async def test_a_cameo_revoked_while_waiting_cannot_be_approved_but_its_item_can_be_dismissed(client, users):
    olivia = await users.create("olivia")
    mod = await users.create("mod", role=Role.MODERATOR)
    cameo = await recorded(client, olivia)
    held = await claimed(client, mod, QUEUE)
    # While it waits, dismissing is not a verdict: approve or reject it.
    assert_problem(await decide(client, mod, held["id"], "dismiss"), 422, "action_not_applicable")
    assert (await client.post(f"/v1/cameos/{cameo['id']}/revoke", headers=olivia.headers)).status_code == 200

    assert_problem(await decide(client, mod, held["id"], "approve_cameo"), 422, "action_not_applicable")
    assert_problem(await decide(client, mod, held["id"], "reject_cameo"), 422, "action_not_applicable")
    await decided(client, mod, held["id"], "dismiss", note="revoked by its owner")

    assert (await queues(client, mod))[QUEUE]["open_count"] == 0
    assert await notifications_of(client, olivia, "moderation_decision") == []


async def test_only_cameo_actions_apply_to_verification_items(client, users):
    olivia = await users.create("olivia")
    mod = await users.create("mod", role=Role.MODERATOR)
    await recorded(client, olivia)
    held = await claimed(client, mod, QUEUE)

    for action in ("remove_content", "restore_content", "warn_user"):
        assert_problem(await decide(client, mod, held["id"], action), 422, "action_not_applicable")
    assert_problem(
        await decide(client, mod, held["id"], "suspend_user", duration_hours=1), 422, "action_not_applicable"
    )
    assert (await item(client, mod, held["id"]))["status"] == "claimed"
    assert (await my_cameo(client, olivia))["status"] == "pending_review"
