"""PostgreSQL restarts under a running `remixfeed serve`, in order and by crashing.

The server is a real process (granian, its own event loop and connection pool, the job worker
inside it) on a PostgreSQL of the test's own, which the test stops and starts again on the same
data and socket (on both test paths: the run's own servers are never stopped).

What is promised: while PostgreSQL is down, every request that needs it is a 503
`service_unavailable` problem with Retry-After (never a 500), a request cut off in the middle too,
and nothing it began is kept; readiness says which dependency is missing. Once PostgreSQL is back,
the connection pool replaces its dead connections by itself: the very next requests succeed, the
job worker goes on, and the same processes serve throughout.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import httpx

from app.embedded import EmbeddedPostgres, EmbeddedRedis
from generation.simulator import SimulatorHandle
from tests.accounts.helpers import assert_problem
from tests.app.fault_helpers import (
    Account,
    Served,
    eventually,
    finished_generation,
    private_postgres,
    published_video,
    request_generation,
    serve_env,
    sign_up,
)


async def _all_refused(http: httpx.AsyncClient, alice: Account, video_id: str) -> None:
    """What needs PostgreSQL is a 503 with Retry-After, reads and writes, signed in or not."""
    attempts = [
        http.get("/v1/me", headers=alice.headers),
        http.get(f"/v1/videos/{video_id}", headers=alice.headers),
        http.get("/v1/users/alice/videos", headers=alice.headers),
        http.get("/v1/feed", headers=alice.headers),
        http.patch("/v1/me", json={"display_name": "Nobody Home"}, headers=alice.headers),
        http.post("/v1/generations", json={"prompt": "a quiet harbour"}, headers=alice.headers),
        http.post("/v1/auth/token", json={"login": "alice", "password": "alice password"}),
        http.get("/v1/usernames/newcomer/availability"),
    ]
    for response in await asyncio.gather(*attempts):
        assert_problem(response, 503, "service_unavailable")
        assert int(response.headers["retry-after"]) > 0


async def _burst_succeeds(http: httpx.AsyncClient, alice: Account, video_id: str, display_name: str) -> None:
    burst = await asyncio.gather(
        *(http.get("/v1/me", headers=alice.headers) for _ in range(8)),
        http.get(f"/v1/videos/{video_id}", headers=alice.headers),
        http.patch("/v1/me", json={"display_name": display_name}, headers=alice.headers),
        http.get("/v1/feed", params={"cut": "latest"}, headers=alice.headers),
    )
    assert [response.status_code for response in burst] == [200] * len(burst), [r.text for r in burst]


async def test_postgres_restarts_and_the_pool_recovers_by_itself(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    redis_server = EmbeddedRedis(tmp_path / "redis")
    try:
        with private_postgres() as postgres:
            env = serve_env(
                tmp_path / "data",
                database_url=postgres.url(),
                redis_url=redis_server.url(),
                namespace=f"faults-{uuid.uuid4().hex[:8]}",
                simulator_url=simulator.url,
            )
            async with (
                Served.running(env, tmp_path / "serve.log") as served,
                httpx.AsyncClient(base_url=served.url, timeout=30) as http,
            ):
                await _restarts(served, http, postgres)
    finally:
        redis_server.stop()


async def _restarts(served: Served, http: httpx.AsyncClient, postgres: EmbeddedPostgres) -> None:
    output = served.output
    alice = await sign_up(http, "alice")
    generation = await request_generation(http, alice.headers, "first light over the bay")
    video_id = await published_video(
        http, alice.headers, await finished_generation(http, alice.headers, generation, output=output), "dawn"
    )
    pids = {process.pid for process in served.processes()}

    # An orderly stop (pg_ctl stop -m fast), as for a minor upgrade or a failover.
    postgres.halt("fast")
    ready = await http.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "unreachable", "redis": "ok"}
    assert (await http.get("/health/live")).status_code == 200
    await _all_refused(http, alice, video_id)

    postgres.start()
    # No warm-up, no retry: the pool notices its dead connections and opens new ones itself.
    await _burst_succeeds(http, alice, video_id, "Alice Again")
    assert (await http.get("/health/ready")).status_code == 200

    # A restart between two requests, which no request saw (so nothing invalidated the pool): the
    # idle connections it left closed are replaced as they are checked out, not handed to a request.
    postgres.halt("fast")
    postgres.start()
    await _burst_succeeds(http, alice, video_id, "Alice Again")

    # A crash (pg_ctl stop -m immediate) while a request is in the middle of its transaction: the
    # test holds alice's row, the request waits on it, and then the server dies under both.
    holder = await asyncpg.connect(postgres.url())
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM users WHERE username = 'alice' FOR UPDATE")
        in_flight = asyncio.create_task(
            http.patch("/v1/me", json={"display_name": "Cut Off"}, headers=alice.headers)
        )

        async def request_waits() -> bool:
            waiting = await holder.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return bool(waiting)

        await eventually(request_waits, within=15, what="the PATCH waits on alice's row", output=output)
        postgres.halt("immediate")
        assert_problem(await asyncio.wait_for(in_flight, 30), 503, "service_unavailable")
    finally:
        holder.terminate()
    await _all_refused(http, alice, video_id)

    # Starting up again (crash recovery first), PostgreSQL refuses connections for a while ("the
    # database system is starting up"): requests meanwhile are 503s too, then 200s.
    starting = asyncio.create_task(asyncio.to_thread(postgres.start))
    meanwhile: list[httpx.Response] = []
    while not starting.done():
        meanwhile.append(await http.get("/v1/me", headers=alice.headers))
    await starting
    for response in meanwhile:
        if response.status_code != 200:
            assert_problem(response, 503, "service_unavailable")
    me = await http.get("/v1/me", headers=alice.headers)
    assert me.status_code == 200, me.text
    assert me.json()["display_name"] == "Alice Again"  # the cut-off PATCH left nothing behind
    renamed = await http.patch("/v1/me", json={"display_name": "Alice at Last"}, headers=alice.headers)
    assert renamed.status_code == 200, renamed.text
    # The job worker inside the server uses the same pool, and goes on too.
    again = await request_generation(http, alice.headers, "the bay at noon")
    await finished_generation(http, alice.headers, again, output=output)
    assert {process.pid for process in served.processes()} == pids
