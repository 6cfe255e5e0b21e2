"""What an operator sees: a request id on every answer, and Prometheus metrics of jobs, the job
queue and provider calls next to the request metrics."""

from __future__ import annotations

import re

import httpx

from tests.factories import UserFactory
from tests.generation.helpers import generate, wait_until_done
from tests.metrics import sample


async def test_every_answer_names_its_request_id(client: httpx.AsyncClient) -> None:
    fresh = await client.get("/health/live")
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    assert (await client.get("/health/live")).headers["x-request-id"] != fresh.headers["x-request-id"]

    # One sent by a client or a proxy is kept, so the request can be followed across services.
    kept = await client.get("/health/live", headers={"X-Request-ID": "edge-7f3a.b_c"})
    assert kept.headers["x-request-id"] == "edge-7f3a.b_c"
    # Refusals carry it too.
    refused = await client.get("/v1/me", headers={"X-Request-ID": "edge-401"})
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == "edge-401"

    # Anything that could forge log lines or headers is replaced.
    for unsafe in ("has space", "x" * 129, 'quote"d', "semi;colon"):
        replaced = await client.get("/health/live", headers={"X-Request-ID": unsafe})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"]), unsafe
    # Python's `$` also matches before a final newline: "edge-1\n" was kept, echoed in the answer's
    # header and written into every log line of the request.
    for unsafe_bytes in (b"edge-1\n", b"edge-1\r\n"):
        replaced = await client.get("/health/live", headers=[(b"x-request-id", unsafe_bytes)])
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"]), unsafe_bytes


async def test_requests_no_route_answers_name_their_request_id(client: httpx.AsyncClient) -> None:
    # The router answers these itself, before any route's middleware: they carried no X-Request-ID
    # (and left no access-log line).
    for method, path in (("GET", "/v1/no-such-thing"), ("PUT", "/v1/me"), ("HEAD", "/v1/auth/token")):
        response = await client.request(method, path, headers={"X-Request-ID": "edge-unrouted"})
        assert response.status_code in (404, 405), (method, path, response.status_code)
        assert response.headers.get("x-request-id") == "edge-unrouted", (method, path)


async def test_metrics_count_jobs_provider_calls_and_the_queue(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    before = (await client.get("/metrics")).text
    alice = await users.create("alice")
    accepted = await generate(client, alice.headers, seconds=4)
    done = await wait_until_done(client, alice.headers, accepted["id"])
    assert done["status"] == "completed", done

    after = (await client.get("/metrics")).text
    job = {"job": "generation.advance", "outcome": "complete"}
    assert sample(after, "remixfeed_jobs_total", **job) > sample(before, "remixfeed_jobs_total", **job)
    assert sample(after, "remixfeed_job_seconds_count", job="generation.advance") > 0
    for operation in ("create", "retrieve", "download"):
        calls = {"operation": operation, "outcome": "ok"}
        grew = sample(after, "remixfeed_provider_calls_total", **calls) - sample(
            before, "remixfeed_provider_calls_total", **calls
        )
        assert grew >= 1, operation
    assert sample(after, "remixfeed_provider_call_seconds_count", operation="create") >= 1
    # The queue's depth is read from Redis at each scrape.
    for state in ("queued", "active", "incomplete"):
        assert f'remixfeed_job_queue_jobs{{state="{state}"}}' in after


async def test_requests_no_route_takes_are_counted_under_one_path(client: httpx.AsyncClient) -> None:
    """A flood of 404s and 405s shows in the request metrics: counted once each, under the fixed
    path `unrouted` (never the path sent, which anyone can make up), named by the method sent."""

    def counted(metrics: str, method: str, status: int, path: str = "unrouted") -> float:
        labels = {"app_name": "remixfeed", "method": method, "path": path, "status_code": str(status)}
        return sample(metrics, "remixfeed_requests_total", **labels)

    def timed(metrics: str, method: str, status: int) -> float:
        labels = {"app_name": "remixfeed", "method": method, "path": "unrouted", "status_code": str(status)}
        return sample(metrics, "remixfeed_request_duration_seconds_count", **labels)

    before = (await client.get("/metrics")).text
    for index in range(3):
        assert (await client.get(f"/v1/no-such-thing/{index}")).status_code == 404
    assert (await client.head("/v1/no-such-thing")).status_code == 404
    assert (await client.delete("/health/live")).status_code == 405
    assert (await client.head("/v1/auth/token")).status_code == 405
    # A routed request is counted once, under its route, and not as unrouted.
    assert (await client.get("/health/live")).status_code == 200
    # A CORS preflight is answered before routing, whatever the path: not a missing route.
    preflight = await client.options(
        "/v1/no-such-thing", headers={"Origin": "https://web.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 204
    after = (await client.get("/metrics")).text

    def grew(method: str, status: int, path: str = "unrouted") -> float:
        return counted(after, method, status, path) - counted(before, method, status, path)

    assert grew("GET", 404) == 3
    assert timed(after, "GET", 404) - timed(before, "GET", 404) == 3
    assert grew("HEAD", 404) == 1
    assert grew("DELETE", 405) == 1
    assert grew("HEAD", 405) == 1
    assert grew("GET", 200, "/health/live") == 1
    assert grew("GET", 200) == 0
    assert grew("OPTIONS", 204) == 0
    assert "no-such-thing" not in after
    # A route's own 404 (a resource that is not there) is its route's, not unrouted.
    assert (await client.get(f"/v1/videos/{'0' * 8}-0000-0000-0000-{'0' * 12}")).status_code in (401, 404)
    assert counted((await client.get("/metrics")).text, "GET", 404) == counted(after, "GET", 404)
