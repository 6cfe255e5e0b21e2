"""Revoking a cameo while generations that use it are queued or running: they end `cancelled`
(cameo_revoked) without a draft, even when the provider finishes the video, and the ledger and the
progress stream say so."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import msgspec
import pytest

from app.resources import Resources
from app.storage import MediaNotFound
from cameo.models import Permission
from generation.simulator import SimulatorHandle
from tests.accounts.helpers import assert_problem
from tests.cameo.factories import CameoFactory
from tests.cameo.helpers import fresh_simulator, generation_row, ledger  # noqa: F401 - a fixture
from tests.factories import Actor, UserFactory
from tests.feed.factories import VideoFactory
from tests.feed.helpers import publish
from tests.generation.helpers import generate, simulator_control, wait_until_done

pytestmark = pytest.mark.usefixtures("fresh_simulator")


async def attempts_of(resources: Resources, generation_id: str) -> int:
    return int((await generation_row(resources, generation_id)).attempts)


async def until(condition: Any, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def revoke(client: httpx.AsyncClient, owner: Actor, cameo_id: str) -> dict[str, Any]:
    response = await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=owner.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "revoked"
    return body


async def ledger_events(client: httpx.AsyncClient, owner: Actor, generation_id: str) -> list[tuple[str, str]]:
    return [
        (entry["event"], entry["basis"])
        for entry in reversed(await ledger(client, owner))
        if entry["generation_id"] == generation_id
    ]


async def drafts(client: httpx.AsyncClient, actor: Actor) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.get("/v1/me/drafts", headers=actor.headers)).json()["items"]
    return items


async def stats(simulator: SimulatorHandle) -> dict[str, Any]:
    return await simulator_control(simulator, "stats")


async def test_revoking_cancels_a_submitted_generation_at_once_even_though_the_provider_finished(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
    resources: Resources,
) -> None:
    owner, caster = await users.create("olivia"), await users.create("carl")
    cameo_id = await cameos.active(owner, permission=Permission.EVERYONE)
    # The provider makes the video, but the first download fails and is retried 3 s later.
    await simulator_control(simulator, "faults", {"operation": "content", "status": 503, "retry_after": 3})
    generation = await generate(client, caster.headers, cameos=["olivia"])

    async def download_refused() -> bool:
        return await attempts_of(resources, generation["id"]) >= 2  # the submit, then the failed download

    await until(download_refused)
    assert (await stats(simulator))["jobs_created"] == 1

    events: list[tuple[str, dict[str, Any]]] = []

    async def follow_stream() -> None:
        async with client.stream(
            "GET", f"/v1/generations/{generation['id']}/events", headers=caster.headers
        ) as stream:
            event = "message"
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    events.append((event, msgspec.json.decode(line.partition(":")[2].strip())))

    # (The in-process transport hands the stream over once it ends.)
    listener = asyncio.create_task(follow_stream())
    await asyncio.sleep(0.3)
    await revoke(client, owner, cameo_id)

    # Cancelled in the revoking transaction: no waiting for the job.
    now = (await client.get(f"/v1/generations/{generation['id']}", headers=caster.headers)).json()
    assert now["status"] == "cancelled", now
    assert now["error"]["code"] == "cameo_revoked"
    # The stream ends with the cancellation.
    await asyncio.wait_for(listener, timeout=15)
    assert [event for event, _ in events][-1] == "cancelled"
    assert events[-1][1]["error"]["code"] == "cameo_revoked"

    # The retry comes and goes: the video the provider made never becomes a draft.
    await asyncio.sleep(3.5)
    done = await wait_until_done(client, caster.headers, generation["id"])
    assert (done["status"], done["video_id"]) == ("cancelled", None)
    assert await drafts(client, caster) == []
    assert (await stats(simulator))["requests"]["content"] == 1  # only the refused download
    assert await ledger_events(client, owner, generation["id"]) == [
        ("requested", "everyone"),
        ("submitted", "everyone"),
        ("cancelled", "revoked"),
    ]
    # Nobody may start a new one with it.
    refused = await client.post(
        "/v1/generations", json={"prompt": "again", "cameos": ["olivia"]}, headers=caster.headers
    )
    assert refused.status_code == 403


# The step is inside a provider call for 4 s: asking it to make the video (the provider takes the
# job at once and answers late), or downloading the video it made.
@pytest.mark.parametrize("operation", ["create", "content"])
async def test_a_revocation_during_a_provider_call_does_not_wait_for_it_and_no_draft_is_made(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
    resources: Resources,
    operation: str,
) -> None:
    owner, caster = await users.create("olivia"), await users.create("carl")
    cameo_id = await cameos.active(owner, permission=Permission.EVERYONE)
    await simulator_control(simulator, "faults", {"operation": operation, "delay_seconds": 4})
    generation = await generate(client, caster.headers, cameos=["olivia"])

    async def calling() -> bool:
        return int((await stats(simulator))["requests"][operation]) >= 1

    await until(calling)
    started = time.monotonic()
    await revoke(client, owner, cameo_id)
    assert time.monotonic() - started < 3.0  # the revocation did not wait for the provider

    done = await wait_until_done(client, caster.headers, generation["id"])
    assert (done["status"], done["error"]["code"], done["video_id"]) == ("cancelled", "cameo_revoked", None)
    assert await drafts(client, caster) == []
    # Nothing downloaded is kept (deleted once the cancellation has committed).

    async def deleted() -> bool:
        try:
            await resources.storage.get(f"videos/{generation['id']}/video.mp4")
        except MediaNotFound:
            return True
        return False

    await until(deleted, within=10)
    assert await ledger_events(client, owner, generation["id"]) == [
        ("requested", "everyone"),
        ("submitted", "everyone"),
        ("cancelled", "revoked"),
    ]
    mine = await client.get("/v1/me/appearances", headers=owner.headers)
    assert mine.status_code == 200, mine.text
    assert mine.json()["items"] == []


async def test_revoking_before_submission_means_the_provider_is_never_asked(
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
    cameo_id = await cameos.active(owner, permission=Permission.EVERYONE)
    await cameos.active(other, permission=Permission.EVERYONE)
    await simulator_control(simulator, "faults", {"operation": "create", "status": 503, "retry_after": 3})
    generation = await generate(client, caster.headers, cameos=["oscar", "olivia"])

    async def first_try_failed() -> bool:
        return await attempts_of(resources, generation["id"]) >= 1

    await until(first_try_failed)
    await revoke(client, owner, cameo_id)
    await asyncio.sleep(3.5)  # past the retry

    done = await wait_until_done(client, caster.headers, generation["id"])
    assert (done["status"], done["error"]["code"]) == ("cancelled", "cameo_revoked")
    assert (await stats(simulator))["jobs_created"] == 0
    assert await ledger_events(client, owner, generation["id"]) == [
        ("requested", "everyone"),
        ("cancelled", "revoked"),
    ]
    # The other cameo's owner sees why their cameo was not used after all.
    assert await ledger_events(client, other, generation["id"]) == [
        ("requested", "everyone"),
        ("cancelled", "another_cameo_revoked"),
    ]


async def test_revoking_leaves_finished_generations_and_others_alone(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
) -> None:
    owner, caster = await users.create("olivia"), await users.create("carl")
    cameo_id = await cameos.active(owner, permission=Permission.EVERYONE)
    made = await generate(client, caster.headers, cameos=["olivia"])
    finished = await wait_until_done(client, caster.headers, made["id"])
    assert finished["status"] == "completed"
    # One without the cameo, still in progress when the cameo is revoked.
    await simulator_control(simulator, "faults", {"operation": "create", "status": 503, "retry_after": 2})
    unrelated = await generate(client, caster.headers)
    await revoke(client, owner, cameo_id)

    assert (await wait_until_done(client, caster.headers, made["id"]))["status"] == "completed"
    assert (await wait_until_done(client, caster.headers, unrelated["id"]))["status"] == "completed"
    assert {draft["id"] for draft in await drafts(client, caster)} == {
        finished["video_id"],
        (await wait_until_done(client, caster.headers, unrelated["id"]))["video_id"],
    }


async def test_a_draft_made_before_a_revocation_cannot_be_published_after_it(
    client: httpx.AsyncClient, users: UserFactory, cameos: CameoFactory, videos: VideoFactory
) -> None:
    """A revocation stops every new use, and a post is one; a narrower permission does not undo a
    use that was allowed when the video was made."""
    alice, bob, carol = [await users.create(name) for name in ("alice", "bob", "carol")]
    bobs = await cameos.active(bob, permission=Permission.EVERYONE)
    carols = await cameos.active(carol, permission=Permission.EVERYONE)
    with_bob = await videos.draft(alice, appearances=[(bob, bobs)])
    with_carol = await videos.draft(alice, appearances=[(carol, carols)])
    await revoke(client, bob, bobs)
    narrowed = await client.patch(
        f"/v1/cameos/{carols}", json={"permission": "only_me"}, headers=carol.headers
    )
    assert narrowed.status_code == 200, narrowed.text

    refused = await publish(client, alice, with_bob.id)
    assert_problem(refused, 409, "cameo_revoked")
    assert [item["id"] for item in await drafts(client, alice)].count(with_bob.id) == 1
    assert (await publish(client, alice, with_carol.id)).status_code == 200
