"""Media on S3-compatible object storage (REMIXFEED_STORAGE_BACKEND=s3), against moto's S3 server on
127.0.0.1: the storage interface itself, the settings that choose it, and avatars through the API."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import obstore.exceptions
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from app import storage as storage_module
from app.factory import create_app
from app.settings import Settings, SettingsError, load_settings
from app.storage import MediaNotFound, MediaStorage, ObjectStorage, StorageUnavailable, create_storage
from tests.accounts.helpers import assert_problem
from tests.conftest import make_settings, serve_in_process
from tests.factories import UserFactory
from tests.harness import RunServers

# moto accepts any credentials; explicit ones keep the AWS_* environment (if any) out of the tests.
ACCESS_KEY = "testing"
SECRET_KEY = "testing-secret"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def s3_client(s3_endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """A fresh, empty bucket for every test."""
    name = f"media-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


def s3_settings(endpoint: str, bucket: str, data_dir: Path, **overrides: object) -> Settings:
    return Settings(
        data_dir=data_dir,
        storage_backend="s3",
        s3_bucket=bucket,
        s3_endpoint_url=endpoint,
        s3_region=REGION,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
        s3_allow_http=True,
    ).replace(**overrides)


def bucket_keys(s3_client: Any, bucket: str) -> list[str]:
    listed = s3_client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


# --- the storage interface on S3 ------------------------------------------------------------------


async def test_put_get_delete_round_trip_keeps_the_content_type(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    storage = create_storage(s3_settings(s3_endpoint, bucket, tmp_path))
    assert isinstance(storage, ObjectStorage)
    assert isinstance(storage, MediaStorage)
    data = b"\x00binary\xffpayload" * 100

    # A key whose extension says nothing: the type must come from the object, not a guess.
    await storage.put("recordings/abc/clip.bin", data, "video/mp4")

    assert bucket_keys(s3_client, bucket) == ["recordings/abc/clip.bin"]
    head = s3_client.head_object(Bucket=bucket, Key="recordings/abc/clip.bin")
    assert head["ContentType"] == "video/mp4"
    assert await storage.get("recordings/abc/clip.bin") == (data, "video/mp4")
    # Nothing was written to the local media directory.
    assert not (tmp_path / "media").exists() or not any((tmp_path / "media").rglob("*"))

    await storage.delete("recordings/abc/clip.bin")

    assert bucket_keys(s3_client, bucket) == []
    with pytest.raises(MediaNotFound):
        await storage.get("recordings/abc/clip.bin")


async def test_a_file_larger_than_one_part_goes_up_in_parts_and_streams_back_in_chunks(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """What a data export's archive takes: uploaded from a file in parts, read back in chunks."""
    storage = create_storage(s3_settings(s3_endpoint, bucket, tmp_path))
    part = storage_module.UPLOAD_PART_BYTES
    data = bytes(range(256)) * ((part + part // 2) // 256)
    path = tmp_path / "archive.zip"
    path.write_bytes(data)

    await storage.put_file("exports/u/e.zip", path, "application/zip")

    head = s3_client.head_object(Bucket=bucket, Key="exports/u/e.zip")
    assert head["ContentType"] == "application/zip"
    assert head["ContentLength"] == len(data)
    # A multipart upload's ETag counts its parts.
    assert head["ETag"].strip('"').endswith("-2")
    chunks = [chunk async for chunk in storage.stream("exports/u/e.zip")]
    assert b"".join(chunks) == data
    assert len(chunks) > 1
    with pytest.raises(MediaNotFound):
        [chunk async for chunk in storage.stream("exports/u/missing.zip")]


async def test_an_object_written_by_someone_else_is_read(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    # Another process (or a migration script) wrote it; ours reads the same bucket.
    s3_client.put_object(
        Bucket=bucket, Key="avatars/x/y.webp", Body=b"made elsewhere", ContentType="image/webp"
    )
    storage = create_storage(s3_settings(s3_endpoint, bucket, tmp_path))

    assert await storage.get("avatars/x/y.webp") == (b"made elsewhere", "image/webp")


async def test_stat_and_ranges_read_only_what_is_asked(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    storage = create_storage(s3_settings(s3_endpoint, bucket, tmp_path))
    data = bytes(range(256)) * 4
    await storage.put("recordings/abc/clip.bin", data, "video/mp4")

    info = await storage.stat("recordings/abc/clip.bin")

    # The type is the object's (its key says nothing), from a request that read no bytes.
    assert (info.size, info.content_type) == (len(data), "video/mp4")
    assert info.etag
    assert await storage.get_range("recordings/abc/clip.bin", 10, 20, etag=info.etag) == data[10:20]
    assert await storage.get_range("recordings/abc/clip.bin", 1000, 5000) == data[1000:]
    # Bytes of another version of the object are never handed out as this one's.
    await storage.put("recordings/abc/clip.bin", data[::-1], "video/mp4")
    with pytest.raises(StorageUnavailable):
        await storage.get_range("recordings/abc/clip.bin", 10, 20, etag=info.etag)
    with pytest.raises(MediaNotFound):
        await storage.stat("recordings/abc/absent.bin")
    with pytest.raises(MediaNotFound):
        await storage.get_range("recordings/abc/absent.bin", 0, 10)


async def test_get_of_a_missing_key_is_media_not_found(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    storage = create_storage(s3_settings(s3_endpoint, bucket, tmp_path))
    await storage.put("avatars/present.webp", b"here", "image/webp")

    with pytest.raises(MediaNotFound) as raised:
        await storage.get("avatars/absent.webp")
    assert raised.value.args == ("avatars/absent.webp",)


async def test_delete_of_a_missing_key_is_a_no_op(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    storage = create_storage(s3_settings(s3_endpoint, bucket, tmp_path))
    await storage.put("keep.webp", b"kept", "image/webp")

    await storage.delete("never-written.webp")
    await storage.delete("never-written.webp")

    assert bucket_keys(s3_client, bucket) == ["keep.webp"]


async def test_keys_land_under_the_prefix(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    storage = create_storage(s3_settings(s3_endpoint, bucket, tmp_path, s3_prefix="/prod/media/"))
    other = create_storage(s3_settings(s3_endpoint, bucket, tmp_path, s3_prefix="staging"))

    await storage.put("avatars/a/b-512.webp", b"prod bytes", "image/webp")
    await other.put("avatars/a/b-512.webp", b"staging bytes", "image/webp")

    assert bucket_keys(s3_client, bucket) == [
        "prod/media/avatars/a/b-512.webp",
        "staging/avatars/a/b-512.webp",
    ]
    # Keys stay relative to the prefix for the app: each deployment sees only its own bytes.
    assert (await storage.get("avatars/a/b-512.webp"))[0] == b"prod bytes"
    assert (await other.get("avatars/a/b-512.webp"))[0] == b"staging bytes"
    await storage.delete("avatars/a/b-512.webp")
    assert bucket_keys(s3_client, bucket) == ["staging/avatars/a/b-512.webp"]


async def test_plain_http_endpoint_needs_allow_http(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    storage = create_storage(s3_settings(s3_endpoint, bucket, tmp_path, s3_allow_http=False))

    # The HTTP client refuses the http:// scheme before sending anything; the request that wanted
    # the store gets a 503, not a 500.
    with pytest.raises(StorageUnavailable) as refused:
        await storage.put("avatars/x.webp", b"x", "image/webp")
    assert isinstance(refused.value.__cause__, obstore.exceptions.GenericError)
    assert "BadScheme" in str(refused.value.__cause__)
    assert bucket_keys(s3_client, bucket) == []


def test_urls_follow_media_url_for_either_backend(s3_endpoint: str, bucket: str, tmp_path: Path) -> None:
    served = create_storage(s3_settings(s3_endpoint, bucket, tmp_path))
    public = create_storage(s3_settings(s3_endpoint, bucket, tmp_path, media_url="https://cdn.example/m/"))

    assert served.url("avatars/a/b-512.webp") == "/media/avatars/a/b-512.webp"
    assert public.url("avatars/a/b-512.webp") == "https://cdn.example/m/avatars/a/b-512.webp"


# --- settings -------------------------------------------------------------------------------------


def test_s3_settings_are_read_from_the_environment() -> None:
    settings = load_settings(
        {
            "REMIXFEED_STORAGE_BACKEND": "s3",
            "REMIXFEED_S3_BUCKET": "remixfeed-media",
            "REMIXFEED_S3_ENDPOINT_URL": "http://minio:9000",
            "REMIXFEED_S3_REGION": "eu-west-1",
            "REMIXFEED_S3_ACCESS_KEY_ID": "AKIA",
            "REMIXFEED_S3_SECRET_ACCESS_KEY": "shh",
            "REMIXFEED_S3_PREFIX": "prod",
            "REMIXFEED_S3_ALLOW_HTTP": "true",
        }
    )
    assert settings.storage_backend == "s3"
    assert settings.s3_bucket == "remixfeed-media"
    assert settings.s3_endpoint_url == "http://minio:9000"
    assert settings.s3_region == "eu-west-1"
    assert (settings.s3_access_key_id, settings.s3_secret_access_key) == ("AKIA", "shh")
    assert settings.s3_prefix == "prod"
    assert settings.s3_allow_http is True
    assert load_settings({}).storage_backend == "local"


def test_s3_backend_without_a_bucket_fails_at_start() -> None:
    with pytest.raises(SettingsError, match="REMIXFEED_S3_BUCKET"):
        load_settings({"REMIXFEED_STORAGE_BACKEND": "s3"})
    with pytest.raises(SettingsError, match="REMIXFEED_S3_BUCKET"):
        load_settings({"REMIXFEED_STORAGE_BACKEND": "s3", "REMIXFEED_S3_BUCKET": "  "})


@pytest.mark.parametrize(
    "environ",
    [
        {"REMIXFEED_STORAGE_BACKEND": "gcs", "REMIXFEED_S3_BUCKET": "b"},
        {"REMIXFEED_STORAGE_BACKEND": "s3", "REMIXFEED_S3_BUCKET": "b", "REMIXFEED_S3_ACCESS_KEY_ID": "AKIA"},
        {"REMIXFEED_STORAGE_BACKEND": "s3", "REMIXFEED_S3_BUCKET": "b", "REMIXFEED_S3_ALLOW_HTTP": "maybe"},
    ],
    ids=["unknown-backend", "half-the-credentials", "bad-bool"],
)
def test_bad_storage_settings_fail_at_start(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings(environ)


# --- through the API ------------------------------------------------------------------------------


async def test_avatar_upload_goes_to_the_bucket_and_is_served_back(
    servers: RunServers, tmp_path: Path, users: UserFactory, s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    alice = await users.create("alice")
    settings = make_settings(servers, tmp_path, **_s3_overrides(s3_endpoint, bucket, prefix="site"))
    png = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 40, 90)).save(png, format="PNG")

    async with serve_in_process(create_app(settings)) as client:
        response = await client.put(
            "/v1/me/avatar", files={"file": ("me.png", png.getvalue(), "image/png")}, headers=alice.headers
        )
        assert response.status_code == 200, response.text
        url = response.json()["avatar_url"]
        assert url.startswith("/media/avatars/"), url
        key = url.removeprefix("/media/")

        # Both renditions are in the bucket, under the prefix, typed; nothing on the local disk.
        stored = bucket_keys(s3_client, bucket)
        assert f"site/{key}" in stored
        assert f"site/{key.replace('-512.webp', '-128.webp')}" in stored
        assert all(name.startswith("site/avatars/") for name in stored)
        head = s3_client.head_object(Bucket=bucket, Key=f"site/{key}")
        assert head["ContentType"] == "image/webp"
        assert not (tmp_path / "media").exists() or not any((tmp_path / "media").rglob("*"))

        served = await client.get(url)
        assert served.status_code == 200, served.text
        assert served.headers["content-type"].startswith("image/webp")
        in_bucket = s3_client.get_object(Bucket=bucket, Key=f"site/{key}")["Body"].read()
        assert served.content == in_bucket
        image = Image.open(io.BytesIO(served.content))
        assert (image.format, image.size) == ("WEBP", (512, 512))
        # A range of it, and a HEAD, from the bucket too.
        part = await client.get(url, headers={"Range": "bytes=4-11"})
        assert part.status_code == 206, part.text
        assert part.content == in_bucket[4:12]
        assert part.headers["content-range"] == f"bytes 4-11/{len(in_bucket)}"
        head = await client.head(url)
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == str(len(in_bucket))
        assert head.headers["content-type"] == "image/webp"
        # Validators from the bucket's ETag and Last-Modified: a copy that is current is a 304, a
        # resumed download with the ETag gets the rest.
        etag = served.headers["etag"]
        assert head.headers["etag"] == part.headers["etag"] == etag
        assert served.headers["last-modified"]
        assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 304
        rest = await client.get(url, headers={"Range": "bytes=8-", "If-Range": etag})
        assert (rest.status_code, rest.content) == (206, in_bucket[8:])

        # Once the object is gone from the bucket, the API answers 404 (MediaNotFound), not 500.
        s3_client.delete_object(Bucket=bucket, Key=f"site/{key}")
        missing = await client.get(url)
        assert missing.status_code == 404, missing.text


def _s3_overrides(endpoint: str, bucket: str, *, prefix: str) -> dict[str, object]:
    return {
        "storage_backend": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": endpoint,
        "s3_region": REGION,
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SECRET_KEY,
        "s3_prefix": prefix,
        "s3_allow_http": True,
    }


@pytest.fixture
def stalled_endpoint() -> Iterator[str]:
    """An S3 endpoint that accepts connections and never answers, as a hung store does."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


async def test_a_stalled_store_is_a_prompt_503_not_a_hung_request(
    servers: RunServers,
    tmp_path: Path,
    users: UserFactory,
    stalled_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The production bounds (30 s a call, 60 s of retries) shortened so the test is quick.
    monkeypatch.setattr(storage_module, "S3_REQUEST_TIMEOUT", timedelta(milliseconds=300))
    monkeypatch.setattr(storage_module, "S3_RETRY_TIMEOUT", timedelta(seconds=1))
    alice = await users.create("alice")
    settings = make_settings(servers, tmp_path, **_s3_overrides(stalled_endpoint, "media", prefix=""))
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 90)).save(png, format="PNG")

    async with serve_in_process(create_app(settings)) as client:
        started = time.monotonic()
        upload = await client.put(
            "/v1/me/avatar", files={"file": ("me.png", png.getvalue(), "image/png")}, headers=alice.headers
        )
        assert time.monotonic() - started < 10
        assert_problem(upload, 503, "storage_unavailable")
        assert upload.headers["retry-after"]
        served = await client.get(f"/media/avatars/{uuid.uuid4()}/{'0' * 16}-512.webp")
        assert_problem(served, 503, "storage_unavailable")
        # Nothing was half-done: the profile still has no avatar.
        me = await client.get("/v1/me", headers=alice.headers)
        assert me.json()["avatar_url"] is None
