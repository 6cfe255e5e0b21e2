"""Who may cast a cameo, through GET /v1/users/{username}/cameo, for each permission level with a
user who may and one who may not; and the owner's controls: PATCH and the approved list."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from app.factory import create_app
from cameo.models import Permission
from tests.accounts.helpers import assert_problem, block, error_fields, follow, years_ago
from tests.cameo.media import recorded, start
from tests.conftest import make_settings, serve_in_process


async def availability(client, caller, username: str) -> dict[str, Any]:
    response = await client.get(f"/v1/users/{username}/cameo", headers=caller.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def can_use(client, caller, username: str) -> bool:
    return bool((await availability(client, caller, username))["can_use"])


async def set_permission(client, owner, cameo_id: str, permission: str) -> None:
    response = await client.patch(
        f"/v1/cameos/{cameo_id}", json={"permission": permission}, headers=owner.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["permission"] == permission


async def execute(resources, sql: str, **params: Any) -> None:
    async with resources.engine.begin() as connection:
        await connection.execute(text(sql), params)


# --- each level: one who may, one who may not ----------------------------------------------------


async def test_only_me_lets_nobody_else_in(client, users, cameos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    cameo_id = await cameos.active(alice)

    mine = await availability(client, alice, "alice")
    assert mine == {"cameo_id": cameo_id, "permission": "only_me", "can_use": True}
    assert await availability(client, bob, "alice") == {
        "cameo_id": cameo_id,
        "permission": "only_me",
        "can_use": False,
    }


async def test_approved_lets_in_the_people_on_the_list(client, users, cameos):
    alice = await users.create("alice")
    friend = await users.create("friend")
    stranger = await users.create("stranger")
    cameo_id = await cameos.active(alice, permission=Permission.APPROVED)

    assert not await can_use(client, friend, "alice")
    put = await client.put(f"/v1/cameos/{cameo_id}/approved/friend", headers=alice.headers)
    assert put.status_code == 204, put.text

    assert await can_use(client, friend, "alice")
    assert not await can_use(client, stranger, "alice")
    assert (await availability(client, friend, "alice"))["permission"] == "approved"
    # Taking them off the list ends it at once.
    removed = await client.delete(f"/v1/cameos/{cameo_id}/approved/friend", headers=alice.headers)
    assert removed.status_code == 204
    assert not await can_use(client, friend, "alice")


async def test_approved_list_at_a_narrower_level_lets_nobody_in(client, users, cameos):
    alice = await users.create("alice")
    friend = await users.create("friend")
    cameo_id = await cameos.active(alice, permission=Permission.APPROVED, approved=[friend])
    assert await can_use(client, friend, "alice")

    await set_permission(client, alice, cameo_id, "only_me")

    assert not await can_use(client, friend, "alice")


async def test_mutuals_needs_follows_both_ways(client, users, cameos):
    alice = await users.create("alice")
    mutual = await users.create("mutual")
    fan = await users.create("fan")  # follows alice; alice does not follow back
    followed = await users.create("followed")  # alice follows them; they do not follow back
    stranger = await users.create("stranger")
    await cameos.active(alice, permission=Permission.MUTUALS)
    for who, whom in ((mutual, "alice"), (alice, "mutual"), (fan, "alice"), (alice, "followed")):
        assert (await follow(client, who.headers, whom)).status_code == 204

    assert await can_use(client, mutual, "alice")
    assert not await can_use(client, fan, "alice")
    assert not await can_use(client, followed, "alice")
    assert not await can_use(client, stranger, "alice")
    assert (await availability(client, mutual, "alice"))["permission"] == "mutuals"


async def test_everyone_lets_any_signed_in_user_in_but_never_across_a_block(client, users, cameos):
    alice = await users.create("alice")
    anyone = await users.create("anyone")
    blocked = await users.create("blocked")  # alice blocks them
    blocker = await users.create("blocker")  # they block alice
    await cameos.active(alice, permission=Permission.EVERYONE)
    assert await can_use(client, blocked, "alice")
    assert await can_use(client, blocker, "alice")
    assert (await block(client, alice.headers, "blocked")).status_code == 204
    assert (await block(client, blocker.headers, "alice")).status_code == 204

    assert await can_use(client, anyone, "alice")
    # The owner blocks them: alice's cameo does not exist for them.
    assert_problem(await client.get("/v1/users/alice/cameo", headers=blocked.headers), 404, "cameo_not_found")
    # They block the owner: they see it, and may not use it.
    assert await availability(client, blocker, "alice") == {
        "cameo_id": (await availability(client, anyone, "alice"))["cameo_id"],
        "permission": "everyone",
        "can_use": False,
    }


async def test_a_suspended_caller_may_not_cast(client, users, cameos, resources):
    alice = await users.create("alice")
    bob = await users.create("bob")
    await cameos.active(alice, permission=Permission.EVERYONE)
    await cameos.active(bob)
    await execute(
        resources,
        "UPDATE users SET suspended_until = now() + interval '1 day' WHERE id = :id",
        id=uuid.UUID(bob.id),
    )

    assert not await can_use(client, bob, "alice")
    assert not await can_use(client, bob, "bob")  # not even their own


async def test_only_active_cameos_can_be_cast(client, users, cameos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    await start(client, alice)  # waiting for its recording
    await recorded(client, bob)  # waiting for review
    revoked = await cameos.active(carol, permission=Permission.EVERYONE)
    assert (await client.post(f"/v1/cameos/{revoked}/revoke", headers=carol.headers)).status_code == 200
    viewer = await users.create("viewer")

    for caller in (viewer, alice):
        assert_problem(
            await client.get("/v1/users/alice/cameo", headers=caller.headers), 404, "cameo_not_found"
        )
    for caller in (viewer, bob):
        assert_problem(
            await client.get("/v1/users/bob/cameo", headers=caller.headers), 404, "cameo_not_found"
        )
    assert_problem(await client.get("/v1/users/carol/cameo", headers=viewer.headers), 404, "cameo_not_found")
    assert_problem(await client.get("/v1/users/nobody/cameo", headers=viewer.headers), 404, "cameo_not_found")
    assert_problem(await client.get("/v1/users/Bad%20Name/cameo", headers=viewer.headers), 404)


async def test_a_teens_cameo_acts_as_mutuals_at_most(client, users, cameos):
    teen = await users.create("teen", birthdate=years_ago(15))
    fan = await users.create("fan")
    await cameos.active(teen, permission=Permission.EVERYONE)  # stored before the rule applied

    assert await availability(client, fan, "teen") == {
        "cameo_id": (await availability(client, teen, "teen"))["cameo_id"],
        "permission": "mutuals",
        "can_use": False,
    }


# --- PATCH ---------------------------------------------------------------------------------------


async def test_patch_changes_permission_preferences_and_restrictions(client, users):
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]

    response = await client.patch(
        f"/v1/cameos/{cameo_id}",
        json={"permission": "mutuals", "preferences": "Always smiling", "restrictions": "No hats"},
        headers=alice.headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["permission"], body["preferences"], body["restrictions"]) == (
        "mutuals",
        "Always smiling",
        "No hats",
    )
    # Fields left out stay as they are.
    partial = await client.patch(f"/v1/cameos/{cameo_id}", json={"restrictions": ""}, headers=alice.headers)
    assert partial.status_code == 200
    assert (partial.json()["permission"], partial.json()["preferences"], partial.json()["restrictions"]) == (
        "mutuals",
        "Always smiling",
        "",
    )
    assert (await client.get("/v1/me/cameo", headers=alice.headers)).json() == partial.json()


async def test_patch_refuses_bad_input(client, users):
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]
    path = f"/v1/cameos/{cameo_id}"

    cases = [
        ({"permission": "friends"}, "permission"),
        ({"preferences": "x" * 1001}, "preferences"),
        ({"restrictions": "x" * 1001}, "restrictions"),
        ({"status": "active"}, "status"),
        ({"appearance_count": 5}, "appearance_count"),
        ({"preferences": 12}, "preferences"),
    ]
    for body, field in cases:
        problem = assert_problem(await client.patch(path, json=body, headers=alice.headers), 422)
        assert field in error_fields(problem), (body, problem)
    assert (
        await client.patch(path, json={"preferences": "x" * 1000}, headers=alice.headers)
    ).status_code == 200
    mine = (await client.get("/v1/me/cameo", headers=alice.headers)).json()
    assert mine["status"] == "awaiting_recording" and mine["permission"] == "only_me"


async def test_a_teen_may_not_open_their_cameo_to_everyone(client, users):
    teen = await users.create("teen", birthdate=years_ago(16))
    adult = await users.create("adult", birthdate=years_ago(18))
    teen_cameo = (await start(client, teen))["cameo"]["id"]
    adult_cameo = (await start(client, adult))["cameo"]["id"]

    refused = await client.patch(
        f"/v1/cameos/{teen_cameo}", json={"permission": "everyone"}, headers=teen.headers
    )

    assert_problem(refused, 422, "permission_not_allowed")
    assert (await client.get("/v1/me/cameo", headers=teen.headers)).json()["permission"] == "only_me"
    await set_permission(client, teen, teen_cameo, "mutuals")
    await set_permission(client, adult, adult_cameo, "everyone")


async def test_the_deployment_may_allow_teens_to_open_to_everyone(servers, simulator, tmp_path: Path, users):
    settings = make_settings(
        servers, tmp_path, simulator, teen_cameos_for_everyone=True, worker_in_process=False
    )
    teen = await users.create("teen", birthdate=years_ago(15))
    fan = await users.create("fan")
    app = create_app(settings)
    async with serve_in_process(app) as client:
        cameo_id = (await start(client, teen))["cameo"]["id"]
        await set_permission(client, teen, cameo_id, "everyone")
        await execute(
            app.state.resources, "UPDATE cameos SET status = 'active' WHERE id = :id", id=uuid.UUID(cameo_id)
        )
        assert await availability(client, fan, "teen") == {
            "cameo_id": cameo_id,
            "permission": "everyone",
            "can_use": True,
        }


# --- the approved list ---------------------------------------------------------------------------


async def test_the_approved_list(client, users):
    alice = await users.create("alice")
    await users.create("bob")
    await users.create("carol")
    cameo_id = (await start(client, alice))["cameo"]["id"]
    base = f"/v1/cameos/{cameo_id}/approved"

    for name in ("carol", "bob", "bob"):  # idempotent
        response = await client.put(f"{base}/{name}", headers=alice.headers)
        assert response.status_code == 204, response.text
    assert (await client.get("/v1/me/cameo", headers=alice.headers)).json()["approved"] == ["bob", "carol"]

    for _ in range(2):  # idempotent
        assert (await client.delete(f"{base}/bob", headers=alice.headers)).status_code == 204
    assert (await client.get("/v1/me/cameo", headers=alice.headers)).json()["approved"] == ["carol"]

    assert_problem(await client.put(f"{base}/nobody", headers=alice.headers), 404, "user_not_found")
    assert_problem(await client.delete(f"{base}/nobody", headers=alice.headers), 404, "user_not_found")
    assert_problem(await client.put(f"{base}/alice", headers=alice.headers), 422, "cannot_approve_self")


async def test_someone_who_blocks_the_owner_cannot_be_approved(client, users):
    alice = await users.create("alice")
    blocker = await users.create("blocker")
    await users.create("blocked")
    cameo_id = (await start(client, alice))["cameo"]["id"]
    await block(client, blocker.headers, "alice")
    await block(client, alice.headers, "blocked")

    put = await client.put(f"/v1/cameos/{cameo_id}/approved/blocker", headers=alice.headers)
    assert_problem(put, 404, "user_not_found")
    # One the owner blocks may be listed (and never casts while the block stands).
    assert (
        await client.put(f"/v1/cameos/{cameo_id}/approved/blocked", headers=alice.headers)
    ).status_code == 204


async def test_the_approved_list_has_a_cap(client, users, monkeypatch):
    monkeypatch.setattr("cameo.service.controls.MAX_APPROVED", 2)
    alice = await users.create("alice")
    for name in ("bob", "carol", "dave"):
        await users.create(name)
    cameo_id = (await start(client, alice))["cameo"]["id"]
    base = f"/v1/cameos/{cameo_id}/approved"
    assert (await client.put(f"{base}/bob", headers=alice.headers)).status_code == 204
    assert (await client.put(f"{base}/carol", headers=alice.headers)).status_code == 204

    assert_problem(await client.put(f"{base}/dave", headers=alice.headers), 422, "approved_list_full")
    assert (await client.put(f"{base}/bob", headers=alice.headers)).status_code == 204  # already there
    assert (await client.get("/v1/me/cameo", headers=alice.headers)).json()["approved"] == ["bob", "carol"]


async def test_approving_needs_an_active_account(client, users, resources):
    alice = await users.create("alice")
    await users.create("bob")
    cameo_id = (await start(client, alice))["cameo"]["id"]
    await client.put(f"/v1/cameos/{cameo_id}/approved/bob", headers=alice.headers)
    await execute(
        resources,
        "UPDATE users SET suspended_until = now() + interval '1 day' WHERE id = :id",
        id=uuid.UUID(alice.id),
    )

    assert_problem(
        await client.put(f"/v1/cameos/{cameo_id}/approved/bob", headers=alice.headers),
        403,
        "account_suspended",
    )
    assert_problem(
        await client.patch(f"/v1/cameos/{cameo_id}", json={"permission": "everyone"}, headers=alice.headers),
        403,
        "account_suspended",
    )
    # Narrowing stays allowed.
    assert (
        await client.delete(f"/v1/cameos/{cameo_id}/approved/bob", headers=alice.headers)
    ).status_code == 204
