"""Multipart bodies on the three upload routes (PUT /v1/me/avatar, POST /v1/generations with an
`input_reference`, POST /v1/cameos/{id}/recording), read by app/multipart.py: a body over a limit
is 413 whichever limit it is, and a file sent without a filename is taken when its Content-Type
says it is not text, or refused naming the field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.multipart import MAX_PART_HEADERS, MAX_PARTS
from generation.models import Generation
from tests.accounts.helpers import assert_problem, me
from tests.app.test_bad_input import png_bytes
from tests.cameo.media import clip, start
from tests.factories import Actor

BOUNDARY = "XX"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
END = f"--{BOUNDARY}--\r\n".encode()
MB = 1024 * 1024


def part(
    name: str,
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    extra: bytes = b"",
) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode() + extra + b"\r\n" + data + b"\r\n"


class Upload:
    """One of the upload routes: where it is, the name of its file part, the other parts it needs
    and the file it takes."""

    def __init__(
        self, path: str, field: str, content: bytes, content_type: str, method: str = "POST"
    ) -> None:
        self.path, self.field, self.content, self.content_type = path, field, content, content_type
        self.method = method
        self.others = part("prompt", b"a cat") if field == "input_reference" else b""

    async def send(
        self, client: httpx.AsyncClient, actor: Actor, body: bytes | AsyncIterator[bytes]
    ) -> httpx.Response:
        headers = {**actor.headers, "content-type": MULTIPART}
        return await client.request(self.method, self.path, content=body, headers=headers)

    def body(self, file_part: bytes) -> bytes:
        return self.others + file_part + END


ROUTES = ["avatar", "generation", "recording"]


async def upload_route(kind: str, client: httpx.AsyncClient, actor: Actor) -> Upload:
    if kind == "avatar":
        return Upload("/v1/me/avatar", "file", png_bytes(), "image/png", method="PUT")
    if kind == "generation":
        return Upload("/v1/generations", "input_reference", png_bytes((72, 128)), "image/png")
    cameo_id = (await start(client, actor))["cameo"]["id"]
    return Upload(f"/v1/cameos/{cameo_id}/recording", "file", clip(3), "video/mp4")


async def uploaded(
    kind: str, client: httpx.AsyncClient, resources: Any, actor: Actor, response: httpx.Response
) -> bool:
    """Whether the upload was taken: the avatar set, the reference image stored, the recording in."""
    if kind == "avatar":
        return (await me(client, actor.headers))["avatar_url"] is not None
    if kind == "generation":
        async with resources.session_factory() as session:
            generation = await session.get(Generation, uuid.UUID(response.json()["id"]))
            return generation is not None and generation.input_reference_key is not None
    return bool(response.json()["status"] == "pending_review")


# --- Limits: each was 400 `bad_request` "Request Entity Too Large" ------------------------------

LIMITS = {
    "too many parts": (
        lambda upload: b"".join(part(f"x{i}", b"a") for i in range(1001)) + upload.body(b""),
        f"at most {MAX_PARTS} parts",
    ),
    "a header line too long": (
        lambda upload: upload.body(
            part(upload.field, upload.content, filename="a", content_type="image/png; x=" + "a" * 5000)
        ),
        "header may be at most",
    ),
    "too many header lines": (
        lambda upload: upload.body(
            part(
                upload.field,
                upload.content,
                filename="a",
                extra=b"".join(b"X-Extra-%d: a\r\n" % i for i in range(MAX_PART_HEADERS)),
            )
        ),
        f"at most {MAX_PART_HEADERS} header lines",
    ),
}


@pytest.mark.parametrize("limit", list(LIMITS))
@pytest.mark.parametrize("kind", ROUTES)
async def test_a_multipart_body_over_a_parser_limit_is_413(client, users, kind, limit):
    alice = await users.create("alice")
    upload = await upload_route(kind, client, alice)
    build, says = LIMITS[limit]

    response = await upload.send(client, alice, build(upload))

    body = assert_problem(response, 413, "request_too_large")
    assert says in body["detail"], body


@pytest.mark.parametrize("kind", ROUTES)
async def test_a_body_over_the_route_limit_is_413_with_the_route_code_also_when_chunked(client, users, kind):
    alice = await users.create("alice")
    upload = await upload_route(kind, client, alice)
    code = {"avatar": "image_too_large", "generation": "image_too_large", "recording": "recording_too_large"}
    huge = upload.body(part(upload.field, bytes(30 * MB), filename="a", content_type=upload.content_type))

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused once it has read past the limit
        for start_at in range(0, len(huge), MB):
            yield huge[start_at : start_at + MB]

    for sent in (huge, chunks()):
        body = assert_problem(await upload.send(client, alice, sent), 413, code[kind])
        assert "MiB" in body["detail"], body


# --- A file part without a filename: 400 `malformed_multipart` ("not in a readable encoding") -----


@pytest.mark.parametrize("kind", ROUTES)
async def test_a_file_part_without_a_filename_is_taken_by_its_content_type(client, users, resources, kind):
    alice = await users.create("alice")
    upload = await upload_route(kind, client, alice)

    response = await upload.send(
        client, alice, upload.body(part(upload.field, upload.content, content_type=upload.content_type))
    )

    assert response.status_code in (200, 202), response.text
    assert await uploaded(kind, client, resources, alice, response)


@pytest.mark.parametrize("kind", ROUTES)
async def test_a_text_part_where_a_file_belongs_is_422_naming_the_field(client, users, kind):
    alice = await users.create("alice")
    upload = await upload_route(kind, client, alice)

    for content_type in (None, "text/plain"):
        response = await upload.send(
            client, alice, upload.body(part(upload.field, b"not a file", content_type=content_type))
        )

        body = assert_problem(response, 422, "validation_failed")
        assert body["errors"][0]["field"] == upload.field, body
        assert "filename" in body["errors"][0]["message"], body


@pytest.mark.parametrize("kind", ROUTES)
async def test_file_bytes_sent_as_a_text_part_are_malformed_naming_the_field(client, users, kind):
    """No filename and no Content-Type: a text field (RFC 7578), whose bytes are not UTF-8 text."""
    alice = await users.create("alice")
    upload = await upload_route(kind, client, alice)

    response = await upload.send(client, alice, upload.body(part(upload.field, upload.content)))

    body = assert_problem(response, 400, "malformed_multipart")
    assert body["errors"][0]["field"] == upload.field, body
    assert "filename" in body["detail"], body


async def test_a_file_part_in_a_text_field_is_422_naming_it(client, users):
    alice = await users.create("alice")
    body = part("prompt", png_bytes(), content_type="image/png") + END
    headers = {**alice.headers, "content-type": MULTIPART}

    response = await client.post("/v1/generations", content=body, headers=headers)

    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"][0]["field"] == "prompt", problem


@pytest.mark.parametrize("kind", ROUTES)
async def test_an_empty_body_still_names_the_file_it_needs(client, users, kind):
    alice = await users.create("alice")
    upload = await upload_route(kind, client, alice)

    for content_type in (MULTIPART, "multipart/form-data"):
        headers = {**alice.headers, "content-type": content_type}
        response = await client.request(upload.method, upload.path, content=b"", headers=headers)

        body = assert_problem(response, 422, "validation_failed")
        assert {error["field"] for error in body["errors"]} & {upload.field, "prompt"}, body


# --- A field given twice: the last one was taken without a word (or a 422 naming no field) --------


@pytest.mark.parametrize("kind", ROUTES)
async def test_a_field_given_twice_is_422_naming_it(client, users, resources, kind):
    alice = await users.create("alice")
    upload = await upload_route(kind, client, alice)
    file_part = part(upload.field, upload.content, filename="a", content_type=upload.content_type)

    twice = await upload.send(client, alice, upload.body(file_part + file_part))

    body = assert_problem(twice, 422, "validation_failed")
    assert body["errors"] == [{"field": upload.field, "message": "given more than once"}], body
    if kind == "generation":
        prompts = part("prompt", b"a dog") + upload.body(file_part)  # a second prompt
        body = assert_problem(await upload.send(client, alice, prompts), 422, "validation_failed")
        assert body["errors"] == [{"field": "prompt", "message": "given more than once"}], body
        listed = part("cameos", b"alice") + part("cameos", b"bob") + upload.body(file_part)
        # The list field may repeat: read as two usernames, the first of which has no cameo.
        assert_problem(await upload.send(client, alice, listed), 403, "cameo_permission_denied")
