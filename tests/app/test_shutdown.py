"""Graceful shutdown: `remixfeed serve` and `remixfeed worker` on SIGTERM finish what they started.

Each test holds a row lock from the test's own connection to keep a request or a job in flight for
as long as it needs, so nothing depends on timing: the lock is taken, the server or worker is seen
waiting on it in pg_stat_activity, SIGTERM is sent, and only then is the lock released.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path

import httpx
import pytest
import structlog
from saq.job import Status
from sqlalchemy import text
from structlog.testing import capture_logs

from app import job_supervision
from app.factory import create_app
from app.resources import Resources
from generation.service import advance_job_key
from generation.simulator import SimulatorHandle
from tests.conftest import make_settings, serve_in_process
from tests.factories import UserFactory
from tests.generation.helpers import generate, wait_until_done
from tests.harness import RunServers, free_port
from tests.processes import Process, eventually, process_env, start_worker, waiting_on_a_lock


async def _refuses_connections(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def test_serve_on_sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_0(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory, resources: Resources
) -> None:
    name = "remixfeed-serve-shutdown"
    env = process_env(
        servers,
        tmp_path,
        f"{servers.redis_namespace}-serve-shutdown",
        OPENAI_BASE_URL=simulator.url,
        REMIXFEED_PROCESS_NAME=name,
    )
    alice = await users.create("alice")
    port = free_port()
    served = await Process.start(["serve", "--port", str(port)], env, tmp_path / "serve.log")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:

            async def ready() -> bool:
                assert served.running, served.output()
                try:
                    return (await http.get("/health/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, within=60, what="serve answers /health/ready")

            async with resources.engine.connect() as holder:
                lock = await holder.begin()
                await holder.execute(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": alice.id})
                in_flight = asyncio.create_task(
                    http.patch("/v1/me", json={"display_name": "Still Here"}, headers=alice.headers)
                )

                async def request_waits() -> bool:
                    return await waiting_on_a_lock(resources.engine, name) == 1

                await eventually(request_waits, within=30, what="the PATCH waits on the row lock")

                served.signal(signal.SIGTERM)
                await eventually(
                    lambda: _refuses_connections(port), within=15, what="new connections are refused"
                )
                # Still serving the one it had: the server did not cut it off, nor exit under it.
                assert not in_flight.done()
                assert served.running, served.output()
                await lock.rollback()

            response = await asyncio.wait_for(in_flight, 30)
            assert response.status_code == 200, response.text
            assert response.json()["display_name"] == "Still Here"
        assert await served.wait(40) == 0, served.output()
    finally:
        await served.close()
    async with resources.engine.connect() as connection:
        stored = await connection.scalar(
            text("SELECT display_name FROM users WHERE id = :id"), {"id": alice.id}
        )
    assert stored == "Still Here"  # committed, not only answered


async def _generation_row(resources: Resources, generation_id: str) -> dict[str, object]:
    async with resources.engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT status, provider_video_id, video_id FROM generations WHERE id = :id"),
                {"id": generation_id},
            )
        ).one()
    return dict(row._mapping)


async def _stopping(worker: Process) -> bool:
    assert worker.running, worker.output()
    return "job_worker_stopping" in worker.output()


async def _one_draft(client: httpx.AsyncClient, headers: dict[str, str], generation_id: str) -> None:
    done = await wait_until_done(client, headers, generation_id, within=25)
    assert done["status"] == "completed", done
    drafts = (await client.get("/v1/me/drafts", headers=headers)).json()["items"]
    assert [draft["id"] for draft in drafts] == [done["video_id"]]


@pytest.mark.parametrize("job_outlasts_the_grace_period", [False, True])
async def test_worker_on_sigterm_finishes_its_running_job_or_hands_it_back_and_exits_0(
    job_outlasts_the_grace_period: bool,
    servers: RunServers,
    simulator: SimulatorHandle,
    tmp_path: Path,
    users: UserFactory,
    resources: Resources,
) -> None:
    """A generation step is held on its row lock while the worker is told to stop. Released in
    time, the step runs to its end (it submits the video) before the worker exits; held past the
    grace period, the worker exits anyway and the job goes back to the queue. Either way a second
    worker takes the generation to exactly one draft."""
    namespace = f"{servers.redis_namespace}-worker-shutdown-{int(job_outlasts_the_grace_period)}"
    grace = 2 if job_outlasts_the_grace_period else 20
    settings = make_settings(servers, tmp_path, simulator, worker_in_process=False, redis_namespace=namespace)
    env = process_env(
        servers,
        tmp_path,
        namespace,
        OPENAI_BASE_URL=simulator.url,
        REMIXFEED_GENERATION_POLL_SECONDS="0.2",
        REMIXFEED_JOB_SHUTDOWN_GRACE_SECONDS=str(grace),
    )
    alice = await users.create("alice")
    app = create_app(settings)
    first = second = None
    try:
        async with serve_in_process(app) as client:
            # Queued with no worker running yet, so the test holds the row before any step runs.
            generation_id = (await generate(client, alice.headers, seconds=4))["id"]
            async with resources.engine.connect() as holder:
                lock = await holder.begin()
                await holder.execute(
                    text("SELECT 1 FROM generations WHERE id = :id FOR UPDATE"), {"id": generation_id}
                )
                first = await start_worker(env, tmp_path / "first-worker.log")

                async def step_waits() -> bool:
                    assert first is not None and first.running, first and first.output()
                    return await waiting_on_a_lock(resources.engine, "remixfeed-worker") == 1

                await eventually(step_waits, within=30, what="the worker's step waits on the row lock")
                first.signal(signal.SIGTERM)
                await eventually(lambda: _stopping(first), within=10, what="the worker begins to stop")
                if job_outlasts_the_grace_period:
                    assert await first.wait(grace + 15) == 0, first.output()
                    # Handed back: queued again for another worker, not lost nor left `active`.
                    job = await app.state.resources.jobs.queue.job(advance_job_key(generation_id))
                    assert job is not None and job.status == Status.QUEUED, job
                    assert (await _generation_row(resources, generation_id))["provider_video_id"] is None
                await lock.rollback()

            if not job_outlasts_the_grace_period:
                # As soon as its job is done: not at the end of the grace period.
                assert await first.wait(grace / 2) == 0, first.output()
                # The step it was running when told to stop ran to its end: it submitted the video.
                row = await _generation_row(resources, generation_id)
                assert row["provider_video_id"] is not None, (row, first.output())
                assert row["status"] != "completed"  # the rest is left to the next worker

            second = await start_worker(env, tmp_path / "second-worker.log")
            await _one_draft(client, alice.headers, generation_id)
        assert await second.terminate(within=30) == 0, second.output()
    finally:
        for worker in (first, second):
            if worker is not None:
                await worker.close()
    row = await _generation_row(resources, generation_id)
    async with resources.engine.connect() as connection:
        videos = await connection.scalar(
            text("SELECT count(*) FROM videos WHERE author_id = :id"), {"id": alice.id}
        )
    assert (row["status"], videos) == ("completed", 1)


def test_a_worker_process_exits_even_if_a_task_will_not_end_when_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job whose cancelled statement still waits on its lock must not keep the worker process
    alive after its jobs were handed back: it is logged with its stack and left behind."""
    monkeypatch.setattr(job_supervision, "STRAGGLER_SECONDS", 0.3)
    ended: list[str] = []
    left_behind: list[asyncio.Task[None]] = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                continue  # as a statement that outlives its cancel request

    async def main() -> None:
        left_behind.append(asyncio.create_task(stubborn(), name="stuck-job"))
        await asyncio.sleep(0)
        ended.append("main")

    with capture_logs() as logs:
        # A fresh logger: the module's was cached on first use (by any worker an earlier test
        # stopped), and a cached logger bypasses capture_logs.
        monkeypatch.setattr(job_supervision, "log", structlog.get_logger(job_supervision.__name__))
        # In a thread, so that a process that would wait forever fails the test instead of hanging it.
        process = threading.Thread(target=job_supervision.run_worker_process, args=(main(),), daemon=True)
        process.start()
        process.join(timeout=30)
    assert not process.is_alive(), "the worker process waited for a task that does not end"
    assert ended == ["main"]
    left = [entry for entry in logs if entry["event"] == "task_left_running"]
    assert [entry["task"] for entry in left] == ["stuck-job"], logs
    assert "stubborn" in left[0]["stack"]
