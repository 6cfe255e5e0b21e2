"""The verification recording: only a real MP4, MOV or WebM video of 2 to 20 seconds and at most
25 MB is accepted, recognised by content; every refusal is a 4xx that changes nothing; the
recording is private to its owner and moderators."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from accounts.models import Role
from app.db import in_transaction
from cameo.models import Cameo
from tests.accounts.helpers import assert_problem, error_fields
from tests.cameo.media import CONTENT_TYPES, audio_only, clip, padded, png, recorded, start, upload

MB = 1024 * 1024


async def recording_key(resources: Any, cameo_id: str) -> str | None:
    async def work(session: Any) -> str | None:
        cameo = await session.get(Cameo, uuid.UUID(cameo_id))
        assert cameo is not None
        key: str | None = cameo.recording_key
        return key

    found: str | None = await in_transaction(resources.session_factory, work)
    return found


@pytest.mark.parametrize("kind", ["mp4", "mov", "webm"])
async def test_each_accepted_container_is_stored_and_served_back(client, users, kind):
    alice = await users.create("alice")
    data = clip(3, kind)

    cameo = await recorded(client, alice, data)

    response = await client.get(f"/v1/cameos/{cameo['id']}/recording", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.content == data
    assert response.headers["content-type"] == CONTENT_TYPES[kind]
    assert "no-store" in response.headers["cache-control"]


async def test_the_type_is_read_from_the_content_not_from_the_client(client, users):
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]
    webm = clip(3, "webm")

    response = await upload(client, alice, cameo_id, webm, filename="me.mp4", content_type="video/mp4")

    assert response.status_code == 200, response.text
    served = await client.get(f"/v1/cameos/{cameo_id}/recording", headers=alice.headers)
    assert served.headers["content-type"] == "video/webm"


async def test_lengths_at_the_limits_are_accepted(client, users):
    for seconds, name in ((2, "two"), (20, "twenty")):
        actor = await users.create(name)
        cameo = await recorded(client, actor, clip(seconds))
        assert cameo["recording_seconds"] == pytest.approx(seconds)


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


BAD_RECORDINGS = [
    # (name, data, status, code, file name, client content type)
    ("text", b"hello, this is not a video at all\n" * 20, 415, "unsupported_media", "me.mp4", "video/mp4"),
    ("png renamed .mp4", png(), 415, "unsupported_media", "me.mp4", "video/mp4"),
    ("empty", b"", 415, "unsupported_media", "me.mp4", "video/mp4"),
    ("truncated mp4", _truncated(clip(3)), 422, "invalid_recording", "me.mp4", "video/mp4"),
    (
        "truncated mp4 with its index first",
        _truncated(clip(3, "mp4-faststart")),
        422,
        "invalid_recording",
        "me.mp4",
        "video/mp4",
    ),
    ("truncated webm", _truncated(clip(3, "webm")), 422, "invalid_recording", "me.webm", "video/webm"),
    (
        "mp4 header then garbage",
        clip(3)[:32] + bytes(range(256)) * 8,
        422,
        "invalid_recording",
        "a.mp4",
        "video/mp4",
    ),
    ("one second", clip(1), 422, "invalid_recording", "me.mp4", "video/mp4"),
    ("twenty-five seconds", clip(25), 422, "invalid_recording", "me.mp4", "video/mp4"),
    ("one second webm", clip(1, "webm"), 422, "invalid_recording", "me.webm", "video/webm"),
    ("audio only", audio_only(), 422, "invalid_recording", "me.m4a", "audio/mp4"),
    ("absurdly wide", clip(3, "mp4", 4112, 16), 422, "invalid_recording", "me.mp4", "video/mp4"),
]


@pytest.mark.parametrize(
    ("data", "status", "code", "filename", "content_type"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_RECORDINGS],
)
async def test_bad_recordings_are_refused_and_change_nothing(
    client, users, resources, data, status, code, filename, content_type
):
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]

    response = await upload(client, alice, cameo_id, data, filename=filename, content_type=content_type)

    body = assert_problem(response, status, code)
    if status == 422:
        assert error_fields(body) == {"file"}
    mine = (await client.get("/v1/me/cameo", headers=alice.headers)).json()
    assert mine["status"] == "awaiting_recording" and mine["recorded_at"] is None
    assert await recording_key(resources, cameo_id) is None
    assert_problem(
        await client.get(f"/v1/cameos/{cameo_id}/recording", headers=alice.headers),
        404,
        "recording_not_found",
    )
    # The same cameo still takes a good recording afterwards.
    assert (await upload(client, alice, cameo_id, clip())).status_code == 200


async def test_the_length_limits_name_the_problem(client, users):
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]

    body = assert_problem(await upload(client, alice, cameo_id, clip(1)), 422, "invalid_recording")

    assert body["errors"][0]["field"] == "file"
    assert "2 to 20" in body["errors"][0]["message"]
    body = assert_problem(await upload(client, alice, cameo_id, audio_only()), 422, "invalid_recording")
    assert "no video" in body["errors"][0]["message"]


async def test_recordings_over_25_mb_are_refused(client, users, resources):
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]

    # Just over 25 MB: read, then refused by the size check.
    just_over = await upload(client, alice, cameo_id, padded(clip(), 25 * MB + 64 * 1024))
    body = assert_problem(just_over, 413, "recording_too_large")
    assert "25 MB" in body["detail"]
    # Well over: the body itself is refused before it is read.
    assert_problem(await upload(client, alice, cameo_id, padded(clip(), 27 * MB)), 413, "recording_too_large")
    assert await recording_key(resources, cameo_id) is None

    # A valid video padded to exactly 25 MB is fine.
    accepted = await upload(client, alice, cameo_id, padded(clip(), 25 * MB))
    assert accepted.status_code == 200, accepted.text


async def test_a_request_without_a_file_is_a_client_error(client, users):
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]
    path = f"/v1/cameos/{cameo_id}/recording"

    for response in (
        await client.post(path, headers=alice.headers),
        await client.post(path, headers=alice.headers, files={"other": ("x.mp4", clip(), "video/mp4")}),
        await client.post(path, headers=alice.headers, json={"file": "clip"}),
    ):
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_recording_is_private_to_its_owner_and_moderators(client, users):
    alice = await users.create("alice")
    bob = await users.create("bob")
    moderator = await users.create("mod", role=Role.MODERATOR)
    admin = await users.create("boss", role=Role.ADMIN)
    cameo_id = (await recorded(client, alice))["id"]
    path = f"/v1/cameos/{cameo_id}/recording"

    for reader in (alice, moderator, admin):
        response = await client.get(path, headers=reader.headers)
        assert response.status_code == 200, (reader.username, response.text)
        assert response.content == clip()
    assert_problem(await client.get(path, headers=bob.headers), 404, "cameo_not_found")
    assert_problem(await client.get(path), 401)
    assert_problem(await client.get(f"/v1/cameos/{uuid.uuid4()}/recording", headers=moderator.headers), 404)
    # Not served by the public media route either.
    assert (await client.get(f"/media/cameos/{cameo_id}/recording.mp4")).status_code == 404


async def test_a_recording_missing_from_storage_is_404_not_500(client, users, resources):
    alice = await users.create("alice")
    cameo_id = (await recorded(client, alice))["id"]
    key = await recording_key(resources, cameo_id)
    assert key is not None
    await resources.storage.delete(key)

    response = await client.get(f"/v1/cameos/{cameo_id}/recording", headers=alice.headers)

    assert_problem(response, 404, "recording_not_found")


async def test_a_failure_after_storing_leaves_no_recording_behind(
    client, users, resources, settings, monkeypatch
):
    from pathlib import Path

    from app.errors import Conflict

    async def refusing_hook(session: Any, cameo: Cameo) -> None:
        raise Conflict("refused by a hook")

    monkeypatch.setattr("cameo.hooks._recording_submitted._hooks", [refusing_hook])
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]

    assert_problem(await upload(client, alice, cameo_id, clip()), 409, "conflict")

    folder = Path(settings.media_dir) / "cameos" / cameo_id
    assert not folder.exists() or not any(folder.iterdir())
    assert (await client.get("/v1/me/cameo", headers=alice.headers)).json()["status"] == "awaiting_recording"
    # The same folder holds the recording once an upload goes through.
    monkeypatch.setattr("cameo.hooks._recording_submitted._hooks", [])
    assert (await upload(client, alice, cameo_id, clip())).status_code == 200
    assert len(list(folder.iterdir())) == 1


@pytest.mark.parametrize("database", ["reachable", "unreachable"])
async def test_a_recording_whose_commit_raised_after_committing(
    client, users, resources, monkeypatch, database
):
    """The connection lost once the server had the COMMIT: the client gets a 503, but the cameo
    committed pointing at the recording. The rollback's deletion first looks: the recording stays
    and is served. With the database unreachable for that look, it is deleted all the same (no
    unreferenced copy of a likeness), and the cameo answers recording_not_found, to record again."""
    from contextlib import asynccontextmanager

    from sqlalchemy.exc import OperationalError
    from sqlalchemy.ext.asyncio import AsyncSession

    from cameo.service import recording

    if database == "unreachable":

        @asynccontextmanager
        async def unreachable(_session: Any) -> Any:
            raise OperationalError("connect", None, ConnectionRefusedError("the database is away"))
            yield _session

        monkeypatch.setattr(recording, "confirming_transaction", unreachable)
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]
    real_commit = AsyncSession.commit
    storage = resources.storage
    real_put = storage.put
    stored: list[str] = []

    async def put(key: str, data: bytes, content_type: str) -> None:
        await real_put(key, data, content_type)
        stored.append(key)

    async def commit(session: AsyncSession) -> None:
        await real_commit(session)
        if stored:  # the upload's COMMIT, once its recording is stored
            stored.clear()
            raise OperationalError("COMMIT", None, ConnectionResetError("the connection was lost"))

    monkeypatch.setattr(storage, "put", put)
    monkeypatch.setattr(AsyncSession, "commit", commit)
    data = clip()
    lost = await upload(client, alice, cameo_id, data)
    monkeypatch.setattr(AsyncSession, "commit", real_commit)

    assert_problem(lost, 503, "service_unavailable")
    assert await recording_key(resources, cameo_id) is not None
    served = await client.get(f"/v1/cameos/{cameo_id}/recording", headers=alice.headers)
    if database == "reachable":
        assert served.status_code == 200, served.text
        assert served.content == data
    else:
        assert_problem(served, 404, "recording_not_found")
