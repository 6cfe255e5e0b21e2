"""A generation of an account deleted while it is queued or running: from the deletion's 204 on
nothing more of it is asked of the provider, no draft is made, and no use of someone else's cameo
is recorded as submitted or appeared for it; its cameos' owners see it `cancelled`
(account_deleted) in their ledger. The background purge (which deletes the account's generations
and hides its videos, and so would hide what these tests look for) is held until each test has
looked, then let run."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from accounts import hooks as accounts_hooks
from app.resources import Resources
from app.storage import MediaNotFound
from cameo.models import Permission
from feed.models import Video
from generation.models import Generation
from generation.simulator import SimulatorHandle
from tests.accounts.test_account_deletion import delete_account, published_by, purge_finished
from tests.cameo.factories import CameoFactory
from tests.cameo.helpers import fresh_simulator, generation_row, ledger  # noqa: F401 - a fixture
from tests.factories import Actor, UserFactory
from tests.feed.factories import VideoFactory
from tests.generation.helpers import generate, image_bytes, simulator_control
from tests.locks import someone_waits_for_a_lock

pytestmark = pytest.mark.usefixtures("fresh_simulator")


@pytest.fixture
async def purge_held(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[asyncio.Event]:
    """The purge the deletion enqueues (run by the in-process worker) waits, before the domains'
    parts, until the event is set; set at the latest when the test ends."""
    release = asyncio.Event()
    original = accounts_hooks.purge

    async def held(resources: Resources, user_id: uuid.UUID) -> None:
        await release.wait()
        await original(resources, user_id)

    monkeypatch.setattr(accounts_hooks, "purge", held)
    yield release
    release.set()


async def until(condition: Any, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def stats(simulator: SimulatorHandle) -> dict[str, Any]:
    return await simulator_control(simulator, "stats")


async def ledger_events(client: httpx.AsyncClient, owner: Actor, generation_id: str) -> list[tuple[str, str]]:
    return [
        (entry["event"], entry["basis"])
        for entry in reversed(await ledger(client, owner))
        if entry["generation_id"] == generation_id
    ]


async def appearances(client: httpx.AsyncClient, owner: Actor) -> list[dict[str, Any]]:
    response = await client.get("/v1/me/appearances", headers=owner.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def status_of(resources: Resources, generation_id: str) -> tuple[str, str | None, uuid.UUID | None]:
    found = await generation_row(resources, generation_id)
    return found.status, found.error_code, found.video_id


async def videos_of(resources: Resources, author: Actor) -> int:
    async with resources.session_factory() as session:
        count = await session.scalar(
            select(func.count()).select_from(Video).where(Video.author_id == uuid.UUID(author.id))
        )
    return int(count or 0)


async def is_stored(resources: Resources, key: str) -> bool:
    try:
        await resources.storage.stat(key)
    except MediaNotFound:
        return False
    return True


async def purged(resources: Resources, release: asyncio.Event, actor: Actor) -> None:
    """Let the held purge run and wait for it: the account's generations are gone with it."""
    release.set()
    await purge_finished(resources, actor)
    async with resources.session_factory() as session:
        left = await session.scalar(
            select(func.count()).select_from(Generation).where(Generation.user_id == uuid.UUID(actor.id))
        )
    assert left == 0


async def test_the_deletion_cancels_queued_generations_and_the_provider_is_never_asked(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
    resources: Resources,
    purge_held: asyncio.Event,
) -> None:
    ada, bob = await users.create("ada"), await users.create("bob")
    await cameos.active(bob, permission=Permission.EVERYONE)
    # Both first tries are refused, the next ones due 2 s later: queued when the account goes.
    await simulator_control(
        simulator, "faults", {"operation": "create", "status": 503, "retry_after": 2, "times": 2}
    )
    with_cameo = await generate(client, ada.headers, cameos=["bob"])
    answered = await client.post(
        "/v1/generations",
        data={"prompt": "from a picture", "size": "720x1280", "seconds": "4"},
        files={"input_reference": ("start.png", image_bytes(72, 128), "image/png")},
        headers=ada.headers,
    )
    assert answered.status_code == 202, answered.text
    with_image = answered.json()

    async def both_refused_once() -> bool:
        rows = [await generation_row(resources, made["id"]) for made in (with_cameo, with_image)]
        return all(row.attempts >= 1 for row in rows)

    await until(both_refused_once)
    reference = (await generation_row(resources, with_image["id"])).input_reference_key
    assert reference is not None and await is_stored(resources, reference)

    assert (await delete_account(client, ada)).status_code == 204

    # Ended in the deleting request, the reference image deleted right after its commit.
    for generation in (with_cameo, with_image):
        assert await status_of(resources, generation["id"]) == ("cancelled", "account_deleted", None)
    assert not await is_stored(resources, reference)
    assert (await generation_row(resources, with_image["id"])).input_reference_key is None
    assert await ledger_events(client, bob, with_cameo["id"]) == [
        ("requested", "everyone"),
        ("cancelled", "account_deleted"),
    ]

    await asyncio.sleep(2.5)  # past the retries the provider asked for
    seen = await stats(simulator)
    assert (seen["jobs_created"], seen["requests"]["create"]) == (0, 2)  # only the refused first tries
    assert await appearances(client, bob) == []
    assert await videos_of(resources, ada) == 0
    assert await ledger_events(client, bob, with_cameo["id"]) == [
        ("requested", "everyone"),
        ("cancelled", "account_deleted"),
    ]
    await purged(resources, purge_held, ada)


async def test_a_step_holding_the_generation_during_the_deletion_stops_it_on_its_next_turn(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
    resources: Resources,
    purge_held: asyncio.Event,
) -> None:
    """The deletion skips a generation a step holds (that step may be inside a provider call) and
    does not wait for it; the step that comes next stops it before asking the provider."""
    ada, bob = await users.create("ada"), await users.create("bob")
    await cameos.active(bob, permission=Permission.EVERYONE)
    await simulator_control(simulator, "faults", {"operation": "create", "status": 503, "retry_after": 1.5})
    generation = await generate(client, ada.headers, cameos=["bob"])

    async def refused_once() -> bool:
        return (await generation_row(resources, generation["id"])).attempts >= 1

    await until(refused_once)
    async with resources.engine.connect() as step:
        # As a step holds it: the generation's row locked.
        await step.execute(
            select(Generation.id).where(Generation.id == uuid.UUID(generation["id"])).with_for_update()
        )
        deleted = await asyncio.wait_for(delete_account(client, ada), timeout=10)
        assert deleted.status_code == 204, deleted.text
        assert (await status_of(resources, generation["id"]))[0] == "queued"  # skipped
        # Its job's step, come back after the retry delay, waits for the row.
        await someone_waits_for_a_lock(resources)
        await step.rollback()

    async def ended() -> bool:
        return (await status_of(resources, generation["id"]))[0] != "queued"

    await until(ended)
    assert await status_of(resources, generation["id"]) == ("cancelled", "account_deleted", None)
    seen = await stats(simulator)
    assert (seen["jobs_created"], seen["requests"]["create"]) == (0, 1)  # only the refused first try
    assert await ledger_events(client, bob, generation["id"]) == [
        ("requested", "everyone"),
        ("cancelled", "account_deleted"),
    ]
    assert await appearances(client, bob) == []
    assert await videos_of(resources, ada) == 0
    await purged(resources, purge_held, ada)


async def test_a_deletion_while_the_provider_makes_the_video_is_not_waited_for_and_no_draft_is_made(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
    resources: Resources,
    purge_held: asyncio.Event,
) -> None:
    """The step is inside the provider's create call (the provider takes the job at once and
    answers 4 s later) when the account is deleted: the provider was asked before the deletion
    and cannot be unasked, but the next step stops the generation before any draft."""
    ada, bob = await users.create("ada"), await users.create("bob")
    await cameos.active(bob, permission=Permission.EVERYONE)
    await simulator_control(simulator, "faults", {"operation": "create", "delay_seconds": 4})
    generation = await generate(client, ada.headers, cameos=["bob"])

    async def asking() -> bool:
        return int((await stats(simulator))["requests"]["create"]) >= 1

    await until(asking)
    started = time.monotonic()
    assert (await delete_account(client, ada)).status_code == 204
    assert time.monotonic() - started < 3.0  # the deletion did not wait for the provider

    async def ended() -> bool:
        return (await status_of(resources, generation["id"]))[0] in ("completed", "cancelled", "failed")

    await until(ended)
    assert await status_of(resources, generation["id"]) == ("cancelled", "account_deleted", None)
    await asyncio.sleep(1.0)  # the provider long done with the video: nothing comes of it
    assert (await stats(simulator))["jobs_created"] == 1
    assert await appearances(client, bob) == []
    assert await videos_of(resources, ada) == 0
    assert await ledger_events(client, bob, generation["id"]) == [
        ("requested", "everyone"),
        ("submitted", "everyone"),
        ("cancelled", "account_deleted"),
    ]
    await purged(resources, purge_held, ada)


async def test_a_step_reaching_its_draft_while_the_deletion_is_under_way_waits_for_it_and_makes_none(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    simulator: SimulatorHandle,
    resources: Resources,
    purge_held: asyncio.Event,
) -> None:
    """The deletion has stopped the account's generations (skipping one a step holds, inside a
    download) and waits for a video of the account a like holds; the step then comes to make its
    draft. It must not make one the deletion, not yet committed, would leave behind: it waits for
    the deletion and then cancels the generation."""
    ada, bob = await users.create("ada"), await users.create("bob")
    await cameos.active(bob, permission=Permission.EVERYONE)
    own = await published_by(client, VideoFactory(resources), ada)
    await simulator_control(simulator, "faults", {"operation": "content", "delay_seconds": 4})
    generation = await generate(client, ada.headers, cameos=["bob"])

    async def downloading() -> bool:
        return int((await stats(simulator))["requests"]["content"]) >= 1

    await until(downloading)
    async with resources.session_factory() as like_in_flight:
        await like_in_flight.execute(select(Video.id).where(Video.id == uuid.UUID(own.id)).with_for_update())
        deletion = asyncio.create_task(delete_account(client, ada))
        await someone_waits_for_a_lock(resources)  # the deletion, for the video

        async def draft_step_waits_or_ended() -> bool:
            if (await status_of(resources, generation["id"]))[0] in ("completed", "cancelled", "failed"):
                return True
            try:
                await someone_waits_for_a_lock(resources, at_least=2, within=0.05)
            except AssertionError:
                return False
            return True

        await until(draft_step_waits_or_ended, within=15)
        await like_in_flight.rollback()
    assert (await asyncio.wait_for(deletion, timeout=15)).status_code == 204

    async def ended() -> bool:
        return (await status_of(resources, generation["id"]))[0] in ("completed", "cancelled", "failed")

    await until(ended)
    assert await status_of(resources, generation["id"]) == ("cancelled", "account_deleted", None)
    assert await appearances(client, bob) == []
    async with resources.session_factory() as session:
        shown = await session.scalar(
            select(func.count())
            .select_from(Video)
            .where(Video.author_id == uuid.UUID(ada.id), Video.deleted_at.is_(None))
        )
    assert shown == 0
    assert await ledger_events(client, bob, generation["id"]) == [
        ("requested", "everyone"),
        ("submitted", "everyone"),
        ("cancelled", "account_deleted"),
    ]
    await purged(resources, purge_held, ada)
