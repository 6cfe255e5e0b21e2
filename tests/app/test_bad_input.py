"""Bad input never produces a 5xx (API.md, Conventions), and the served OpenAPI document agrees with
what the server answers.

Found by fuzzing the running API with schemathesis and by hand. The tests named after a defect
reproduce it and assert the contract's answer; the others guard odd input that is already handled.
"""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.accounts.helpers import (
    assert_problem,
    assert_refused,
    available,
    bearer,
    block,
    follow,
    me,
    signup_body,
    unexpected,
    usernames_in,
)

USER_ENDPOINTS = [
    ("GET", ""),
    ("POST", "/follow"),
    ("DELETE", "/follow"),
    ("GET", "/followers"),
    ("GET", "/following"),
    ("POST", "/block"),
    ("DELETE", "/block"),
]

# Every JSON-bodied endpoint; "auth" says whether it needs the caller's bearer token.
JSON_ENDPOINTS = [
    ("POST", "/v1/auth/signup", False),
    ("POST", "/v1/auth/token", False),
    ("POST", "/v1/auth/refresh", False),
    ("POST", "/v1/auth/logout", False),
    ("POST", "/v1/auth/password-reset", False),
    ("POST", "/v1/auth/password-reset/confirm", False),
    ("PATCH", "/v1/me", True),
]


def every_endpoint(other: str) -> list[tuple[str, str, bool]]:
    """(method, path, needs the caller's token) for every endpoint this code base serves under /v1."""
    return [
        *JSON_ENDPOINTS,
        ("GET", f"/v1/usernames/{other}/availability", False),
        ("GET", "/v1/me", True),
        ("PUT", "/v1/me/avatar", True),
        ("GET", "/v1/me/invite", True),
        *((method, f"/v1/users/{other}{suffix}", True) for method, suffix in USER_ENDPOINTS),
    ]


def png_bytes(size: tuple[int, int] = (16, 16), mode: str = "RGB", **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="PNG", **save)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_with_chunk_before_idat(kind: bytes, data: bytes) -> bytes:
    """A valid PNG with one extra ancillary chunk right after IHDR (signature 8 + IHDR 25 bytes)."""
    image = png_bytes()
    return image[:33] + png_chunk(kind, data) + image[33:]


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares a size but carries no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


async def upload_avatar(client: httpx.AsyncClient, headers: dict[str, str], data: bytes) -> httpx.Response:
    return await client.put(
        "/v1/me/avatar", files={"file": ("avatar.png", data, "image/png")}, headers=headers
    )


# =============================================================================================
# Defects: each of these answered 500 (or contradicted the OpenAPI document) when written.
# =============================================================================================

# --- NUL characters reach PostgreSQL, which refuses them: 500 instead of a client error --------


@pytest.mark.parametrize(("method", "suffix"), USER_ENDPOINTS)
async def test_nul_in_username_path_is_404(client, users, method, suffix):
    alice = await users.create("alice")

    response = await client.request(method, f"/v1/users/a%00b{suffix}", headers=alice.headers)

    assert_problem(response, 404, "user_not_found")


@pytest.mark.parametrize("login", ["a\u0000b", "a\u0000b@example.test"])
async def test_nul_in_login_is_refused(client, users, login):
    await users.create("alice")

    response = await client.post("/v1/auth/token", json={"login": login, "password": "whatever-pass"})

    assert_refused(response)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "new\u0000comer@example.test"),
        ("display_name", "New\u0000comer"),
        ("invite_code", "AB\u0000CD"),
    ],
)
async def test_nul_in_signup_field_is_refused_and_creates_nothing(client, users, field, value):
    inviter = await users.create("inviter")
    body = signup_body("newcomer", inviter.invite_code)
    body[field] = value

    response = await client.post("/v1/auth/signup", json=body)

    assert_refused(response)
    assert (await available(client, "newcomer"))["available"] is True


@pytest.mark.parametrize("field", ["display_name", "bio"])
async def test_nul_in_profile_field_is_refused_and_changes_nothing(client, users, field):
    alice = await users.create("alice")
    before = await me(client, alice.headers)

    response = await client.patch("/v1/me", json={field: "a\u0000b"}, headers=alice.headers)

    assert_refused(response)
    assert (await me(client, alice.headers))[field] == before[field]


# --- Bodies msgspec cannot decode raise UnicodeDecodeError / RecursionError, not DecodeError ---


@pytest.mark.parametrize(("method", "path", "auth"), JSON_ENDPOINTS, ids=[p for _, p, _ in JSON_ENDPOINTS])
async def test_non_utf8_json_body_is_malformed_json(client, users, method, path, auth):
    alice = await users.create("alice")
    headers = {"content-type": "application/json", **(alice.headers if auth else {})}
    body = b'{"login": "\xe9\xff", "refresh_token": "\xe9", "bio": "\xe9", "email": "\xe9"}'

    response = await client.request(method, path, content=body, headers=headers)

    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize(("method", "path", "auth"), JSON_ENDPOINTS, ids=[p for _, p, _ in JSON_ENDPOINTS])
async def test_deeply_nested_json_body_is_malformed_json(client, users, method, path, auth):
    alice = await users.create("alice")
    headers = {"content-type": "application/json", **(alice.headers if auth else {})}
    depth = 100_000  # 200 KB, well under the 1 MB body limit
    body = b'{"bio": ' + b"[" * depth + b"]" * depth + b"}"

    response = await client.request(method, path, content=body, headers=headers)

    assert_problem(response, 400, "malformed_json")


# --- A key given twice in a JSON object: msgspec kept the last one without a word ---------------


async def test_a_key_given_twice_is_422_naming_it_and_changes_nothing(client, users):
    alice = await users.create("alice")
    json_headers = {**alice.headers, "content-type": "application/json"}
    password = alice.password.encode()

    bio = await client.patch("/v1/me", content=b'{"bio": "first", "bio": "second"}', headers=json_headers)
    # Which account this logs in to depends on which of the two a reader takes.
    login = await client.post(
        "/v1/auth/token",
        content=b'{"login": "nobody", "login": "alice", "password": "%s"}' % password,
        headers={"content-type": "application/json"},
    )
    generation = await client.post(
        "/v1/generations", content=b'{"prompt": "a cat", "seconds": 4, "seconds": 8}', headers=json_headers
    )

    for response, field in ((bio, "bio"), (login, "login"), (generation, "seconds")):
        body = assert_problem(response, 422, "validation_failed")
        assert body["errors"] == [{"field": field, "message": "given more than once"}], body
    assert (await me(client, alice.headers))["bio"] == ""
    assert (await client.get("/v1/generations", headers=alice.headers)).json()["items"] == []


async def test_unauthenticated_garbage_body_is_a_client_error(client):
    """The body is parsed before the token is checked, so an anonymous caller could trigger the 500."""
    response = await client.patch(
        "/v1/me", content=b'{"bio": "\xff"}', headers={"content-type": "application/json"}
    )

    assert_refused(response)


# --- Avatar uploads: Litestar's UploadFile extraction and Pillow's open() raise uncaught ----------


async def test_avatar_multipart_without_a_file_part_is_refused(client, users):
    alice = await users.create("alice")

    body = b'--XX\r\nContent-Disposition: form-data; name="caption"\r\n\r\nno file here\r\n--XX--\r\n'
    headers = {**alice.headers, "content-type": "multipart/form-data; boundary=XX"}

    response = await client.put("/v1/me/avatar", content=body, headers=headers)

    assert_refused(response)


# Multipart bodies the parser cannot read: each was 400 `malformed_json` (a part in a charset
# Python does not have), 400 `bad_request` or, on POST /v1/generations, 422 `validation_failed`.
MALFORMED_MULTIPART: dict[str, tuple[bytes, str]] = {
    "unknown charset": (
        b'--XX\r\nContent-Disposition: form-data; name="prompt"\r\n'
        b"Content-Type: text/plain; charset=no-such-charset\r\n\r\na cat\r\n--XX--\r\n",
        "multipart/form-data; boundary=XX",
    ),
    "no boundary": (b"--XX\r\n", "multipart/form-data"),
    "garbage": (b"\x00\xff garbage", "multipart/form-data; boundary=XX"),
    "truncated": (
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nabc',
        "multipart/form-data; boundary=XX",
    ),
}
MULTIPART_ENDPOINTS = [("PUT", "/v1/me/avatar"), ("POST", "/v1/generations")]


@pytest.mark.parametrize("kind", list(MALFORMED_MULTIPART), ids=list(MALFORMED_MULTIPART))
@pytest.mark.parametrize(("method", "path"), MULTIPART_ENDPOINTS, ids=[p for _, p in MULTIPART_ENDPOINTS])
async def test_unreadable_multipart_body_is_malformed_multipart(client, users, method, path, kind):
    alice = await users.create("alice")
    content, content_type = MALFORMED_MULTIPART[kind]
    headers = {**alice.headers, "content-type": content_type}

    response = await client.request(method, path, content=content, headers=headers)

    assert_problem(response, 400, "malformed_multipart")


# --- A body of another type than the route takes was read as that type anyway -------------------
# JSON routes parsed any body as JSON: JSON labelled text/plain or as a form was taken (200), and a real
# form or multipart body was 400 `malformed_json`; the avatar route answered a JSON body 400
# `bad_request`. POST /v1/generations answered these 415 `unsupported_media`, as RFC 9110 has it.

NOT_JSON = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XX",
    "application/xml",
]


@pytest.mark.parametrize("content_type", NOT_JSON)
@pytest.mark.parametrize(("method", "path", "auth"), JSON_ENDPOINTS, ids=[p for _, p, _ in JSON_ENDPOINTS])
async def test_json_route_refuses_a_body_of_another_type(client, users, method, path, auth, content_type):
    alice = await users.create("alice")
    headers = {"content-type": content_type, **(alice.headers if auth else {})}
    body = b'{"bio": "changed", "login": "alice", "password": "x", "refresh_token": "x"}'

    response = await client.request(method, path, content=body, headers=headers)

    assert_problem(response, 415, "unsupported_media")
    assert (await client.get("/v1/me", headers=alice.headers)).json()["bio"] == ""


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
        None,
    ],
)
async def test_json_route_takes_json_however_it_is_labelled(client, users, content_type):
    alice = await users.create("alice")
    headers = dict(alice.headers)
    if content_type is not None:
        headers["content-type"] = content_type

    response = await client.patch("/v1/me", content=b'{"bio": "changed"}', headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["bio"] == "changed"


# --- A Content-Encoding was ignored: the body was read as if it were not encoded ------------------
# Each of these was taken as sent (200: the bio changed, the avatar stored): RFC 9110 §8.4.1 has a
# server answer 415 to a coding it does not support, and none is.


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "GZIP", "identity, gzip"])
async def test_a_body_with_a_content_encoding_is_unsupported_media(client, users, coding):
    alice = await users.create("alice")
    json_headers = {**alice.headers, "content-type": "application/json", "content-encoding": coding}

    bio = await client.patch("/v1/me", content=b'{"bio": "changed"}', headers=json_headers)
    avatar = await client.put(
        "/v1/me/avatar",
        files={"file": ("avatar.png", png_bytes(), "image/png")},
        headers={**alice.headers, "content-encoding": coding},
    )

    for response in (bio, avatar):
        body = assert_problem(response, 415, "unsupported_media")
        assert "Content-Encoding" in body["detail"], body
    mine = await me(client, alice.headers)
    assert (mine["bio"], mine["avatar_url"]) == ("", None), mine


async def test_a_body_encoded_as_identity_is_taken(client, users):
    alice = await users.create("alice")
    headers = {**alice.headers, "content-type": "application/json", "content-encoding": "identity"}

    response = await client.patch("/v1/me", content=b'{"bio": "changed"}', headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["bio"] == "changed"


# --- JSON labelled with another charset than UTF-8 was read as UTF-8 ------------------------------


@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", "utf-16", '"windows-1252"'])
async def test_json_in_another_charset_is_unsupported_media(client, users, charset):
    alice = await users.create("alice")
    headers = {**alice.headers, "content-type": f"application/json; charset={charset}"}

    # Latin-1 for "café"; read as UTF-8 it is not valid, and ASCII-only JSON was simply taken (200).
    for content in (b'{"bio": "caf\xe9"}', b'{"bio": "cafe"}'):
        response = await client.patch("/v1/me", content=content, headers=headers)
        assert_problem(response, 415, "unsupported_media")
    assert (await me(client, alice.headers))["bio"] == ""


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", '"utf-8"'])
async def test_json_in_utf8_is_taken_however_the_charset_is_spelled(client, users, charset):
    alice = await users.create("alice")
    headers = {**alice.headers, "content-type": f"application/json; charset={charset}"}

    response = await client.patch("/v1/me", content='{"bio": "café"}'.encode(), headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["bio"] == "café"


async def test_avatar_route_refuses_a_json_body_as_unsupported_media(client, users):
    alice = await users.create("alice")

    response = await client.put("/v1/me/avatar", json={"file": "aGVsbG8="}, headers=alice.headers)

    assert_problem(response, 415, "unsupported_media")


async def test_avatar_multipart_with_two_file_parts_is_refused(client, users):
    alice = await users.create("alice")
    image = png_bytes()
    files = [("file", ("a.png", image, "image/png")), ("file", ("b.png", image, "image/png"))]

    response = await client.put("/v1/me/avatar", files=files, headers=alice.headers)

    assert_refused(response)


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [(b"zTXt", b"Comment\x00\x00"), (b"iTXt", b"Comment\x00\x01\x00\x00\x00"), (b"iCCP", b"icc\x00\x00")],
    ids=["zTXt", "iTXt", "iCCP"],
)
async def test_avatar_png_with_compressed_chunk_bomb_is_refused(client, users, kind, prefix):
    """~50 KB on the wire, 20 MB once inflated: Pillow refuses it with a ValueError at open()."""
    alice = await users.create("alice")
    data = png_with_chunk_before_idat(kind, prefix + zlib.compress(b"A" * (20 * 1024 * 1024), 9))

    response = await upload_avatar(client, alice.headers, data)

    assert_refused(response)
    assert (await me(client, alice.headers))["avatar_url"] is None


async def test_avatar_png_cut_inside_its_header_is_refused(client, users):
    """Pillow raises OSError("Truncated File Read") from open(), which render_avatar does not catch."""
    alice = await users.create("alice")

    response = await upload_avatar(client, alice.headers, png_bytes()[:20])

    assert_refused(response)


# --- EXIF that Pillow reads but cannot write back: 500 on the two image uploads -------------


def jpeg_with_mistyped_exif_tag(tag: bytes) -> bytes:
    """A rotated JPEG whose EXIF holds text under `tag`, which Pillow knows as a number: straightening
    the image writes the EXIF back, and that raised (TypeError for a rational, struct.error for an
    integer)."""
    image = Image.new("RGB", (24, 16))
    exif = image.getexif()
    exif[0x0112] = 6  # orientation: rotated
    exif[0x010F] = "cam"  # Make, ASCII
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    make = b"\x01\x0f\x00\x02"  # tag 0x010F, type ASCII (big-endian, as Pillow writes it)
    assert out.getvalue().count(make) == 1
    return out.getvalue().replace(make, tag + b"\x00\x02")


@pytest.mark.parametrize("route", ["avatar", "generation reference"])
@pytest.mark.parametrize("tag", [b"\x01\x1f", b"\x01\x00"], ids=["XPosition", "ImageWidth"])
async def test_image_with_mistyped_exif_is_refused_not_a_server_error(client, users, route, tag):
    alice = await users.create("alice")
    data = jpeg_with_mistyped_exif_tag(tag)

    if route == "avatar":
        response = await upload_avatar(client, alice.headers, data)
    else:
        response = await client.post(
            "/v1/generations",
            data={"prompt": "from a picture"},
            files={"input_reference": ("start.jpg", data, "image/jpeg")},
            headers=alice.headers,
        )

    assert_problem(response, 422, "invalid_image")


# --- /media/{key}: keys obstore cannot parse or the file system cannot open -------------------


@pytest.mark.parametrize(
    "key",
    ["avatars/%01", "avatars/%7F", "avatars/x%0Ay", "avatars/" + "a" * 300],
    ids=["control", "delete", "newline", "name-too-long"],
)
async def test_unusable_media_key_is_404(client, users, key):
    alice = await users.create("alice")
    # With avatars/ present, the file system is asked for the name itself (ENAMETOOLONG, not ENOENT).
    assert (await upload_avatar(client, alice.headers, png_bytes())).status_code == 200

    response = await client.get(f"/media/{key}")

    assert_problem(response, 404, "not_found")


# --- A follow racing a block survives it ------------------------------------------------------


async def test_follow_racing_a_block_does_not_survive_it(client, users):
    """API.md: blocking removes follows both ways. follow() checks for a block and then inserts,
    and add_block() deletes the follows it can see; neither locks, so a follow committed alongside
    a block outlives it (seen in about a third of tries against the running server)."""
    alice = await users.create("alice")
    bob = await users.create("bob")
    survived = 0
    for _ in range(25):
        await client.delete("/v1/users/bob/block", headers=alice.headers)
        followed, blocked = await asyncio.gather(
            follow(client, bob.headers, "alice"), block(client, alice.headers, "bob")
        )
        assert followed.status_code in (204, 404), followed.text
        assert blocked.status_code == 204, blocked.text
        profile = (await client.get("/v1/users/bob", headers=alice.headers)).json()
        assert profile["is_blocked"] is True
        if profile["follows_you"] or (await me(client, alice.headers))["follower_count"]:
            survived += 1
    assert survived == 0, f"a follow outlived the block in {survived} of 25 races"


# --- The served OpenAPI document and the answers disagree ------------------------------------


@pytest.fixture
async def openapi(client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.mark.parametrize("path", ["/v1/users/{username}/followers", "/v1/users/{username}/following"])
async def test_list_endpoints_document_the_422_they_answer(client, users, openapi, path):
    alice = await users.create("alice")

    response = await client.get(
        path.replace("{username}", "alice"), params={"limit": 0}, headers=alice.headers
    )

    status = response.status_code
    assert_refused(response)
    assert str(status) in openapi["paths"][path]["get"]["responses"], (
        f"{path} answers {status} for limit=0 but documents only "
        f"{sorted(openapi['paths'][path]['get']['responses'])}"
    )


@pytest.mark.parametrize(
    ("schema", "method", "path"),
    [
        ("SignupIn", "POST", "/v1/auth/signup"),
        ("TokenIn", "POST", "/v1/auth/token"),
        ("RefreshIn", "POST", "/v1/auth/refresh"),
        ("PasswordResetIn", "POST", "/v1/auth/password-reset"),
        ("PasswordResetConfirmIn", "POST", "/v1/auth/password-reset/confirm"),
        ("MePatch", "PATCH", "/v1/me"),
    ],
)
async def test_input_schemas_say_unknown_fields_are_refused(client, users, openapi, schema, method, path):
    """The server answers 422 for a field it does not know, so the document must not allow one."""
    alice = await users.create("alice")
    body = {"login": "alice", "password": "x", "refresh_token": "x", "nickname": "x"}

    refused = await client.request(method, path, json=body, headers=alice.headers)

    assert_problem(refused, 422, "validation_failed")
    assert openapi["components"]["schemas"][schema].get("additionalProperties") is False


async def test_avatar_request_schema_requires_the_file_part(openapi):
    body = openapi["paths"]["/v1/me/avatar"]["put"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    if "$ref" in body:
        body = openapi["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]

    assert "file" in body.get("required", []), body


async def test_metrics_are_not_documented_as_something_they_are_not(client, openapi):
    """/metrics is Prometheus text: the document either leaves it out or names that type."""
    response = await client.get("/metrics")
    served = response.headers["content-type"].split(";")[0]
    documented = openapi["paths"].get("/metrics", {}).get("get", {}).get("responses", {}).get("200", {})

    assert served == "text/plain"
    assert not documented or served in documented.get("content", {}), documented


# =============================================================================================
# Guards: odd input that is already answered correctly.
# =============================================================================================

BAD_TOKENS = {
    "missing": None,
    "empty": "",
    "scheme only": "Bearer",
    "basic": "Basic YWxpY2U6cGFzc3dvcmQ=",
    "garbage": "Bearer abc.def.ghi",
    "alg none": "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.",
    "huge": "Bearer " + "a" * 20_000,
}


@pytest.mark.parametrize("token", list(BAD_TOKENS), ids=list(BAD_TOKENS))
async def test_every_protected_endpoint_requires_a_valid_token(client, users, token):
    alice = await users.create("alice")
    await users.create("bob")
    header = BAD_TOKENS[token]
    headers = {} if header is None else {"Authorization": header}
    unprotected = {
        "/v1/auth/signup",
        "/v1/auth/token",
        "/v1/auth/refresh",
        "/v1/auth/logout",
        "/v1/auth/password-reset",
        "/v1/auth/password-reset/confirm",
    }

    failures = []
    for method, path, auth in every_endpoint("bob"):
        if not auth:
            assert path in unprotected or path.startswith("/v1/usernames/"), path
            continue
        failures.append(unexpected(await client.request(method, path, headers=headers), 401))
    assert [failure for failure in failures if failure] == []
    # A refresh token is not an access token.
    response = await client.get("/v1/me", headers=bearer(alice.refresh_token))
    assert_problem(response, 401)


async def test_a_token_only_ever_acts_for_its_own_user(client, users):
    alice = await users.create("alice")
    bob = await users.create("bob")

    changed = await client.patch("/v1/me", json={"bio": "alice was here"}, headers=alice.headers)
    protected = await client.patch("/v1/me", json={"id": bob.id, "username": "bob"}, headers=alice.headers)

    assert changed.status_code == 200, changed.text
    assert_problem(protected, 422, "validation_failed")
    assert (await me(client, bob.headers))["bio"] == ""
    assert (await me(client, alice.headers))["username"] == "alice"


async def test_blocked_user_gets_404_on_everything_of_the_blocker(client, users):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    for actor, target in ((alice, "carol"), (carol, "alice"), (bob, "carol")):
        assert (await follow(client, actor.headers, target)).status_code == 204
    assert (await block(client, alice.headers, "bob")).status_code == 204

    failures = []
    for method, suffix in USER_ENDPOINTS[:5]:  # profile, follow, unfollow, followers, following
        response = await client.request(method, f"/v1/users/alice{suffix}", headers=bob.headers)
        failures.append(unexpected(response, 404, "user_not_found"))
    assert [failure for failure in failures if failure] == []
    # Nor does the blocker show up in a third person's lists for the blocked user...
    assert await usernames_in(client, bob.headers, "carol", "followers") == ["bob"]
    assert await usernames_in(client, bob.headers, "carol", "following") == []
    # ...and the blocker cannot follow the person they blocked either.
    assert_problem(await follow(client, alice.headers, "bob"), 404, "user_not_found")


@pytest.mark.parametrize(
    "username",
    [
        "a" * 1000,
        "AAA",
        "%20",
        "a%0Ab",
        "a%09b",
        "%C3%A9t%C3%A9",
        "%FF%FE",
        "%F0%9F%99%82",
        "%25",
        "al%27ice",
    ],
    ids=[
        "1000-chars",
        "upper",
        "space",
        "newline",
        "tab",
        "accents",
        "bad-utf8",
        "emoji",
        "percent",
        "quote",
    ],
)
async def test_odd_username_in_path_is_404(client, users, username):
    alice = await users.create("alice")

    failures = []
    for method, suffix in USER_ENDPOINTS:
        response = await client.request(method, f"/v1/users/{username}{suffix}", headers=alice.headers)
        failures.append(unexpected(response, 404, "user_not_found"))
    assert [failure for failure in failures if failure] == []
    availability = await client.get(f"/v1/usernames/{username}/availability")
    assert availability.status_code == 200, availability.text
    assert availability.json()["available"] is False


@pytest.mark.parametrize(
    "cursor",
    ["A" * 10_000, "A" * 513, "", "\u0000", "\u00ff", "====", "@@@", "A" * 36, "-_" * 40],
    ids=["10k", "513", "empty", "nul", "latin1", "padding", "symbols", "36-A", "url-safe"],
)
@pytest.mark.parametrize("direction", ["followers", "following"])
async def test_bad_cursor_is_a_client_error(client, users, cursor, direction):
    alice = await users.create("alice")

    response = await client.get(
        f"/v1/users/alice/{direction}", params={"cursor": cursor}, headers=alice.headers
    )

    assert_refused(response)


@pytest.mark.parametrize(
    "limit", ["99999999999999999999999999999", "-99999999999999999999", "1e3", "1.5", "", "%00", "\uff11"]
)
async def test_bad_limit_is_a_client_error(client, users, limit):
    alice = await users.create("alice")

    response = await client.get("/v1/users/alice/followers", params={"limit": limit}, headers=alice.headers)

    assert_refused(response)


# --- A query parameter given twice: Litestar kept the last one without a word -------------------


async def test_a_query_parameter_given_twice_is_422_naming_it(client, users, videos):
    alice = await users.create("alice")
    video_id = (await videos.draft(alice)).id
    repeated = [
        ("/v1/users/alice/videos", "limit=1&limit=2", "limit"),
        ("/v1/users/alice/followers", "cursor=a&cursor=b", "cursor"),
        (f"/v1/videos/{video_id}/content", "variant=video&variant=thumbnail", "variant"),
        (f"/v1/videos/{video_id}/tree", "max_depth=2&max_depth=2", "max_depth"),
        ("/v1/generations", "limit=5&status=queued&limit=5", "limit"),
    ]

    for path, query, name in repeated:
        for method in ("GET", "HEAD"):
            response = await client.request(method, f"{path}?{query}", headers=alice.headers)

            assert response.status_code == 422, (method, path, query, response.status_code)
            if method == "GET":
                body = assert_problem(response, 422, "validation_failed")
                assert body["errors"] == [{"field": name, "message": "given more than once"}], body

    # Each once, and a name no route takes repeated (ignored, as it always was), is fine.
    fine = await client.get(f"/v1/videos/{video_id}/tree?max_depth=2&x=1&x=2", headers=alice.headers)
    assert fine.status_code == 200, fine.text


# Bodies sent to every endpoint: none may produce a 5xx; GETs ignore them.
ODD_BODIES: dict[str, tuple[bytes, str | None]] = {
    "empty": (b"", None),
    "empty json": (b"", "application/json"),
    "null": (b"null", "application/json"),
    "array": (b"[]", "application/json"),
    "array of objects": (b'[{"login": "alice"}]', "application/json"),
    "string": (b'"alice"', "application/json"),
    "number out of range": (b"1e999", "application/json"),
    "huge integers": (b'{"login": 123456789012345678901234567890, "bio": -1e308}', "application/json"),
    "wrong types": (b'{"login": [], "password": {}, "bio": true, "refresh_token": null}', "application/json"),
    "truncated": (b'{"login": ', "application/json"),
    "lone surrogate": (b'{"login": "\\ud800", "bio": "\\udfff"}', "application/json"),
    "byte order mark": (b'\xef\xbb\xbf{"bio": "x"}', "application/json"),
    "xml": (b"<bio>x</bio>", "application/xml"),
    "text": (b"hello", "text/plain"),
    "form": (b"login=alice&password=x&bio=y", "application/x-www-form-urlencoded"),
    "multipart without boundary": (b"--x\r\n", "multipart/form-data"),
    "multipart garbage": (b"\x00\xff garbage", "multipart/form-data; boundary=XX"),
    "multipart with a file": (
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\nnot really a png\r\n--XX--\r\n",
        "multipart/form-data; boundary=XX",
    ),
    "garbled content type": (b"{}", ";;;=="),
}


@pytest.mark.parametrize("kind", list(ODD_BODIES), ids=list(ODD_BODIES))
async def test_odd_bodies_never_produce_a_server_error(client, users, kind):
    alice = await users.create("alice")
    await users.create("bob")
    content, content_type = ODD_BODIES[kind]
    failures = []

    for method, path, auth in every_endpoint("bob"):
        headers = dict(alice.headers) if auth else {}
        if content_type is not None:
            headers["content-type"] = content_type
        response = await client.request(method, path, content=content, headers=headers)
        if response.status_code >= 400:
            failures.append(unexpected(response))
    assert [failure for failure in failures if failure] == []


async def test_json_body_over_the_limit_is_413(client, users):
    alice = await users.create("alice")
    body = b'{"bio": "' + b"a" * (2 * 1024 * 1024) + b'"}'

    response = await client.patch(
        "/v1/me", content=body, headers={**alice.headers, "content-type": "application/json"}
    )

    assert_problem(response, 413)


@pytest.mark.parametrize(
    "value",
    ["\U0001d538" * 300, "\u202e\u0007\u001b[31m", "e\u0301" * 150, " " * 300],
    ids=["astral", "controls", "combining", "blank"],
)
async def test_unusual_but_valid_bio_is_stored(client, users, value):
    alice = await users.create("alice")

    response = await client.patch("/v1/me", json={"bio": value}, headers=alice.headers)

    assert response.status_code == 200, response.text


async def test_birthdate_out_of_range_is_a_client_error(client, users):
    inviter = await users.create("inviter")

    for birthdate in ("0001-01-01", "9999-12-31", "2000-02-30", "2000-01-01T00:00:00Z", "20000101", ""):
        body = signup_body("newcomer", inviter.invite_code, birthdate=birthdate)
        assert_refused(await client.post("/v1/auth/signup", json=body))


def image(mode: str, fmt: str, size: tuple[int, int] = (16, 16)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("mode", "fmt", "size"),
    [
        ("CMYK", "JPEG", (16, 16)),
        ("I;16", "PNG", (16, 16)),
        ("1", "PNG", (16, 16)),
        ("LA", "PNG", (16, 16)),
        ("RGBA", "WEBP", (16, 16)),
        ("RGB", "PNG", (1, 1)),
        ("RGB", "PNG", (20_000, 1)),
    ],
    ids=["cmyk-jpeg", "16-bit-png", "1-bit-png", "grey-alpha-png", "rgba-webp", "1x1", "20000x1"],
)
async def test_unusual_images_are_accepted(client, users, mode, fmt, size):
    alice = await users.create("alice")

    response = await upload_avatar(client, alice.headers, image(mode, fmt, size))

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("empty", b"", 415, "unsupported_media"),
        ("header only, 0x0", png_header(0, 0), 415, "unsupported_media"),
        ("header only, 36 MP", png_header(6000, 6000), 422, "invalid_image"),
        ("header only, 49 MP", png_header(7000, 7000), 413, "image_too_large"),
        ("header only, 10 GP", png_header(100_000, 100_000), 413, "image_too_large"),
        ("gif", image("RGB", "GIF"), 415, "unsupported_media"),
        ("bmp", image("RGB", "BMP"), 415, "unsupported_media"),
    ],
)
async def test_broken_or_oversized_images_are_refused(client, users, name, data, status, code):
    alice = await users.create("alice")

    response = await upload_avatar(client, alice.headers, data)

    assert_problem(response, status, code)


async def test_avatar_with_a_big_uncompressed_text_chunk_is_accepted(client, users):
    alice = await users.create("alice")
    data = png_with_chunk_before_idat(b"tEXt", b"Comment\x00" + b"A" * (512 * 1024))

    response = await upload_avatar(client, alice.headers, data)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "key",
    [
        "avatars/..%2F..%2Fsecret_key",
        "avatars/%2E%2E/%2E%2E/secret_key",
        "secret_key",
        "avatars/",
        "avatars/x%20y",
        "avatars//x",
    ],
)
async def test_media_outside_avatars_or_missing_is_404(client, key):
    response = await client.get(f"/media/{key}")

    assert_problem(response, 404)
