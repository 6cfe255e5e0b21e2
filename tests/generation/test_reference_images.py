"""A generation request's reference image: stored before the user's quota lock is taken (nothing
stored for a user already over the quota), never left behind by a request that ends without its
generation (deleted after the rollback, or by the check scheduled before the image was stored),
kept while its generation is under way and deleted once it has ended."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import structlog
from litestar import Litestar
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from app.deferred_jobs import DeferredJob
from app.factory import create_app
from app.media_deletion import DELETE_MEDIA_JOB
from app.resources import Resources
from app.settings import Settings
from app.storage import MediaInfo, MediaNotFound, MediaStorage
from cameo.models import Permission
from generation import jobs as generation_jobs
from generation import queries, references
from generation.jobs import provider_for
from generation.models import Generation
from generation.references import (
    REFERENCE_CHECK_DELAY_SECONDS,
    REFERENCE_CHECK_JOB,
    REFERENCE_SWEEP_JOB,
    check_reference,
    reference_check_key,
    sweep_ended_references,
)
from generation.runner import GIVE_UP_AFTER, advance
from generation.service import ADVANCE_JOB
from generation.simulator import SimulatorHandle
from tests.cameo.factories import CameoFactory
from tests.conftest import make_settings, serve_in_process
from tests.factories import Actor, UserFactory
from tests.generation.helpers import assert_problem, image_bytes, simulator_control, wait_until_done
from tests.harness import RunServers


class WrappedStore:
    """The app's store, with `before_put` and `after_put` run around each write of a generation's
    reference image (given its key)."""

    def __init__(self, inner: MediaStorage) -> None:
        self.inner = inner
        self.before_put: Callable[[str], Awaitable[None]] | None = None
        self.after_put: Callable[[str], Awaitable[None]] | None = None
        self.reference_puts: list[str] = []
        self.reference_gets: list[str] = []

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        reference = key.startswith("generations/") and key.endswith("/reference.png")
        if reference:
            self.reference_puts.append(key)
        if reference and self.before_put is not None:
            await self.before_put(key)
        await self.inner.put(key, data, content_type)
        if reference and self.after_put is not None:
            await self.after_put(key)

    async def get(self, key: str) -> tuple[bytes, str]:
        if key.startswith("generations/") and key.endswith("/reference.png"):
            self.reference_gets.append(key)
        return await self.inner.get(key)

    async def stat(self, key: str) -> MediaInfo:
        return await self.inner.stat(key)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        await self.inner.put_file(key, path, content_type)

    def stream(self, key: str) -> AsyncIterator[bytes]:
        return self.inner.stream(key)

    async def get_range(self, key: str, start: int, end: int, *, etag: str | None = None) -> bytes:
        return await self.inner.get_range(key, start, end, etag=etag)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    def url(self, key: str) -> str:
        return self.inner.url(key)


def own_app(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, name: str, **overrides: Any
) -> Litestar:
    """An app whose jobs no worker runs (its own Redis namespace): the checks are run by the tests."""
    settings = make_settings(
        servers,
        tmp_path,
        simulator,
        worker_in_process=False,
        redis_namespace=f"{servers.redis_namespace}-{name}",
        **overrides,
    )
    return create_app(settings)


def wrap_store(app: Litestar, monkeypatch: pytest.MonkeyPatch) -> WrappedStore:
    resources: Resources = app.state.resources
    wrapped = WrappedStore(resources.storage)
    monkeypatch.setattr(resources, "storage", wrapped)
    return wrapped


async def with_reference(
    client: httpx.AsyncClient, user: Actor, prompt: str, **fields: str
) -> httpx.Response:
    return await client.post(
        "/v1/generations",
        data={"prompt": prompt, "size": "720x1280", "seconds": "4", **fields},
        files={"input_reference": ("start.png", image_bytes(72, 128), "image/png")},
        headers=user.headers,
    )


def lose_the_last_slot_while_storing(store: WrappedStore, client: httpx.AsyncClient, user: Actor) -> None:
    """While the next reference image is written, the same user's JSON request takes their last
    generation of the day: the request storing the image passed the quota check made without the
    lock, and is refused by the one under it."""
    taken: list[httpx.Response] = []

    async def before_put(_key: str) -> None:
        if not taken:
            taken.append(
                await client.post("/v1/generations", json={"prompt": "the last"}, headers=user.headers)
            )
            assert taken[0].status_code == 202, taken[0].text

    store.before_put = before_put


def stored_references(settings: Settings) -> set[str]:
    root = settings.media_dir
    return {str(path.relative_to(root)) for path in root.glob("generations/*/reference.png")}


def generation_of(key: str) -> str:
    return key.split("/")[1]


async def reference_key_of(resources: Resources, generation_id: str) -> str | None:
    async with resources.session_factory() as session:
        generation = await session.get(Generation, UUID(generation_id))
        assert generation is not None
        return generation.input_reference_key


async def scheduled_check_in(resources: Resources, generation_id: str) -> float:
    """Seconds until the reference check of the generation is due (it must be scheduled)."""
    job = await resources.jobs.queue.job(reference_check_key(generation_id))
    assert job is not None, "no reference check scheduled"
    assert job.function == REFERENCE_CHECK_JOB
    assert job.kwargs == {"generation_id": generation_id}
    return job.scheduled - time.time()


async def is_stored(resources: Resources, key: str) -> bool:
    try:
        await resources.storage.stat(key)
    except MediaNotFound:
        return False
    return True


async def until_deleted(resources: Resources, key: str, within: float = 15.0) -> None:
    """The image is deleted right after the COMMIT that ends its generation, which a client may
    see a moment before."""
    deadline = time.monotonic() + within
    while await is_stored(resources, key):
        assert time.monotonic() < deadline, f"{key} is still stored"
        await asyncio.sleep(0.05)


async def attempts_of(resources: Resources, generation_id: str) -> int:
    async with resources.session_factory() as session:
        generation = await session.get(Generation, UUID(generation_id))
        assert generation is not None
        return generation.attempts


async def test_the_image_is_kept_while_its_generation_is_under_way_and_deleted_once_it_completes(
    client: httpx.AsyncClient,
    users: UserFactory,
    resources: Resources,
    app: Litestar,
    simulator: SimulatorHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider gets the image each time the generation is submitted: a submission refused for
    a moment is tried again with it. Once the generation has ended the image is never read again,
    so it is deleted and the generation forgets its key."""
    await simulator_control(simulator, "reset")
    await simulator_control(simulator, "faults", {"operation": "create", "status": 503, "retry_after": 2})
    store = wrap_store(app, monkeypatch)
    alice = await users.create("alice")
    response = await with_reference(client, alice, "start from this picture")
    assert response.status_code == 202, response.text
    generation_id = response.json()["id"]
    key = f"generations/{generation_id}/reference.png"
    assert await reference_key_of(resources, generation_id) == key
    deadline = time.monotonic() + 10
    while await attempts_of(resources, generation_id) < 1:
        assert time.monotonic() < deadline, "the first submission was never tried"
        await asyncio.sleep(0.05)
    # Refused once, it will be submitted again: the image stays.
    assert await is_stored(resources, key)
    assert await reference_key_of(resources, generation_id) == key
    # Its check is due once any request would have ended, and keeps the image of a generation.
    assert await scheduled_check_in(resources, generation_id) > REFERENCE_CHECK_DELAY_SECONDS - 30
    assert await check_reference(resources, generation_id) == {}
    assert await is_stored(resources, key)

    # The simulator, like the real API, refuses a reference of another size than the video's.
    done = await wait_until_done(client, alice.headers, generation_id)
    assert done["status"] == "completed", done
    assert store.reference_gets.count(key) == 2  # both submissions sent it
    assert (await simulator_control(simulator, "stats"))["requests"]["create"] == 2
    await until_deleted(resources, key)
    assert await reference_key_of(resources, generation_id) is None
    assert await check_reference(resources, generation_id) == {}  # nothing left to do
    again = (await client.get(f"/v1/generations/{generation_id}", headers=alice.headers)).json()
    assert (again["status"], again["video_id"]) == ("completed", done["video_id"])


@pytest.mark.parametrize("ending", ["failed", "blocked"])
async def test_the_image_of_a_generation_that_failed_or_was_blocked_is_deleted(
    client: httpx.AsyncClient,
    users: UserFactory,
    resources: Resources,
    simulator: SimulatorHandle,
    ending: str,
) -> None:
    await simulator_control(simulator, "reset")
    if ending == "failed":
        await simulator_control(simulator, "fail-next-job", {"code": "internal_error", "message": "on fire"})
        prompt = "a paper boat"
    else:
        prompt = f"a scene with {simulator.blocked_input_word}"
    alice = await users.create("alice")
    response = await with_reference(client, alice, prompt)
    assert response.status_code == 202, response.text
    generation_id = response.json()["id"]
    done = await wait_until_done(client, alice.headers, generation_id)
    assert done["status"] == ending, done
    await until_deleted(resources, f"generations/{generation_id}/reference.png")
    assert await reference_key_of(resources, generation_id) is None


async def test_the_image_of_a_generation_a_revocation_cancelled_is_deleted(
    client: httpx.AsyncClient,
    users: UserFactory,
    cameos: CameoFactory,
    resources: Resources,
    simulator: SimulatorHandle,
) -> None:
    """A revocation cancels the generation in its own transaction; the generation's next step finds
    it ended and deletes the image."""
    await simulator_control(simulator, "reset")
    owner, caster = await users.create("olivia"), await users.create("carl")
    cameo_id = await cameos.active(owner, permission=Permission.EVERYONE)
    await simulator_control(simulator, "faults", {"operation": "create", "status": 503, "retry_after": 2})
    response = await with_reference(client, caster, "olivia waves", cameos="olivia")
    assert response.status_code == 202, response.text
    generation_id = response.json()["id"]
    key = f"generations/{generation_id}/reference.png"
    deadline = time.monotonic() + 10
    while await attempts_of(resources, generation_id) < 1:
        assert time.monotonic() < deadline, "the first submission was never tried"
        await asyncio.sleep(0.05)
    revoked = await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=owner.headers)
    assert revoked.status_code == 200, revoked.text
    now = (await client.get(f"/v1/generations/{generation_id}", headers=caster.headers)).json()
    assert (now["status"], now["error"]["code"]) == ("cancelled", "cameo_revoked")
    await until_deleted(resources, key)
    assert await reference_key_of(resources, generation_id) is None
    assert (await simulator_control(simulator, "stats"))["jobs_created"] == 0


async def test_the_image_of_a_generation_given_up_is_deleted(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory
) -> None:
    """A generation the provider has not finished in two hours is given up (`failed`), its image
    deleted with it."""
    alice = await users.create("alice")
    app = own_app(servers, simulator, tmp_path, "reference-given-up")
    async with serve_in_process(app) as client:
        resources: Resources = app.state.resources
        response = await with_reference(client, alice, "never finished")
        assert response.status_code == 202, response.text
        generation_id = response.json()["id"]
        key = f"generations/{generation_id}/reference.png"
        async with resources.session_factory() as session, session.begin():
            await session.execute(
                Generation.__table__.update()
                .where(Generation.id == UUID(generation_id))
                .values(created_at=datetime.now(UTC) - GIVE_UP_AFTER - timedelta(minutes=1))
            )
        assert await is_stored(resources, key)
        assert (await advance(resources, provider_for(resources), UUID(generation_id))).finished
        done = (await client.get(f"/v1/generations/{generation_id}", headers=alice.headers)).json()
        assert (done["status"], done["error"]["code"]) == ("failed", "provider_timeout")
        assert not await is_stored(resources, key)
        assert await reference_key_of(resources, generation_id) is None


async def test_the_sweep_releases_the_images_of_ended_generations_a_step_did_not(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory
) -> None:
    """Generations that ended still pointing at their image (ended before images were released, or
    cancelled by a revocation whose next step was lost) lose it to the sweep; one under way, or one
    a step holds right now, keeps it."""
    alice = await users.create("alice")
    app = own_app(servers, simulator, tmp_path, "reference-sweep")
    async with serve_in_process(app) as client:
        resources: Resources = app.state.resources
        ids = []
        for prompt in ("completed long ago", "cancelled, its step lost", "under way", "held"):
            response = await with_reference(client, alice, prompt)
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        completed, cancelled, under_way, held = ids
        # As a step before this version, or a revocation, left them: ended, the image still there.
        async with resources.session_factory() as session, session.begin():
            for generation_id, status in (
                (completed, "completed"),
                (cancelled, "cancelled"),
                (held, "failed"),
            ):
                await session.execute(
                    Generation.__table__.update()
                    .where(Generation.id == UUID(generation_id))
                    .values(status=status, completed_at=datetime.now(UTC))
                )
        async with resources.session_factory() as session, session.begin():
            assert await queries.for_update(session, UUID(held)) is not None
            assert await sweep_ended_references(resources) == 2
        for generation_id in (completed, cancelled):
            assert not await is_stored(resources, f"generations/{generation_id}/reference.png")
            assert await reference_key_of(resources, generation_id) is None
        for generation_id in (under_way, held):
            key = f"generations/{generation_id}/reference.png"
            assert await is_stored(resources, key)
            assert await reference_key_of(resources, generation_id) == key
        # Nothing is left of the two, in the outbox either: deleted once the sweep had committed.
        async with resources.session_factory() as session:
            assert (
                await session.scalar(
                    select(func.count())
                    .select_from(DeferredJob)
                    .where(DeferredJob.function == DELETE_MEDIA_JOB)
                )
                == 0
            )
        assert await sweep_ended_references(resources) == 1  # the one no longer held
        assert not await is_stored(resources, f"generations/{held}/reference.png")
        assert await sweep_ended_references(resources) == 0
    assert any(job.name == REFERENCE_SWEEP_JOB and job.cron for job in generation_jobs.jobs)


async def test_the_image_is_stored_outside_the_quota_lock(
    servers: RunServers,
    simulator: SimulatorHandle,
    tmp_path: Path,
    users: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the image is being stored the user's quota lock is free: the same user's next request
    takes it and is answered before the write ends."""
    alice = await users.create("alice")
    app = own_app(servers, simulator, tmp_path, "reference-outside-lock")
    lock_free_during_put: list[bool] = []
    meanwhile: list[httpx.Response] = []

    async def quota_lock_free() -> bool:
        resources: Resources = app.state.resources
        async with resources.engine.connect() as connection, connection.begin():
            try:
                await connection.execute(
                    text("SELECT 1 FROM users WHERE id = :id FOR NO KEY UPDATE NOWAIT"),
                    {"id": UUID(alice.id)},
                )
            except DBAPIError as exc:
                if "could not obtain lock" not in str(exc):
                    raise
                return False
        return True

    async with serve_in_process(app) as client:

        async def before_put(_key: str) -> None:
            lock_free_during_put.append(await quota_lock_free())
            if lock_free_during_put[-1]:  # otherwise the next request would wait for this one
                meanwhile.append(
                    await client.post("/v1/generations", json={"prompt": "b"}, headers=alice.headers)
                )

        wrap_store(app, monkeypatch).before_put = before_put
        answer = await with_reference(client, alice, "a")
        assert answer.status_code == 202, answer.text
        assert lock_free_during_put == [True]
        assert [other.status_code for other in meanwhile] == [202]
        assert (await client.get("/v1/me/quota", headers=alice.headers)).json()["used"] == 2


async def test_a_request_that_ends_without_its_generation_leaves_no_image(
    servers: RunServers,
    simulator: SimulatorHandle,
    tmp_path: Path,
    users: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stored before the quota is counted, the image of a request then refused is deleted once the
    transaction has rolled back; so is that of a request whose COMMIT fails."""
    alice = await users.create("alice")
    app = own_app(servers, simulator, tmp_path, "reference-rolled-back", daily_generation_limit=1)
    async with serve_in_process(app) as client:
        settings: Settings = app.state.resources.settings
        failing_commits = 1
        real_commit = AsyncSession.commit

        async def commit(session: AsyncSession) -> None:
            nonlocal failing_commits
            # The transaction that queues a generation's first step (the generation itself is no longer
            # held by the session at the COMMIT).
            if failing_commits and any(
                isinstance(row, DeferredJob) and row.function == ADVANCE_JOB
                for row in session.identity_map.values()
            ):
                failing_commits -= 1
                raise OperationalError("COMMIT", None, ConnectionResetError("the connection was lost"))
            await real_commit(session)

        monkeypatch.setattr(AsyncSession, "commit", commit)
        lost = await with_reference(client, alice, "lost at the commit")
        assert_problem(lost, 503, "service_unavailable")
        assert stored_references(settings) == set()

        accepted = await with_reference(client, alice, "kept")
        assert accepted.status_code == 202, accepted.text
        kept = {f"generations/{accepted.json()['id']}/reference.png"}
        assert stored_references(settings) == kept

        refused = await with_reference(client, alice, "over the quota")
        assert_problem(refused, 429, "quota_exceeded")
        assert stored_references(settings) == kept


async def step_until_finished(resources: Resources, generation_id: str, within: float = 30.0) -> None:
    """Runs the generation's steps here, as a worker would, until it ends."""
    deadline = time.monotonic() + within
    while not (step := await advance(resources, provider_for(resources), UUID(generation_id))).finished:
        assert time.monotonic() < deadline, "the generation did not end"
        await asyncio.sleep(min(step.next_in_seconds, 0.5))


async def test_a_commit_that_raised_after_committing_keeps_the_image(
    servers: RunServers,
    simulator: SimulatorHandle,
    tmp_path: Path,
    users: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connection lost once the server had the COMMIT: the client gets a 503, but the generation
    committed, and its image stays for it (the rollback finds the generation before deleting
    anything); the generation then completes from it."""
    await simulator_control(simulator, "reset")
    alice = await users.create("alice")
    app = own_app(servers, simulator, tmp_path, "reference-commit-unknown")
    async with serve_in_process(app) as client:
        resources: Resources = app.state.resources
        store = wrap_store(app, monkeypatch)
        real_commit = AsyncSession.commit

        async def commit(session: AsyncSession) -> None:
            queues_a_step = any(
                isinstance(row, DeferredJob) and row.function == ADVANCE_JOB
                for row in session.identity_map.values()
            )
            await real_commit(session)
            if queues_a_step:
                raise OperationalError("COMMIT", None, ConnectionResetError("the connection was lost"))

        monkeypatch.setattr(AsyncSession, "commit", commit)
        lost = await with_reference(client, alice, "committed after all")
        assert_problem(lost, 503, "service_unavailable")
        monkeypatch.setattr(AsyncSession, "commit", real_commit)

        [key] = store.reference_puts
        generation_id = generation_of(key)
        assert await reference_key_of(resources, generation_id) == key
        assert stored_references(resources.settings) == {key}
        await step_until_finished(resources, generation_id)
        done = (await client.get(f"/v1/generations/{generation_id}", headers=alice.headers)).json()
        assert done["status"] == "completed", done
        assert store.reference_gets == [key]
        assert not await is_stored(resources, key)  # released once it completed


async def test_a_generation_whose_image_is_gone_fails_at_once(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory
) -> None:
    """A reference image no longer stored will not come back: the generation ends `failed`
    (`reference_missing`) at its first step, the provider never asked, rather than being tried again
    until it is given up."""
    await simulator_control(simulator, "reset")
    alice = await users.create("alice")
    app = own_app(servers, simulator, tmp_path, "reference-missing")
    async with serve_in_process(app) as client:
        resources: Resources = app.state.resources
        response = await with_reference(client, alice, "from a lost picture")
        assert response.status_code == 202, response.text
        generation_id = response.json()["id"]
        await resources.storage.delete(f"generations/{generation_id}/reference.png")

        assert (await advance(resources, provider_for(resources), UUID(generation_id))).finished
        done = (await client.get(f"/v1/generations/{generation_id}", headers=alice.headers)).json()
        assert (done["status"], done["error"]["code"]) == ("failed", "reference_missing"), done
        assert await reference_key_of(resources, generation_id) is None
        assert (await simulator_control(simulator, "stats"))["requests"]["create"] == 0
        assert (await client.get("/v1/me/quota", headers=alice.headers)).json()["used"] == 1


async def test_a_user_over_the_quota_is_refused_before_the_image_is_stored(
    servers: RunServers,
    simulator: SimulatorHandle,
    tmp_path: Path,
    users: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The quota is read once without the lock before the image is stored: a user with no
    generation left today uploads nothing (nor is a check scheduled for it)."""
    alice = await users.create("alice")
    app = own_app(servers, simulator, tmp_path, "reference-over-quota", daily_generation_limit=1)
    async with serve_in_process(app) as client:
        resources: Resources = app.state.resources
        store = wrap_store(app, monkeypatch)
        accepted = await with_reference(client, alice, "the day's one")
        assert accepted.status_code == 202, accepted.text
        assert store.reference_puts == [f"generations/{accepted.json()['id']}/reference.png"]
        checks = await resources.jobs.queue.count("incomplete")

        refused = await with_reference(client, alice, "over the quota")
        assert_problem(refused, 429, "quota_exceeded")
        assert 0 < int(refused.headers["Retry-After"]) <= 86400
        assert store.reference_puts == [f"generations/{accepted.json()['id']}/reference.png"]
        assert await resources.jobs.queue.count("incomplete") == checks
        assert (await client.get("/v1/me/quota", headers=alice.headers)).json()["used"] == 1


async def test_the_quota_check_under_the_lock_still_decides(
    servers: RunServers,
    simulator: SimulatorHandle,
    tmp_path: Path,
    users: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request that found a generation left but lost it to the user's other request while its
    image was being stored is refused under the lock, and its image deleted after the rollback."""
    alice = await users.create("alice")
    app = own_app(servers, simulator, tmp_path, "reference-lost-race", daily_generation_limit=1)
    async with serve_in_process(app) as client:
        settings: Settings = app.state.resources.settings
        store = wrap_store(app, monkeypatch)
        lose_the_last_slot_while_storing(store, client, alice)
        refused = await with_reference(client, alice, "raced")
        assert_problem(refused, 429, "quota_exceeded")
        assert len(store.reference_puts) == 1
        assert stored_references(settings) == set()
        assert (await client.get("/v1/me/quota", headers=alice.headers)).json()["used"] == 1


async def test_an_image_the_rollback_could_not_delete_is_deleted_by_its_check(
    servers: RunServers,
    simulator: SimulatorHandle,
    tmp_path: Path,
    users: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the store fails as the refused request deletes its image, the check scheduled before
    the image was stored deletes it later."""
    alice = await users.create("alice")
    app = own_app(servers, simulator, tmp_path, "reference-checked", daily_generation_limit=1)
    async with serve_in_process(app) as client:
        resources: Resources = app.state.resources
        store = wrap_store(app, monkeypatch)
        lose_the_last_slot_while_storing(store, client, alice)

        async def store_down(key: str) -> None:
            raise OSError("the store is away")

        monkeypatch.setattr(store, "delete", store_down)
        refused = await with_reference(client, alice, "over the quota")
        assert_problem(refused, 429, "quota_exceeded")
        [left] = stored_references(resources.settings)
        generation_id = generation_of(left)
        assert await scheduled_check_in(resources, generation_id) > REFERENCE_CHECK_DELAY_SECONDS - 30

        monkeypatch.undo()
        assert await check_reference(resources, generation_id) == {}
        assert stored_references(resources.settings) == set()
        assert await check_reference(resources, generation_id) == {}  # again: nothing to do


async def test_the_check_waits_for_a_request_still_under_way(
    servers: RunServers,
    simulator: SimulatorHandle,
    tmp_path: Path,
    users: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A check that comes while the request that stored the image has not ended (its generation not
    yet committed, however late) comes again later rather than delete the image."""
    alice = await users.create("alice")
    app = own_app(servers, simulator, tmp_path, "reference-late")
    stored, release = asyncio.Event(), asyncio.Event()
    keys: list[str] = []

    async def after_put(key: str) -> None:
        keys.append(key)
        stored.set()
        await release.wait()

    async with serve_in_process(app) as client:
        resources: Resources = app.state.resources
        wrap_store(app, monkeypatch).after_put = after_put
        request = asyncio.create_task(with_reference(client, alice, "slow to commit"))
        try:
            await asyncio.wait_for(stored.wait(), timeout=10)
            [key] = keys
            answer = await check_reference(resources, generation_of(key))
            assert set(answer) == {"run_again_in"}
            assert key in stored_references(resources.settings)
        finally:
            release.set()
            response = await request
        assert response.status_code == 202, response.text
        assert response.json()["id"] == generation_of(key)
        assert await check_reference(resources, generation_of(key)) == {}
        assert key in stored_references(resources.settings)


async def test_with_redis_away_the_image_is_stored_without_its_check(
    servers: RunServers,
    simulator: SimulatorHandle,
    tmp_path: Path,
    users: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Generation requests are accepted while Redis is away; the check cannot be scheduled then
    (logged), and the rollback alone deletes the image of a refused request."""
    alice = await users.create("alice")
    app = own_app(servers, simulator, tmp_path, "reference-no-redis", daily_generation_limit=2)
    async with serve_in_process(app) as client:
        resources: Resources = app.state.resources
        store = wrap_store(app, monkeypatch)

        async def redis_away(*_args: Any, **_kwargs: Any) -> None:
            raise RedisConnectionError("Redis is away")

        monkeypatch.setattr(resources.jobs, "enqueue", redis_away)
        # A fresh logger: the module's may have been cached on first use, which capture_logs misses.
        monkeypatch.setattr(references, "log", structlog.get_logger(references.__name__))
        with capture_logs() as logs:
            accepted = await with_reference(client, alice, "kept")
            lose_the_last_slot_while_storing(store, client, alice)
            refused = await with_reference(client, alice, "over the quota")
        assert accepted.status_code == 202, accepted.text
        assert_problem(refused, 429, "quota_exceeded")
        assert [entry["event"] for entry in logs if entry["log_level"] == "warning"].count(
            "reference_check_not_scheduled"
        ) == 2
        assert stored_references(resources.settings) == {f"generations/{accepted.json()['id']}/reference.png"}


async def test_a_remix_source_deleted_while_the_image_is_stored_is_refused(
    servers: RunServers,
    simulator: SimulatorHandle,
    tmp_path: Path,
    users: UserFactory,
    published: Callable[..., Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The source is checked before the image is stored, which may take a while; a delete in that
    time went unseen, and the remix of a deleted video was generated and charged to the quota. It
    is read again under the lock that holds it from then on: 404, nothing charged."""
    alice, bob = await users.create("alice"), await users.create("bob")
    source = await published(bob)
    app = own_app(servers, simulator, tmp_path, "reference-source-deleted")
    async with serve_in_process(app) as client:

        async def delete_the_source(_key: str) -> None:
            deleted = await client.delete(f"/v1/videos/{source}", headers=bob.headers)
            assert deleted.status_code == 204, deleted.text

        wrap_store(app, monkeypatch).before_put = delete_the_source
        answer = await with_reference(client, alice, "again", remix_of=source)
        assert_problem(answer, 404)
        assert (await client.get("/v1/me/quota", headers=alice.headers)).json()["used"] == 0
