"""When the moderation endpoint fails, is unreachable or too slow, nothing fails for the user: the
text is accepted and flagged `screening_unavailable` for a human. The local rules still refuse
clear violations meanwhile. With REMIXFEED_SCREENING_MODE=local only the local rules run."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.factory import create_app
from app.resources import Resources
from app.screening import SCREENING_UNAVAILABLE, text_fingerprint
from generation.simulator import SimulatorHandle
from tests.accounts.helpers import assert_problem
from tests.conftest import make_settings, serve_in_process
from tests.factories import UserFactory
from tests.feed.factories import VideoFactory
from tests.feed.helpers import comment, publish
from tests.generation.helpers import generate, simulator_control, wait_until_done
from tests.harness import RunServers
from tests.screening.helpers import flag_jobs, published_video

OtherApp = Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, Resources]]]


def unavailable(target_type: str, target_id: str, text_kind: str, text: str) -> dict[str, Any]:
    return {
        "target_type": target_type,
        "target_id": target_id,
        "categories": [SCREENING_UNAVAILABLE],
        "text_kind": text_kind,
        "text_sha": text_fingerprint(text),
    }


def refused_port() -> int:
    """A loopback port nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def other_app(servers: RunServers, simulator: SimulatorHandle, tmp_path: Path) -> OtherApp:
    """An app of its own settings, on the shared database, with its own job queue and worker."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
        settings = make_settings(
            servers,
            tmp_path,
            simulator,
            redis_namespace=f"{servers.redis_namespace}-screening",  # only its own worker takes its jobs
            **overrides,
        )
        app = create_app(settings)
        async with serve_in_process(app) as http:
            yield http, app.state.resources

    return start


@pytest.mark.parametrize(
    "fault",
    [{"status": 500}, {"status": 429, "retry_after": 30}, {"garbage": True}],
    ids=["server-error", "rate-limited", "garbage"],
)
async def test_a_failing_endpoint_accepts_the_prompt_and_flags_it(
    client: httpx.AsyncClient,
    users: UserFactory,
    resources: Resources,
    simulator: SimulatorHandle,
    fault: dict[str, Any],
) -> None:
    alice = await users.create("alice")
    await simulator_control(simulator, "faults", {"operation": "moderations", **fault})
    accepted = await generate(client, alice.headers, prompt="a fox in the snow")
    assert (await simulator_control(simulator, "stats"))["faults_served"] == 1
    assert await flag_jobs(resources) == [
        unavailable("generation", accepted["id"], "prompt", "a fox in the snow")
    ]
    done = await wait_until_done(client, alice.headers, accepted["id"])
    assert done["status"] == "completed"


async def test_a_failing_endpoint_accepts_captions_and_comments_and_flags_them(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    resources: Resources,
    simulator: SimulatorHandle,
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    draft = await videos.draft(alice)
    await simulator_control(simulator, "faults", {"operation": "moderations", "status": 503, "times": 2})
    published = await publish(client, alice, draft.id, caption="golden hour")
    assert published.status_code == 200, published.text
    posted = await comment(client, bob, draft.id, "so calm")
    assert posted.status_code == 201, posted.text
    assert await flag_jobs(resources) == sorted(
        [
            unavailable("video", draft.id, "caption", "golden hour"),
            unavailable("comment", posted.json()["id"], "comment", "so calm"),
        ],
        key=str,
    )


async def test_the_local_rules_still_refuse_while_the_endpoint_is_down(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    resources: Resources,
    simulator: SimulatorHandle,
) -> None:
    alice = await users.create("alice")
    video_id = await published_video(client, videos, alice)
    await simulator_control(simulator, "faults", {"operation": "moderations", "status": 500, "times": 10})
    prompt = await client.post(
        "/v1/generations", json={"prompt": "naked children on a beach"}, headers=alice.headers
    )
    assert_problem(prompt, 422, "prompt_rejected")
    assert_problem(await comment(client, alice, video_id, "naked kids here"), 422, "content_rejected")
    stats = await simulator_control(simulator, "stats")
    assert (stats["requests"]["moderations"], stats["faults_served"]) == (0, 0)
    assert await flag_jobs(resources) == []


async def test_an_unreachable_endpoint_accepts_and_flags(
    other_app: OtherApp, users: UserFactory, videos: VideoFactory
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    draft = await videos.draft(alice)
    async with other_app(openai_base_url=f"http://127.0.0.1:{refused_port()}/v1") as (http, resources):
        published = await publish(http, alice, draft.id, caption="a quiet harbour")
        assert published.status_code == 200, published.text
        posted = await comment(http, bob, draft.id, "beautiful")
        assert posted.status_code == 201, posted.text
        jobs = await flag_jobs(resources)
    assert jobs == sorted(
        [
            unavailable("video", draft.id, "caption", "a quiet harbour"),
            unavailable("comment", posted.json()["id"], "comment", "beautiful"),
        ],
        key=str,
    )


async def test_a_slow_endpoint_times_out_and_the_comment_is_accepted_and_flagged(
    other_app: OtherApp, users: UserFactory, videos: VideoFactory, simulator: SimulatorHandle
) -> None:
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    async with other_app(screening_timeout_seconds=0.4) as (http, resources):
        assert (await publish(http, alice, draft.id)).status_code == 200
        await simulator_control(simulator, "faults", {"operation": "moderations", "delay_seconds": 3})
        started = time.monotonic()
        posted = await comment(http, alice, draft.id, "first!")
        assert posted.status_code == 201, posted.text
        assert time.monotonic() - started < 2.5  # the timeout, not the simulator's delay
        jobs = await flag_jobs(resources)
    assert jobs == [unavailable("comment", posted.json()["id"], "comment", "first!")]


async def test_local_mode_asks_no_endpoint(
    other_app: OtherApp, users: UserFactory, videos: VideoFactory, simulator: SimulatorHandle
) -> None:
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    async with other_app(screening_mode="local") as (http, resources):
        assert (await publish(http, alice, draft.id)).status_code == 200
        borderline = await comment(http, alice, draft.id, f"a {simulator.moderation_borderline_word}")
        assert borderline.status_code == 201  # the local rules know only clear violations
        clear = await comment(http, alice, draft.id, "naked minors")
        assert_problem(clear, 422, "content_rejected")
        assert await flag_jobs(resources) == []
    assert (await simulator_control(simulator, "stats"))["requests"]["moderations"] == 0
