"""Recordings of revoked and rejected cameos are deleted from storage by `cameo.purge_recordings`
once the retention window is over; the cameo's row stays."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.composition import JOBS
from app.db import in_transaction
from app.factory import create_app
from app.resources import Resources
from app.storage import MediaNotFound
from cameo.jobs import PURGE_RECORDINGS_JOB, purge_recordings
from cameo.models import Cameo
from cameo.service import review
from tests.accounts.helpers import assert_problem
from tests.cameo.media import clip, recorded
from tests.conftest import make_settings, serve_in_process


async def stored(resources: Resources, cameo_id: str) -> Cameo:
    async def work(session: Any) -> Cameo:
        cameo = await session.get(Cameo, uuid.UUID(cameo_id))
        assert cameo is not None
        return cameo

    found: Cameo = await in_transaction(resources.session_factory, work)
    return found


async def test_the_job_is_scheduled():
    job = next(job for job in JOBS if job.name == PURGE_RECORDINGS_JOB)
    assert job.cron is not None


async def test_with_no_retention_the_job_deletes_revoked_recordings_and_keeps_the_row(
    servers, simulator, tmp_path: Path, users
):
    settings = make_settings(
        servers, tmp_path, simulator, cameo_recording_retention_days=0, worker_in_process=False
    )
    app = create_app(settings)
    alice = await users.create("alice")
    bob = await users.create("bob")
    async with serve_in_process(app) as client:
        resources: Resources = app.state.resources
        revoked = (await recorded(client, alice))["id"]
        pending = (await recorded(client, bob))["id"]  # under review: kept
        key = (await stored(resources, revoked)).recording_key
        assert key is not None
        assert (await client.post(f"/v1/cameos/{revoked}/revoke", headers=alice.headers)).status_code == 200
        assert (await resources.storage.get(key))[0] == clip()  # not before the job runs

        assert await purge_recordings(resources) == 1

        with pytest.raises(MediaNotFound):
            await resources.storage.get(key)
        row = await stored(resources, revoked)
        assert row.status == "revoked"
        assert row.recording_key is None
        assert row.recording_purged_at is not None
        assert row.recording_seconds == pytest.approx(3.0)  # what was recorded stays on record
        response = await client.get(f"/v1/cameos/{revoked}/recording", headers=alice.headers)
        assert_problem(response, 404, "recording_not_found")
        assert (await stored(resources, pending)).recording_key is not None
        assert (await client.get(f"/v1/cameos/{pending}/recording", headers=bob.headers)).status_code == 200

        assert await purge_recordings(resources) == 0  # idempotent


async def test_rejected_recordings_are_deleted_after_the_window_and_a_missing_object_is_fine(
    client, users, resources
):
    alice = await users.create("alice")
    bob = await users.create("bob")
    rejected = (await recorded(client, alice))["id"]
    revoked = (await recorded(client, bob))["id"]

    async def reject(session: Any) -> Any:
        return await review.reject(session, uuid.UUID(rejected), retention_days=30)

    assert await in_transaction(resources.session_factory, reject) is not None
    assert (await client.post(f"/v1/cameos/{revoked}/revoke", headers=bob.headers)).status_code == 200

    assert await purge_recordings(resources) == 0  # both within the 30-day window

    async with resources.engine.begin() as connection:
        await connection.execute(
            text("UPDATE cameos SET recording_purge_after = now() - interval '1 minute'"),
        )
    rejected_key = (await stored(resources, rejected)).recording_key
    revoked_key = (await stored(resources, revoked)).recording_key
    assert rejected_key is not None and revoked_key is not None
    await resources.storage.delete(revoked_key)  # already gone from storage: still marked purged

    assert await purge_recordings(resources) == 2

    for cameo_id in (rejected, revoked):
        row = await stored(resources, cameo_id)
        assert row.recording_key is None and row.recording_purged_at is not None
    with pytest.raises(MediaNotFound):
        await resources.storage.get(rejected_key)
