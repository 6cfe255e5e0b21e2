"""Media that a committed change stops pointing at (a deleted video's files, a replaced cameo
recording, a replaced avatar) is deleted from storage even when the store fails right after the
commit or the process dies there: the deletion is kept in the outbox and a job worker does it
after the grace (`app.media_deletion`)."""

from __future__ import annotations

import httpx
import pytest
from saq.job import Status
from sqlalchemy.ext.asyncio import AsyncSession

import app.db
from app.media_deletion import DELETE_MEDIA_JOB
from app.resources import Resources
from app.storage import MediaNotFound, StorageUnavailable
from tests.accounts.test_avatar import image_bytes
from tests.accounts.test_avatar import upload as upload_avatar
from tests.app.test_job_outbox import kept_jobs, outbox_emptied, replay_due
from tests.cameo.factories import CameoFactory
from tests.cameo.helpers import reject
from tests.cameo.media import clip, recorded, upload
from tests.cameo.test_lifecycle import row
from tests.factories import UserFactory
from tests.feed.factories import VideoFactory
from tests.processes import eventually


async def gone(resources: Resources, *keys: str) -> bool:
    for key in keys:
        try:
            await resources.storage.get(key)
        except MediaNotFound:
            continue
        return False
    return True


def refuse_deletes(resources: Resources, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The store refuses every delete until `monkeypatch.undo()`; the keys it was asked for."""
    asked: list[str] = []

    async def refused(key: str) -> None:
        asked.append(key)
        raise StorageUnavailable("delete", OSError("the store is down"))

    monkeypatch.setattr(resources.storage, "delete", refused)
    return asked


async def replayed_until_gone(resources: Resources, keys: list[str], what: str) -> None:
    """Every kept row comes due: a job worker deletes `keys`, and the outbox empties."""
    await replay_due(resources)

    async def deleted() -> bool:
        return await gone(resources, *keys)

    await eventually(deleted, within=15, what=what)
    await outbox_emptied(resources)


async def test_a_video_deleted_while_the_store_fails_loses_its_files_once_the_store_is_back(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    cameos: CameoFactory,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cameo owner removes someone's video of them while storage refuses deletes: the 204 stands,
    and the files (their likeness) go once the store answers again."""
    alice = await users.create("alice")
    bob = await users.create("bob")
    draft = await videos.draft(alice, appearances=[(bob, await cameos.active(bob))])
    keys = [key for key in (draft.video_key, draft.thumbnail_key) if key]
    assert len(keys) == 2

    refuse_deletes(resources, monkeypatch)
    response = await client.delete(f"/v1/videos/{draft.id}", headers=bob.headers)
    assert response.status_code == 204, response.text
    assert not await gone(resources, *keys)
    ((function, kwargs),) = [(job.function, job.kwargs) for job in await kept_jobs(resources)]
    assert (function, kwargs) == (DELETE_MEDIA_JOB, {"keys": keys})

    monkeypatch.undo()
    await replayed_until_gone(resources, keys, "a job worker deletes the video's files")


async def test_files_a_job_failed_to_delete_for_good_go_once_the_store_is_back(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store stays down past the job's own retries (a few seconds): the job fails for good, and
    its outbox row stays, so a later replay deletes the files once the store is back. Deleting the
    row on that failure left a deleted video's files stored for ever after any outage of the store
    longer than the outbox's grace and the retries."""
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    keys = [key for key in (draft.video_key, draft.thumbnail_key) if key]
    assert len(keys) == 2
    attempts = refuse_deletes(resources, monkeypatch)
    response = await client.delete(f"/v1/videos/{draft.id}", headers=alice.headers)
    assert response.status_code == 204, response.text
    (kept,) = await kept_jobs(resources)
    assert kept.function == DELETE_MEDIA_JOB and kept.job_key is not None

    # The store is still down when a job worker runs the kept deletion: every try fails.
    await replay_due(resources)

    async def failed_for_good() -> bool:
        job = await resources.jobs.queue.job(kept.job_key or "")
        return job is not None and job.status == Status.FAILED

    await eventually(failed_for_good, within=30, what="the deletion's job fails for good")
    (still,) = await kept_jobs(resources)
    assert still.id == kept.id and still.replays == 1
    assert not await gone(resources, *keys) and len(attempts) > 1

    # The store is back; the row's lease ends (moved rather than waited for): the replay deletes.
    monkeypatch.undo()
    await replayed_until_gone(resources, keys, "a job worker deletes the video's files")


async def test_a_replaced_recording_goes_even_if_the_process_dies_after_the_commit(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await users.create("alice")
    cameo = await recorded(client, alice)
    old_key = (await row(resources, cameo["id"])).recording_key
    assert old_key is not None
    # Rejected, then recorded again: the first recording is referenced by nothing.
    await reject(resources, cameo["id"])
    assert (
        await client.post(f"/v1/cameos/{cameo['id']}/challenge", headers=alice.headers)
    ).status_code == 200

    async def dies_after_commit(session: AsyncSession) -> None:
        session.info.clear()  # the after-commit work never runs, as when the process dies there

    monkeypatch.setattr(app.db, "run_after_commit", dies_after_commit)
    response = await upload(client, alice, cameo["id"], clip(4))
    monkeypatch.undo()
    assert response.status_code == 200, response.text
    assert not await gone(resources, old_key)

    await replayed_until_gone(resources, [old_key], "a job worker deletes the replaced recording")


async def test_a_replaced_avatar_goes_once_the_store_takes_deletes_again(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await users.create("alice")
    first = await upload_avatar(client, alice.headers, image_bytes("PNG"))
    assert first.status_code == 200, first.text
    large = first.json()["avatar_url"].removeprefix("/media/")
    old_keys = [large, large.replace("-512.webp", "-128.webp")]
    assert not await gone(resources, *old_keys)

    refuse_deletes(resources, monkeypatch)
    second = await upload_avatar(client, alice.headers, image_bytes("PNG", (100, 400)))
    assert second.status_code == 200, second.text
    assert not await gone(resources, *old_keys)
    ((function, kwargs),) = [(job.function, job.kwargs) for job in await kept_jobs(resources)]
    assert function == DELETE_MEDIA_JOB
    assert sorted(kwargs["keys"]) == sorted(old_keys)

    monkeypatch.undo()
    await replayed_until_gone(resources, old_keys, "a job worker deletes the replaced avatar")
    assert not await gone(resources, second.json()["avatar_url"].removeprefix("/media/"))
