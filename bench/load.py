"""The bench run: data set, warm inboxes, the API in its own processes, HTTP load, the report.

    python -m bench.load --size small [--workers 2] [--duration 10] [--concurrency 1,8,32,64]

1. builds the data set if it is not there yet (bench.dataset; --rebuild forces it);
2. warms the inboxes of the load's users and of the fan-out author's followers (bench.warm);
3. starts `remixfeed serve --workers W` and a `remixfeed worker` (fan-out jobs) with the bench's
   settings (bench.common.server_env: REMIXFEED_FEED_BREAK_AFTER=200, so a feed session is 10 pages;
   the load resumes a session, untimed, when a page carries the break);
4. logs in a pool of users over HTTP;
5. measures the load client alone against a stub server (it must not be the bottleneck), then for
   GET /health/live, GET /v1/feed (for_you, limit 20), GET /v1/videos/{id} and
   POST /v1/videos/{id}/like at each concurrency for --duration seconds (closed loop, one user per
   connection), then each endpoint paced at half its peak rate (open loop, latency counted from
   the scheduled send time);
6. the fan-out test: the feed paced at half its peak for --duration seconds, then again while the
   most-followed author publishes; Redis is polled until every follower's inbox holds the video;
7. prints the table and the targets, writes bench/results/<size>.json and regenerates
   bench/RESULTS.md from the results on file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import asyncpg
import httpx
import psutil
import redis
import uuid_utils

from app.resources import open_resources
from bench import warm
from bench.client import ChildLoad, LoadResult, LoadSpec, client_ceiling, percentile, run_in_child
from bench.common import PASSWORD, SIZES, bench_settings, database_url, redis_namespace, redis_url, server_env
from bench.dataset import build
from feed.timeline.inbox import Inboxes
from feed.timeline.ranking import QUICK_RANKING_EVENT

HERE = Path(__file__).parent
RESULTS_DIR = HERE / "results"
ENDPOINTS = ("health", "feed", "video", "like")
# Measured at each concurrency, not judged: a simple signed-in read (the token, the user row), to
# show what any signed-in request costs next to /health/live.
REFERENCE = ("me",)
LABELS = {
    "me": "GET /v1/me (reference)",
    "health": "GET /health/live",
    "feed": "GET /v1/feed for_you 20",
    "video": "GET /v1/videos/{id}",
    "like": "POST /v1/videos/{id}/like",
}
TARGET_RATIO = 0.35
TARGET_P99_MS = 50.0
TARGET_LARGE_FACTOR = 1.3
TARGET_FANOUT_S = 5.0
TARGET_FANOUT_RISE = 0.20
TARGET_RSS_MB = 250.0
# Before each step at half peak the bench waits, up to SETTLE_TIMEOUT_S, for the job worker to have
# nothing queued or running, then SETTLE_QUIET_S more: the step measures its endpoint at that rate,
# not the backlog of the overloaded steps before it (rankings ahead queued at concurrency 64). A
# guard: the runs on file found the queue already empty each time.
SETTLE_TIMEOUT_S = 120.0
SETTLE_QUIET_S = 2.0
MIN_WINDOW_REQUESTS = 100


# --- the API processes ---------------------------------------------------------------------------


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Api:
    """`remixfeed serve` and `remixfeed worker`, each in a process group of its own."""

    def __init__(self, size: str, port: int, workers: int) -> None:
        # granian binds with SO_REUSEPORT: a server left running on the port (an earlier run that
        # was killed) would share the load with this one, and answer its readiness check.
        if _listening(port):
            raise SystemExit(f"something already listens on port {port}; stop it or pass --port")
        self.port = port
        env = {**os.environ, **server_env(size)}
        binary = str(Path(sys.executable).parent / "remixfeed")
        serve = [binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        log_path = Path(tempfile.gettempdir()) / f"remixfeed-bench-{size}-api.log"
        self.log = log_path.open("wb")  # closed in stop()
        self.serve = subprocess.Popen(  # noqa: S603 - our own entry point
            serve, env=env, stdout=self.log, stderr=self.log, start_new_session=True
        )
        self.worker = subprocess.Popen(  # noqa: S603
            [binary, "worker"], env=env, stdout=self.log, stderr=self.log, start_new_session=True
        )
        # Peaks over the run: the serving workers summed, the largest worker, granian's main process.
        self.rss_workers_mb = 0.0
        self.rss_largest_worker_mb = 0.0
        self.rss_main_mb = 0.0
        self.rss_workers = 0
        self._sampling = False
        self._thread: threading.Thread | None = None

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.serve.poll() is not None:
                raise SystemExit(f"the API exited ({self.serve.returncode}); see {self.log.name}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health/live", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"the API did not answer within {timeout} s; see {self.log.name}")

    def sample_rss(self) -> None:
        """RSS of granian's main process (which only supervises) and of its workers (which serve);
        the job worker is not counted."""
        try:
            root = psutil.Process(self.serve.pid)
            main = root.memory_info().rss / 2**20
            workers = [child.memory_info().rss / 2**20 for child in root.children(recursive=True)]
        except psutil.Error:
            return
        self.rss_main_mb = max(self.rss_main_mb, main)
        if workers:
            self.rss_workers_mb = max(self.rss_workers_mb, sum(workers))
            self.rss_largest_worker_mb = max(self.rss_largest_worker_mb, *workers)
            self.rss_workers = len(workers)

    def start_sampling(self) -> None:
        self._sampling = True

        def loop() -> None:
            while self._sampling:
                self.sample_rss()
                time.sleep(0.5)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._sampling = False
        for process in (self.serve, self.worker):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in (self.serve, self.worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.log.close()

    def log_lines_with(self, event: str) -> int:
        """Lines of the API's and the job worker's log that mention `event`."""
        with open(self.log.name, "rb") as log:
            return sum(event.encode() in line for line in log)


def settle(size: str) -> tuple[float, int]:
    """Waits for the job queue to empty (see SETTLE_TIMEOUT_S); the seconds waited and the jobs
    queued or running when the wait began."""
    client = redis.Redis.from_url(redis_url())
    queue = f"saq:{redis_namespace(size)}-jobs"
    started = time.monotonic()

    def backlog() -> int:
        return sum(cast(int, client.llen(f"{queue}:{state}")) for state in ("queued", "active"))

    try:
        jobs = first = backlog()
        while jobs and time.monotonic() - started < SETTLE_TIMEOUT_S:
            time.sleep(0.5)
            jobs = backlog()
    finally:
        client.close()
    time.sleep(SETTLE_QUIET_S)
    return time.monotonic() - started, first


def log_in(port: int, usernames: Sequence[str]) -> list[str]:
    async def run() -> list[str]:
        limits = httpx.Limits(max_connections=8)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60
        ) as client:
            semaphore = asyncio.Semaphore(8)

            async def one(name: str) -> str:
                async with semaphore:
                    answer = await client.post("/v1/auth/token", json={"login": name, "password": PASSWORD})
                    answer.raise_for_status()
                    token: str = answer.json()["access_token"]
                    return token

            return list(await asyncio.gather(*(one(name) for name in usernames)))

    return asyncio.run(run())


# --- the data the load uses ------------------------------------------------------------------------


async def sample_videos(size: str, count: int = 5000) -> list[str]:
    """Public videos anyone in the pool may see (no author in any block)."""
    conn = await asyncpg.connect(database_url(size))
    try:
        rows = await conn.fetch(
            """SELECT id FROM videos TABLESAMPLE SYSTEM (20)
               WHERE status = 'published' AND visibility = 'public' AND deleted_at IS NULL
                 AND author_id NOT IN (SELECT blocker_id FROM blocks UNION SELECT blocked_id FROM blocks)
               LIMIT $1""",
            count,
        )
    finally:
        await conn.close()
    return [str(row["id"]) for row in rows]


async def insert_draft(size: str, author_id: UUID) -> UUID:
    """A draft for the fan-out author, as a finished generation leaves one."""
    conn = await asyncpg.connect(database_url(size))
    try:
        video_id: UUID = await conn.fetchval(
            """INSERT INTO videos (id, author_id, status, visibility, caption, prompt, model, seconds,
                                   size, video_key, thumbnail_key, created_at, updated_at)
               VALUES ($1, $2, 'draft', 'public', 'fan-out test', 'a cat surfing a wave at dawn',
                       'sora-2', 8, '720x1280', 'videos/fanout.mp4', 'thumbnails/fanout.webp', now(), now())
               RETURNING id""",
            UUID(str(uuid_utils.uuid7())),
            author_id,
        )
    finally:
        await conn.close()
    return video_id


@dataclass
class Fanout:
    author: str
    followers: int
    seconds: float
    reached: int
    p99_before_ms: float
    p99_during_ms: float
    window_requests: int
    p99_during_run_ms: float
    p99_before_run_ms: float
    rise: float = field(init=False)
    judged_on: str = field(init=False)

    def __post_init__(self) -> None:
        # The window from the publish to the last inbox holds few feed requests when the feed is
        # slow; a p99 of fewer than 100 requests is noise, so then the two whole runs are compared.
        if self.window_requests >= MIN_WINDOW_REQUESTS:
            self.judged_on = "window"
            during, before = self.p99_during_ms, self.p99_before_ms
        else:
            self.judged_on = "whole runs"
            during, before = self.p99_during_run_ms, self.p99_before_run_ms
        self.rise = during / before - 1 if before else float("nan")


async def wait_for_last(size: str, followers: Sequence[UUID], video_id: UUID, give_up_after: float) -> float:
    """Polls the last follower's inbox until it holds `video_id`; when it did (or when polling gave
    up), on the perf_counter clock. Fan-out pushes in the order of `followers`, one batch after
    another, so the last one's inbox is the last to get it."""
    started = time.perf_counter()
    resources = open_resources(bench_settings(size))
    last_key = Inboxes(resources.redis, resources.settings).inbox_key(followers[-1]) if followers else None
    try:
        while last_key and time.perf_counter() - started < give_up_after:
            if await resources.redis.zscore(last_key, str(video_id)) is not None:
                break
            await asyncio.sleep(0.01)
        return time.perf_counter()
    finally:
        await resources.close()


async def check_every_inbox(
    size: str, followers: Sequence[UUID], video_id: UUID, give_up_after: float
) -> tuple[int, float | None]:
    """Checks that every follower's inbox holds `video_id`, polling any that does not until it does;
    (how many do, when the last of those stragglers did, or None when there was none). A pass over
    100k inboxes costs a second of CPU: it runs after the load, not in the window it would skew."""
    started = time.perf_counter()
    resources = open_resources(bench_settings(size))
    inboxes = Inboxes(resources.redis, resources.settings)
    member = str(video_id)
    waiting = list(followers)
    stragglers = False
    last_straggler: float | None = None
    try:
        while waiting and time.perf_counter() - started < give_up_after:
            still: list[UUID] = []
            for offset in range(0, len(waiting), 5000):
                chunk = waiting[offset : offset + 5000]
                async with resources.redis.pipeline(transaction=False) as pipe:
                    for follower in chunk:
                        pipe.zscore(inboxes.inbox_key(follower), member)
                    scores = await pipe.execute()
                still.extend(follower for follower, score in zip(chunk, scores, strict=True) if score is None)
            if still:
                stragglers = True
                await asyncio.sleep(0.05)
            elif stragglers:
                last_straggler = time.perf_counter()
            waiting = still
        return len(followers) - len(waiting), last_straggler
    finally:
        await resources.close()


@dataclass(frozen=True)
class Author:
    id: UUID
    username: str
    followers: list[UUID]


def fanout_test(
    size: str, port: int, feed_tokens: list[str], rate: float, concurrency: int, duration: float, who: Author
) -> Fanout:
    author_id, author, followers = who.id, who.username, who.followers
    author_token = log_in(port, [author])[0]
    video_id = asyncio.run(insert_draft(size, author_id))
    spec = LoadSpec(
        endpoint="feed", host="127.0.0.1", port=port, concurrency=concurrency, duration=duration,
        tokens=feed_tokens, rate=rate,
    )  # fmt: skip
    before = run_in_child(spec)
    during_load = ChildLoad(spec)
    # Samples are timed from the start of the child's measurement, not from its spawn: the child
    # takes a second or more to start, and a window timed from the spawn missed the fan-out's start.
    measuring_from = during_load.measuring_from()
    # Publish once the paced load has been measured for a while.
    time.sleep(max(0.0, measuring_from + min(2.0, duration / 4) - time.perf_counter()))
    published_clock = time.perf_counter()
    answer = httpx.post(
        f"http://127.0.0.1:{port}/v1/videos/{video_id}/publish",
        json={},
        headers={"Authorization": f"Bearer {author_token}"},
        timeout=30,
    )
    answer.raise_for_status()
    last_clock = asyncio.run(wait_for_last(size, followers, video_id, give_up_after=120))
    during = during_load.result()
    reached, straggler_clock = asyncio.run(check_every_inbox(size, followers, video_id, give_up_after=120))
    # Measured from sending the publish request, as a follower would see it.
    total_seconds = (straggler_clock or last_clock) - published_clock
    publish_at = published_clock - measuring_from
    window_end = publish_at + max(total_seconds, 2.0)
    window = [latency for at, latency in during.samples if publish_at <= at <= window_end]
    earlier = [latency for at, latency in before.samples if publish_at <= at <= window_end]
    return Fanout(
        author=author,
        followers=len(followers),
        seconds=total_seconds,
        reached=reached,
        # The run before, over the same stretch of its run as the window.
        p99_before_ms=percentile(earlier, 0.99) * 1000,
        p99_before_run_ms=before.p99_ms,
        p99_during_ms=percentile(window, 0.99) * 1000,
        window_requests=len(window),
        p99_during_run_ms=during.p99_ms,
    )


# --- the run -----------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = ""
    for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines():  # noqa: S607
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])

    async def versions() -> tuple[str, str]:
        conn = await asyncpg.connect(database_url("small", "postgres"))
        try:
            postgres = str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(redis_url())
        try:
            info = await client.info("server")
        finally:
            await client.aclose()
        return postgres, str(info.get("redis_version", "?"))

    postgres, redis_version = asyncio.run(versions())
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "ram_gib": f"{memory_kb / 2**20:.1f}",
        "postgresql": postgres,
        "redis": redis_version,
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    size = args.size
    concurrencies = [int(part) for part in args.concurrency.split(",")]
    asyncio.run(build(size, args.rebuild))

    async def prepare() -> tuple[list[str], dict[str, float], Author]:
        resources = open_resources(bench_settings(size))
        try:
            await warm.clear_namespace(resources)
            author_id, author, _ = await warm.fanout_author(resources)
            pool = await warm.pool_users(resources, args.users, author_id)
            followers = await warm.follower_ids(resources, author_id)
            timings = await warm.warm(resources, [user for user, _ in pool], followers)
            return [name for _, name in pool], timings, Author(author_id, author, followers)
        finally:
            await resources.close()

    load_before = os.getloadavg()
    started = time.perf_counter()
    usernames, warm_timings, who = asyncio.run(prepare())
    print(f"warmed inboxes in {time.perf_counter() - started:.0f} s: {warm_timings}", flush=True)
    video_ids = asyncio.run(sample_videos(size))

    ceiling = client_ceiling(args.port + 1, max(concurrencies), min(args.duration, 5))
    print(f"load client alone against a stub server: {ceiling.rps:,.0f} requests/s", flush=True)

    api = Api(size, args.port, args.workers)
    try:
        api.wait_ready()
        api.start_sampling()
        tokens = log_in(args.port, usernames)
        print(f"API up ({args.workers} workers); {len(tokens)} users logged in", flush=True)

        def spec(endpoint: str, concurrency: int, rate: float = 0.0) -> LoadSpec:
            return LoadSpec(
                endpoint=endpoint, host="127.0.0.1", port=args.port, concurrency=concurrency,
                duration=args.duration, tokens=tokens, video_ids=video_ids, rate=rate,
            )  # fmt: skip

        if args.fanout_only:
            # Only the fan-out test, at half the feed peak of the last full run on file.
            previous: dict[str, Any] = json.loads((RESULTS_DIR / f"{size}.json").read_text())
            # Unmeasured: the API just started, and its first feed pages rank inline (1.1-1.6 s p99
            # in the window before, which made the rise meaningless). A full run comes here warm.
            run_in_child(spec("feed", max(concurrencies), previous["peaks"]["feed"] / 2))
            rerun = fanout_test(
                size, args.port, tokens, previous["peaks"]["feed"] / 2, max(concurrencies),
                max(args.duration, 10), who,
            )  # fmt: skip
            print(f"fan-out: {rerun}", flush=True)
            previous["fanout"] = rerun.__dict__
            previous["fanout_rerun"] = datetime.now(UTC).isoformat(timespec="seconds")
            return previous
        grid: list[LoadResult] = []
        for endpoint in (*ENDPOINTS, *REFERENCE):
            for concurrency in concurrencies:
                result = run_in_child(spec(endpoint, concurrency))
                grid.append(result)
                print(_row(result), flush=True)
        peaks = {
            endpoint: max(r.rps for r in grid if r.endpoint == endpoint)
            for endpoint in (*ENDPOINTS, *REFERENCE)
        }
        half: list[LoadResult] = []
        settled: list[dict[str, Any]] = []
        for endpoint in ENDPOINTS:
            waited, backlog = settle(size)
            settled.append({"endpoint": endpoint, "waited_s": waited, "jobs": backlog})
            result = run_in_child(spec(endpoint, max(concurrencies), rate=peaks[endpoint] / 2))
            half.append(result)
            print(f"half peak (after {waited:.1f} s for {backlog} jobs):", _row(result), flush=True)
        fanout: Fanout | None = None
        if not args.skip_fanout:
            fanout = fanout_test(
                size, args.port, tokens, peaks["feed"] / 2, max(concurrencies), max(args.duration, 10), who
            )
            print(f"fan-out: {fanout}", flush=True)
        api.sample_rss()
    finally:
        api.stop()
    quick_rankings = api.log_lines_with(QUICK_RANKING_EVENT)

    report: dict[str, Any] = {
        "size": size,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_before": load_before,
        "workers": args.workers,
        "duration_s": args.duration,
        "users_logged_in": len(tokens),
        "client_ceiling_rps": ceiling.rps,
        "machine": machine(),
        "dataset": asyncio.run(dataset_counts(size)),
        "grid": [r.summary() for r in grid],
        "peaks": peaks,
        "half_peak": [r.summary() for r in half],
        "half_peak_settled": settled,
        "fanout": fanout.__dict__ if fanout else None,
        "quick_rankings": quick_rankings,
        "load_average_after": os.getloadavg(),
        "rss_mb": {
            "workers_sum_peak": api.rss_workers_mb,
            "largest_worker_peak": api.rss_largest_worker_mb,
            "main_peak": api.rss_main_mb,
            "workers": api.rss_workers,
        },
    }
    return report


async def dataset_counts(size: str) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url(size, "postgres"))
    try:
        comment = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            f"remixfeed_bench_{size}",
        )
    finally:
        await conn.close()
    counts: dict[str, Any] = json.loads(comment) if comment else {}
    return counts


# --- the report --------------------------------------------------------------------------------------


def _row(r: LoadResult | dict[str, Any]) -> str:
    d = r.summary() if isinstance(r, LoadResult) else r
    items = f"  items/page {d['items_per_page']:.1f}" if d.get("items_per_page") is not None else ""
    return (
        f"{LABELS.get(d['endpoint'], d['endpoint']):28} c={d['concurrency']:<3} {d['rps']:8.0f}/s "
        f"p50 {d['p50_ms']:6.1f} p90 {d['p90_ms']:6.1f} p99 {d['p99_ms']:6.1f} ms  "
        f"errors {d['errors']}{items}"
    )


def _loads(values: Sequence[float] | None) -> str:
    return "/".join(f"{value:.1f}" for value in values) if values else "?"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def render(report: dict[str, Any], small: dict[str, Any] | None) -> str:
    """The results of one run as Markdown (also printed)."""
    peaks: dict[str, float] = report["peaks"]
    lines = [
        f"### {report['size']} ({report['when']}, {report['workers']} API workers, "
        f"{report['duration_s']} s per step)",
        "",
        f"Data set: {json.dumps({k: v for k, v in report['dataset'].items() if k not in ('version',)})}",
        "",
        f"Load average (1, 5, 15 min) before the run {_loads(report.get('load_average_before'))}, "
        f"after it {_loads(report.get('load_average_after'))}, on {report['machine']['cores']} cores: "
        "anything above about 1 is other work competing with the bench.",
        "",
        "Load client alone against a stub server on this machine: "
        f"{report['client_ceiling_rps']:,.0f} requests/s.",
        "",
        "| endpoint | concurrency | requests/s | p50 ms | p90 ms | p99 ms | errors "
        "| ratio to /health/live peak |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in report["grid"]:
        ratio = d["rps"] / peaks["health"] if peaks["health"] else 0.0
        lines.append(
            f"| {LABELS[d['endpoint']]} | {d['concurrency']} | {d['rps']:.0f} | {d['p50_ms']:.1f} | "
            f"{d['p90_ms']:.1f} | {d['p99_ms']:.1f} | {d['errors']} | {ratio:.2f} |"
        )
    if peaks.get("me") and peaks["health"]:
        lines += [
            "",
            f"GET /v1/me, a simple signed-in read, peaked at {peaks['me']:.0f} requests/s, "
            f"{peaks['me'] / peaks['health']:.2f} of /health/live; the for_you page peaked at "
            f"{peaks['feed'] / peaks['me']:.2f} of it.",
        ]
    waits = ", ".join(
        f"{LABELS[d['endpoint']]} {d['jobs']:.0f} jobs, {d['waited_s']:.1f} s"
        for d in report.get("half_peak_settled", [])
    )
    lines += [
        "",
        "At half of each endpoint's peak rate (open loop, latency from the scheduled send time)"
        + (
            f", each after waiting for the job queue to empty (jobs at the start, seconds waited): {waits}"
            if waits
            else ""
        )
        + ":",
        "",
        "| endpoint | rate/s | requests/s | p50 ms | p90 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for d in report["half_peak"]:
        lines.append(
            f"| {LABELS[d['endpoint']]} | {d['rate_limit']:.0f} | {d['rps']:.0f} | {d['p50_ms']:.1f} | "
            f"{d['p90_ms']:.1f} | {d['p99_ms']:.1f} | {d['errors']} |"
        )
    feed_rows = [d for d in report["grid"] if d["endpoint"] == "feed" and d.get("items_per_page") is not None]
    if feed_rows:
        average = sum(d["items_per_page"] for d in feed_rows) / len(feed_rows)
        lines += ["", f"Feed pages carried {average:.1f} items on average (20 asked)."]
    if report.get("quick_rankings") is not None:
        lines += [
            "",
            f"Feed pages that found every inline ranking turn of their API process taken and ranked "
            f"quickly instead: {report['quick_rankings']}.",
        ]
    rss = report["rss_mb"]
    lines += [
        "",
        f"API memory (RSS, peak): {rss['workers_sum_peak']:.0f} MB summed over its {rss['workers']} "
        f"serving worker processes, the largest {rss['largest_worker_peak']:.0f} MB; granian's main "
        f"process (supervisor; it also ran the migrations) {rss['main_peak']:.0f} MB more.",
    ]
    fanout = report.get("fanout")
    if fanout:
        lines += [
            "",
            (
                f"(Fan-out test rerun alone at {report['fanout_rerun']}.) "
                if report.get("fanout_rerun")
                else ""
            )
            + f"Fan-out: {fanout['author']} ({fanout['followers']:,} followers) published during the "
            f"feed load at half its peak; {fanout['reached']:,} inboxes held it {fanout['seconds']:.2f} s "
            f"after the publish request was sent. Feed p99 in that window {fanout['p99_during_ms']:.1f} ms "
            f"({fanout['window_requests']} requests) against {fanout['p99_before_ms']:.1f} ms in the run "
            f"before; whole runs {fanout['p99_during_run_ms']:.1f} ms against "
            f"{fanout['p99_before_run_ms']:.1f} ms. Judged on the {fanout['judged_on']} "
            f"({MIN_WINDOW_REQUESTS}+ requests make a window): {fanout['rise'] * 100:+.0f}%.",
        ]
    lines += ["", "| target | measured | result |", "|---|---|---|"]
    feed_ratio = peaks["feed"] / peaks["health"] if peaks["health"] else 0.0
    lines.append(
        f"| for_you throughput ≥ {TARGET_RATIO} x /health/live | {feed_ratio:.2f} | "
        f"{_verdict(feed_ratio >= TARGET_RATIO)} |"
    )
    for d in report["half_peak"]:
        lines.append(
            f"| p99 ≤ {TARGET_P99_MS:.0f} ms at half peak, {LABELS[d['endpoint']]} | {d['p99_ms']:.1f} ms | "
            f"{_verdict(d['p99_ms'] <= TARGET_P99_MS)} |"
        )
    if report["size"] == "large":
        if small:
            for endpoint in ENDPOINTS:
                mine = _half(report, endpoint)
                theirs = _half(small, endpoint)
                if mine is None or theirs is None:
                    continue
                factor = mine / theirs if theirs else float("inf")
                lines.append(
                    f"| large p99 ≤ {TARGET_LARGE_FACTOR} x small p99 (half peak), {LABELS[endpoint]} | "
                    f"{mine:.1f} / {theirs:.1f} ms = {factor:.2f} | "
                    f"{_verdict(factor <= TARGET_LARGE_FACTOR)} |"
                )
        else:
            lines.append("| large p99 ≤ 1.3 x small p99 | no small results on file | not measured |")
    if fanout:
        lines.append(
            f"| fan-out to every follower ≤ {TARGET_FANOUT_S:.0f} s | {fanout['seconds']:.2f} s "
            f"({fanout['reached']:,}/{fanout['followers']:,}) | "
            f"{_verdict(fanout['seconds'] <= TARGET_FANOUT_S and fanout['reached'] == fanout['followers'])} |"
        )
        lines.append(
            f"| feed p99 rise during fan-out ≤ {TARGET_FANOUT_RISE * 100:.0f}% | "
            f"{fanout['rise'] * 100:+.0f}% | "
            f"{_verdict(fanout['rise'] <= TARGET_FANOUT_RISE)} |"
        )
    # The target is per API process; the sum over the serving workers is the stricter reading an
    # earlier report used, kept beside it.
    lines.append(
        f"| API process memory < {TARGET_RSS_MB:.0f} MB (largest serving process) | "
        f"{rss['largest_worker_peak']:.0f} MB | {_verdict(rss['largest_worker_peak'] < TARGET_RSS_MB)} |"
    )
    lines.append(
        f"| API memory < {TARGET_RSS_MB:.0f} MB summed over its {rss['workers']} serving processes | "
        f"{rss['workers_sum_peak']:.0f} MB | {_verdict(rss['workers_sum_peak'] < TARGET_RSS_MB)} |"
    )
    return "\n".join(lines) + "\n"


def _half(report: dict[str, Any], endpoint: str) -> float | None:
    for d in report["half_peak"]:
        if d["endpoint"] == endpoint:
            value: float = d["p99_ms"]
            return value
    return None


def write_results() -> None:
    """bench/RESULTS.md from every size's last results on file."""
    reports = {path.stem: json.loads(path.read_text()) for path in sorted(RESULTS_DIR.glob("*.json"))}
    if not reports:
        return
    small = reports.get("small")
    parts = [
        "# Bench results",
        "",
        "Written by `make bench` (bench/load.py) from bench/results/*.json; see bench/README.md.",
        "",
    ]
    # Each size's last run may come from another machine: each is named.
    for name, report in reports.items():
        m = report["machine"]
        parts += [
            f"Machine of the {name} run: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; "
            f"PostgreSQL {m['postgresql']}, Redis {m['redis']}, Python {m['python']} ({m['os']}).",
            "",
        ]
    parts += [
        "PostgreSQL, Redis, the API, its job worker and the load client all share the cores.",
        "",
    ]
    for name in ("small", "large", *[n for n in reports if n not in ("small", "large")]):
        if name in reports:
            parts.append(render(reports[name], small))
    (HERE / "RESULTS.md").write_text("\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data set first")
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--users", type=int, default=128, help="users logged in for the load")
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument(
        "--fanout-only", action="store_true", help="rerun only the fan-out test into the results on file"
    )
    args = parser.parse_args()
    report = run(args)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{args.size}.json").write_text(json.dumps(report, indent=2) + "\n")
    small_path = RESULTS_DIR / "small.json"
    small = json.loads(small_path.read_text()) if small_path.exists() and args.size == "large" else None
    print()
    print(render(report, small))
    write_results()


if __name__ == "__main__":
    main()
