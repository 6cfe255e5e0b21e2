"""PUT /v1/me/avatar: accepted formats, the served rendition, EXIF stripping and the limits."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.service import avatars
from app.deferred_jobs import DeferredJob
from app.media_deletion import DELETE_MEDIA_JOB
from app.resources import Resources
from tests.accounts.helpers import assert_client_error, assert_problem, me, profile
from tests.locks import someone_waits_for_a_lock

MB = 1024 * 1024


def image_bytes(fmt: str, size: tuple[int, int] = (320, 200), mode: str = "RGB", **save: object) -> bytes:
    color: object = 1 if mode == "1" else (200 if mode == "L" else (30, 120, 220))
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format=fmt, **save)  # type: ignore[arg-type]
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."  # Make
    exif[0x0110] = "Model X"  # Model
    gps = exif.get_ifd(0x8825)  # GPSInfo
    gps[1] = "N"
    gps[2] = (52.0, 22.0, 12.5)
    gps[3] = "E"
    gps[4] = (4.0, 53.0, 40.1)
    data = image_bytes("JPEG", (640, 480), exif=exif)
    assert Image.open(io.BytesIO(data)).getexif()[0x010F] == "SpyCam Inc."  # the fixture has EXIF
    return data


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    data: bytes,
    filename: str = "avatar.png",
    content_type: str = "image/png",
) -> httpx.Response:
    return await client.put("/v1/me/avatar", files={"file": (filename, data, content_type)}, headers=headers)


async def fetch_avatar(client: httpx.AsyncClient, url: str) -> Image.Image:
    assert url.startswith("/media/") or url.startswith("http"), url
    response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/webp")
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


async def test_png_upload_becomes_a_512_webp(client, users):
    alice = await users.create("alice")
    bob = await users.create("bob")

    response = await upload(client, alice.headers, image_bytes("PNG"))

    assert response.status_code == 200, response.text
    url = response.json()["avatar_url"]
    assert isinstance(url, str)
    assert url
    served = await fetch_avatar(client, url)
    assert served.format == "WEBP"
    assert served.size == (512, 512)
    assert (await me(client, alice.headers))["avatar_url"] == url
    assert (await profile(client, bob.headers, "alice")).json()["avatar_url"] == url


async def test_jpeg_exif_is_stripped(client, users):
    alice = await users.create("alice")

    response = await upload(client, alice.headers, jpeg_with_exif(), "photo.jpg", "image/jpeg")

    assert response.status_code == 200, response.text
    served = await fetch_avatar(client, response.json()["avatar_url"])
    assert served.size == (512, 512)
    assert "exif" not in served.info
    assert len(served.getexif()) == 0
    assert "xmp" not in served.info


async def test_webp_upload_is_accepted(client, users):
    alice = await users.create("alice")

    response = await upload(client, alice.headers, image_bytes("WEBP"), "a.webp", "image/webp")

    assert response.status_code == 200, response.text
    assert (await fetch_avatar(client, response.json()["avatar_url"])).size == (512, 512)


async def test_new_avatar_replaces_the_old_one(client, users):
    alice = await users.create("alice")
    first = (await upload(client, alice.headers, image_bytes("PNG"))).json()["avatar_url"]

    second = await upload(client, alice.headers, image_bytes("PNG", (100, 400)))

    assert second.status_code == 200, second.text
    assert second.json()["avatar_url"] != first
    assert (await me(client, alice.headers))["avatar_url"] == second.json()["avatar_url"]
    assert (await fetch_avatar(client, second.json()["avatar_url"])).size == (512, 512)


async def stored_avatars(resources: Resources, user_id: str) -> list[str]:
    root = Path(resources.settings.media_dir) / "avatars" / user_id
    return sorted(path.name for path in root.iterdir()) if root.exists() else []


async def test_two_avatars_at_once_keep_the_later_one_and_only_its_files(client, users, resources):
    """Uploads that cross: the one whose transaction commits last is the avatar, and the files of
    every other are deleted. Each took the avatar it replaces from before either had committed, so
    the first one's files were never deleted (someone's face, kept for good)."""
    alice = await users.create("alice")
    first = await upload(client, alice.headers, image_bytes("PNG"))
    assert first.status_code == 200, first.text

    # Both wait behind another transaction on alice's row, in this order, then go on in turn.
    async with resources.engine.connect() as other:
        await other.execute(text("SELECT 1 FROM users WHERE id = :id FOR UPDATE"), {"id": alice.id})
        earlier = asyncio.create_task(upload(client, alice.headers, image_bytes("PNG", (100, 400))))
        await someone_waits_for_a_lock(resources)
        later = asyncio.create_task(upload(client, alice.headers, image_bytes("PNG", (400, 100))))
        await someone_waits_for_a_lock(resources, at_least=2)
        await other.rollback()
        answers = [await earlier, await later]

    assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
    current = (await me(client, alice.headers))["avatar_url"]
    assert current == answers[1].json()["avatar_url"]
    assert (await fetch_avatar(client, current)).size == (512, 512)
    base = current.rsplit("/", 1)[1].removesuffix("-512.webp")
    assert await stored_avatars(resources, alice.id) == [f"{base}-128.webp", f"{base}-512.webp"]


async def test_an_avatar_whose_commit_fails_leaves_no_files(
    client, users, resources, monkeypatch: pytest.MonkeyPatch
):
    alice = await users.create("alice")
    first = (await upload(client, alice.headers, image_bytes("PNG"))).json()["avatar_url"]
    kept = await stored_avatars(resources, alice.id)
    real_commit = AsyncSession.commit

    async def commit(session: AsyncSession) -> None:
        # The transaction that replaces an avatar (it keeps the old one's deletion in the outbox).
        if any(
            isinstance(row, DeferredJob) and row.function == DELETE_MEDIA_JOB
            for row in (*session.new, *session.identity_map.values())
        ):
            raise OperationalError("COMMIT", None, ConnectionResetError("the connection was lost"))
        await real_commit(session)

    monkeypatch.setattr(AsyncSession, "commit", commit)
    lost = await upload(client, alice.headers, image_bytes("PNG", (100, 400)))

    assert_problem(lost, 503, "service_unavailable")
    assert (await me(client, alice.headers))["avatar_url"] == first
    assert await stored_avatars(resources, alice.id) == kept


@pytest.mark.parametrize("database", ["reachable", "unreachable"])
async def test_an_avatar_whose_commit_raised_after_committing_keeps_its_files(
    client, users, resources, monkeypatch: pytest.MonkeyPatch, database: str
):
    """The connection lost once the server had the COMMIT: the client gets a 503, but the avatar
    committed, and its files stay (the rollback finds the account pointing at them before deleting
    anything; with the database unreachable for that, it keeps them): its URL answers 200, not 404
    under immutable caching."""
    if database == "unreachable":

        @asynccontextmanager
        async def unreachable(_session: AsyncSession) -> AsyncIterator[AsyncSession]:
            raise OperationalError("connect", None, ConnectionRefusedError("the database is away"))
            yield _session

        monkeypatch.setattr(avatars, "confirming_transaction", unreachable)
    alice = await users.create("alice")
    first = (await upload(client, alice.headers, image_bytes("PNG"))).json()["avatar_url"]
    real_commit = AsyncSession.commit

    async def commit(session: AsyncSession) -> None:
        replaces_an_avatar = any(
            isinstance(row, DeferredJob) and row.function == DELETE_MEDIA_JOB
            for row in (*session.new, *session.identity_map.values())
        )
        await real_commit(session)
        if replaces_an_avatar:
            raise OperationalError("COMMIT", None, ConnectionResetError("the connection was lost"))

    monkeypatch.setattr(AsyncSession, "commit", commit)
    lost = await upload(client, alice.headers, image_bytes("PNG", (100, 400)))
    monkeypatch.setattr(AsyncSession, "commit", real_commit)

    assert_problem(lost, 503, "service_unavailable")
    current = (await me(client, alice.headers))["avatar_url"]
    assert current != first
    assert (await fetch_avatar(client, current)).size == (512, 512)
    base = current.rsplit("/", 1)[1].removesuffix("-512.webp")
    assert {f"{base}-128.webp", f"{base}-512.webp"} <= set(await stored_avatars(resources, alice.id))


@pytest.mark.parametrize(
    ("data", "filename", "content_type"),
    [
        (b"just some text, not an image\n" * 20, "notes.txt", "text/plain"),
        # Claiming to be a PNG does not make it one: the content decides.
        (b"just some text, not an image\n" * 20, "fake.png", "image/png"),
        (image_bytes("GIF"), "anim.gif", "image/gif"),
        (image_bytes("BMP"), "pic.bmp", "image/bmp"),
    ],
    ids=["text", "text-named-png", "gif", "bmp"],
)
async def test_unsupported_media_is_415(client, users, data, filename, content_type):
    alice = await users.create("alice")

    response = await upload(client, alice.headers, data, filename, content_type)

    assert_problem(response, 415, "unsupported_media")
    assert (await me(client, alice.headers))["avatar_url"] is None


async def test_upload_just_over_10_mb_is_image_too_large(client, users):
    alice = await users.create("alice")
    data = image_bytes("PNG") + b"\0" * (10 * MB)  # a valid PNG with trailing padding, > 10 MB

    response = await upload(client, alice.headers, data)

    assert_problem(response, 413, "image_too_large")
    assert (await me(client, alice.headers))["avatar_url"] is None


async def test_upload_well_over_10_mb_is_image_too_large(client, users):
    alice = await users.create("alice")
    data = image_bytes("PNG") + b"\0" * (12 * MB)

    response = await upload(client, alice.headers, data)

    # API.md: PUT /v1/me/avatar "<= 10 MB ... 413 image_too_large", whatever the excess.
    assert_problem(response, 413, "image_too_large")
    assert (await me(client, alice.headers))["avatar_url"] is None


async def test_over_40_megapixels_is_image_too_large(client, users):
    alice = await users.create("alice")
    data = image_bytes("PNG", (8000, 6000), mode="1")  # 48 MP, a few kB
    assert len(data) < MB

    response = await upload(client, alice.headers, data)

    assert_problem(response, 413, "image_too_large")
    assert (await me(client, alice.headers))["avatar_url"] is None


async def test_truncated_jpeg_is_a_client_error(client, users):
    alice = await users.create("alice")
    kept = (await upload(client, alice.headers, image_bytes("PNG"))).json()["avatar_url"]
    whole = image_bytes("JPEG", (800, 600), quality=95)
    noisy = Image.effect_noise((800, 600), 64).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, format="JPEG", quality=95)
    for data in (whole[: len(whole) // 2], out.getvalue()[: len(out.getvalue()) // 2]):
        response = await upload(client, alice.headers, data, "cut.jpg", "image/jpeg")
        assert_client_error(response)

    # The previous avatar is kept.
    assert (await me(client, alice.headers))["avatar_url"] == kept


async def test_avatar_requires_authentication(client):
    response = await client.put("/v1/me/avatar", files={"file": ("a.png", image_bytes("PNG"), "image/png")})

    assert_problem(response, 401)
