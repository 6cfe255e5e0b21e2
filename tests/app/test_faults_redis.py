"""Redis stops under a running `remixfeed serve` and comes back, with its data or empty.

The server is a real process (granian, its own event loop, the job worker inside it) on a Redis of
the test's own, which the test stops and starts again on the same socket; its database is one of
the test's own, on the run's PostgreSQL when that is external (see `database_of_its_own`).

What is promised while Redis is away: everything PostgreSQL holds can still be read and written;
the feed, whose pacing lives in Redis, answers 503 `feed_unavailable`; a write whose background work
needs the job queue is still accepted, and that work waits in PostgreSQL (`deferred_jobs`) instead of
being lost; a progress stream keeps going by reading the row. Once Redis is back, without restarting
anything: readiness is 200, the waiting work runs, the feed answers again.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.db import async_url
from app.embedded import EmbeddedRedis
from generation.simulator import SimulatorHandle, run_simulator_in_thread
from tests.accounts.helpers import assert_problem
from tests.app.fault_helpers import (
    Served,
    database_of_its_own,
    eventually,
    finished_generation,
    published_video,
    request_generation,
    serve_env,
    sign_up,
)
from tests.harness import RunServers

# A server that spun on an unreachable Redis (SAQ's dequeue loops do, left alone) burns a core: over
# this window it would use about as many CPU seconds; an idle one uses a few hundredths of a second.
IDLE_WINDOW_SECONDS = 3.0
IDLE_CPU_SECONDS = 0.4


async def _events(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], into: list[dict[str, Any]]
) -> None:
    """Reads a server-sent event stream to its end, appending {event, data} as they come."""
    async with http.stream("GET", path, headers=headers, timeout=httpx.Timeout(60)) as response:
        assert response.status_code == 200, await response.aread()
        event = "message"
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                into.append({"event": event, "data": json.loads(line.split(":", 1)[1])})
                event = "message"


def _forget_everything(redis_dir: Path) -> None:
    """What a Redis that lost its data comes back with: no append-only file, no snapshot."""
    for leftover in redis_dir.iterdir():
        if leftover.name.startswith(("appendonly", "dump")):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()


class Rig:
    """The server under test, its Redis (stopped and started again by the test), and the test's own
    look into its database and its Redis."""

    def __init__(
        self,
        served: Served,
        http: httpx.AsyncClient,
        redis_servers: list[EmbeddedRedis],
        redis_dir: Path,
        namespace: str,
        engine: AsyncEngine,
        peek: Redis,
    ) -> None:
        self.served = served
        self.http = http
        # The Redis started first, then each one started again on its directory and socket.
        self.redis_servers = redis_servers
        self.redis_dir = redis_dir
        self.namespace = namespace
        self.engine = engine
        self.peek = peek

    def stop_redis(self) -> None:
        self.redis_servers[-1].stop()

    def start_redis(self, *, empty: bool = False) -> None:
        """Redis again, on the same socket: with its append-only file, or with nothing at all."""
        if empty:
            _forget_everything(self.redis_dir)
        self.redis_servers.append(EmbeddedRedis(self.redis_dir))

    async def deferred_jobs(self) -> list[str]:
        async with self.engine.connect() as connection:
            return list((await connection.execute(text("SELECT function FROM deferred_jobs"))).scalars())


@asynccontextmanager
async def _rig(servers: RunServers, simulator_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    redis_dir = tmp_path / "redis"
    first = EmbeddedRedis(redis_dir)
    namespace = f"faults-{uuid.uuid4().hex[:8]}"
    started = [first]
    try:
        async with database_of_its_own(servers) as database_url:
            env = serve_env(
                tmp_path / "data",
                database_url=database_url,
                redis_url=first.url(),
                namespace=namespace,
                simulator_url=simulator_url,
            )
            engine = create_async_engine(async_url(database_url))
            peek = Redis.from_url(first.url())
            try:
                async with (
                    Served.running(env, tmp_path / "serve.log") as served,
                    httpx.AsyncClient(base_url=served.url, timeout=30) as http,
                ):
                    yield Rig(served, http, started, redis_dir, namespace, engine, peek)
            finally:
                await peek.aclose()
                await engine.dispose()
    finally:
        for redis_server in started:
            redis_server.stop()


@pytest.mark.parametrize("comes_back", ["with_its_data", "empty"])
async def test_redis_stops_and_comes_back(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, comes_back: str
) -> None:
    async with _rig(servers, simulator.url, tmp_path) as rig:
        await _outage(rig, empty=comes_back == "empty")


async def _outage(rig: Rig, *, empty: bool) -> None:
    served, http, peek, namespace = rig.served, rig.http, rig.peek, rig.namespace
    output = served.output
    # Before: alice posts, bob follows her and has read his feed (his inbox and ranking are kept).
    alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
    assert (await http.post("/v1/users/alice/follow", headers=bob.headers)).status_code == 204
    first, second = (
        await request_generation(http, alice.headers, "a paper boat on a rainy street"),
        await request_generation(http, alice.headers, "a lighthouse at dusk"),
    )
    first_video = await published_video(
        http, alice.headers, await finished_generation(http, alice.headers, first, output=output), "boats"
    )
    draft = (await finished_generation(http, alice.headers, second, output=output))["video_id"]
    feed = await http.get("/v1/feed", headers=bob.headers)
    assert feed.status_code == 200, feed.text
    assert [item["video"]["id"] for item in feed.json()["items"]] == [first_video]
    comment = await http.post(
        f"/v1/videos/{first_video}/comments", json={"body": "lovely"}, headers=bob.headers
    )
    assert comment.status_code == 201, comment.text
    pids = {process.pid for process in served.processes()}

    rig.stop_redis()

    # Readiness names Redis; liveness is fine.
    ready = await http.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "ok", "redis": "unreachable"}
    assert (await http.get("/health/live")).status_code == 200

    # Everything PostgreSQL holds can be read: sign-in, profiles, videos, comments, lists.
    login = await http.post("/v1/auth/token", json={"login": "bob", "password": "bob password"})
    assert login.status_code == 200, login.text
    me = await http.get("/v1/me", headers=bob.headers)
    assert me.status_code == 200 and me.json()["following_count"] == 1, me.text
    profile = await http.get("/v1/users/alice", headers=bob.headers)
    assert profile.status_code == 200 and profile.json()["is_following"] is True, profile.text
    video = await http.get(f"/v1/videos/{first_video}", headers=bob.headers)
    assert video.status_code == 200 and video.json()["comment_count"] == 1, video.text
    comments = await http.get(f"/v1/videos/{first_video}/comments", headers=bob.headers)
    assert [item["body"] for item in comments.json()["items"]] == ["lovely"]
    listed = await http.get("/v1/users/alice/videos", headers=bob.headers)
    assert [item["id"] for item in listed.json()["items"]] == [first_video]
    assert (await http.get(f"/v1/generations/{first}", headers=alice.headers)).json()["status"] == "completed"

    # ...and written.
    assert (await http.post(f"/v1/videos/{first_video}/like", headers=bob.headers)).status_code == 204
    renamed = await http.patch("/v1/me", json={"display_name": "Bob in the dark"}, headers=bob.headers)
    assert renamed.status_code == 200, renamed.text

    # The feed is paced in Redis: without it, a clear 503 (never an unpaced feed), for every cut.
    for cut in ("for_you", "following", "latest"):
        refused = await http.get("/v1/feed", params={"cut": cut}, headers=bob.headers)
        assert_problem(refused, 503, "feed_unavailable")
        assert refused.headers["retry-after"]
    assert_problem(await http.post("/v1/feed/resume", headers=bob.headers), 503, "feed_unavailable")

    # Writes whose background work needs the job queue are accepted; the work waits in PostgreSQL.
    published = await http.post(
        f"/v1/videos/{draft}/publish", json={"caption": "lighthouse"}, headers=alice.headers
    )
    assert published.status_code == 200, published.text  # its fan-out to bob's inbox waits
    third = await request_generation(http, alice.headers, "a kite over the dunes")  # its job waits
    steer = await http.put(
        "/v1/me/feed-preferences", json={"steer": "more kites", "personalized": True}, headers=bob.headers
    )
    assert steer.status_code == 200, steer.text  # forgetting bob's kept ranking waits

    # The progress stream of the waiting generation works without pub/sub.
    events: list[dict[str, Any]] = []
    stream = asyncio.create_task(_events(http, f"/v1/generations/{third}/events", alice.headers, events))

    async def first_event() -> bool:
        assert not stream.done() or stream.exception() is None, stream.exception()
        return bool(events)

    await eventually(first_event, within=10, what="the progress stream's first event", output=output)
    assert events[0]["event"] == "progress" and events[0]["data"]["status"] == "queued", events

    waiting = set(await rig.deferred_jobs())
    assert {"generation.advance", "feed.fan_out", "feed.forget_pool"} <= waiting, waiting

    # Waiting on Redis costs the server next to nothing (no loop retrying at full speed).
    before = served.cpu_seconds()
    await asyncio.sleep(IDLE_WINDOW_SECONDS)
    used = served.cpu_seconds() - before
    assert used < IDLE_CPU_SECONDS, f"{used:.2f} CPU seconds in {IDLE_WINDOW_SECONDS} s while Redis was down"

    # Redis comes back on the same socket: with its append-only file, or with nothing at all.
    rig.start_redis(empty=empty)
    if empty:  # bob's inbox is gone with the rest
        assert not await peek.exists(f"{namespace}:feed:inbox_built:{bob.id}")

    async def ready_again() -> bool:
        return (await http.get("/health/ready")).status_code == 200

    await eventually(ready_again, within=15, what="/health/ready is 200 again", output=output)

    # The waiting work runs: the generation completes (and its stream says so), the post reaches
    # bob's inbox, bob's kept ranking is forgotten, and nothing is left waiting.
    await finished_generation(http, alice.headers, third, output=output)
    await asyncio.wait_for(stream, 30)
    assert events[-1]["event"] == "completed", events

    async def nothing_waits() -> bool:
        return not await rig.deferred_jobs()

    await eventually(nothing_waits, within=15, what="the deferred jobs are replayed", output=output)
    inbox_key = f"{namespace}:feed:inbox:{bob.id}"

    async def fanned_out() -> bool:
        return empty or await peek.zscore(inbox_key, draft) is not None

    await eventually(
        fanned_out, within=15, what="the post published meanwhile reaches bob's inbox", output=output
    )
    assert not await peek.exists(f"{namespace}:feed:pool:{bob.id}")

    # The feed answers again, and has the post published while Redis was away as bob's followed
    # author's (from the replayed fan-out, or from his inbox rebuilt from SQL when Redis came back empty).
    feed = await http.get("/v1/feed", headers=bob.headers)
    assert feed.status_code == 200, feed.text
    reasons = {item["video"]["id"]: item["reason"] for item in feed.json()["items"]}
    assert reasons.get(draft) == "followed", feed.json()
    for cut in ("following", "latest"):
        assert (await http.get("/v1/feed", params={"cut": cut}, headers=bob.headers)).status_code == 200
    assert (await http.post("/v1/feed/resume", headers=bob.headers)).status_code == 204

    # What was written while Redis was away is all there, and the same processes serve it.
    video = (await http.get(f"/v1/videos/{first_video}", headers=bob.headers)).json()
    assert video["like_count"] == 1 and video["liked_by_me"] is True, video
    assert (await http.get("/v1/me", headers=bob.headers)).json()["display_name"] == "Bob in the dark"
    preferences = (await http.get("/v1/me/feed-preferences", headers=bob.headers)).json()
    assert preferences["steer"] == "more kites", preferences
    assert {process.pid for process in served.processes()} == pids


async def _waiting_on_a_lock(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        waiting = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


async def test_a_job_running_when_redis_stops_records_its_outcome_when_redis_is_back(
    servers: RunServers, tmp_path: Path
) -> None:
    """SAQ alone would fail to record the outcome of a job that ends while Redis is away, leaving it
    marked running, its key held, and its continuation never enqueued: the generation would stall
    until SAQ's sweep gave up on the job (a heartbeat and a sweep later, well past this test's wait).
    The worker instead records it as soon as Redis answers, and the generation goes on at once."""
    # Videos that take a few seconds, so the generation is still being made when Redis stops.
    simulator = run_simulator_in_thread(seconds_per_video=4.0, state_dir=tmp_path / "simulator")
    try:
        async with _rig(servers, simulator.url, tmp_path) as rig:
            http, output = rig.http, rig.served.output
            alice = await sign_up(http, "alice")
            generation_id = await request_generation(http, alice.headers, "a heron in the reeds")
            async with rig.engine.connect() as holder:
                lock = await holder.begin()
                # The generation's next step, a job the worker is running, waits on its row.
                await holder.execute(
                    text("SELECT 1 FROM generations WHERE id = :id FOR UPDATE"), {"id": generation_id}
                )
                await eventually(
                    lambda: _waiting_on_a_lock(rig.engine),
                    within=15,
                    what="the generation's step waits on its row",
                    output=output,
                )
                rig.stop_redis()
                await lock.rollback()
            # The step runs to its end while Redis is away; its outcome cannot be recorded yet.
            await eventually(
                lambda: _not(_waiting_on_a_lock(rig.engine)),
                within=15,
                what="the step goes on",
                output=output,
            )
            await asyncio.sleep(1.5)
            meanwhile = await http.get(f"/v1/generations/{generation_id}", headers=alice.headers)
            assert meanwhile.json()["status"] in ("queued", "in_progress"), meanwhile.text
            rig.start_redis()
            await finished_generation(http, alice.headers, generation_id, within=15, output=output)
            # Nothing is left marked running in the queue.
            active = await rig.peek.llen(f"saq:{rig.namespace}-jobs:active")
            assert active == 0, active
    finally:
        simulator.stop()


async def _not(check: Awaitable[bool]) -> bool:
    return not await check


async def test_a_redis_out_of_memory_holds_the_work_in_postgresql_until_it_takes_writes_again(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """A Redis at its memory limit (maxmemory with noeviction) answers, but refuses every write with
    OOM: the connection is fine, so only the kind of refusal tells that the work must wait."""
    async with _rig(servers, simulator.url, tmp_path) as rig:
        http, output = rig.http, rig.served.output
        alice = await sign_up(http, "alice")
        await rig.peek.config_set("maxmemory", "1")
        try:
            generation_id = await request_generation(http, alice.headers, "a lighthouse in the fog")
            await eventually(
                lambda: _has_deferred(rig), within=15, what="the step waits in PostgreSQL", output=output
            )
            still = await http.get(f"/v1/generations/{generation_id}", headers=alice.headers)
            assert still.json()["status"] == "queued", still.text
        finally:
            await rig.peek.config_set("maxmemory", "0")
        await finished_generation(http, alice.headers, generation_id, within=30, output=output)
        # The step's row goes once its last run is recorded, a moment after the generation finished.
        await eventually(
            lambda: _not(_has_deferred(rig)), within=15, what="nothing is left waiting", output=output
        )


async def _has_deferred(rig: Rig) -> bool:
    return bool(await rig.deferred_jobs())
