"""The provider's copy of a video is deleted once it is of no more use: a generation that ends
without a draft after it was submitted (cancelled by the account's deletion or a cameo's
revocation), a draft video deleted, and, with REMIXFEED_PROVIDER_KEEP_REMIX_SOURCES off, every
completed generation's as soon as its draft has committed. A completed generation's copy is kept
otherwise: the provider makes remixes from it. A provider failing the deletion is tried again, and
the generation never notices."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from saq.job import Job as SaqJob
from saq.job import Status
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role
from app import jobs as app_jobs
from app.db import after_commit
from app.factory import create_app
from cameo.models import Cameo, Permission
from generation import provider_deletion
from generation.simulator import SimulatorHandle
from tests.accounts.test_account_deletion import delete_account
from tests.app.test_job_outbox import outbox_emptied, replay_due
from tests.cameo.factories import CameoFactory
from tests.cameo.helpers import fresh_simulator, generation_row  # noqa: F401 - a fixture
from tests.conftest import make_settings, serve_in_process
from tests.factories import Actor, UserFactory
from tests.generation.helpers import generate, simulator_control, wait_until_done
from tests.harness import RunServers
from tests.metrics import sample
from tests.moderation.helpers import appeal, claimed, decided, decision_id_for, reported
from tests.processes import eventually

pytestmark = pytest.mark.usefixtures("fresh_simulator")


async def stats(simulator: SimulatorHandle) -> dict[str, Any]:
    return await simulator_control(simulator, "stats")


async def until_deleted_at_provider(
    simulator: SimulatorHandle, provider_video_id: str, within: float = 20
) -> None:
    deadline = time.monotonic() + within
    while provider_video_id not in (await stats(simulator))["deleted_videos"]:
        assert time.monotonic() < deadline, f"{provider_video_id} was not deleted at the provider"
        await asyncio.sleep(0.1)


async def provider_id_of(resources: Any, generation_id: str) -> str:
    provider_video_id = (await generation_row(resources, generation_id)).provider_video_id
    assert provider_video_id is not None
    return provider_video_id


async def until_submitted(resources: Any, generation_id: str, within: float = 20) -> str:
    deadline = time.monotonic() + within
    while (await generation_row(resources, generation_id)).provider_video_id is None:
        assert time.monotonic() < deadline, "the generation was not submitted"
        await asyncio.sleep(0.02)
    return await provider_id_of(resources, generation_id)


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider_deletion, "MIN_BACKOFF_SECONDS", 0.5)


@pytest.fixture
def short_outbox_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    # An outbox row the request did not enqueue itself (a revocation's, or one whose process died)
    # is enqueued by a job worker once the outbox's grace is over: a second here.
    monkeypatch.setattr(app_jobs.deferred_jobs, "OUTBOX_GRACE_SECONDS", 1)


class SharedCameo(NamedTuple):
    owner: Actor
    caster: Actor
    cameo_id: str


@pytest.fixture
async def olivias_cameo(users: UserFactory, cameos: CameoFactory, short_outbox_grace: None) -> SharedCameo:
    """Olivia's cameo, which anyone may cast, and Carl to cast it; a revocation's outbox row is
    enqueued soon (`short_outbox_grace`)."""
    owner, caster = await users.create("olivia"), await users.create("carl")
    return SharedCameo(owner, caster, await cameos.active(owner, permission=Permission.EVERYONE))


async def test_a_completed_generation_keeps_its_copy_for_remixes_until_its_video_is_deleted(
    client: httpx.AsyncClient, users: UserFactory, simulator: SimulatorHandle, resources: Any
) -> None:
    alice = await users.create("alice")
    source = await generate(client, alice.headers, prompt="a lighthouse", seconds=4)
    done = await wait_until_done(client, alice.headers, source["id"])
    assert done["status"] == "completed", done
    source_copy = await provider_id_of(resources, source["id"])

    remix = await generate(
        client, alice.headers, prompt="the lighthouse at night", seconds=4, remix_of=done["video_id"]
    )
    remixed = await wait_until_done(client, alice.headers, remix["id"])
    assert remixed["status"] == "completed", remixed
    # Made by the provider from the source's copy, which is still there.
    assert (await stats(simulator))["remixes_created"] == 1
    assert source_copy not in (await stats(simulator))["deleted_videos"]

    deleted = await client.delete(f"/v1/videos/{done['video_id']}", headers=alice.headers)
    assert deleted.status_code == 204, deleted.text
    await until_deleted_at_provider(simulator, source_copy)
    # The remix's own copy stays, its video being there to remix.
    assert await provider_id_of(resources, remix["id"]) not in (await stats(simulator))["deleted_videos"]


async def test_without_keeping_remix_sources_each_video_is_deleted_at_the_provider_once_stored(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path, users: UserFactory, resources: Any
) -> None:
    alice = await users.create("alice")
    settings = make_settings(
        servers,
        tmp_path,
        simulator,
        provider_keep_remix_sources=False,
        redis_namespace=f"{servers.redis_namespace}-no-remix-sources",
    )
    async with serve_in_process(create_app(settings)) as app_client:
        source = await generate(app_client, alice.headers, prompt="a lighthouse", seconds=4)
        done = await wait_until_done(app_client, alice.headers, source["id"])
        assert done["status"] == "completed", done
        await until_deleted_at_provider(simulator, await provider_id_of(resources, source["id"]))
        # Stored before the deletion: the draft plays on.
        content = await app_client.get(f"/v1/videos/{done['video_id']}/content", headers=alice.headers)
        assert content.status_code == 200 and content.content, content.text
        # A remix still works, rendered from its prompt as for a source the provider expired.
        remix = await generate(
            app_client, alice.headers, prompt="the lighthouse at night", seconds=4, remix_of=done["video_id"]
        )
        remixed = await wait_until_done(app_client, alice.headers, remix["id"])
        assert remixed["status"] == "completed", remixed
        video = (await app_client.get(f"/v1/videos/{remixed['video_id']}", headers=alice.headers)).json()
        assert video["remix_of"] == done["video_id"]
        assert ((await stats(simulator))["remixes_created"], (await stats(simulator))["jobs_created"]) == (
            0,
            2,
        )
        await until_deleted_at_provider(simulator, await provider_id_of(resources, remix["id"]))


async def test_a_generation_cancelled_by_the_accounts_deletion_is_deleted_at_the_provider(
    client: httpx.AsyncClient, users: UserFactory, simulator: SimulatorHandle, resources: Any
) -> None:
    alice = await users.create("alice")
    generation = await generate(client, alice.headers, seconds=4)
    provider_video_id = await until_submitted(resources, generation["id"])
    assert (await delete_account(client, alice)).status_code == 204
    # Still rendering when cancelled (the provider deletes only finished videos): deleted once done.
    await until_deleted_at_provider(simulator, provider_video_id)


async def test_a_generation_cancelled_by_a_revocation_is_deleted_at_the_provider_with_the_cameos_videos(
    client: httpx.AsyncClient, simulator: SimulatorHandle, resources: Any, olivias_cameo: SharedCameo
) -> None:
    owner, caster, cameo_id = olivias_cameo
    made = await generate(client, caster.headers, cameos=["olivia"], seconds=4)
    assert (await wait_until_done(client, caster.headers, made["id"]))["status"] == "completed"
    made_copy = await provider_id_of(resources, made["id"])
    # The download fails for a while: the next generation is submitted and running when revoked.
    await simulator_control(simulator, "faults", {"operation": "content", "status": 503, "retry_after": 3})
    running = await generate(client, caster.headers, cameos=["olivia"], seconds=4)
    running_copy = await until_submitted(resources, running["id"])

    revoked = await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=owner.headers)
    assert revoked.status_code == 200, revoked.text
    done = await wait_until_done(client, caster.headers, running["id"])
    assert (done["status"], done["error"]["code"]) == ("cancelled", "cameo_revoked")
    await until_deleted_at_provider(simulator, running_copy)
    # The video made before features the revoked cameo: no one may remix it, so its copy goes too.
    await until_deleted_at_provider(simulator, made_copy)


async def test_the_provider_failing_the_deletion_is_tried_again_and_the_generation_stays_fine(
    client: httpx.AsyncClient,
    users: UserFactory,
    simulator: SimulatorHandle,
    resources: Any,
    quick_retries: None,
) -> None:
    alice = await users.create("alice")
    generation = await generate(client, alice.headers, seconds=4)
    done = await wait_until_done(client, alice.headers, generation["id"])
    provider_video_id = await provider_id_of(resources, generation["id"])
    await simulator_control(simulator, "faults", {"operation": "delete", "status": 500, "times": 2})
    await simulator_control(simulator, "faults", {"operation": "delete", "status": 429, "retry_after": 1})
    assert (await client.delete(f"/v1/videos/{done['video_id']}", headers=alice.headers)).status_code == 204

    await until_deleted_at_provider(simulator, provider_video_id)
    assert (await stats(simulator))["requests"]["delete"] == 4
    again = await client.get(f"/v1/generations/{generation['id']}", headers=alice.headers)
    assert (again.json()["status"], again.json()["video_id"]) == ("completed", done["video_id"])


async def test_a_deletion_whose_process_died_after_the_commit_still_happens(
    client: httpx.AsyncClient,
    users: UserFactory,
    simulator: SimulatorHandle,
    resources: Any,
    monkeypatch: pytest.MonkeyPatch,
    short_outbox_grace: None,
) -> None:
    """The request commits, then its process dies before enqueueing: the outbox row it committed
    is enqueued by a job worker once the outbox's grace is over."""
    original = app_jobs.KeptJob.queue_after_commit

    def dies_before_enqueueing(self: app_jobs.KeptJob, session: Any, jobs: Any) -> None:
        if self.spec.function != provider_deletion.DELETE_AT_PROVIDER_JOB:
            original(self, session, jobs)

    alice = await users.create("alice")
    generation = await generate(client, alice.headers, seconds=4)
    done = await wait_until_done(client, alice.headers, generation["id"])
    provider_video_id = await provider_id_of(resources, generation["id"])
    monkeypatch.setattr(app_jobs.KeptJob, "queue_after_commit", dies_before_enqueueing)
    assert (await client.delete(f"/v1/videos/{done['video_id']}", headers=alice.headers)).status_code == 204
    await asyncio.sleep(0.5)
    assert provider_video_id not in (await stats(simulator))["deleted_videos"]
    await until_deleted_at_provider(simulator, provider_video_id, within=30)


async def test_a_cameo_revoked_by_a_moderator_keeps_its_videos_copies_for_when_an_appeal_reinstates_it(
    client: httpx.AsyncClient,
    users: UserFactory,
    simulator: SimulatorHandle,
    resources: Any,
    olivias_cameo: SharedCameo,
) -> None:
    owner, caster, cameo_id = olivias_cameo
    mod = await users.create("mod", role=Role.MODERATOR)
    other = await users.create("other", role=Role.MODERATOR)
    async with resources.session_factory() as session, session.begin():
        # A kept recording: what a reinstatement needs.
        await session.execute(
            update(Cameo).where(Cameo.id == uuid.UUID(cameo_id)).values(recording_key="cameos/kept.mp4")
        )
    made = await generate(client, caster.headers, cameos=["olivia"], seconds=4)
    assert (await wait_until_done(client, caster.headers, made["id"]))["status"] == "completed"
    made_copy = await provider_id_of(resources, made["id"])

    await reported(client, caster, "cameo", cameo_id, "likeness")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")
    assert (await appeal(client, owner, await decision_id_for(client, owner), "it is me")).status_code == 201
    await decided(client, other, (await claimed(client, other, "appeals"))["id"], "restore_content")
    reinstated = await client.get("/v1/me/cameo", headers=owner.headers)
    assert reinstated.status_code == 200, reinstated.text
    assert reinstated.json()["status"] == "active"
    # The video featuring it may be remixed again: the provider keeps the copy a remix is made from.
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        assert made_copy not in (await stats(simulator))["deleted_videos"]
        await asyncio.sleep(0.2)


async def test_a_cameo_a_moderator_revoked_has_its_videos_copies_deleted_once_its_owner_deletes_the_account(
    client: httpx.AsyncClient,
    users: UserFactory,
    simulator: SimulatorHandle,
    resources: Any,
    olivias_cameo: SharedCameo,
) -> None:
    owner, caster, cameo_id = olivias_cameo
    mod = await users.create("mod", role=Role.MODERATOR)
    made = await generate(client, caster.headers, cameos=["olivia"], seconds=4)
    assert (await wait_until_done(client, caster.headers, made["id"]))["status"] == "completed"
    made_copy = await provider_id_of(resources, made["id"])
    await reported(client, caster, "cameo", cameo_id, "likeness")
    await decided(client, mod, (await claimed(client, mod))["id"], "remove_content")
    assert made_copy not in (await stats(simulator))["deleted_videos"]
    # No appeal can reinstate the cameo once its owner has left: the deletion deletes every video
    # the cameo is in (others' included), and with them their copies.
    assert (await delete_account(client, owner)).status_code == 204
    await until_deleted_at_provider(simulator, made_copy)


async def videos_featuring(
    client: httpx.AsyncClient, caster: Any, resources: Any, username: str, count: int
) -> list[str]:
    """`count` completed videos featuring `username`'s cameo; their provider copies."""
    made = await asyncio.gather(*(generate(client, caster.headers, cameos=[username]) for _ in range(count)))
    for generation in made:
        assert (await wait_until_done(client, caster.headers, generation["id"]))["status"] == "completed"
    return [await provider_id_of(resources, generation["id"]) for generation in made]


@pytest.fixture
def small_forget_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider_deletion, "FORGET_CAMEO_BATCH", 2, raising=False)


def forget_runs_cut_short(metrics: str) -> float:
    """How many FORGET_CAMEO_AT_PROVIDER_JOB runs failed or were queued again for a retry."""
    job = provider_deletion.FORGET_CAMEO_AT_PROVIDER_JOB
    return sum(
        sample(metrics, "remixfeed_jobs_total", job=job, outcome=outcome) for outcome in ("failed", "retried")
    )


async def test_a_cameo_in_more_videos_than_a_run_can_enqueue_has_every_copy_deleted_a_batch_a_run(
    client: httpx.AsyncClient,
    simulator: SimulatorHandle,
    resources: Any,
    monkeypatch: pytest.MonkeyPatch,
    olivias_cameo: SharedCameo,
    small_forget_batches: None,
) -> None:
    """Each deletion's enqueue is slow here, so that a run gets through two of them and no more
    before its timeout: a run going through all five in one go is cut off on every try (its
    deletions are kept in the outbox all the same, so they would still happen, later), while
    runs of a batch each complete in time."""
    owner, caster, cameo_id = olivias_cameo
    copies = await videos_featuring(client, caster, resources, "olivia", 5)
    monkeypatch.setattr(provider_deletion, "JOB_TIMEOUT_SECONDS", 2)
    enqueue_after_commit = resources.jobs.enqueue_after_commit

    def slowly(session: AsyncSession, name: str, **kwargs: Any) -> None:
        if name == provider_deletion.DELETE_AT_PROVIDER_JOB:
            after_commit(session, lambda: asyncio.sleep(0.5))
        enqueue_after_commit(session, name, **kwargs)

    monkeypatch.setattr(resources.jobs, "enqueue_after_commit", slowly)
    cut_short = forget_runs_cut_short((await client.get("/metrics")).text)
    revoked = await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=owner.headers)
    assert revoked.status_code == 200, revoked.text
    for copy in copies:
        await until_deleted_at_provider(simulator, copy, within=30)
    assert forget_runs_cut_short((await client.get("/metrics")).text) == cut_short


async def test_a_run_that_dies_after_its_first_batch_is_resumed_from_its_position(
    client: httpx.AsyncClient,
    simulator: SimulatorHandle,
    resources: Any,
    monkeypatch: pytest.MonkeyPatch,
    olivias_cameo: SharedCameo,
    small_forget_batches: None,
) -> None:
    """The run after the first batch dies on its first try, before its batch is kept (as a worker
    killed there, whose job is run again with the same arguments): the videos of the first batch
    are not gone through again, and every video's copy is deleted."""
    owner, caster, cameo_id = olivias_cameo
    copies = await videos_featuring(client, caster, resources, "olivia", 5)
    enqueue_after_commit = resources.jobs.enqueue_after_commit
    kept: list[str] = []

    def dies_once_after_the_first_batch(session: AsyncSession, name: str, **kwargs: Any) -> None:
        if name == provider_deletion.DELETE_AT_PROVIDER_JOB:
            kept.append(kwargs["provider_video_id"])
            if len(kept) == 3:
                raise RuntimeError("the worker died")
        enqueue_after_commit(session, name, **kwargs)

    monkeypatch.setattr(resources.jobs, "enqueue_after_commit", dies_once_after_the_first_batch)
    revoked = await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=owner.headers)
    assert revoked.status_code == 200, revoked.text
    for copy in copies:
        await until_deleted_at_provider(simulator, copy, within=30)
    first_batch = kept[:2]
    assert [kept.count(copy) for copy in first_batch] == [1, 1], kept
    assert set(kept) == set(copies)


async def clear_faults(simulator: SimulatorHandle) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        (await http.delete(simulator.control_url("faults"))).raise_for_status()


@pytest.mark.parametrize("mishap", ["lost_by_redis", "failed_for_good"])
async def test_a_revoked_cameos_copies_are_deleted_even_when_the_deletions_jobs_are_lost_or_fail_for_good(
    client: httpx.AsyncClient,
    simulator: SimulatorHandle,
    resources: Any,
    monkeypatch: pytest.MonkeyPatch,
    olivias_cameo: SharedCameo,
    mishap: str,
) -> None:
    """Revoking promises that the cameo's videos' copies leave the provider. Here either Redis
    acknowledges each deletion's job and then loses it (flushed, or failed over to a replica that
    never had it), or the provider hangs past the job's timeout on every try, so the job fails for
    good, and then comes back. Each deletion's outbox row stays until its job has run, and its
    replay deletes the copy. Enqueued through Redis alone, the copies stayed at the provider."""
    owner, caster, cameo_id = olivias_cameo
    copies = await videos_featuring(client, caster, resources, "olivia", 2)
    deleting = provider_deletion.DELETE_AT_PROVIDER_JOB
    queue = resources.jobs.queue
    if mishap == "lost_by_redis":
        enqueue, lost = queue.enqueue, set[str]()

        async def acknowledged_then_lost(function: str, **kwargs: Any) -> SaqJob | None:
            if function != deleting or kwargs.get("key") in lost:
                return await enqueue(function, **kwargs)
            lost.add(kwargs["key"])
            return SaqJob(function=function, queue=queue)

        monkeypatch.setattr(queue, "enqueue", acknowledged_then_lost)
    else:
        monkeypatch.setattr(provider_deletion, "JOB_TIMEOUT_SECONDS", 2)
        await simulator_control(
            simulator, "faults", {"operation": "delete", "status": 500, "delay_seconds": 5, "times": 100}
        )

    revoked = await client.post(f"/v1/cameos/{cameo_id}/revoke", headers=owner.headers)
    assert revoked.status_code == 200, revoked.text
    if mishap == "failed_for_good":

        async def failed_for_good() -> bool:
            for copy in copies:
                job = await queue.job(provider_deletion.delete_job_key(copy))
                if job is None or job.status != Status.FAILED:
                    return False
            return True

        await eventually(failed_for_good, within=60, what="every deletion's job fails for good")
        assert not set(copies) & set((await stats(simulator))["deleted_videos"])
        # The provider is back; the rows' lease ends (moved rather than waited for).
        await clear_faults(simulator)
        await replay_due(resources)

    for copy in copies:
        await until_deleted_at_provider(simulator, copy, within=30)
    await outbox_emptied(resources)
