"""Casting cameos in generations, through HTTP with the simulator: who may cast at each permission
level (and who may not), the second check right before the provider is asked, the consent ledger,
the owner's notification, the owner's wishes in the prompt the provider receives, and the provider
character made when a cameo is approved."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.db import in_transaction
from app.resources import Resources
from cameo.models import Cameo, Permission
from generation.cameos import register_character, sweep_unregistered
from generation.jobs import register_cameo
from generation.provider import create_provider
from generation.simulator import SimulatorHandle
from tests.accounts.helpers import assert_problem, block, follow
from tests.cameo.factories import CameoFactory
from tests.cameo.helpers import (  # noqa: F401 - a fixture
    character_of,
    fresh_simulator,
    generation_row,
    ledger,
)
from tests.cameo.media import clip, png
from tests.factories import Actor, UserFactory
from tests.feed.helpers import notifications
from tests.generation.helpers import generate, simulator_control, wait_until_done
from tests.processes import eventually
from tests.screening.helpers import suspend

Setup = Callable[[Actor, Actor, UserFactory, httpx.AsyncClient], Awaitable[None]]


pytestmark = pytest.mark.usefixtures("fresh_simulator")


def events_of(entries: list[dict[str, Any]], generation_id: str) -> list[str]:
    """The ledger events of one generation, oldest first."""
    return [entry["event"] for entry in reversed(entries) if entry["generation_id"] == generation_id]


async def prompt_sent(resources: Resources, simulator: SimulatorHandle, generation_id: str) -> str:
    """The prompt the simulator received for this generation's video."""
    row = await generation_row(resources, generation_id)
    assert row.provider_video_id is not None
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(
            f"{simulator.url}/videos/{row.provider_video_id}", headers={"Authorization": "Bearer test"}
        )
    response.raise_for_status()
    prompt: str = response.json()["prompt"]
    return prompt


async def set_permission(client: httpx.AsyncClient, owner: Actor, cameo_id: str, permission: str) -> None:
    response = await client.patch(
        f"/v1/cameos/{cameo_id}", json={"permission": permission}, headers=owner.headers
    )
    assert response.status_code == 200, response.text


async def cast(client: httpx.AsyncClient, caster: Actor, *usernames: str, **body: Any) -> httpx.Response:
    body.setdefault("prompt", "two friends dancing in the rain")
    return await client.post(
        "/v1/generations", json={**body, "cameos": list(usernames)}, headers=caster.headers
    )


async def _nothing(owner: Actor, caster: Actor, users: UserFactory, client: httpx.AsyncClient) -> None:
    return None


async def _mutual(owner: Actor, caster: Actor, users: UserFactory, client: httpx.AsyncClient) -> None:
    assert (await follow(client, owner.headers, caster.username)).status_code == 204
    assert (await follow(client, caster.headers, owner.username)).status_code == 204


async def _caster_follows_only(
    owner: Actor, caster: Actor, users: UserFactory, client: httpx.AsyncClient
) -> None:
    assert (await follow(client, caster.headers, owner.username)).status_code == 204


async def _owner_follows_only(
    owner: Actor, caster: Actor, users: UserFactory, client: httpx.AsyncClient
) -> None:
    assert (await follow(client, owner.headers, caster.username)).status_code == 204


ALLOWED: list[tuple[str, bool, Setup, str]] = [
    # permission, caster on the approved list, relationship, the ledger's basis
    ("approved", True, _nothing, "approved"),
    ("mutuals", False, _mutual, "mutuals"),
    ("everyone", False, _nothing, "everyone"),
]

REFUSED: list[tuple[str, bool, Setup]] = [
    ("only_me", False, _mutual),  # even a mutual may not
    ("approved", False, _mutual),  # not on the list
    ("mutuals", False, _caster_follows_only),
    ("mutuals", False, _owner_follows_only),
    ("mutuals", True, _caster_follows_only),  # being on the list does not make one a mutual
]


@pytest.mark.parametrize(("permission", "listed", "setup", "basis"), ALLOWED)
async def test_a_permitted_caster_makes_a_draft_with_the_cameo(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    permission: str,
    listed: bool,
    setup: Setup,
    basis: str,
) -> None:
    owner, caster = await users.create("olivia"), await users.create("carl")
    cameo_id = await cameos.active(owner, permission=permission, approved=[caster] if listed else [])
    await setup(owner, caster, users, client)

    accepted = await cast(client, caster, "olivia")
    assert accepted.status_code == 202, accepted.text
    generation = accepted.json()
    assert generation["cameos"] == ["olivia"]
    done = await wait_until_done(client, caster.headers, generation["id"])
    assert done["status"] == "completed", done

    video = await client.get(f"/v1/videos/{done['video_id']}", headers=caster.headers)
    assert video.status_code == 200
    assert video.json()["cameos"] == ["olivia"]
    mine = (await client.get("/v1/me/cameo", headers=owner.headers)).json()
    assert mine["id"] == cameo_id
    assert mine["appearance_count"] == 1
    # The caster's draft is the owner's to see, in their appearances and by id.
    appearances = (await client.get("/v1/me/appearances", headers=owner.headers)).json()["items"]
    assert [(item["id"], item["status"]) for item in appearances] == [(done["video_id"], "draft")]
    as_owner = await client.get(f"/v1/videos/{done['video_id']}", headers=owner.headers)
    assert as_owner.status_code == 200, as_owner.text

    entries = await ledger(client, owner)
    assert events_of(entries, generation["id"]) == ["requested", "submitted", "appeared"]
    for entry in entries:
        assert (entry["caster"], entry["permission"], entry["basis"]) == ("carl", permission, basis)
    assert [entry["video_id"] for entry in entries if entry["event"] == "appeared"] == [done["video_id"]]

    told = [item for item in await notifications(client, owner) if item["kind"] == "cameo_used"]
    assert len(told) == 1
    assert told[0]["subject"]["type"] == "video"
    assert told[0]["subject"]["id"] == done["video_id"]
    assert told[0]["actor"]["username"] == "carl"
    # The caster is not told about their own casting.
    assert not [item for item in await notifications(client, caster) if item["kind"] == "cameo_used"]


@pytest.mark.parametrize(("permission", "listed", "setup"), REFUSED)
async def test_a_caster_the_permission_does_not_cover_is_refused(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    permission: str,
    listed: bool,
    setup: Setup,
) -> None:
    owner, caster = await users.create("olivia"), await users.create("carl")
    await cameos.active(owner, permission=permission, approved=[caster] if listed else [])
    await setup(owner, caster, users, client)

    assert_problem(await cast(client, caster, "olivia"), 403, "cameo_permission_denied")
    # Nothing was queued, nothing spent, nothing in the owner's ledger.
    assert (await client.get("/v1/generations", headers=caster.headers)).json()["items"] == []
    assert (await client.get("/v1/me/quota", headers=caster.headers)).json()["used"] == 0
    assert await ledger(client, owner) == []


@pytest.mark.parametrize("permission", [p.value for p in Permission])
async def test_the_owner_may_always_cast_their_own_cameo(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, permission: str
) -> None:
    owner = await users.create("olivia")
    await cameos.active(owner, permission=permission)
    accepted = await cast(client, owner, "olivia")
    assert accepted.status_code == 202, accepted.text
    done = await wait_until_done(client, owner.headers, accepted.json()["id"])
    assert done["status"] == "completed", done
    entries = await ledger(client, owner)
    assert [entry["basis"] for entry in entries] == ["owner", "owner", "owner"]
    # One's own cameo is no news to oneself.
    assert not [item for item in await notifications(client, owner) if item["kind"] == "cameo_used"]


@pytest.mark.parametrize("blocker", ["owner", "caster"])
async def test_a_block_either_way_refuses_even_everyone(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, blocker: str
) -> None:
    owner, caster = await users.create("olivia"), await users.create("carl")
    await cameos.active(owner, permission=Permission.EVERYONE, approved=[caster])
    if blocker == "owner":
        assert (await block(client, owner.headers, "carl")).status_code == 204
    else:
        assert (await block(client, caster.headers, "olivia")).status_code == 204
    assert_problem(await cast(client, caster, "olivia"), 403, "cameo_permission_denied")


async def test_a_suspended_caster_may_not_cast(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, resources: Resources
) -> None:
    owner, caster = await users.create("olivia"), await users.create("carl")
    await cameos.active(owner, permission=Permission.EVERYONE)
    await suspend(resources, caster, datetime.now(UTC) + timedelta(hours=1))
    assert_problem(await cast(client, caster, "olivia"), 403, "account_suspended")
    await suspend(resources, caster, None)
    accepted = await cast(client, caster, "olivia")
    assert accepted.status_code == 202
    assert (await wait_until_done(client, caster.headers, accepted.json()["id"]))["status"] == "completed"


async def test_cameos_that_are_not_active_or_do_not_exist_are_refused(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory
) -> None:
    pending, revoked = await users.create("penny"), await users.create("rory")
    started = await client.post("/v1/cameos", headers=pending.headers)
    assert started.status_code == 201, started.text
    cameo_id = await cameos.active(revoked, permission=Permission.EVERYONE)
    assert (await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=revoked.headers)).status_code == 200

    # Not even their owners may cast them; and an unknown name gets the same answer.
    for caster, name in ((pending, "penny"), (revoked, "rory"), (pending, "rory"), (pending, "nobody_here")):
        assert_problem(await cast(client, caster, name), 403, "cameo_permission_denied")


async def test_at_most_two_cameos_each_once(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory
) -> None:
    people = [await users.create(name) for name in ("anna", "bert", "cleo")]
    for person in people:
        await cameos.active(person, permission=Permission.EVERYONE)
    caster = await users.create("carl")
    assert_problem(await cast(client, caster, "anna", "bert", "cleo"), 422, "too_many_cameos")
    assert_problem(await cast(client, caster, "anna", "anna"), 422, "validation_failed")
    # Checked before the permission: three cameos nobody may use are still too many.
    assert_problem(await cast(client, caster, "x_one", "x_two", "x_three"), 422, "too_many_cameos")
    # One refused cameo refuses the generation.
    await users.create("dora")
    assert_problem(await cast(client, caster, "anna", "dora"), 403, "cameo_permission_denied")

    accepted = await cast(client, caster, "anna", "bert")
    assert accepted.status_code == 202, accepted.text
    done = await wait_until_done(client, caster.headers, accepted.json()["id"])
    assert done["status"] == "completed", done
    assert done["cameos"] == ["anna", "bert"]
    for person in people[:2]:
        assert events_of(await ledger(client, person), done["id"]) == ["requested", "submitted", "appeared"]
        assert [item["kind"] for item in await notifications(client, person)] == ["cameo_used"]


async def test_an_idempotent_replay_answers_before_the_cameo_check(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, simulator: SimulatorHandle
) -> None:
    owner, caster = await users.create("olivia"), await users.create("carl")
    cameo_id = await cameos.active(owner, permission=Permission.EVERYONE)
    # The first try to create fails and is retried 3 s later, after the permission has changed.
    await simulator_control(simulator, "faults", {"operation": "create", "status": 503, "retry_after": 3})
    headers = {**caster.headers, "Idempotency-Key": "cast-once"}
    body = {"prompt": "a picnic", "cameos": ["olivia"]}
    first = await client.post("/v1/generations", json=body, headers=headers)
    assert first.status_code == 202, first.text
    await set_permission(client, owner, cameo_id, "only_me")
    again = await client.post("/v1/generations", json=body, headers=headers)
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    # A new request is checked afresh.
    assert_problem(await cast(client, caster, "olivia"), 403, "cameo_permission_denied")
    # The first one is checked again before it is sent, and stops there.
    done = await wait_until_done(client, caster.headers, first.json()["id"])
    assert (done["status"], done["error"]["code"]) == ("cancelled", "cameo_permission_denied")


async def test_a_permission_change_before_submission_cancels_and_the_provider_is_never_asked(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
    resources: Resources,
) -> None:
    owner, caster = await users.create("olivia"), await users.create("carl")
    cameo_id = await cameos.active(owner, permission=Permission.EVERYONE)
    # The first try to create fails (and is retried 3 s later): the permission changes meanwhile.
    await simulator_control(simulator, "faults", {"operation": "create", "status": 503, "retry_after": 3})
    generation = await generate(client, caster.headers, cameos=["olivia"])
    for _ in range(100):
        if (await generation_row(resources, generation["id"])).attempts >= 1:
            break
        await asyncio.sleep(0.05)
    assert (await simulator_control(simulator, "stats"))["faults_served"] == 1
    await set_permission(client, owner, cameo_id, "only_me")

    done = await wait_until_done(client, caster.headers, generation["id"])
    assert done["status"] == "cancelled", done
    assert done["error"]["code"] == "cameo_permission_denied"
    assert done["video_id"] is None
    stats = await simulator_control(simulator, "stats")
    assert stats["jobs_created"] == 0
    assert stats["requests"]["create"] == 1  # the refused try only
    entries = await ledger(client, owner)
    assert events_of(entries, generation["id"]) == ["requested", "refused"]
    refused = entries[0]
    assert (refused["permission"], refused["basis"]) == ("only_me", "not_permitted")
    assert (await client.get("/v1/me/drafts", headers=caster.headers)).json()["items"] == []


async def test_a_suspension_before_submission_cancels(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
    resources: Resources,
) -> None:
    owner, caster = await users.create("olivia"), await users.create("carl")
    await cameos.active(owner, permission=Permission.EVERYONE)
    await simulator_control(simulator, "faults", {"operation": "create", "status": 503, "retry_after": 3})
    generation = await generate(client, caster.headers, cameos=["olivia"])
    for _ in range(100):
        if (await generation_row(resources, generation["id"])).attempts >= 1:
            break
        await asyncio.sleep(0.05)
    await suspend(resources, caster, datetime.now(UTC) + timedelta(days=1))
    done = await wait_until_done(client, caster.headers, generation["id"])
    assert (done["status"], done["error"]["code"]) == ("cancelled", "cameo_permission_denied")
    assert (await simulator_control(simulator, "stats"))["jobs_created"] == 0
    assert [entry["basis"] for entry in await ledger(client, owner)] == ["suspended", "everyone"]


async def test_the_owners_wishes_travel_with_the_prompt(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
    resources: Resources,
) -> None:
    owner, other, caster = (
        await users.create("olivia"),
        await users.create("oscar"),
        await users.create("carl"),
    )
    await cameos.active(
        owner,
        permission=Permission.EVERYONE,
        preferences="Always smiling,\nwearing a red scarf",
        restrictions="no swimming; no hats",
    )
    other_id = await cameos.active(other, permission=Permission.EVERYONE)

    async def with_character(session: Any) -> None:
        await session.execute(
            update(Cameo).where(Cameo.id == uuid.UUID(other_id)).values(provider_character_id="char_oscar123")
        )

    await in_transaction(resources.session_factory, with_character)
    accepted = await cast(client, caster, "olivia", "oscar", prompt="a walk on the pier")
    assert accepted.status_code == 202, accepted.text
    generation = accepted.json()
    done = await wait_until_done(client, caster.headers, generation["id"])
    assert done["status"] == "completed", done

    sent = await prompt_sent(resources, simulator, generation["id"])
    assert sent.startswith("a walk on the pier\n")
    assert "- olivia; wishes: Always smiling, wearing a red scarf; must not: no swimming; no hats" in sent
    assert "- @char_oscar123" in sent
    assert "oscar;" not in sent and "- oscar" not in sent  # a registered cameo goes by its character
    # The user's prompt is kept as written in our records.
    assert done["prompt"] == "a walk on the pier"
    video = (await client.get(f"/v1/videos/{done['video_id']}", headers=caster.headers)).json()
    assert video["prompt"] == "a walk on the pier"


async def test_a_remix_carries_the_wishes_too(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
    resources: Resources,
) -> None:
    caster = await users.create("carl")
    owner = await users.create("olivia")
    await cameos.active(owner, permission=Permission.EVERYONE, restrictions="never in uniform")
    first = await generate(client, caster.headers, prompt="a market at dawn", seconds=4)
    source = await wait_until_done(client, caster.headers, first["id"])
    assert source["status"] == "completed", source
    accepted = await cast(
        client, caster, "olivia", prompt="now with olivia", remix_of=source["video_id"], seconds=4
    )
    assert accepted.status_code == 202, accepted.text
    done = await wait_until_done(client, caster.headers, accepted.json()["id"])
    assert done["status"] == "completed", done
    assert (await simulator_control(simulator, "stats"))["remixes_created"] == 1
    sent = await prompt_sent(resources, simulator, done["id"])
    assert sent.startswith("now with olivia\n")
    assert "- olivia; must not: never in uniform" in sent


async def _recording(resources: Resources, cameo_id: str, data: bytes, content_type: str) -> None:
    key = f"cameos/{cameo_id}/recording"
    await resources.storage.put(key, data, content_type)

    async def attach(session: Any) -> None:
        await session.execute(
            update(Cameo)
            .where(Cameo.id == uuid.UUID(cameo_id))
            .values(recording_key=key, recording_content_type=content_type, recorded_at=datetime.now(UTC))
        )

    await in_transaction(resources.session_factory, attach)


async def test_an_approved_cameo_becomes_a_provider_character_once(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
    resources: Resources,
) -> None:
    owner = await users.create("olivia")
    cameo_id = await cameos.active(owner, permission=Permission.EVERYONE)
    await _recording(resources, cameo_id, clip(3.0), "video/mp4")

    assert await register_cameo(resources, cameo_id) == {}
    character = await character_of(resources, cameo_id)
    assert character is not None and character.startswith("char_")
    async with httpx.AsyncClient(timeout=5) as http:
        found = await http.get(
            f"{simulator.url}/videos/characters/{character}", headers={"Authorization": "Bearer t"}
        )
    assert found.json()["name"] == "olivia"
    # Idempotent: a second run leaves it alone and asks the provider nothing.
    assert await register_cameo(resources, cameo_id) == {}
    assert await character_of(resources, cameo_id) == character
    assert (await simulator_control(simulator, "stats"))["characters_created"] == 1

    # Casting it now names the character in the prompt.
    caster = await users.create("carl")
    accepted = await cast(client, caster, "olivia")
    assert accepted.status_code == 202
    done = await wait_until_done(client, caster.headers, accepted.json()["id"])
    assert f"- @{character}" in await prompt_sent(resources, simulator, done["id"])


async def test_a_refused_character_is_given_up_quietly_and_a_retryable_error_retried(
    users: UserFactory, cameos: CameoFactory, simulator: SimulatorHandle, resources: Resources
) -> None:
    owner = await users.create("olivia")
    cameo_id = await cameos.active(owner)
    await _recording(resources, cameo_id, png(), "video/mp4")  # not a video: the provider refuses
    assert await register_cameo(resources, cameo_id) == {}
    assert await character_of(resources, cameo_id) is None

    other = await users.create("oscar")
    other_id = await cameos.active(other)
    await _recording(resources, other_id, clip(3.0), "video/mp4")
    await simulator_control(simulator, "faults", {"operation": "characters", "status": 503, "retry_after": 7})
    again = await register_cameo(resources, other_id)
    assert again.get("run_again_in", 0) >= 7
    assert await character_of(resources, other_id) is None
    assert await register_cameo(resources, other_id) == {}
    assert await character_of(resources, other_id) is not None
    assert (await simulator_control(simulator, "stats"))["characters_created"] == 1


async def test_a_registration_whose_answer_was_lost_is_retried_into_the_same_character(
    users: UserFactory, cameos: CameoFactory, simulator: SimulatorHandle, resources: Resources
) -> None:
    """The provider made the character but its answer came too late (the call timed out): the
    retry carries the same Idempotency-Key, so it gets that character rather than a second."""
    owner = await users.create("olivia")
    cameo_id = await cameos.active(owner)
    await _recording(resources, cameo_id, clip(3.0), "video/mp4")
    impatient = create_provider(resources.settings.replace(provider_timeout_seconds=0.5))
    try:
        await simulator_control(simulator, "faults", {"operation": "characters", "delay_seconds": 2})
        lost = await register_character(resources, impatient, uuid.UUID(cameo_id))
        assert lost.get("run_again_in", 0) > 0, lost
        assert await character_of(resources, cameo_id) is None
        assert await register_character(resources, impatient, uuid.UUID(cameo_id)) == {}
    finally:
        await impatient.close()
    character = await character_of(resources, cameo_id)
    stats = await simulator_control(simulator, "stats")
    assert (stats["requests"]["characters"], stats["characters_created"]) == (2, 1)
    async with httpx.AsyncClient(timeout=5) as http:
        found = await http.get(
            f"{simulator.url}/videos/characters/{character}", headers={"Authorization": "Bearer t"}
        )
    assert found.json()["name"] == "olivia"


async def _registration_times(
    resources: Resources, cameo_id: str, approved_ago: timedelta, given_up_ago: timedelta | None = None
) -> None:
    now = datetime.now(UTC)
    values: dict[str, Any] = {"reviewed_at": now - approved_ago}
    if given_up_ago is not None:
        values["provider_character_given_up_at"] = now - given_up_ago

    async def change(session: Any) -> None:
        await session.execute(update(Cameo).where(Cameo.id == uuid.UUID(cameo_id)).values(**values))

    await in_transaction(resources.session_factory, change)


async def test_a_registration_whose_job_was_lost_is_found_by_the_sweep(
    users: UserFactory, cameos: CameoFactory, simulator: SimulatorHandle, resources: Resources
) -> None:
    """A cameo approved a while ago with no character and no job (a flushed Redis, a retry whose
    re-enqueue failed) is registered by the sweep. Left alone: one just approved (its own job has
    that to do), one approved longer ago than registrations are tried, and one the provider refused,
    until it is approved again."""
    await simulator_control(simulator, "reset")
    made = {}
    for name, data in (("lost", clip(3.0)), ("fresh", clip(3.0)), ("stale", clip(3.0)), ("refused", png())):
        made[name] = await cameos.active(await users.create(name))
        await _recording(resources, made[name], data, "video/mp4")
    await _registration_times(resources, made["lost"], timedelta(minutes=10))
    await _registration_times(resources, made["stale"], timedelta(hours=7))
    await _registration_times(resources, made["refused"], timedelta(minutes=10))
    assert await register_cameo(resources, made["refused"]) == {}  # not a video: refused, given up

    assert await sweep_unregistered(resources) == 1

    async def registered() -> bool:
        return await character_of(resources, made["lost"]) is not None

    await eventually(registered, within=15, what="the swept registration runs")
    for name in ("fresh", "stale", "refused"):
        assert await character_of(resources, made[name]) is None, name
    assert (await simulator_control(simulator, "stats"))["characters_created"] == 1

    # Approved again after it was given up (an appeal granted): it is tried again.
    await _registration_times(
        resources, made["refused"], timedelta(minutes=10), given_up_ago=timedelta(minutes=20)
    )
    assert await sweep_unregistered(resources) == 1


async def test_a_cameo_revoked_before_its_job_runs_is_not_registered(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
    resources: Resources,
) -> None:
    owner = await users.create("olivia")
    cameo_id = await cameos.active(owner)
    await _recording(resources, cameo_id, clip(3.0), "video/mp4")
    assert (await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=owner.headers)).status_code == 200
    assert await register_cameo(resources, cameo_id) == {}
    assert await character_of(resources, cameo_id) is None
    assert (await simulator_control(simulator, "stats"))["requests"]["characters"] == 0


async def test_a_block_after_submission_still_tells_the_owner_of_the_draft(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, simulator: SimulatorHandle
) -> None:
    owner, caster = await users.create("olivia"), await users.create("carl")
    await cameos.active(owner, permission=Permission.EVERYONE)
    # The download waits: the owner blocks the caster after the provider took the job.
    await simulator_control(simulator, "faults", {"operation": "content", "delay_seconds": 2})
    accepted = await cast(client, caster, "olivia")
    assert accepted.status_code == 202, accepted.text

    async def downloading() -> bool:
        stats = await simulator_control(simulator, "stats")
        return int(stats["requests"]["content"]) >= 1

    deadline = asyncio.get_running_loop().time() + 20
    while not await downloading():
        assert asyncio.get_running_loop().time() < deadline, "the download never started"
        await asyncio.sleep(0.05)
    assert (await block(client, owner.headers, "carl")).status_code == 204

    done = await wait_until_done(client, caster.headers, accepted.json()["id"])
    assert done["status"] == "completed", done  # a block after submission does not undo the use
    told = [item for item in await notifications(client, owner) if item["kind"] == "cameo_used"]
    assert len(told) == 1, told
    assert told[0]["actor"] is None  # nobody named across the block, but the owner is told
    assert told[0]["subject"]["id"] == done["video_id"]
