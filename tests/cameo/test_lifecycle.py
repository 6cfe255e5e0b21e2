"""A cameo's life through HTTP: created with a liveness challenge, recorded, reviewed, revoked; one
per person that is not revoked; everything about it is its owner's alone."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from app.db import in_transaction
from app.resources import Resources
from app.storage import MediaNotFound
from cameo.models import Cameo, CameoStatus
from cameo.service import lifecycle, review
from tests.accounts.helpers import assert_problem
from tests.cameo.helpers import reject
from tests.cameo.media import clip, recorded, start, upload

TURNS = {"left", "right", "up", "down"}


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def execute(resources: Resources, sql: str, **params: Any) -> None:
    async with resources.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def row(resources: Resources, cameo_id: str) -> Cameo:
    async def work(session: Any) -> Cameo:
        found = await session.get(Cameo, uuid.UUID(cameo_id))
        assert found is not None
        return found

    result: Cameo = await in_transaction(resources.session_factory, work)
    return result


def assert_challenge(challenge: dict[str, Any]) -> None:
    assert re.fullmatch(r"\d\d \d\d \d\d", challenge["phrase"]), challenge
    assert all(10 <= int(number) <= 99 for number in challenge["phrase"].split())
    turns = challenge["head_turns"]
    assert len(turns) == 2 and len(set(turns)) == 2 and set(turns) <= TURNS, turns
    left = parse(challenge["expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=9) < left <= timedelta(minutes=10), left


async def test_create_record_and_the_owner_view(client, users, resources):
    alice = await users.create("alice")
    before = datetime.now(UTC)

    created = await start(client, alice)

    cameo, challenge = created["cameo"], created["challenge"]
    assert_challenge(challenge)
    assert cameo["owner"] == "alice"
    assert cameo["status"] == "awaiting_recording"
    assert cameo["permission"] == "only_me"
    assert cameo["approved"] == [] and cameo["appearance_count"] == 0
    assert cameo["preferences"] == "" and cameo["restrictions"] == ""
    assert cameo["challenge"] == challenge  # shown to the owner while it waits for the recording
    assert cameo["challenge_expires_at"] == challenge["expires_at"]
    assert cameo["recorded_at"] is None and cameo["revoked_at"] is None
    assert parse(cameo["created_at"]) >= before - timedelta(seconds=1)
    mine = await client.get("/v1/me/cameo", headers=alice.headers)
    assert mine.status_code == 200, mine.text
    assert mine.json() == cameo

    response = await upload(client, alice, cameo["id"], clip())

    assert response.status_code == 200, response.text
    answered = response.json()
    assert answered["id"] == cameo["id"]
    assert answered["status"] == "pending_review"
    assert answered["challenge"] is None
    assert answered["recording_seconds"] == pytest.approx(3.0)
    assert parse(answered["recorded_at"]) >= before - timedelta(seconds=1)
    assert (await client.get("/v1/me/cameo", headers=alice.headers)).json() == answered
    stored = await row(resources, cameo["id"])
    assert stored.recording_key is not None
    assert stored.recording_key.startswith(f"cameos/{cameo['id']}/recording-")
    assert stored.recording_content_type == "video/mp4"
    assert stored.recording_bytes == len(clip())
    assert stored.recording_purge_after is None
    assert (await resources.storage.get(stored.recording_key))[0] == clip()


async def test_one_cameo_per_person_that_is_not_revoked(client, users):
    alice = await users.create("alice")
    bob = await users.create("bob")
    first = (await start(client, alice))["cameo"]

    assert_problem(await client.post("/v1/cameos", headers=alice.headers), 409, "cameo_exists")
    await upload(client, alice, first["id"], clip())
    assert_problem(await client.post("/v1/cameos", headers=alice.headers), 409, "cameo_exists")
    assert (await client.post("/v1/cameos", headers=bob.headers)).status_code == 201  # per person

    revoked = await client.post(f"/v1/cameos/{first['id']}/revoke", headers=alice.headers)
    assert revoked.status_code == 200, revoked.text
    again = await start(client, alice)
    assert again["cameo"]["id"] != first["id"]
    mine = (await client.get("/v1/me/cameo", headers=alice.headers)).json()
    assert mine["id"] == again["cameo"]["id"]


async def test_two_creates_at_once_make_one_cameo(client, users):
    alice = await users.create("alice")

    responses = await asyncio.gather(*(client.post("/v1/cameos", headers=alice.headers) for _ in range(4)))

    assert sorted(response.status_code for response in responses) == [201, 409, 409, 409]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "cameo_exists")


async def test_an_expired_challenge_is_refused_and_a_fresh_one_fixes_it(client, users, resources):
    alice = await users.create("alice")
    first = await start(client, alice)
    cameo_id = first["cameo"]["id"]
    await execute(
        resources,
        "UPDATE cameos SET challenge_expires_at = now() - interval '1 second' WHERE id = :id",
        id=uuid.UUID(cameo_id),
    )

    refused = assert_problem(await upload(client, alice, cameo_id, clip()), 409, "challenge_expired")
    assert "new one" in refused["detail"]
    assert (await client.get("/v1/me/cameo", headers=alice.headers)).json()["status"] == "awaiting_recording"
    assert (await row(resources, cameo_id)).recording_key is None

    fresh = await client.post(f"/v1/cameos/{cameo_id}/challenge", headers=alice.headers)
    assert fresh.status_code == 200, fresh.text
    assert_challenge(fresh.json()["challenge"])
    assert fresh.json()["cameo"]["challenge"] == fresh.json()["challenge"]
    assert parse(fresh.json()["challenge"]["expires_at"]) > parse(first["challenge"]["expires_at"])

    accepted = await upload(client, alice, cameo_id, clip())
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "pending_review"


async def test_recording_and_challenges_only_while_awaiting_a_recording(client, users, cameos):
    alice = await users.create("alice")
    pending = await recorded(client, alice)

    again = await upload(client, alice, pending["id"], clip())
    assert_problem(again, 409, "cameo_not_awaiting_recording")
    challenge = await client.post(f"/v1/cameos/{pending['id']}/challenge", headers=alice.headers)
    assert_problem(challenge, 409, "cameo_not_awaiting_recording")

    bob = await users.create("bob")
    active = await cameos.active(bob)
    assert_problem(await upload(client, bob, active, clip()), 409, "cameo_not_awaiting_recording")
    revoked = await client.post(f"/v1/cameos/{active}/revoke", headers=bob.headers)
    assert revoked.status_code == 200
    challenge = await client.post(f"/v1/cameos/{active}/challenge", headers=bob.headers)
    assert_problem(challenge, 409, "cameo_not_awaiting_recording")


async def test_a_rejected_cameo_records_again_and_the_old_recording_goes(client, users, resources, settings):
    alice = await users.create("alice")
    cameo = await recorded(client, alice)
    old_key = (await row(resources, cameo["id"])).recording_key
    assert old_key is not None
    await reject(resources, cameo["id"])
    mine = (await client.get("/v1/me/cameo", headers=alice.headers)).json()
    assert mine["status"] == "rejected"
    assert (await row(resources, cameo["id"])).recording_purge_after is not None
    assert_problem(await upload(client, alice, cameo["id"], clip()), 409, "cameo_not_awaiting_recording")

    fresh = await client.post(f"/v1/cameos/{cameo['id']}/challenge", headers=alice.headers)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["cameo"]["status"] == "awaiting_recording"
    webm = clip(4, "webm")
    response = await upload(
        client, alice, cameo["id"], webm, filename="again.webm", content_type="video/webm"
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending_review"
    assert response.json()["recording_seconds"] == pytest.approx(4.0)
    stored = await row(resources, cameo["id"])
    assert stored.recording_key != old_key
    assert stored.recording_purge_after is None  # the new recording is kept while it is reviewed
    with pytest.raises(MediaNotFound):
        await resources.storage.get(old_key)
    recording = await client.get(f"/v1/cameos/{cameo['id']}/recording", headers=alice.headers)
    assert recording.content == webm


async def test_revoke_takes_effect_at_once_and_is_idempotent(client, users, resources, settings):
    alice = await users.create("alice")
    cameo_id = (await recorded(client, alice))["id"]

    response = await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=alice.headers)

    assert response.status_code == 200, response.text
    revoked = response.json()
    assert revoked["id"] == cameo_id and revoked["status"] == "revoked"
    revoked_at = parse(revoked["revoked_at"])
    assert revoked_at <= datetime.now(UTC)
    stored = await row(resources, cameo_id)
    assert stored.revoked_by == "owner"
    assert stored.recording_purge_after is not None
    expected = revoked_at + timedelta(days=settings.cameo_recording_retention_days)
    assert abs(stored.recording_purge_after - expected) < timedelta(seconds=5)
    # After revocation the caller has no cameo (GET /v1/me/cameo shows the current one only).
    assert_problem(await client.get("/v1/me/cameo", headers=alice.headers), 404, "cameo_not_found")

    again = await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=alice.headers)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "revoked"
    assert again.json()["revoked_at"] == revoked["revoked_at"]
    patch = await client.patch(
        f"/v1/cameos/{cameo_id}", json={"permission": "everyone"}, headers=alice.headers
    )
    assert_problem(patch, 409, "cameo_revoked")
    await users.create("bob")
    approve = await client.put(f"/v1/cameos/{cameo_id}/approved/bob", headers=alice.headers)
    assert_problem(approve, 409, "cameo_revoked")


async def test_revoking_runs_the_revocation_hooks(client, users, monkeypatch):
    seen: list[tuple[str, str]] = []

    async def hook(session: Any, cameo: Cameo) -> None:
        seen.append((str(cameo.id), cameo.status))

    monkeypatch.setattr("cameo.hooks._revoked._hooks", [hook])
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]

    await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=alice.headers)
    await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=alice.headers)

    assert seen == [(cameo_id, "revoked")]  # once: the second revoke changes nothing


async def test_a_suspended_user_may_not_start_or_record_but_may_revoke(client, users, resources):
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]
    await execute(
        resources,
        "UPDATE users SET suspended_until = now() + interval '1 day' WHERE id = :id",
        id=uuid.UUID(alice.id),
    )

    assert_problem(await upload(client, alice, cameo_id, clip()), 403, "account_suspended")
    assert_problem(
        await client.post(f"/v1/cameos/{cameo_id}/challenge", headers=alice.headers), 403, "account_suspended"
    )
    assert (await client.get("/v1/me/cameo", headers=alice.headers)).status_code == 200
    assert (await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=alice.headers)).status_code == 200
    assert_problem(await client.post("/v1/cameos", headers=alice.headers), 403, "account_suspended")


async def test_other_peoples_cameos_do_not_exist_for_them(client, users):
    alice = await users.create("alice")
    mallory = await users.create("mallory")
    cameo_id = (await start(client, alice))["cameo"]["id"]
    base = f"/v1/cameos/{cameo_id}"

    attempts = [
        await client.patch(base, json={"permission": "everyone"}, headers=mallory.headers),
        await client.post(f"{base}/revoke", headers=mallory.headers),
        await client.post(f"{base}/challenge", headers=mallory.headers),
        await client.put(f"{base}/approved/mallory", headers=mallory.headers),
        await client.delete(f"{base}/approved/mallory", headers=mallory.headers),
        await upload(client, mallory, cameo_id, clip()),
        await client.get(f"{base}/recording", headers=mallory.headers),
    ]

    for response in attempts:
        assert_problem(response, 404, "cameo_not_found")
    mine = (await client.get("/v1/me/cameo", headers=alice.headers)).json()
    assert mine["status"] == "awaiting_recording" and mine["permission"] == "only_me"
    assert mine["approved"] == []
    assert_problem(await client.get("/v1/me/cameo", headers=mallory.headers), 404, "cameo_not_found")
    for bad in ("not-a-uuid", str(uuid.uuid4())):
        assert_problem(
            await client.post(f"/v1/cameos/{bad}/revoke", headers=alice.headers), 404, "cameo_not_found"
        )


async def test_cameo_routes_need_a_signed_in_user(client, users):
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]

    for method, path in [
        ("POST", "/v1/cameos"),
        ("GET", "/v1/me/cameo"),
        ("GET", "/v1/me/cameo/uses"),
        ("POST", f"/v1/cameos/{cameo_id}/revoke"),
        ("GET", f"/v1/cameos/{cameo_id}/recording"),
        ("GET", "/v1/users/alice/cameo"),
    ]:
        assert_problem(await client.request(method, path), 401)


async def test_review_verdicts_and_reinstatement(client, users, resources):
    """The functions moderation calls when it decides on a verification or grants an appeal."""
    alice = await users.create("alice")
    cameo_id = uuid.UUID((await recorded(client, alice))["id"])

    async def call(work: Any) -> Any:
        return await in_transaction(resources.session_factory, work)

    assert await call(lambda s: review.reinstate(s, cameo_id)) is None  # pending: nothing to reinstate
    approved = await call(lambda s: review.approve(s, cameo_id))
    assert approved is not None and approved.status == "active" and approved.reviewed_at is not None
    assert await call(lambda s: review.approve(s, cameo_id)) is None  # not pending any more
    assert await call(lambda s: review.reject(s, cameo_id, retention_days=30)) is None
    assert await call(lambda s: review.approve(s, uuid.uuid4())) is None
    assert (await client.get("/v1/me/cameo", headers=alice.headers)).json()["status"] == "active"

    # Revoked by moderation, then the appeal is granted: active again, the recording kept.
    async def revoke_by_moderation(session: Any) -> bool:
        from cameo.queries import cameo_for_update

        cameo = await cameo_for_update(session, cameo_id)
        assert cameo is not None
        return await lifecycle.revoke(session, cameo, by="moderation", retention_days=30)

    assert await call(revoke_by_moderation) is True
    assert await call(revoke_by_moderation) is False
    assert (await row(resources, str(cameo_id))).recording_purge_after is not None
    assert await call(lambda s: review.reinstate(s, cameo_id)) == CameoStatus.ACTIVE
    stored = await row(resources, str(cameo_id))
    assert (stored.status, stored.revoked_at, stored.recording_purge_after) == ("active", None, None)

    # A cameo its owner revoked stays revoked; so does one whose owner has started another.
    assert (await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=alice.headers)).status_code == 200
    assert await call(lambda s: review.reinstate(s, cameo_id)) is None
    await execute(resources, "UPDATE cameos SET revoked_by = 'moderation' WHERE id = :id", id=cameo_id)
    await start(client, alice)
    assert await call(lambda s: review.reinstate(s, cameo_id)) is None
    assert (await row(resources, str(cameo_id))).status == "revoked"


async def test_a_rejected_cameo_is_reinstated_while_its_recording_is_kept(client, users, resources):
    alice = await users.create("alice")
    cameo_id = uuid.UUID((await recorded(client, alice))["id"])

    async def call(work: Any) -> Any:
        return await in_transaction(resources.session_factory, work)

    rejected = await call(lambda s: review.reject(s, cameo_id, retention_days=30))
    assert rejected is not None and rejected.status == "rejected"
    await execute(resources, "UPDATE cameos SET recording_key = NULL WHERE id = :id", id=cameo_id)
    assert await call(lambda s: review.reinstate(s, cameo_id)) is None  # the recording is gone
    key = f"cameos/{cameo_id}/recording-kept.mp4"
    await execute(resources, "UPDATE cameos SET recording_key = :key WHERE id = :id", id=cameo_id, key=key)
    assert await call(lambda s: review.reinstate(s, cameo_id)) == CameoStatus.ACTIVE
    assert (await client.get("/v1/me/cameo", headers=alice.headers)).json()["status"] == "active"
