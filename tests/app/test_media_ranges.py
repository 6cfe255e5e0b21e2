"""Media as video players need it (app.byte_ranges), on every route that serves stored bytes (a
video and its thumbnail, a cameo recording, an avatar): one byte range of each form is 206 with
only those bytes, a range past the end is 416, a malformed or multiple Range is ignored, HEAD
answers from the object's size without reading it, and the body is read in bounded pieces and sent
after the request's transaction has given its connection back. Every answer carries a strong ETag
and Last-Modified: If-None-Match (or If-Modified-Since) naming the copy the client holds is 304,
If-Range with the ETag is the range and anything else the whole object."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from PIL import Image
from structlog.testing import capture_logs

from accounts.models import Role
from app import byte_ranges
from app.cli import render_openapi
from app.db import in_transaction
from app.factory import create_app
from app.resources import Resources
from app.storage import MediaInfo, MediaNotFound, StorageUnavailable
from cameo.models import Cameo
from feed.models import Video, VideoStatus
from tests.accounts.helpers import assert_problem
from tests.cameo.media import recorded
from tests.conftest import make_settings, serve_in_process
from tests.factories import Actor, UserFactory
from tests.feed.factories import VIDEO_BYTES, VideoFactory, thumbnail_bytes
from tests.harness import RunServers

# Small enough that every object here is read in several pieces.
PIECE = 16
KINDS = ["video", "thumbnail", "recording", "avatar"]


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(byte_ranges, "PIECE_BYTES", PIECE)


@dataclass
class Served:
    """A stored object and how to ask for it."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]
    key: str
    data: bytes

    async def get(self, client: httpx.AsyncClient, **headers: str) -> httpx.Response:
        return await client.get(self.path, params=self.params, headers={**self.headers, **headers})

    async def head(self, client: httpx.AsyncClient, **headers: str) -> httpx.Response:
        return await client.head(self.path, params=self.params, headers={**self.headers, **headers})


async def served(kind: str, client: httpx.AsyncClient, owner: Actor, resources: Resources) -> Served:
    if kind in ("video", "thumbnail"):
        draft = await VideoFactory(resources).draft(owner)
        key = draft.video_key if kind == "video" else draft.thumbnail_key
        path, params = f"/v1/videos/{draft.id}/content", {"variant": kind}
    elif kind == "recording":
        cameo_id = (await recorded(client, owner))["id"]
        key = await _recording_key(resources, cameo_id)
        path, params = f"/v1/cameos/{cameo_id}/recording", {}
    else:
        png = io.BytesIO()
        Image.new("RGB", (300, 200), (30, 120, 220)).save(png, format="PNG")
        uploaded = await client.put(
            "/v1/me/avatar", files={"file": ("me.png", png.getvalue(), "image/png")}, headers=owner.headers
        )
        assert uploaded.status_code == 200, uploaded.text
        path, params = uploaded.json()["avatar_url"], {}
        key = path.removeprefix("/media/")
        return Served(path, params, {}, key, (await resources.storage.get(key))[0])
    return Served(path, params, owner.headers, key, (await resources.storage.get(key))[0])


async def _recording_key(resources: Resources, cameo_id: str) -> str:
    async def work(session: Any) -> str:
        cameo = await session.get(Cameo, uuid.UUID(cameo_id))
        assert cameo is not None and cameo.recording_key is not None
        key: str = cameo.recording_key
        return key

    found: str = await in_transaction(resources.session_factory, work)
    return found


@dataclass
class StorageSpy:
    """Records every read of stored bytes: whole objects (`get`) and ranges (`get_range`)."""

    gets: list[str] = field(default_factory=list)
    reads: list[tuple[str, int, int]] = field(default_factory=list)


@pytest.fixture
def spy(resources: Resources, monkeypatch: pytest.MonkeyPatch) -> StorageSpy:
    recorded_reads = StorageSpy()
    storage = resources.storage
    get, get_range = storage.get, storage.get_range

    async def counted_get(key: str) -> tuple[bytes, str]:
        recorded_reads.gets.append(key)
        return await get(key)

    async def counted_get_range(key: str, start: int, end: int, *, etag: str | None = None) -> bytes:
        recorded_reads.reads.append((key, start, end))
        return await get_range(key, start, end, etag=etag)

    monkeypatch.setattr(storage, "get", counted_get)
    monkeypatch.setattr(storage, "get_range", counted_get_range)
    return recorded_reads


def _same_answer_headers(partial: httpx.Response, whole: httpx.Response) -> None:
    for name in ("content-type", "cache-control", "accept-ranges"):
        assert partial.headers.get(name) == whole.headers.get(name), name


# --- ranges ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_a_single_range_of_each_form_is_206_with_only_those_bytes(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, kind: str
) -> None:
    alice = await users.create("alice")
    media = await served(kind, client, alice, resources)
    data, size = media.data, len(media.data)
    assert size > 2 * PIECE, size  # so ranges cross pieces
    whole = await media.get(client)
    assert whole.status_code == 200, whole.text

    for asked, first, last in (
        ("bytes=0-9", 0, 9),
        ("bytes=3-3", 3, 3),
        (f"bytes={PIECE - 5}-{PIECE + 20}", PIECE - 5, PIECE + 20),  # across pieces
        ("bytes=40-", 40, size - 1),  # open-ended
        ("bytes=-7", size - 7, size - 1),  # the last 7 bytes
        (f"bytes=10-{size + 1000}", 10, size - 1),  # a last byte past the end is the end
        (f"bytes=-{size + 1000}", 0, size - 1),  # a suffix longer than the object is all of it
        (f"BYTES={size - 1}-{size - 1}", size - 1, size - 1),  # the unit in any case
    ):
        response = await media.get(client, Range=asked)

        assert response.status_code == 206, (asked, response.status_code, response.text[:200])
        assert response.content == data[first : last + 1], asked
        assert response.headers["content-range"] == f"bytes {first}-{last}/{size}", asked
        assert response.headers["content-length"] == str(last + 1 - first), asked
        _same_answer_headers(response, whole)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_range_past_the_end_is_416_naming_the_size(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, kind: str
) -> None:
    alice = await users.create("alice")
    media = await served(kind, client, alice, resources)
    size = len(media.data)

    for asked in (f"bytes={size}-", f"bytes={size}-{size + 10}", f"bytes={size + 500}-", "bytes=-0"):
        response = await media.get(client, Range=asked)

        assert_problem(response, 416, "range_not_satisfiable")
        assert response.headers["content-range"] == f"bytes */{size}", asked


@pytest.mark.parametrize("kind", KINDS)
async def test_a_malformed_or_multiple_range_is_ignored(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, kind: str
) -> None:
    alice = await users.create("alice")
    media = await served(kind, client, alice, resources)
    ignored: list[list[tuple[str, str]]] = [
        [("Range", value)]
        for value in (
            "bytes=0-1,4-5",  # several ranges
            "bytes=0-1, 5-",
            "bytes=9-2",  # last before first
            "bytes=-",
            "bytes=",
            "bytes=abc-",
            "bytes=1.5-3",
            "bytes 0-5",
            "items=0-5",  # another unit
            "bytes=0-5 trailing",
            "",
        )
    ]
    ignored.append([("Range", "bytes=0-1"), ("Range", "bytes=4-5")])  # two fields: two ranges
    # An If-Range that is not the object's ETag: the whole object, as RFC 9110 asks (one that is,
    # in test_if_range_with_the_etag_is_the_range_and_anything_else_the_whole_object).
    ignored.append([("Range", "bytes=0-9"), ("If-Range", '"some-etag"')])
    ignored.append([("Range", "bytes=0-9"), ("If-Range", "Wed, 21 Oct 2015 07:28:00 GMT")])

    for fields in ignored:
        response = await client.get(
            media.path, params=media.params, headers=[*media.headers.items(), *fields]
        )

        assert response.status_code == 200, (fields, response.status_code)
        assert response.content == media.data, fields
        assert "content-range" not in response.headers
        assert response.headers["accept-ranges"] == "bytes"


async def test_absurdly_long_range_numbers_are_answered(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    media = await served("video", client, alice, resources)
    huge = "9" * 5000

    assert_problem(await media.get(client, Range=f"bytes={huge}-"), 416, "range_not_satisfiable")
    whole = await media.get(client, Range=f"bytes=0-{huge}")
    assert whole.status_code == 206
    assert whole.content == media.data
    assert (await media.get(client, Range=f"bytes=-{huge}")).content == media.data


# --- whole objects, pieces and HEAD -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_the_whole_object_is_its_stored_bytes_read_in_pieces(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, spy: StorageSpy, kind: str
) -> None:
    alice = await users.create("alice")
    media = await served(kind, client, alice, resources)
    size = len(media.data)
    spy.gets.clear()
    spy.reads.clear()

    response = await media.get(client)

    assert response.status_code == 200, response.text
    assert response.content == media.data
    assert response.headers["content-length"] == str(size)
    assert response.headers["accept-ranges"] == "bytes"
    assert "content-range" not in response.headers
    # Never the whole object at once: pieces of at most PIECE bytes, one after the other.
    assert spy.gets == []
    assert [(start, end) for _, start, end in spy.reads] == [
        (start, min(start + PIECE, size)) for start in range(0, size, PIECE)
    ]
    # A range reads only what it asks for.
    spy.reads.clear()
    assert (await media.get(client, Range="bytes=20-29")).status_code == 206
    assert [(start, end) for _, start, end in spy.reads] == [(20, 30)]


async def test_the_content_types_and_caching_are_what_they_were(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    expected = {
        "video": ("video/mp4", "private, max-age=300"),
        "thumbnail": ("image/webp", "private, max-age=300"),
        "recording": ("video/mp4", "private, no-store"),
        "avatar": ("image/webp", "public, max-age=31536000, immutable"),
    }
    for kind, (content_type, caching) in expected.items():
        media = await served(kind, client, alice, resources)
        for response in (await media.get(client), await media.get(client, Range="bytes=0-3")):
            assert response.headers["content-type"] == content_type, kind
            assert response.headers["cache-control"] == caching, kind


@pytest.mark.parametrize("kind", KINDS)
async def test_head_answers_the_headers_without_reading_the_object(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, spy: StorageSpy, kind: str
) -> None:
    alice = await users.create("alice")
    media = await served(kind, client, alice, resources)
    spy.gets.clear()
    spy.reads.clear()

    head = await media.head(client)
    # Range is for GET: a HEAD with one describes the whole object.
    ranged = await media.head(client, Range="bytes=0-9")

    assert (spy.gets, spy.reads) == ([], [])
    for answer in (head, ranged):
        assert answer.status_code == 200
        assert answer.content == b""
        assert answer.headers["content-length"] == str(len(media.data))
        assert answer.headers["accept-ranges"] == "bytes"
        assert "content-range" not in answer.headers
    get = await media.get(client)
    per_answer = {"x-request-id", "date"}
    assert {k: v for k, v in head.headers.items() if k not in per_answer} == {
        k: v for k, v in get.headers.items() if k not in per_answer
    }


async def test_a_thumbnail_storage_cannot_type_is_typed_from_its_first_bytes(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, spy: StorageSpy
) -> None:
    """A thumbnail kept under a key that names no image type (a provider's image Pillow could not
    name is kept as `.bin`): its type is read from its first bytes, on a range not starting there
    and on HEAD too, which reads those bytes only, and not for a 304."""
    alice = await users.create("alice")
    draft = await VideoFactory(resources).draft(alice)
    key = draft.thumbnail_key.replace(".webp", ".bin")
    webp = thumbnail_bytes()
    await resources.storage.put(key, webp, "application/octet-stream")

    async def point_at_it(session: Any) -> None:
        video = await session.get(Video, uuid.UUID(draft.id))
        video.thumbnail_key = key

    await in_transaction(resources.session_factory, point_at_it)
    path, params = f"/v1/videos/{draft.id}/content", {"variant": "thumbnail"}

    whole = await client.get(path, params=params, headers=alice.headers)
    part = await client.get(path, params=params, headers={**alice.headers, "Range": "bytes=20-"})
    spy.reads.clear()
    head = await client.head(path, params=params, headers=alice.headers)
    # A 304 says no type: nothing is read for it.
    current = await client.get(
        path, params=params, headers={**alice.headers, "If-None-Match": head.headers["etag"]}
    )

    assert whole.content == webp
    assert part.status_code == 206
    assert part.content == webp[20:]
    for answer in (whole, part, head):
        assert answer.headers["content-type"] == "image/webp"
    assert current.status_code == 304
    assert spy.reads == [(key, 0, 12)]


# --- validators -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_every_answer_carries_a_strong_etag_and_last_modified(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, kind: str
) -> None:
    alice = await users.create("alice")
    media = await served(kind, client, alice, resources)
    other = await served(kind, client, await users.create("bob"), resources)

    answers = [await media.get(client), await media.get(client, Range="bytes=0-9"), await media.head(client)]

    etag = answers[0].headers["etag"]
    # Strong, and one quoted opaque tag (RFC 9110 8.8.3).
    assert etag.startswith('"') and etag.endswith('"') and '"' not in etag[1:-1], etag
    assert not etag.startswith("W/")
    for answer in answers:
        assert answer.status_code in (200, 206)
        assert answer.headers["etag"] == etag
        assert parsedate_to_datetime(answer.headers["last-modified"]).tzinfo is not None
    # Another object has another; the same one keeps its own from one request to the next.
    assert (await other.get(client)).headers["etag"] != etag
    assert (await media.head(client)).headers["etag"] == etag
    # Bytes written again under the same key are another version, with another ETag.
    await resources.storage.put(media.key, media.data[::-1], answers[0].headers["content-type"])
    assert (await media.head(client)).headers["etag"] != etag


@pytest.mark.parametrize("kind", KINDS)
async def test_if_none_match_with_the_etag_is_304_without_reading_the_object(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, spy: StorageSpy, kind: str
) -> None:
    alice = await users.create("alice")
    media = await served(kind, client, alice, resources)
    whole = await media.get(client)
    etag = whole.headers["etag"]
    spy.gets.clear()
    spy.reads.clear()

    current = [
        etag,
        f"W/{etag}",  # If-None-Match compares weakly
        f'"someone-else", {etag}',
        "*",
    ]
    answers = [await media.get(client, **{"If-None-Match": value}) for value in current]
    answers.append(await media.head(client, **{"If-None-Match": etag}))
    # Before the range is looked at: not even one past the end is a 416.
    answers.append(await media.get(client, **{"If-None-Match": etag, "Range": "bytes=0-9"}))
    answers.append(await media.get(client, **{"If-None-Match": etag, "Range": f"bytes={len(media.data)}-"}))

    for answer in answers:
        assert answer.status_code == 304, (answer.request.headers, answer.status_code)
        assert answer.content == b""
        assert answer.headers["etag"] == etag
        assert answer.headers["cache-control"] == whole.headers["cache-control"]
        assert "content-length" not in answer.headers
        assert "content-range" not in answer.headers
    assert (spy.gets, spy.reads) == ([], [])

    # Another tag is a copy of something else: the whole object.
    for value in ('"someone-else"', etag[:-2] + '"', f'"{etag}"'):
        answer = await media.get(client, **{"If-None-Match": value})
        assert answer.status_code == 200, value
        assert answer.content == media.data
    # Once the object is written again, the tag the client holds is stale.
    rewritten = media.data[::-1]
    await resources.storage.put(media.key, rewritten, whole.headers["content-type"])
    fresh = await media.get(client, **{"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.content == rewritten
    assert fresh.headers["etag"] != etag


async def test_if_modified_since_is_304_unless_if_none_match_says_otherwise(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    media = await served("video", client, alice, resources)
    whole = await media.get(client)
    last_modified = whole.headers["last-modified"]
    earlier = format_datetime(parsedate_to_datetime(last_modified) - timedelta(seconds=1), usegmt=True)

    assert (await media.get(client, **{"If-Modified-Since": last_modified})).status_code == 304
    assert (await media.head(client, **{"If-Modified-Since": last_modified})).status_code == 304
    for asked in (
        {"If-Modified-Since": earlier},
        {"If-Modified-Since": "not a date"},
        # If-None-Match decides when both are sent (RFC 9110 13.1.3).
        {"If-Modified-Since": last_modified, "If-None-Match": '"someone-else"'},
    ):
        answer = await media.get(client, **asked)
        assert answer.status_code == 200, asked
        assert answer.content == media.data


@pytest.mark.parametrize("kind", KINDS)
async def test_if_range_with_the_etag_is_the_range_and_anything_else_the_whole_object(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, kind: str
) -> None:
    """A player resuming an interrupted download asks for the rest with If-Range: the rest when
    its bytes are of this version, all of this one when they may not be."""
    alice = await users.create("alice")
    media = await served(kind, client, alice, resources)
    whole = await media.get(client)
    etag, size = whole.headers["etag"], len(media.data)

    rest = await media.get(client, Range="bytes=20-", **{"If-Range": etag})

    assert rest.status_code == 206, rest.text
    assert rest.content == media.data[20:]
    assert rest.headers["content-range"] == f"bytes 20-{size - 1}/{size}"
    assert rest.headers["etag"] == etag
    # The range past the end is still a 416 when If-Range matches.
    too_far = await media.get(client, Range=f"bytes={size}-", **{"If-Range": etag})
    assert_problem(too_far, 416, "range_not_satisfiable")
    for validator in (
        '"someone-else"',
        f"W/{etag}",  # If-Range compares strongly: a weak tag never matches
        whole.headers["last-modified"],  # a date is too coarse to be taken as a match
    ):
        for asked in ("bytes=20-", f"bytes={size}-"):
            answer = await media.get(client, Range=asked, **{"If-Range": validator})
            assert answer.status_code == 200, (validator, asked, answer.status_code)
            assert answer.content == media.data
            assert "content-range" not in answer.headers

    # Written again: the client's bytes are of the old version, so it gets the new one whole.
    rewritten = media.data[::-1]
    await resources.storage.put(media.key, rewritten, whole.headers["content-type"])
    resumed = await media.get(client, Range="bytes=20-", **{"If-Range": etag})
    assert resumed.status_code == 200
    assert resumed.content == rewritten


async def test_validators_tell_no_one_who_may_not_see_the_media_that_it_exists(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    alice = await users.create("alice")
    stranger = await users.create("stranger")
    for kind in ("video", "thumbnail", "recording"):
        media = await served(kind, client, alice, resources)
        etag = (await media.get(client)).headers["etag"]
        for validators in (
            {"If-None-Match": etag},
            {"If-None-Match": "*"},
            {"Range": "bytes=0-9", "If-Range": etag},
        ):
            refused = await client.get(
                media.path, params=media.params, headers={**stranger.headers, **validators}
            )
            assert refused.status_code == 404, (kind, validators)
            assert "etag" not in refused.headers
            head = await client.head(
                media.path, params=media.params, headers={**stranger.headers, **validators}
            )
            assert head.status_code == 404, (kind, validators)
            anonymous = await client.get(media.path, params=media.params, headers=validators)
            assert anonymous.status_code == 401, (kind, validators)
        # A key that is not a public one is 404 whatever it is sent with.
        assert_problem(await client.get(f"/media/{media.key}", headers={"If-None-Match": "*"}), 404)


# --- authorization ------------------------------------------------------------------------------


async def test_who_may_see_the_media_is_unchanged_by_a_range(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, videos: VideoFactory, cameos: Any
) -> None:
    alice = await users.create("alice")
    bob = await users.create("bob")
    stranger = await users.create("stranger")
    moderator = await users.create("mod", role=Role.MODERATOR)
    cameo = await cameos.active(bob)
    draft = await videos.draft(alice, appearances=[(bob, cameo)])
    removed = await videos.draft(alice, appearances=[(bob, cameo)])

    async def remove(session: Any) -> None:
        video = await session.get(Video, uuid.UUID(removed.id))
        video.status = VideoStatus.REMOVED.value

    await in_transaction(resources.session_factory, remove)

    for video_id in (draft.id, removed.id):
        path = f"/v1/videos/{video_id}/content"
        for variant in ("video", "thumbnail"):
            params = {"variant": variant}
            for asked in ("bytes=0-9", "bytes=100000-"):
                # The range is looked at only for someone who may see the video: no 416 or 206
                # tells a stranger it exists.
                refused = await client.get(path, params=params, headers={**stranger.headers, "Range": asked})
                assert_problem(refused, 404, "video_not_found")
                assert_problem(await client.get(path, params=params, headers={"Range": asked}), 401)
                assert (await client.head(path, params=params, headers=stranger.headers)).status_code == 404
            # Its author and the owner of the cameo in it get the range.
            for viewer in (alice, bob):
                answer = await client.get(
                    path, params=params, headers={**viewer.headers, "Range": "bytes=0-9"}
                )
                assert answer.status_code == 206, (viewer.username, answer.text)

    recording = await served("recording", client, alice, resources)
    for reader, status in ((alice, 206), (moderator, 206), (bob, 404), (stranger, 404)):
        answer = await client.get(recording.path, headers={**reader.headers, "Range": "bytes=0-9"})
        assert answer.status_code == status, (reader.username, answer.text)
    assert_problem(await client.get(recording.path, headers={"Range": "bytes=0-9"}), 401)
    # Only the keys the app writes for avatars are public, with a range or without.
    for key in (recording.key, f"avatars/{uuid.uuid4()}/{'0' * 16}-512.webp"):
        assert_problem(await client.get(f"/media/{key}", headers={"Range": "bytes=0-9"}), 404)


# --- the store and the database while the body is sent ----------------------------------------------


async def test_the_body_is_sent_after_the_database_connection_is_given_back(
    servers: RunServers, tmp_path: Path, users: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await users.create("alice")
    # An app of its own: no job worker borrowing connections from the pool being watched.
    app = create_app(make_settings(servers, tmp_path))
    async with serve_in_process(app) as client:
        resources: Resources = app.state.resources
        draft = await VideoFactory(resources).draft(alice)
        get_range = resources.storage.get_range
        second_piece, go_on = asyncio.Event(), asyncio.Event()
        reads = 0

        async def slow_client(key: str, start: int, end: int, *, etag: str | None = None) -> bytes:
            # The second piece is read once the first is sent: as if the client took its time.
            nonlocal reads
            reads += 1
            if reads == 2:
                second_piece.set()
                await go_on.wait()
            return await get_range(key, start, end, etag=etag)

        monkeypatch.setattr(resources.storage, "get_range", slow_client)
        request = asyncio.create_task(client.get(f"/v1/videos/{draft.id}/content", headers=alice.headers))
        try:
            await asyncio.wait_for(second_piece.wait(), timeout=10)
            assert not request.done()
            assert resources.engine.pool.checkedout() == 0
        finally:
            go_on.set()
        response = await request

    assert response.status_code == 200
    assert response.content == VIDEO_BYTES


async def test_a_store_failing_during_the_body_ends_it_short_and_is_logged(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await users.create("alice")
    media = await served("recording", client, alice, resources)
    get_range = resources.storage.get_range
    reads = 0

    async def failing_later(key: str, start: int, end: int, *, etag: str | None = None) -> bytes:
        nonlocal reads
        reads += 1
        if reads == 3:
            raise StorageUnavailable("get_range", OSError("connection reset by the store"))
        return await get_range(key, start, end, etag=etag)

    monkeypatch.setattr(resources.storage, "get_range", failing_later)
    # A fresh logger: the module's was cached on first use, which capture_logs misses.
    monkeypatch.setattr(byte_ranges, "log", structlog.get_logger(byte_ranges.__name__))
    with capture_logs() as logs:
        response = await media.get(client)

    # The status and Content-Length were sent before the store failed: the body stops short of it
    # (the server then closes the connection, so the client knows its copy is incomplete).
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(media.data))
    assert response.content == media.data[: 2 * PIECE]
    failed = [entry for entry in logs if entry["event"] == "media_stream_failed"]
    assert [(entry["key"], entry["at"]) for entry in failed] == [(media.key, 2 * PIECE)], logs


@pytest.mark.parametrize(
    ("method", "error", "status", "code"),
    [
        ("stat", StorageUnavailable("stat", OSError("store down")), 503, "storage_unavailable"),
        ("get_range", StorageUnavailable("get_range", OSError("store down")), 503, "storage_unavailable"),
        ("stat", MediaNotFound("gone"), 404, "media_not_found"),
        ("get_range", MediaNotFound("gone"), 404, "media_not_found"),
    ],
)
async def test_a_store_failing_before_the_first_byte_is_still_a_problem(
    client: httpx.AsyncClient,
    users: UserFactory,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    error: Exception,
    status: int,
    code: str,
) -> None:
    alice = await users.create("alice")
    media = await served("video", client, alice, resources)

    async def failing(*_: Any, **__: Any) -> Any:
        raise error

    monkeypatch.setattr(resources.storage, method, failing)

    for asked in ({}, {"Range": "bytes=10-20"}):
        response = await media.get(client, **asked)
        assert_problem(response, status, code)
        if status == 503:
            assert response.headers["retry-after"]


async def test_a_store_with_weak_etags_still_serves_every_piece(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store (or a proxy before it) may answer W/"..." tags. Reads were pinned to them with
    # If-Match, which compares strongly and never matches a weak tag: every GET was a 503.
    alice = await users.create("alice")
    media = await served("video", client, alice, resources)
    storage = resources.storage
    stat, get_range = storage.stat, storage.get_range

    async def weak_stat(key: str) -> MediaInfo:
        return dataclasses.replace(await stat(key), etag='W/"weak"')

    async def refusing_weak_pins(key: str, start: int, end: int, *, etag: str | None = None) -> bytes:
        if etag is not None and etag.startswith("W/"):
            raise StorageUnavailable("get_range", RuntimeError("412 Precondition Failed"))
        return await get_range(key, start, end, etag=etag)

    monkeypatch.setattr(storage, "stat", weak_stat)
    monkeypatch.setattr(storage, "get_range", refusing_weak_pins)

    whole = await media.get(client)
    assert whole.status_code == 200, whole.text
    assert whole.content == media.data
    ranged = await media.get(client, Range=f"bytes={PIECE - 3}-")
    assert ranged.status_code == 206, ranged.text
    assert ranged.content == media.data[PIECE - 3 :]


# --- the document ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/videos/{video_id}/content", "/v1/cameos/{cameo_id}/recording", "/media/{key}"]
)
def test_ranges_are_documented(path: str) -> None:
    operation = json.loads(render_openapi())["paths"][path]["get"]
    responses = operation["responses"]
    assert "Range" in [
        parameter["name"] for parameter in operation["parameters"] if parameter["in"] == "header"
    ]
    assert "Accept-Ranges" in responses["200"]["headers"]
    assert responses["206"]["content"] == responses["200"]["content"]
    assert "Content-Range" in responses["206"]["headers"]
    assert "application/problem+json" in responses["416"]["content"]
    assert "Content-Range" in responses["416"]["headers"]


@pytest.mark.parametrize(
    "path", ["/v1/videos/{video_id}/content", "/v1/cameos/{cameo_id}/recording", "/media/{key}"]
)
def test_validators_are_documented(path: str) -> None:
    operation = json.loads(render_openapi())["paths"][path]["get"]
    responses = operation["responses"]
    headers = {parameter["name"] for parameter in operation["parameters"] if parameter["in"] == "header"}
    assert {"If-None-Match", "If-Modified-Since", "If-Range"} <= headers
    for status in ("200", "206"):
        assert {"ETag", "Last-Modified"} <= set(responses[status]["headers"]), status
    assert "ETag" in responses["304"]["headers"]
    assert "content" not in responses["304"]
