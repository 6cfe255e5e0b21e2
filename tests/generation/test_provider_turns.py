"""Jobs that call the video provider take turns: a slow provider holds at most
REMIXFEED_PROVIDER_JOBS_AT_ONCE of a process's job slots (and pooled connections), and the steps
past that come back later instead of waiting in a slot."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.factory import create_app
from generation.simulator import SimulatorHandle
from tests.conftest import make_settings, serve_in_process
from tests.factories import UserFactory
from tests.generation.helpers import generate, simulator_control, wait_until_done
from tests.harness import RunServers
from tests.processes import eventually

AT_ONCE = 2
GENERATIONS = 6
PROVIDER_DELAY_SECONDS = 3


async def creates_asked(simulator: SimulatorHandle) -> int:
    stats = await simulator_control(simulator, "stats")
    return int(stats["requests"]["create"])


async def test_a_slow_provider_holds_only_the_turns_of_a_process(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory
) -> None:
    await simulator_control(simulator, "reset")
    # Every create is made at once and answered late, as by a provider that is slow to answer.
    await simulator_control(
        simulator,
        "faults",
        {"operation": "create", "delay_seconds": PROVIDER_DELAY_SECONDS, "times": GENERATIONS},
    )
    settings = make_settings(
        servers,
        tmp_path,
        simulator,
        provider_jobs_at_once=AT_ONCE,
        redis_namespace=f"{servers.redis_namespace}-provider-turns",
    )
    alice = await users.create("alice")
    app = create_app(settings)
    async with serve_in_process(app) as client:
        queue = app.state.resources.jobs.queue
        accepted = [await generate(client, alice.headers, prompt=f"take {n}") for n in range(GENERATIONS)]

        async def first_turns_taken() -> bool:
            return await creates_asked(simulator) >= AT_ONCE

        await eventually(
            first_turns_taken, within=10, what="the first steps call the provider", interval=0.05
        )
        # The worker has slots for every step; the others are sent back while the first calls hang,
        # rather than wait in a slot (one sent back may be running for a moment as it is sampled).
        active: list[int] = []
        for _ in range(5):
            await asyncio.sleep(PROVIDER_DELAY_SECONDS / 10)
            active.append(await queue.count("active"))
        assert await creates_asked(simulator) == AT_ONCE
        assert min(active) == AT_ONCE, active
        turned_back = await client.get("/metrics")
        assert 'remixfeed_jobs_total{job="generation.advance",outcome="turned_back"}' in turned_back.text

        # None is dropped: each sent-back step comes again, and every generation finishes.
        for generation in accepted:
            done = await wait_until_done(client, alice.headers, generation["id"], within=60)
            assert done["status"] == "completed", done
    assert await creates_asked(simulator) == GENERATIONS
