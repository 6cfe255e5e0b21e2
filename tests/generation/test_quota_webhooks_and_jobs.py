"""Daily quota, provider webhooks, and the exactly-once guarantees of the generation job."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import openai
import pytest
import structlog
from structlog.testing import capture_logs

from app.factory import create_app
from app.resources import Resources
from generation import queries, webhooks
from generation.jobs import advance_generation, provider_for, sweep_unfinished
from generation.models import Generation
from generation.runner import advance
from generation.simulator import SimulatorHandle
from generation.webhooks import WEBHOOK_VERIFIER
from tests.conftest import make_settings, serve_in_process
from tests.factories import UserFactory
from tests.generation.helpers import (
    assert_problem,
    generate,
    simulator_control,
    stored_generation,
    wait_until_done,
)
from tests.harness import RunServers

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"remixfeed-test-webhook-secret-32b").decode()


async def test_daily_quota(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory
) -> None:
    settings = make_settings(servers, tmp_path, simulator, daily_generation_limit=2, worker_in_process=False)
    alice = await users.create("alice")
    async with serve_in_process(create_app(settings)) as client:
        quota = (await client.get("/v1/me/quota", headers=alice.headers)).json()
        assert (quota["limit"], quota["used"], quota["remaining"]) == (2, 0, 2)
        resets_at = datetime.fromisoformat(quota["resets_at"])
        assert resets_at > datetime.now(UTC)
        assert (resets_at.hour, resets_at.minute) == (0, 0)

        keyed = {**alice.headers, "Idempotency-Key": "k1"}
        assert (
            await client.post("/v1/generations", json={"prompt": "one"}, headers=keyed)
        ).status_code == 202
        assert (
            await client.post("/v1/generations", json={"prompt": "one"}, headers=keyed)
        ).status_code == 202
        assert (
            await client.post("/v1/generations", json={"prompt": ""}, headers=alice.headers)
        ).status_code == 422
        assert (
            await client.post("/v1/generations", json={"prompt": "two"}, headers=alice.headers)
        ).status_code == 202

        refused = await client.post("/v1/generations", json={"prompt": "three"}, headers=alice.headers)
        assert_problem(refused, 429, "quota_exceeded")
        retry_after = int(refused.headers["Retry-After"])
        assert 0 < retry_after <= 86400
        quota = (await client.get("/v1/me/quota", headers=alice.headers)).json()
        assert (quota["used"], quota["remaining"]) == (2, 0)

        bob = await users.create("bob")  # per user
        assert (
            await client.post("/v1/generations", json={"prompt": "his"}, headers=bob.headers)
        ).status_code == 202


async def test_concurrent_requests_cannot_overdraw_the_quota(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory
) -> None:
    settings = make_settings(servers, tmp_path, simulator, daily_generation_limit=3, worker_in_process=False)
    alice = await users.create("alice")
    async with serve_in_process(create_app(settings)) as client:
        answers = await asyncio.gather(
            *(
                client.post("/v1/generations", json={"prompt": f"n{n}"}, headers=alice.headers)
                for n in range(8)
            )
        )
    assert sorted(answer.status_code for answer in answers) == [202] * 3 + [429] * 5


def _sign(body: bytes, secret: str, msg_id: str = "msg_1", timestamp: int | None = None) -> dict[str, str]:
    stamp = str(timestamp or int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": f"v1,{signature.decode()}",
        "content-type": "application/json",
    }


async def test_the_quota_lock_does_not_hold_up_rows_that_refer_to_the_user(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, published: Any
) -> None:
    """A generation request holds its user's quota lock while it counts the day's generations and
    records the generation: that user's likes and comments (rows referring to theirs) go on."""
    alice, bob = await users.create("alice"), await users.create("bob")
    video_id = await published(bob)
    async with resources.session_factory() as session, session.begin():
        await queries.lock_user_for_quota(session, UUID(alice.id))
        liked = await asyncio.wait_for(
            client.post(f"/v1/videos/{video_id}/like", headers=alice.headers), timeout=5
        )
        assert liked.status_code == 204, liked.text


async def test_webhooks_are_verified_and_move_the_generation_on(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory, resources: Resources
) -> None:
    # Polling so slow it cannot be what finishes the generation: the webhook has to.
    settings = make_settings(
        servers,
        tmp_path,
        simulator,
        openai_webhook_secret=WEBHOOK_SECRET,
        generation_poll_seconds=120,
        redis_namespace=f"{servers.redis_namespace}-webhooks",  # no other test's worker may poll it
    )
    alice = await users.create("alice")
    app = create_app(settings)
    async with serve_in_process(app) as client:
        accepted = await generate(client, alice.headers, seconds=4)
        generation_id = UUID(accepted["id"])
        provider_video_id = None
        for _ in range(100):
            async with resources.session_factory() as session:
                row = await session.get(Generation, generation_id)
                provider_video_id = row.provider_video_id if row else None
            if provider_video_id:
                break
            await asyncio.sleep(0.05)
        assert provider_video_id
        await asyncio.sleep(1.0)  # the simulated render finishes

        event = json.dumps(
            {
                "id": "evt_1",
                "object": "event",
                "type": "video.completed",
                "created_at": int(time.time()),
                "data": {"id": provider_video_id},
            }
        ).encode()
        bad = await client.post("/v1/webhooks/sora", content=event, headers=_sign(event, "whsec_" + "A" * 44))
        assert_problem(bad, 400, "invalid_webhook")
        unsigned = await client.post(
            "/v1/webhooks/sora", content=event, headers={"content-type": "application/json"}
        )
        assert_problem(unsigned, 400, "invalid_webhook")
        stale = await client.post(
            "/v1/webhooks/sora", content=event, headers=_sign(event, WEBHOOK_SECRET, timestamp=1)
        )
        assert_problem(stale, 400, "invalid_webhook")

        for _ in range(2):  # a duplicate delivery is harmless
            good = await client.post("/v1/webhooks/sora", content=event, headers=_sign(event, WEBHOOK_SECRET))
            assert good.status_code == 204, good.text
        done = await wait_until_done(client, alice.headers, accepted["id"], within=15)
        assert done["status"] == "completed"
        drafts = (await client.get("/v1/me/drafts", headers=alice.headers)).json()["items"]
        assert len(drafts) == 1
        # Every delivery was checked by the process's one verifying client, closed with the app.
        verifier = app.state.resources.extras[WEBHOOK_VERIFIER]
        clients = [close.__self__ for close in app.state.resources.closers if hasattr(close, "__self__")]
        assert [client for client in clients if isinstance(client, openai.AsyncOpenAI)] == [verifier]

        unknown = json.dumps(
            {"id": "evt_2", "type": "video.completed", "data": {"id": "video_nope"}}
        ).encode()
        assert (
            await client.post("/v1/webhooks/sora", content=unknown, headers=_sign(unknown, WEBHOOK_SECRET))
        ).status_code == 204


async def test_a_signed_webhook_that_is_unusable_is_acknowledged_and_logged(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider redelivers whatever is not acknowledged: a verified event that cannot be used
    (not an event at all, fields missing or of the wrong type, a type we do not know) is answered
    204 and logged, once; only a delivery whose signature does not verify is refused."""
    settings = make_settings(
        servers,
        tmp_path,
        simulator,
        openai_webhook_secret=WEBHOOK_SECRET,
        redis_namespace=f"{servers.redis_namespace}-unusable-webhooks",
        log_level="INFO",  # an event of a type we do not act on is logged at info
    )
    unusable = [
        b"not json at all",
        b"[]",
        json.dumps({"type": "video.completed", "data": {"id": "video_1"}}).encode(),  # no id
        json.dumps({"id": "evt_3", "type": "video.completed"}).encode(),  # no data
        json.dumps({"id": "evt_4", "type": "video.failed", "data": {}}).encode(),
        json.dumps({"id": "evt_5", "type": "video.completed", "data": {"id": 7}}).encode(),
        json.dumps({"id": "evt_6", "type": "video.completed", "data": {"id": "video_\u0000"}}).encode(),
        b'{"id": "evt_7", "type": "video.completed", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    ]
    unknown_type = json.dumps({"id": "evt_8", "type": "batch.completed", "data": {"id": "batch_1"}}).encode()
    # A fresh logger: the module's may have been cached on first use, which capture_logs misses.
    monkeypatch.setattr(webhooks, "log", structlog.get_logger(webhooks.__name__))
    async with serve_in_process(create_app(settings)) as client:
        with capture_logs() as logs:
            for n, body in enumerate([*unusable, unknown_type]):
                signed = _sign(body, WEBHOOK_SECRET, msg_id=f"msg_{n}")
                answer = await client.post("/v1/webhooks/sora", content=body, headers=signed)
                assert answer.status_code == 204, (body[:80], answer.text)
                forged = _sign(body, "whsec_" + "A" * 44, msg_id=f"msg_{n}")
                refused = await client.post("/v1/webhooks/sora", content=body, headers=forged)
                assert_problem(refused, 400, "invalid_webhook")
    events = [entry["event"] for entry in logs if entry["event"].startswith("webhook_")]
    assert events == ["webhook_unusable"] * 8 + ["webhook_ignored"], logs


async def test_webhooks_are_refused_when_not_configured(client: httpx.AsyncClient) -> None:
    event = b'{"id": "evt_1", "type": "video.completed", "data": {"id": "video_1"}}'
    assert_problem(
        await client.post("/v1/webhooks/sora", content=event, headers=_sign(event, WEBHOOK_SECRET)), 404
    )


async def test_concurrent_steps_make_exactly_one_draft(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory, resources: Resources
) -> None:
    """Duplicated or retried steps (a redelivered job, a webhook beside a poll) take turns on the
    generation's row lock: one provider video, one draft."""
    await simulator_control(simulator, "reset")
    settings = make_settings(
        servers,
        tmp_path,
        simulator,
        worker_in_process=False,
        redis_namespace=f"{servers.redis_namespace}-steps",
    )
    alice = await users.create("alice")
    async with serve_in_process(create_app(settings)) as client:
        accepted = await generate(client, alice.headers, seconds=4)
        generation_id = UUID(accepted["id"])
        provider = provider_for(resources)
        await asyncio.gather(*(advance(resources, provider, generation_id) for _ in range(4)))
        await asyncio.sleep(1.0)
        await asyncio.gather(*(advance(resources, provider, generation_id) for _ in range(4)))
        done = await wait_until_done(client, alice.headers, accepted["id"], within=5)
        assert done["status"] == "completed"
        drafts = (await client.get("/v1/me/drafts", headers=alice.headers)).json()["items"]
        assert [draft["id"] for draft in drafts] == [done["video_id"]]
    stats = await simulator_control(simulator, "stats")
    assert stats["jobs_created"] == 1


async def test_a_webhook_step_does_not_wait_behind_a_step_that_holds_the_generation(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    """A one-off step (a webhook's) finds the generation held by another step, which may be inside
    a provider call for a minute: it leaves it to that step instead of holding a turn, a job slot
    and a connection while it waits for the row."""
    alice = await users.create("alice")
    accepted = await generate(client, alice.headers, seconds=4)
    async with resources.session_factory() as session, session.begin():
        assert await queries.for_update(session, UUID(accepted["id"])) is not None
        assert await asyncio.wait_for(advance_generation(resources, accepted["id"], follow_up=False), 5) == {}
    done = await wait_until_done(client, alice.headers, accepted["id"])
    assert done["status"] == "completed"


async def test_a_lost_job_is_found_by_the_sweep(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    """A generation whose job the queue lost (Redis flushed, a worker killed between steps) is
    found by the periodic sweep, enqueued again, and finishes."""
    alice = await users.create("alice")
    lost_id = (await stored_generation(resources, alice.id, "a job nobody enqueued")).id
    # Idle for less than REMIXFEED_GENERATION_SWEEP_IDLE_SECONDS (a day in tests): left alone.
    quiet_id = (await stored_generation(resources, alice.id, "a step that is still running")).id
    idle_since = {lost_id: datetime(2000, 1, 1, tzinfo=UTC), quiet_id: datetime.now(UTC) - timedelta(hours=1)}
    async with resources.session_factory() as session, session.begin():
        for generation_id, updated_at in idle_since.items():
            await session.execute(
                Generation.__table__.update()
                .where(Generation.id == generation_id)
                .values(updated_at=updated_at)
            )
    assert resources.settings.generation_sweep_idle_seconds > 3600
    assert await sweep_unfinished(resources) == 1
    done = await wait_until_done(client, alice.headers, str(lost_id), within=20)
    assert done["status"] == "completed"
    quiet = (await client.get(f"/v1/generations/{quiet_id}", headers=alice.headers)).json()
    assert quiet["status"] == "queued", quiet
