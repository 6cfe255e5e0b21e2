"""Production layout: API processes that run no jobs, and separate `remixfeed worker` processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from app.factory import create_app
from generation.simulator import SimulatorHandle
from tests.conftest import TEST_SECRET, make_settings, serve_in_process
from tests.factories import UserFactory
from tests.generation.helpers import generate, wait_until_done
from tests.harness import RunServers, free_port

REMIXFEED = str(Path(sys.executable).parent / "remixfeed")


async def test_a_separate_worker_process_runs_the_jobs(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory
) -> None:
    namespace = f"{servers.redis_namespace}-worker-process"
    metrics_port = free_port()
    settings = make_settings(servers, tmp_path, simulator, worker_in_process=False, redis_namespace=namespace)
    env = {
        **os.environ,
        "DATABASE_URL": servers.database_url,
        "REDIS_URL": servers.redis_url,
        "REMIXFEED_REDIS_NAMESPACE": namespace,
        "REMIXFEED_SECRET_KEY": TEST_SECRET,
        "REMIXFEED_DATA_DIR": str(tmp_path),  # shared media directory, as the README asks
        "OPENAI_BASE_URL": simulator.url,
        "REMIXFEED_GENERATION_POLL_SECONDS": "0.2",
        "REMIXFEED_WORKER_METRICS_PORT": str(metrics_port),
    }
    env.pop("OPENAI_API_KEY", None)
    worker = await asyncio.create_subprocess_exec(
        REMIXFEED, "worker", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        alice = await users.create("alice")
        async with serve_in_process(create_app(settings)) as client:
            accepted = await generate(client, alice.headers, seconds=4)
            done = await wait_until_done(client, alice.headers, accepted["id"], within=30)
            assert done["status"] == "completed", done
            drafts = (await client.get("/v1/me/drafts", headers=alice.headers)).json()["items"]
            assert [draft["id"] for draft in drafts] == [done["video_id"]]
        # The worker's own counters, on its metrics port.
        async with httpx.AsyncClient(timeout=5) as http:
            metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        assert 'remixfeed_jobs_total{job="generation.advance",outcome="complete"}' in metrics
        assert 'remixfeed_provider_calls_total{operation="create",outcome="ok"} 1.0' in metrics
    finally:
        worker.send_signal(signal.SIGTERM)  # graceful: finish or hand back running jobs, then exit
        output, _ = await asyncio.wait_for(worker.communicate(), 60)
    code = worker.returncode
    output_text = output.decode(errors="replace") if output else ""
    assert code == 0, output_text
    # No REMIXFEED_MAIL_BACKEND: the worker says at start that mail stays on its disk.
    assert "mail_written_to_files" in output_text, output_text
