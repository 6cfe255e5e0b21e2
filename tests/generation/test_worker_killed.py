"""A job worker killed (SIGKILL) in the middle of a generation step: another worker finishes the
generation, with one video made by the provider, exactly one draft and one quota slot.

The killed step is inside a provider call (the simulator does the work at once and holds back only
its answer), so it dies holding the generation's row lock, with its transaction open and its SAQ
job `active`. Its job keeps the generation's key (so the generation sweep cannot enqueue another)
until SAQ's sweep finds it has stopped beating: with the short heartbeat and sweep set here, seconds
(by default under a minute); without heartbeats, only the job's own timeout of five minutes would
free it. While the worker lives, the same sweep leaves its step alone however long it runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from saq.job import Status
from saq.utils import now as saq_now
from sqlalchemy import text

from app.factory import create_app
from app.resources import Resources
from generation.service import advance_job_key
from generation.simulator import SimulatorHandle, run_simulator_in_thread
from tests.conftest import make_settings, serve_in_process
from tests.factories import UserFactory
from tests.generation.helpers import generate, simulator_control, wait_until_done
from tests.harness import RunServers
from tests.processes import Process, eventually, process_env, start_worker

HEARTBEAT_SECONDS = 2
SWEEP_SECONDS = 1
# Long enough that the worker is surely killed before the answer comes; it ends on its own.
HELD_ANSWER_SECONDS = 15


@pytest.fixture
def provider() -> Iterator[SimulatorHandle]:
    """A simulator of this test's own, so its counts are this test's."""
    handle = run_simulator_in_thread(seconds_per_video=1.0)
    yield handle
    handle.stop()


@pytest.mark.parametrize("killed_during", ["create", "content"])
async def test_a_worker_killed_mid_step_is_replaced_and_the_generation_makes_one_draft(
    killed_during: str,
    servers: RunServers,
    provider: SimulatorHandle,
    tmp_path: Path,
    users: UserFactory,
    resources: Resources,
) -> None:
    namespace = f"{servers.redis_namespace}-killed-{killed_during}"
    timing = {"job_heartbeat_seconds": HEARTBEAT_SECONDS, "job_sweep_seconds": SWEEP_SECONDS}
    settings = make_settings(
        servers, tmp_path, provider, worker_in_process=False, redis_namespace=namespace, **timing
    )
    env = process_env(
        servers,
        tmp_path,
        namespace,
        OPENAI_BASE_URL=provider.url,
        REMIXFEED_GENERATION_POLL_SECONDS="0.2",
        REMIXFEED_JOB_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
        REMIXFEED_JOB_SWEEP_SECONDS=str(SWEEP_SECONDS),
    )
    # `create` is the submission (the provider makes the video, the worker never hears of it);
    # `content` is the download of the finished video, right before the draft.
    await simulator_control(
        provider, "faults", {"operation": killed_during, "delay_seconds": HELD_ANSWER_SECONDS}
    )
    alice = await users.create("alice")
    app = create_app(settings)
    first: Process | None = None
    second: Process | None = None
    try:
        async with serve_in_process(app) as client:
            queue = app.state.resources.jobs.queue
            # Ready before the generation is asked for, so the step starts at once. (Apps built
            # with make_settings, the session's among them, sweep only generations idle for a
            # day: one that stepped into this generation, idle while its worker was dead, asked
            # its own simulator for the video and failed it.)
            first = await start_worker(env, tmp_path / "first-worker.log", ready_on=queue)
            accepted = await generate(client, alice.headers, seconds=4)

            async def step_waits_on_the_provider() -> bool:
                assert first is not None and first.running, first and first.output()
                stats = await simulator_control(provider, "stats")
                return bool(stats["requests"][killed_during] >= 1)

            await eventually(step_waits_on_the_provider, within=30, what=f"the worker's {killed_during} call")

            # Alive, the worker keeps its step though it outlasts the heartbeat: the sweep that
            # will take the job back once the worker is dead leaves it alone while it beats.
            key = advance_job_key(accepted["id"])

            async def kept_past_a_heartbeat_and_a_sweep() -> bool:
                job = await queue.job(key)
                assert job is not None and (job.status, job.attempts) == (Status.ACTIVE, 1), job
                return bool(saq_now() - job.started > (HEARTBEAT_SECONDS + SWEEP_SECONDS + 1) * 1000)

            await eventually(kept_past_a_heartbeat_and_a_sweep, within=20, what="the step runs on")
            await first.kill()
            killed_at = time.monotonic()

            second = await start_worker(env, tmp_path / "second-worker.log")
            try:
                done = await wait_until_done(client, alice.headers, accepted["id"], within=45)
            except AssertionError as exc:
                # Seen once under a full suite's load: say what the worker that took over did.
                raise AssertionError(f"{exc}\nsecond worker:\n{second.output()}") from exc
            assert done["status"] == "completed", (done, second.output())
            recovered_in = time.monotonic() - killed_at

            drafts = (await client.get("/v1/me/drafts", headers=alice.headers)).json()["items"]
            assert [draft["id"] for draft in drafts] == [done["video_id"]]
            quota = (await client.get("/v1/me/quota", headers=alice.headers)).json()
            assert quota["used"] == 1, quota
        assert await second.terminate(within=30) == 0, second.output()
    finally:
        for worker in (first, second):
            if worker is not None:
                await worker.close()

    async with resources.engine.connect() as connection:
        videos = await connection.scalar(
            text("SELECT count(*) FROM videos WHERE author_id = :id"), {"id": alice.id}
        )
        generations = await connection.scalar(
            text("SELECT count(*) FROM generations WHERE user_id = :id"), {"id": alice.id}
        )
    assert (videos, generations) == (1, 1)
    stats = await simulator_control(provider, "stats")
    # One video made by the provider. A worker killed mid-submission leaves no trace of the answer,
    # so the next one asks again, with the same Idempotency-Key, and is given the same video.
    assert stats["jobs_created"] == 1, stats
    assert stats["requests"]["create"] == (2 if killed_during == "create" else 1), stats
    # Well before the job's own 300 s timeout, the only other way the killed job would come back.
    assert recovered_in < 60
