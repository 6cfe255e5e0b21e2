"""A small HTTP/1.1 keep-alive load client on raw asyncio protocols (uvloop when installed).

httpx spends more CPU per request than the API under test on this machine's two cores, and wrk
cannot log in a pool of users or resume feed sessions, so the bench drives its load with this:
requests are prebuilt bytes, responses are parsed just enough (status, Content-Length or chunked
body) and each connection is one user's closed loop, or paced to a fixed total rate.

`run_load` runs in a child process (see `run_in_child`), away from the orchestrator's event loop.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast


@dataclass(frozen=True)
class LoadSpec:
    endpoint: str  # health | feed | video | like | me | stub
    host: str
    port: int
    concurrency: int
    duration: float
    tokens: list[str]
    video_ids: list[str] = field(default_factory=list)
    # Total requests per second over all connections (0: as fast as each connection can go).
    rate: float = 0.0
    warmup: float = 1.0


@dataclass
class LoadResult:
    endpoint: str
    concurrency: int
    rate_limit: float
    duration: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    statuses: dict[str, int]
    items_per_page: float | None = None
    resumes: int = 0
    # (completion time relative to the start, latency seconds) of every counted request, for windows.
    samples: list[tuple[float, float]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("samples")
        return out


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class _Connection(asyncio.Protocol):
    """One keep-alive connection answering one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but have the same methods.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._try_complete()

    def _try_complete(self) -> None:
        if self.waiter is None or self.waiter.done():
            return
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self.buffer[:head_end]).decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = -1
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            lowered = name.strip().lower()
            if lowered == "content-length":
                length = int(value.strip())
            elif lowered == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        start = head_end + 4
        if chunked:
            body = self._chunked(start)
            if body is None:
                return
            payload, end = body
        else:
            length = max(length, 0)
            if len(self.buffer) < start + length:
                return
            payload, end = bytes(self.buffer[start : start + length]), start + length
        del self.buffer[:end]
        self.waiter.set_result((status, payload))

    def _chunked(self, position: int) -> tuple[bytes, int] | None:
        parts: list[bytes] = []
        while True:
            line_end = self.buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(bytes(self.buffer[position:line_end]).split(b";")[0], 16)
            data_start = line_end + 2
            if size == 0:
                if len(self.buffer) < data_start + 2:
                    return None
                return b"".join(parts), data_start + 2
            if len(self.buffer) < data_start + size + 2:
                return None
            parts.append(bytes(self.buffer[data_start : data_start + size]))
            position = data_start + size + 2

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        if self.lost:
            raise ConnectionError("connection lost")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


def _request(method: str, path: str, host: str, token: str | None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if method != "GET":
        lines.append(f"Content-Length: {len(body)}")
        if body:
            lines.append("Content-Type: application/json")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _open(spec: LoadSpec) -> _Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(_Connection, spec.host, spec.port)
    return protocol


async def _drive(spec: LoadSpec, on_start: Callable[[float], None] | None = None) -> LoadResult:
    host = f"{spec.host}:{spec.port}"
    latencies: list[tuple[float, float]] = []
    statuses: dict[str, int] = {}
    errors = 0
    resumes = 0
    items_seen: list[int] = []
    started = time.perf_counter()
    warm_until = started + spec.warmup
    if on_start is not None:
        on_start(warm_until)
    stop_at = warm_until + spec.duration
    next_slot = [warm_until]
    interval = 1.0 / spec.rate if spec.rate > 0 else 0.0
    rng = random.Random(spec.concurrency)

    async def worker(index: int) -> None:
        nonlocal errors, resumes
        connection = await _open(spec)
        token = spec.tokens[index % len(spec.tokens)] if spec.tokens else None
        resume = _request("POST", "/v1/feed/resume", host, token)
        feed = _request("GET", "/v1/feed?cut=for_you&limit=20", host, token)
        health = _request("GET", "/health/live", host, None)
        me = _request("GET", "/v1/me", host, token)
        while True:
            if spec.endpoint == "feed":
                raw = feed
            elif spec.endpoint in ("video", "like"):
                video = rng.choice(spec.video_ids)
                if spec.endpoint == "video":
                    raw = _request("GET", f"/v1/videos/{video}", host, token)
                else:
                    raw = _request("POST", f"/v1/videos/{video}/like", host, token)
            elif spec.endpoint == "me":
                raw = me
            else:
                raw = health
            if interval:
                # Open loop at a fixed total rate: latency counts from the scheduled time, so a
                # slow server is not hidden by requests that were sent late (coordinated omission).
                scheduled = next_slot[0]
                next_slot[0] += interval
                if scheduled >= stop_at:
                    break
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                begin = scheduled
            else:
                begin = time.perf_counter()
                if begin >= stop_at:
                    break
            try:
                status, body = await connection.request(raw)
            except ConnectionError:
                errors += 1
                connection = await _open(spec)
                continue
            end = time.perf_counter()
            if begin >= warm_until:
                latencies.append((end - started, end - begin))
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if status >= 400:
                    errors += 1
            if spec.endpoint == "feed" and status == 200:
                page = json.loads(body)
                if begin >= warm_until:
                    items_seen.append(len(page["items"]))
                if page.get("break"):
                    # The session is at its break: start a new one (not timed), as a user would.
                    await connection.request(resume)
                    resumes += 1
        if connection.transport is not None:
            connection.transport.close()

    await asyncio.gather(*(worker(i) for i in range(spec.concurrency)))
    values = [latency for _, latency in latencies]
    measured = spec.duration
    return LoadResult(
        endpoint=spec.endpoint,
        concurrency=spec.concurrency,
        rate_limit=spec.rate,
        duration=measured,
        requests=len(values),
        errors=errors,
        rps=len(values) / measured,
        p50_ms=percentile(values, 0.50) * 1000,
        p90_ms=percentile(values, 0.90) * 1000,
        p99_ms=percentile(values, 0.99) * 1000,
        statuses=statuses,
        items_per_page=(sum(items_seen) / len(items_seen)) if items_seen else None,
        resumes=resumes,
        samples=[(at - spec.warmup, latency) for at, latency in latencies],
    )


def run_load(spec: LoadSpec, on_start: Callable[[float], None] | None = None) -> LoadResult:
    try:
        import uvloop

        return uvloop.run(_drive(spec, on_start))
    except ImportError:
        return asyncio.run(_drive(spec, on_start))


def _child(spec: LoadSpec, conn: Any, tell_start: bool = False) -> None:
    """Sends the load's result; first, with `tell_start`, when its measurement begins."""
    conn.send(run_load(spec, conn.send if tell_start else None))
    conn.close()


def run_in_child(spec: LoadSpec) -> LoadResult:
    """Runs the load in a separate process and waits for its result."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(spec, child), daemon=True)
    process.start()
    child.close()
    result: LoadResult = parent.recv()
    process.join()
    return result


class ChildLoad:
    """A load started in a child process that the caller collects later (the fan-out test)."""

    def __init__(self, spec: LoadSpec) -> None:
        context = multiprocessing.get_context("spawn")
        self._parent, child = context.Pipe(duplex=False)
        self._process = context.Process(target=_child, args=(spec, child, True), daemon=True)
        self._process.start()
        child.close()

    def measuring_from(self) -> float:
        """Waits for the child to start, and returns when its measurement begins (after its
        warm-up), on the perf_counter clock: a sample at `t` of its result's `samples` was taken at
        `measuring_from() + t`. The clock (CLOCK_MONOTONIC) is the machine's, not the process's; a
        child takes a second or more to start, so the time it was spawned would be wrong."""
        begins: float = self._parent.recv()
        return begins

    def result(self) -> LoadResult:
        result: LoadResult = self._parent.recv()
        self._process.join()
        return result


# --- a stub server, to measure what the client itself can do on this machine ---------------------

_STUB_RESPONSE = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"status":"ok"}'
)


class _Stub(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            del self.buffer[: end + 4]
            self.transport.write(_STUB_RESPONSE)


async def _serve_stub(port: int, ready: Any) -> None:
    server = await asyncio.get_running_loop().create_server(_Stub, "127.0.0.1", port)
    ready.set()
    async with server:
        await server.serve_forever()


def _stub_main(port: int, ready: Any) -> None:
    try:
        import uvloop

        uvloop.run(_serve_stub(port, ready))
    except ImportError:
        asyncio.run(_serve_stub(port, ready))


def client_ceiling(port: int, concurrency: int, duration: float) -> LoadResult:
    """The client's own rate against a stub server that answers at once (both on this machine)."""
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    server = context.Process(target=_stub_main, args=(port, ready), daemon=True)
    server.start()
    try:
        ready.wait(10)
        return run_in_child(
            LoadSpec(
                endpoint="stub",
                host="127.0.0.1",
                port=port,
                concurrency=concurrency,
                duration=duration,
                tokens=[],
            )
        )
    finally:
        server.terminate()
        server.join()
