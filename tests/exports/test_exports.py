"""Personal data exports through HTTP: asking for one (202, then 409 while it is pending, 429 past
the limit), the background build (run by the test app's in-process worker, or here directly), the
archive's contents (the caller's data, never someone else's private data), downloading it, 404 for
anyone else's, expiry, a build that was lost or kept dying, and the account's deletion."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import uuid
import zipfile
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from accounts.jobs import purge_deleted_account
from accounts.models import Role, User
from app.resources import Resources
from app.storage import MediaNotFound
from exports import archive
from exports import queries as export_queries
from exports.jobs import archive_key, build_export, expire_archives, purge_account, sweep_stalled
from exports.models import DataExport
from exports.service import MAX_BUILD_ATTEMPTS
from generation.models import Generation, GenerationStatus
from tests.accounts.helpers import assert_problem
from tests.cameo.factories import CameoFactory
from tests.factories import Actor, UserFactory
from tests.feed import helpers as feed_helpers
from tests.feed.factories import VIDEO_BYTES, VideoFactory
from tests.generation.helpers import image_bytes
from tests.moderation.helpers import appeal, claimed, decided, decision_id_for, reported


async def ask(client: httpx.AsyncClient, actor: Actor) -> httpx.Response:
    return await client.post("/v1/me/exports", headers=actor.headers)


async def export_of(client: httpx.AsyncClient, actor: Actor, export_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/me/exports/{export_id}", headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def until_finished(client: httpx.AsyncClient, actor: Actor, export_id: str) -> dict[str, Any]:
    for _ in range(300):
        export = await export_of(client, actor, export_id)
        if export["status"] != "pending":
            return export
        await asyncio.sleep(0.1)
    raise AssertionError(f"export {export_id} still pending")


async def ready_export(client: httpx.AsyncClient, actor: Actor) -> dict[str, Any]:
    asked = await ask(client, actor)
    assert asked.status_code == 202, asked.text
    export = await until_finished(client, actor, asked.json()["id"])
    assert export["status"] == "ready", export
    return export


async def add_export(resources: Resources, actor: Actor, **values: Any) -> str:
    """An export row as a request (or a run) would have left it."""
    async with resources.session_factory() as session, session.begin():
        export = DataExport(user_id=uuid.UUID(actor.id), **{"status": "pending", **values})
        session.add(export)
        await session.flush()
        return str(export.id)


async def row_of(resources: Resources, export_id: str) -> DataExport | None:
    async with resources.session_factory() as session:
        return await session.get(DataExport, uuid.UUID(export_id))


async def stored(resources: Resources, key: str) -> bool:
    try:
        await resources.storage.stat(key)
    except MediaNotFound:
        return False
    return True


async def add_generation(resources: Resources, actor: Actor, prompt: str) -> str:
    async with resources.session_factory() as session, session.begin():
        generation = Generation(
            user_id=uuid.UUID(actor.id),
            status=GenerationStatus.FAILED.value,
            prompt=prompt,
            model="sora-2",
            seconds=8,
            size="720x1280",
            provider="openai",
            error_code="provider_error",
            error_message="it broke",
            completed_at=datetime.now(UTC),
        )
        session.add(generation)
        await session.flush()
        return str(generation.id)


def read_zip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


async def test_the_archive_holds_the_callers_data_and_no_one_elses_private_data(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    cameos: CameoFactory,
    resources: Resources,
) -> None:
    alice = await users.create("alice")
    bob = await users.create("bob")
    fran = await users.create("fran")
    walt = await users.create("walt", role=Role.MODERATOR)
    # A warning about alice, which she appeals: her appeal and what she was told are hers, the
    # moderator's note and name are not.
    await reported(client, bob, "user", alice.id, "harassment")
    warning = await claimed(client, walt, "reports")
    await decided(client, walt, warning["id"], "warn_user", note="walt's internal note on alice")
    appealed = await appeal(client, alice, await decision_id_for(client, alice), "I was joking")
    assert appealed.status_code == 201, appealed.text
    assert (
        await client.patch("/v1/me", headers=alice.headers, json={"bio": "surfing daily"})
    ).status_code == 200
    avatar = await client.put(
        "/v1/me/avatar", headers=alice.headers, files={"file": ("me.png", image_bytes(64, 64), "image/png")}
    )
    assert avatar.status_code == 200, avatar.text
    for follower, followee in ((alice, bob), (bob, alice)):
        followed = await client.post(f"/v1/users/{followee.username}/follow", headers=follower.headers)
        assert followed.status_code == 204
    # Alice's own: a draft whose prompt she hides, a published video, a comment, a like, a
    # generation, a cameo open to fran, a report.
    draft = await videos.draft(alice, prompt="my secret draft prompt")
    posted = await videos.draft(alice, prompt="a heron at dawn")
    published = await feed_helpers.publish(client, alice, posted.id, show_prompt=False)
    assert published.status_code == 200, published.text
    generation = await add_generation(resources, alice, "a lighthouse in fog")
    cameo = await cameos.active(alice, permission="approved", approved=[fran])
    # Bob's: a published video alice comments on and likes (and reports); his private draft, his
    # generation, his comment, his report: none of those are alice's.
    bob_post = await videos.draft(bob, prompt="bob's public prompt")
    assert (await feed_helpers.publish(client, bob, bob_post.id)).status_code == 200
    bob_draft = await videos.draft(bob, prompt="bob's private draft prompt")
    bob_generation = await add_generation(resources, bob, "bob's private generation prompt")
    commented = await feed_helpers.comment(client, alice, bob_post.id, "nice waves, bob")
    assert commented.status_code == 201, commented.text
    assert (await client.post(f"/v1/videos/{bob_post.id}/like", headers=alice.headers)).status_code == 204
    # Bob's comment on her video is hers to see (a notification of it is in the archive).
    bob_comment = await feed_helpers.comment(client, bob, posted.id, "bob's words on alice's video")
    assert bob_comment.status_code == 201, bob_comment.text
    report = await reported(client, alice, "video", bob_post.id, "spam")
    bob_report = await reported(client, bob, "user", fran.id, "harassment")

    asked = await ask(client, alice)
    assert asked.status_code == 202, asked.text
    export = asked.json()
    assert export["status"] == "pending"
    assert export["archive_url"] is None and export["size_bytes"] is None
    finished = await until_finished(client, alice, export["id"])
    assert finished["status"] == "ready", finished
    assert finished["archive_url"] == f"/v1/me/exports/{export['id']}/archive"
    expires_at = datetime.fromisoformat(finished["expires_at"])
    assert timedelta(days=6, hours=23) < expires_at - datetime.now(UTC) <= timedelta(days=7)

    listed = await client.get("/v1/me/exports", headers=alice.headers)
    assert [item["id"] for item in listed.json()["items"]] == [export["id"]]
    notified = await feed_helpers.notifications(client, alice)
    assert any(
        item["kind"] == "export_ready" and item["subject"]["id"] == export["id"] for item in notified
    ), notified

    download = await client.get(finished["archive_url"], headers=alice.headers)
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "application/zip"
    assert "attachment" in download.headers["content-disposition"]
    assert len(download.content) == finished["size_bytes"]
    files = read_zip(download.content)

    def data(name: str) -> Any:
        return json.loads(files[name])

    account = data("account.json")
    assert (account["id"], account["email"], account["bio"]) == (alice.id, alice.email, "surfing daily")
    assert account["age_band"] == "adult" and account["birthdate"]
    assert [p["username"] for p in data("social/following.json")] == ["bob"]
    assert [p["username"] for p in data("social/followers.json")] == ["bob"]
    own_videos = {video["id"]: video for video in data("videos.json")}
    assert set(own_videos) == {draft.id, posted.id}
    # Her own prompts, even the hidden one.
    assert own_videos[posted.id]["prompt"] == "a heron at dawn"
    assert own_videos[draft.id]["status"] == "draft"
    assert files[f"media/videos/{draft.id}.mp4"] == VIDEO_BYTES
    assert files[f"media/videos/{posted.id}.mp4"] == VIDEO_BYTES
    assert f"media/videos/{posted.id}-thumbnail.webp" in files
    assert files["media/avatar.webp"].startswith(b"RIFF")
    assert [c["body"] for c in data("comments.json")] == ["nice waves, bob"]
    assert [like["video_id"] for like in data("likes.json")] == [bob_post.id]
    assert [g["id"] for g in data("generations.json")] == [generation]
    assert data("generations.json")[0]["prompt"] == "a lighthouse in fog"
    [own_cameo] = data("cameo/cameos.json")
    assert (own_cameo["id"], own_cameo["permission"], own_cameo["approved"]) == (cameo, "approved", ["fran"])
    assert [r["id"] for r in data("moderation/reports.json")] == [report["id"]]
    [own_appeal] = data("moderation/appeals.json")
    assert (own_appeal["id"], own_appeal["statement"]) == (appealed.json()["id"], "I was joking")
    assert own_appeal["decision"]["action"] == "warn_user"
    assert len(data("sessions.json")) >= 1
    assert "README.txt" in files
    assert any(n["kind"] == "comment" for n in data("notifications.json"))

    everything = b"".join(files.values())
    for label, secret in {
        "bob's email": bob.email,
        "fran's email": fran.email,
        "bob's draft": bob_draft.id,
        "bob's draft prompt": "bob's private draft prompt",
        "bob's generation": bob_generation,
        "bob's generation prompt": "bob's private generation prompt",
        "bob's report": bob_report["id"],
        "bob's invite code": bob.invite_code,
        "the moderator's note": "walt's internal note on alice",
        "the moderator's id": walt.id,
    }.items():
        assert secret.encode() not in everything, f"the archive shows {label}"


async def test_someone_elses_export_is_not_found(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    bob = await users.create("bob")
    export = await ready_export(client, alice)
    for path in (f"/v1/me/exports/{export['id']}", f"/v1/me/exports/{export['id']}/archive"):
        assert_problem(await client.get(path, headers=bob.headers), 404, "export_not_found")
        assert (await client.get(path, headers=alice.headers)).status_code == 200
    assert (await client.get("/v1/me/exports", headers=bob.headers)).json()["items"] == []
    assert_problem(await client.get("/v1/me/exports/not-an-id", headers=bob.headers), 404, "export_not_found")


async def test_a_second_export_while_one_is_pending_is_409(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    pending = await add_export(resources, alice)
    assert_problem(await ask(client, alice), 409, "export_in_progress")
    assert_problem(
        await client.get(f"/v1/me/exports/{pending}/archive", headers=alice.headers), 409, "export_not_ready"
    )
    # Someone else is not held up by it.
    assert (await ask(client, await users.create("bob"))).status_code == 202


async def test_past_the_limit_is_429_with_retry_after_and_a_failed_export_does_not_count(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    await add_export(resources, alice, status="failed", error_code="export_failed")
    await ready_export(client, alice)
    refused = await ask(client, alice)
    assert_problem(refused, 429, "rate_limited")
    assert 86000 < int(refused.headers["Retry-After"]) <= 86401
    assert refused.headers["RateLimit-Limit"] == "1"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert len((await client.get("/v1/me/exports", headers=alice.headers)).json()["items"]) == 2
    # A day later, another may be asked for.
    async with resources.session_factory() as session, session.begin():
        await session.execute(
            update(DataExport).values(created_at=datetime.now(UTC) - timedelta(days=1, seconds=1))
        )
    assert (await ask(client, alice)).status_code == 202


async def test_an_expired_archive_is_deleted_and_410(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    export = await ready_export(client, alice)
    row = await row_of(resources, export["id"])
    assert row is not None and row.archive_key is not None
    key = row.archive_key
    assert await stored(resources, key)
    assert await expire_archives(resources) == 0
    async with resources.session_factory() as session, session.begin():
        await session.execute(update(DataExport).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    # Past its time it is refused at once, before the job deletes it.
    archive = f"/v1/me/exports/{export['id']}/archive"
    assert_problem(await client.get(archive, headers=alice.headers), 410, "export_expired")
    assert await expire_archives(resources) == 1
    assert not await stored(resources, key)
    shown = await export_of(client, alice, export["id"])
    assert (shown["status"], shown["archive_url"], shown["size_bytes"]) == ("expired", None, None)
    assert_problem(await client.get(archive, headers=alice.headers), 410, "export_expired")
    assert await expire_archives(resources) == 0


async def test_an_export_whose_build_was_lost_is_picked_up_again_by_the_sweep(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    # A run started and its worker died (attempts 1), and its job is gone from the queue.
    lost = await add_export(
        resources, alice, attempts=1, created_at=datetime.now(UTC) - timedelta(minutes=30)
    )
    recent = await add_export(resources, await users.create("bob"))
    assert await sweep_stalled(resources) == 1  # not the one just asked for
    finished = await until_finished(client, alice, lost)
    assert finished["status"] == "ready", finished
    row = await row_of(resources, lost)
    assert row is not None and row.attempts == 2
    # Running it again changes nothing: the archive stays the one made.
    assert await build_export(resources, export_id=lost) == "done"
    again = await row_of(resources, lost)
    assert (
        again is not None
        and again.archive_key == row.archive_key
        and await stored(resources, row.archive_key)
    )
    assert (await row_of(resources, recent)) is not None


async def test_an_export_whose_builds_keep_dying_is_given_up_as_failed(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    dying = await add_export(resources, alice, attempts=MAX_BUILD_ATTEMPTS)
    assert await build_export(resources, export_id=dying) == "given_up"
    failed = await export_of(client, alice, dying)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "export_interrupted"
    assert failed["completed_at"] is not None
    notified = await feed_helpers.notifications(client, alice)
    assert [item["kind"] for item in notified] == ["export_failed"]
    # A failed export is not the user's fault: another may be asked for at once.
    assert (await ask(client, alice)).status_code == 202


async def test_deleting_the_account_deletes_its_exports_and_archives(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    bob = await users.create("bob")
    export = await ready_export(client, alice)
    kept = await ready_export(client, bob)
    row = await row_of(resources, export["id"])
    assert row is not None and row.archive_key is not None
    deleted = await client.request(
        "DELETE", "/v1/me", headers=alice.headers, json={"password": alice.password}
    )
    assert deleted.status_code == 204, deleted.text
    assert (
        await client.get(f"/v1/me/exports/{export['id']}/archive", headers=alice.headers)
    ).status_code == 401
    assert await purge_deleted_account(resources, user_id=alice.id) is True
    assert await row_of(resources, export["id"]) is None
    assert not await stored(resources, row.archive_key)
    async with resources.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(DataExport)) == 1
    assert (await export_of(client, bob, kept["id"]))["status"] == "ready"


async def test_the_media_are_copied_without_holding_a_connection(
    users: UserFactory, videos: VideoFactory, resources: Resources, monkeypatch: Any
) -> None:
    alice = await users.create("alice")
    await videos.draft(alice, prompt="a heron at dawn")
    export_id = await add_export(resources, alice)
    held: list[int] = []
    stream = resources.storage.stream

    def watched(key: str) -> Any:
        held.append(resources.engine.pool.checkedout())  # type: ignore[attr-defined]
        return stream(key)

    monkeypatch.setattr(resources.storage, "stream", watched)
    assert await build_export(resources, export_id=export_id) == "ready"
    # The video and its thumbnail: copied after the data's snapshot gave its connection back.
    assert held == [0, 0]


async def test_a_build_finishing_while_the_purge_runs_leaves_no_archive_behind(
    users: UserFactory, resources: Resources, monkeypatch: Any
) -> None:
    alice = await users.create("alice")
    export_id = await add_export(resources, alice)
    uploaded: list[str] = []
    upload_done = asyncio.Event()
    may_finish = asyncio.Event()
    put_file = resources.storage.put_file

    async def held_upload(key: str, path: Any, content_type: str) -> None:
        await put_file(key, path, content_type)
        uploaded.append(key)
        upload_done.set()
        await may_finish.wait()

    monkeypatch.setattr(resources.storage, "put_file", held_upload)
    build = asyncio.create_task(build_export(resources, export_id=export_id))
    await asyncio.wait_for(upload_done.wait(), 20)
    # The account is deleted while the archive is being uploaded.
    async with resources.session_factory() as session, session.begin():
        await session.execute(
            update(User).where(User.id == uuid.UUID(alice.id)).values(deleted_at=datetime.now(UTC))
        )
    archives_of = export_queries.archives_of

    async def build_finishes_meanwhile(session: Any, user_id: uuid.UUID) -> Any:
        # The purge has read the exports (the archive not yet on the row); the build then finishes
        # before the purge deletes the rows.
        found = await archives_of(session, user_id)
        may_finish.set()
        await build
        return found

    monkeypatch.setattr(export_queries, "archives_of", build_finishes_meanwhile)
    assert await purge_deleted_account(resources, user_id=alice.id) is True
    assert await row_of(resources, export_id) is None
    (key,) = uploaded
    assert not await stored(resources, key)


async def test_a_list_past_the_zip64_limit_is_written(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, monkeypatch: Any
) -> None:
    alice = await users.create("alice")
    for number in range(5):
        await add_generation(resources, alice, f"a long enough prompt, number {number}, " * 4)
    export_id = await add_export(resources, alice)
    # A list of unknown size past the limit (2 GiB, brought down to 200 bytes here) needs zip64.
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 200)
    assert await build_export(resources, export_id=export_id) == "ready"
    monkeypatch.undo()
    download = await client.get(f"/v1/me/exports/{export_id}/archive", headers=alice.headers)
    assert download.status_code == 200, download.text
    generations = json.loads(read_zip(download.content)["generations.json"])
    assert len(generations) == 5


async def test_the_archive_is_deflated_off_the_event_loop_a_chunk_at_a_time(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, monkeypatch: Any
) -> None:
    """A build shares its worker's event loop with other jobs: deflating the JSON (a list of any
    length, a whole file, the README) runs in worker threads, never on the loop, and a list goes
    to the compressor a chunk at a time, never held whole."""
    alice = await users.create("alice")
    prompts = [f"a long enough prompt, number {number}, " * 4 for number in range(20)]
    for prompt in prompts:
        await add_generation(resources, alice, prompt)
    export_id = await add_export(resources, alice)
    loop_thread = threading.get_ident()
    deflated: list[tuple[int, int]] = []  # (thread, bytes given)
    compressobj = zlib.compressobj

    class Watched:
        """zipfile's compressor, noting the thread and the size of what it is given."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.compressor = compressobj(*args, **kwargs)

        def compress(self, data: bytes) -> bytes:
            deflated.append((threading.get_ident(), len(data)))
            return self.compressor.compress(data)

        def flush(self, *args: Any) -> bytes:
            deflated.append((threading.get_ident(), 0))
            return self.compressor.flush(*args)

    monkeypatch.setattr(zlib, "compressobj", Watched)
    # Chunks of a few hundred bytes: each generation's JSON is larger, so the list goes in several.
    monkeypatch.setattr(archive, "CHUNK_BYTES", 300)
    assert await build_export(resources, export_id=export_id) == "ready"
    monkeypatch.undo()
    assert deflated, "the JSON went through no compressor"
    assert loop_thread not in {thread for thread, _ in deflated}
    download = await client.get(f"/v1/me/exports/{export_id}/archive", headers=alice.headers)
    assert download.status_code == 200, download.text
    files = read_zip(download.content)
    generations = json.loads(files["generations.json"])
    assert sorted(generation["prompt"] for generation in generations) == sorted(prompts)
    # No piece given to a compressor held the whole list: a chunk, plus at most one item past it.
    assert max(size for _, size in deflated) < len(files["generations.json"])


async def test_a_build_cancelled_during_a_write_in_a_thread_ends_once_the_write_is_done() -> None:
    """A job's timeout cancels its task, but not the thread writing the zip: the build's
    cancellation waits for it, so its cleanup never closes the zip under a write still running."""
    started, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def write() -> None:
        started.set()
        release.wait(30)
        finished.append("written")

    build = asyncio.create_task(archive.in_thread(write))
    await asyncio.to_thread(started.wait, 30)
    build.cancel()
    for _ in range(20):
        await asyncio.sleep(0)
        build.cancel()  # cancelled again meanwhile: still waits
    assert not build.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await build
    assert finished == ["written"]


async def test_the_archive_is_built_under_the_export_tmp_dir(
    users: UserFactory, resources: Resources, monkeypatch: Any, tmp_path: Any
) -> None:
    """REMIXFEED_EXPORT_TMP_DIR: the archive is written there (the directory made if missing),
    and nothing is left there once it is uploaded."""
    alice = await users.create("alice")
    export_id = await add_export(resources, alice)
    parent = tmp_path / "exports-tmp"
    monkeypatch.setattr(resources, "settings", resources.settings.replace(export_tmp_dir=parent))
    uploaded_from: list[Any] = []
    put_file = resources.storage.put_file

    async def watched(key: str, path: Any, content_type: str) -> None:
        uploaded_from.append(path)
        assert path.is_file()
        await put_file(key, path, content_type)

    monkeypatch.setattr(resources.storage, "put_file", watched)
    assert await build_export(resources, export_id=export_id) == "ready"
    (path,) = uploaded_from
    assert path.parent.parent == parent
    assert list(parent.iterdir()) == []


async def test_what_a_run_uploaded_before_it_died_is_deleted_once_the_export_ends(
    users: UserFactory, resources: Resources, monkeypatch: Any
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    finished = await add_export(resources, alice)
    put_file = resources.storage.put_file

    async def uploads_then_dies(key: str, path: Any, content_type: str) -> None:
        await put_file(key, path, content_type)
        raise RuntimeError("the worker died before its commit")

    monkeypatch.setattr(resources.storage, "put_file", uploads_then_dies)
    with pytest.raises(RuntimeError):
        await build_export(resources, export_id=finished)
    first = archive_key(uuid.UUID(alice.id), uuid.UUID(finished), 1)
    assert await stored(resources, first)
    monkeypatch.undo()
    assert await build_export(resources, export_id=finished) == "ready"
    row = await row_of(resources, finished)
    assert row is not None and row.archive_key is not None and await stored(resources, row.archive_key)
    assert not await stored(resources, first)

    # A pending export whose run died the same way, then its account purged: no upload is left.
    pending = await add_export(resources, bob, attempts=1)
    left = archive_key(uuid.UUID(bob.id), uuid.UUID(pending), 1)
    await resources.storage.put(left, b"PK", "application/zip")
    await purge_account(resources, uuid.UUID(bob.id))
    assert not await stored(resources, left)
    assert await row_of(resources, pending) is None


async def test_runs_that_died_after_their_upload_leave_none_once_the_export_is_given_up(
    users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    # Every run so far died between its upload and its commit; the next one gives the export up.
    dying = await add_export(resources, alice, attempts=MAX_BUILD_ATTEMPTS)
    left = [archive_key(uuid.UUID(alice.id), uuid.UUID(dying), n) for n in range(1, MAX_BUILD_ATTEMPTS + 1)]
    for key in left:
        await resources.storage.put(key, b"PK", "application/zip")
    assert await build_export(resources, export_id=dying) == "given_up"
    for key in left:
        assert not await stored(resources, key)


async def test_a_last_run_failing_after_another_made_the_export_ready_keeps_its_archive(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, monkeypatch: Any
) -> None:
    """Two runs of one export at once (a run taken back from a worker thought dead): the last one
    allowed fails after the other has made the export ready, and deletes only what it uploaded."""
    alice = await users.create("alice")
    export_id = await add_export(resources, alice, attempts=MAX_BUILD_ATTEMPTS - 2)
    put_file = resources.storage.put_file
    uploaded = asyncio.Event()
    may_finish = asyncio.Event()
    runs: dict[str, asyncio.Task[str]] = {}

    async def two_runs(key: str, path: Any, content_type: str) -> None:
        if key.endswith(f"-{MAX_BUILD_ATTEMPTS - 1}.zip"):
            await put_file(key, path, content_type)
            uploaded.set()
            await may_finish.wait()
            return
        # The last run allowed: the other finishes meanwhile, then this one's build fails.
        may_finish.set()
        assert await runs["earlier"] == "ready"
        raise RuntimeError("the build failed")

    monkeypatch.setattr(resources.storage, "put_file", two_runs)
    runs["earlier"] = asyncio.create_task(build_export(resources, export_id=export_id))
    await asyncio.wait_for(uploaded.wait(), 20)
    assert await build_export(resources, export_id=export_id) == "superseded"
    monkeypatch.undo()

    row = await row_of(resources, export_id)
    assert row is not None and row.status == "ready" and row.archive_key is not None
    assert await stored(resources, row.archive_key)
    download = await client.get(f"/v1/me/exports/{export_id}/archive", headers=alice.headers)
    assert download.status_code == 200, download.text
