"""Bad input never produces a 5xx, the served OpenAPI document agrees with what the server answers,
and nobody reaches another user's generations, drafts, removed or deleted videos, comments or
notifications (API.md: Conventions, Generation, Videos).

Found by fuzzing the running API with schemathesis and by hand, after the accounts pass in
tests/app/test_bad_input.py. The tests in the first half reproduce a defect and assert the contract's
answer (they fail until the app is fixed); the second half guards odd input that is already handled.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from PIL import Image
from sqlalchemy import update

from app.factory import create_app
from app.resources import Resources
from feed.models import Video
from generation.simulator import SimulatorHandle
from tests.accounts.helpers import (
    assert_problem,
    assert_refused,
    block,
    error_fields,
    unexpected,
)
from tests.conftest import make_settings, serve_in_process
from tests.factories import Actor
from tests.feed.helpers import all_items, comment, notifications, video
from tests.generation.helpers import generate
from tests.harness import RunServers

BOUNDARY = "XX"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
UNKNOWN_UUID = "0195f3c2-0000-7000-8000-000000000000"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"remixfeed-fuzz-webhook-secret-32b").decode()


def part(name: str | bytes, value: bytes, *headers: bytes) -> bytes:
    """One multipart part with a raw name, value and extra header lines."""
    raw_name = name.encode() if isinstance(name, str) else name
    head = (
        b'Content-Disposition: form-data; name="'
        + raw_name
        + b'"\r\n'
        + b"".join(h + b"\r\n" for h in headers)
    )
    return b"--" + BOUNDARY.encode() + b"\r\n" + head + b"\r\n" + value + b"\r\n"


def multipart(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--" + BOUNDARY.encode() + b"--\r\n"


def png_bytes(size: tuple[int, int] = (16, 16), mode: str = "RGB", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format=fmt)
    return out.getvalue()


async def quota_used(client: httpx.AsyncClient, actor: Actor) -> int:
    response = await client.get("/v1/me/quota", headers=actor.headers)
    assert response.status_code == 200, response.text
    used: int = response.json()["used"]
    return used


async def post_generation_multipart(client: httpx.AsyncClient, actor: Actor, body: bytes) -> httpx.Response:
    return await client.post(
        "/v1/generations", content=body, headers={**actor.headers, "content-type": MULTIPART}
    )


async def mark_removed(resources: Resources, video_id: str) -> None:
    """What a moderator's `remove_content` will do (moderation is not built yet)."""
    async with resources.session_factory() as session, session.begin():
        await session.execute(update(Video).where(Video.id == UUID(video_id)).values(status="removed"))


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    stamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"msg_1.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }


# =============================================================================================
# Defects: each of these answered 500, or contradicted the contract or the OpenAPI document,
# when written.
# =============================================================================================

# --- A multipart text part naming a charset Python cannot decode with: LookupError / UnicodeError
# escape Litestar's parser (litestar/_multipart.py: data.decode(segment.charset)) -> 500 --------

CHARSETS = {
    "unknown": (b"nonsense-9", b"a paper boat"),
    "not a text encoding": (b"rot13", b"a paper boat"),
    "punycode error": (b"punycode", b"abc-9999999999"),
}


@pytest.mark.parametrize("charset", list(CHARSETS), ids=list(CHARSETS))
async def test_generation_part_with_an_undecodable_charset_is_refused(client, users, charset):
    alice = await users.create("alice")
    name, value = CHARSETS[charset]
    body = multipart(part("prompt", value, b"Content-Type: text/plain; charset=" + name))

    response = await post_generation_multipart(client, alice, body)

    assert_refused(response)
    assert await quota_used(client, alice) == 0


async def test_avatar_part_with_an_undecodable_charset_is_refused(client, users):
    """The same parser serves PUT /v1/me/avatar, so the fix belongs in the app's error handling."""
    alice = await users.create("alice")
    body = multipart(part("caption", b"hello", b"Content-Type: text/plain; charset=nonsense-9"))

    response = await client.put(
        "/v1/me/avatar", content=body, headers={**alice.headers, "content-type": MULTIPART}
    )

    assert_refused(response)


# --- A webhook signature with a non-ASCII character: hmac.compare_digest raises TypeError --------


async def test_webhook_signature_with_non_ascii_characters_is_invalid(
    servers: RunServers, simulator: SimulatorHandle, tmp_path: Path
):
    """Anonymous: anyone who can reach the endpoint gets a 500 once a webhook secret is set."""
    settings = make_settings(
        servers, tmp_path, simulator, openai_webhook_secret=WEBHOOK_SECRET, worker_in_process=False
    )
    event = json.dumps({"id": "evt_1", "type": "video.completed", "data": {"id": "video_1"}}).encode()
    headers: dict[str, Any] = dict(signed(event))
    headers["webhook-signature"] = b"v1,\xe9t\xe9"  # latin-1 on the wire, as any client may send
    async with serve_in_process(create_app(settings)) as client:
        response = await client.post("/v1/webhooks/sora", content=event, headers=headers)

    assert_problem(response, 400, "invalid_webhook")


# --- NUL in the username of /v1/users/{username}/videos reaches PostgreSQL ----------------------


async def test_nul_in_username_of_user_videos_is_404(client, users):
    """The profile endpoints answer 404 user_not_found for it (tests/app/test_bad_input.py); this one
    sends the name to the database, whose refusal comes back as 422 'cannot be stored'."""
    alice = await users.create("alice")

    response = await client.get("/v1/users/a%00b/videos", headers=alice.headers)

    assert_problem(response, 404, "user_not_found")


# --- An empty input_reference is silently ignored -------------------------------------------


async def test_empty_input_reference_is_refused(client, users):
    """A zero-byte file is not a JPEG, PNG or WebP image (the avatar answers 415 for it); the
    generation is queued without any reference instead, and the quota is spent."""
    alice = await users.create("alice")

    response = await client.post(
        "/v1/generations",
        data={"prompt": "from a picture"},
        files={"input_reference": ("start.png", b"", "image/png")},
        headers=alice.headers,
    )

    assert_problem(response, 415, "unsupported_media")
    assert await quota_used(client, alice) == 0


# --- Publishing takes only optional fields, yet a bare POST is refused ----------------------


async def test_publish_without_a_body_publishes_with_the_defaults(client, users, videos):
    """API.md: caption?, show_prompt? (default true), visibility?, allow_remix? (default true). The
    route declares a required JSON body, so `POST /publish` with nothing answers 422."""
    alice = await users.create("alice")
    draft = await videos.draft(alice)

    response = await client.post(f"/v1/videos/{draft.id}/publish", headers=alice.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["visibility"], body["allow_remix"]) == ("published", "public", True)


# --- A blocked user is still told about replies on the blocker's video ----------------------


async def test_blocked_user_is_not_told_about_replies_on_the_blockers_video(client, users, published):
    """carol commented before alice blocked her; bob's reply to that comment notifies carol with its
    text and alice's video id, although carol gets 404 on that video (engagement._notify)."""
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    video_id = await published(alice)
    carols = (await comment(client, carol, video_id, "first!")).json()
    assert (await block(client, alice.headers, "carol")).status_code == 204
    assert_problem(await client.get(f"/v1/videos/{video_id}", headers=carol.headers), 404)

    reply = await comment(client, bob, video_id, "a reply carol may not read", parent_id=carols["id"])
    assert reply.status_code == 201, reply.text

    leaked = [n for n in await notifications(client, carol) if n["subject"].get("video_id") == video_id]
    assert leaked == [], leaked


# --- The served OpenAPI document and the answers disagree ------------------------------------


@pytest.fixture
async def openapi(client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


QUERY_REFUSALS = [
    ("/v1/generations", {"status": "finished"}),
    ("/v1/generations", {"limit": 0}),
    ("/v1/me/drafts", {"limit": 0}),
    ("/v1/notifications", {"limit": 101}),
    ("/v1/users/{username}/videos", {"limit": 0}),
    ("/v1/videos/{video_id}/comments", {"limit": 0}),
    ("/v1/videos/{video_id}/remixes", {"limit": 0}),
    ("/v1/videos/{video_id}/tree", {"max_depth": 6}),
    ("/v1/videos/{video_id}/content", {"variant": "poster"}),
]


@pytest.mark.parametrize(
    ("path", "params"), QUERY_REFUSALS, ids=[f"{p}?{next(iter(q))}" for p, q in QUERY_REFUSALS]
)
async def test_query_refusals_are_documented(client, users, published, openapi, path, params):
    alice = await users.create("alice")
    video_id = await published(alice)
    concrete = path.replace("{username}", "alice").replace("{video_id}", video_id)

    response = await client.get(concrete, params=params, headers=alice.headers)

    assert_refused(response)
    documented = openapi["paths"][path]["get"]["responses"]
    assert str(response.status_code) in documented, (
        f"{path} answers {response.status_code} for {params} but documents only {sorted(documented)}"
    )


def _documents_type(served: str, documented: dict[str, Any]) -> bool:
    kind = served.split("/")[0]
    return served in documented or f"{kind}/*" in documented or "*/*" in documented


@pytest.mark.parametrize("variant", ["video", "thumbnail"])
async def test_content_documents_the_media_types_it_serves(client, users, published, openapi, variant):
    alice = await users.create("alice")
    video_id = await published(alice)

    response = await client.get(
        f"/v1/videos/{video_id}/content", params={"variant": variant}, headers=alice.headers
    )

    assert response.status_code == 200, response.text
    served = response.headers["content-type"].split(";")[0]
    documented = openapi["paths"]["/v1/videos/{video_id}/content"]["get"]["responses"]["200"]["content"]
    assert _documents_type(served, documented), f"serves {served}, documents {sorted(documented)}"


async def test_events_are_documented_as_an_event_stream(openapi):
    """API.md: GET /v1/generations/{id}/events answers `text/event-stream` (the document says JSON)."""
    documented = openapi["paths"]["/v1/generations/{generation_id}/events"]["get"]["responses"]["200"][
        "content"
    ]

    assert "text/event-stream" in documented, sorted(documented)


def _string_bounds(schema: dict[str, Any]) -> tuple[int | None, int | None]:
    """minLength and maxLength of a (possibly nullable, oneOf-wrapped) string schema."""
    found = [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]
    lows = [s["minLength"] for s in found if "minLength" in s]
    highs = [s["maxLength"] for s in found if "maxLength" in s]
    return (max(lows) if lows else None, min(highs) if highs else None)


@pytest.mark.parametrize(
    ("method", "path"), [("post", "/v1/videos/{video_id}/publish"), ("post", "/v1/generations")]
)
async def test_idempotency_key_bounds_are_documented(client, users, videos, openapi, method, path):
    """The server refuses an empty key and one over 255 characters with 422; the document allows any."""
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    concrete = path.replace("{video_id}", draft.id)
    body = {} if "publish" in path else {"prompt": "a paper boat"}
    for key in ("", "k" * 256):
        headers = {**alice.headers, "Idempotency-Key": key}
        assert_problem(await client.post(concrete, json=body, headers=headers), 422, "validation_failed")

    parameters = openapi["paths"][path][method].get("parameters", [])
    header = next(p for p in parameters if p["in"] == "header" and p["name"].lower() == "idempotency-key")
    assert _string_bounds(header["schema"]) == (1, 255), header


@pytest.mark.parametrize(
    "key",
    [b" ", b"   ", b"two words", "café".encode(), b"tab\tkey", b"\x7f"],
    ids=["space", "spaces", "inner-space", "non-ascii", "tab", "del"],
)
async def test_idempotency_key_must_be_visible_ascii(client, users, videos, openapi, key):
    """Each of these was taken (201, 200) and stored as the key."""
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    headers = {**alice.headers, "Idempotency-Key": key}

    generation = await client.post("/v1/generations", json={"prompt": "a paper boat"}, headers=headers)
    publish = await client.post(f"/v1/videos/{draft.id}/publish", json={}, headers=headers)

    for response in (generation, publish):
        body = assert_problem(response, 422, "validation_failed")
        # Named as the route's parameter, as an empty or over-long key is.
        assert [e["field"] for e in body.get("errors", [])] == ["idempotency_key"], body
    assert (await client.get("/v1/generations", headers=alice.headers)).json()["items"] == []
    assert (await client.get("/v1/me/drafts", headers=alice.headers)).json()["items"][0]["id"] == draft.id
    parameters = openapi["paths"]["/v1/generations"]["post"].get("parameters", [])
    header = next(p for p in parameters if p["in"] == "header" and p["name"].lower() == "idempotency-key")
    assert header["schema"].get("pattern") or any(s.get("pattern") for s in header["schema"].get("oneOf", []))


async def test_webhook_documents_the_413_it_answers(client, openapi):
    response = await client.post(
        "/v1/webhooks/sora",
        content=b"{" + b" " * (300 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )

    assert_refused(response)
    assert str(response.status_code) in openapi["paths"]["/v1/webhooks/sora"]["post"]["responses"]


# --- Found by `make fuzz` (tests/fuzz/run.py) with schemathesis' negative_data_rejection and
# positive_data_acceptance checks: what the document says a request may be, and what the server
# takes, disagreed ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"), [("/v1/videos/{video_id}/publish", 200), ("/v1/notifications/read", 204)]
)
async def test_a_body_the_server_does_without_is_documented_as_optional(
    client, users, videos, openapi, path, status
):
    """Both handlers take `data: X | None = None` and their descriptions say the body may be left
    out, yet Litestar documented each body as required."""
    alice = await users.create("alice")
    draft = await videos.draft(alice)

    response = await client.post(path.replace("{video_id}", draft.id), headers=alice.headers)

    assert response.status_code == status, response.text
    assert openapi["paths"][path]["post"]["requestBody"].get("required", False) is False


LENIENT_BODIES = [
    ("PATCH", "/v1/videos/{video_id}", {"show_prompt": 0}, "show_prompt"),
    ("PATCH", "/v1/videos/{video_id}", {"allow_remix": "false"}, "allow_remix"),
    ("POST", "/v1/videos/{video_id}/publish", {"allow_remix": 0}, "allow_remix"),
    ("PUT", "/v1/me/feed-preferences", {"personalized": 0}, "personalized"),
    ("POST", "/v1/feed/checkins", {"mood": "3", "want": "same"}, "mood"),
    ("POST", "/v1/feed/checkins", {"mood": 3.0, "want": "same"}, "mood"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    LENIENT_BODIES,
    ids=[f"{method} {path} {json.dumps(body)}" for method, path, body, _ in LENIENT_BODIES],
)
async def test_json_values_of_the_wrong_type_are_not_coerced(
    client, users, videos, method, path, body, field
):
    """Litestar converted JSON bodies to the handler's type in msgspec's lax mode, so `0` was taken
    for false and "3" for 3 (200), although the document says boolean and integer."""
    alice = await users.create("alice")
    draft = await videos.draft(alice)

    response = await client.request(
        method, path.replace("{video_id}", draft.id), json=body, headers=alice.headers
    )

    assert field in error_fields(assert_problem(response, 422, "validation_failed"))
    after = (await client.get(f"/v1/videos/{draft.id}", headers=alice.headers)).json()
    assert (after["status"], after["show_prompt"], after["allow_remix"]) == ("draft", True, True)
    preferences = (await client.get("/v1/me/feed-preferences", headers=alice.headers)).json()
    assert preferences["personalized"] is True


async def test_json_values_of_the_right_type_are_still_taken(client, users, videos):
    alice = await users.create("alice")
    draft = await videos.draft(alice)

    patched = await client.patch(
        f"/v1/videos/{draft.id}", json={"show_prompt": False, "caption": "x"}, headers=alice.headers
    )
    checkin = await client.post("/v1/feed/checkins", json={"mood": 3, "want": "same"}, headers=alice.headers)

    assert patched.status_code == 200, patched.text
    assert patched.json()["show_prompt"] is False
    assert checkin.status_code == 204, checkin.text


async def test_generation_bodies_refuse_unknown_fields_and_say_so(client, users, openapi):
    """The hand-written request schemas of POST /v1/generations allowed any extra field, while the
    server refused extra JSON fields and extra text parts (422) and silently dropped extra file parts."""
    alice = await users.create("alice")
    extra_file = b'--XX\r\nContent-Disposition: form-data; name="nickname"; filename="n.txt"\r\n\r\ny\r\n'

    as_json = await client.post(
        "/v1/generations", json={"prompt": "a paper boat", "nickname": "y"}, headers=alice.headers
    )
    as_text_part = await post_generation_multipart(
        client, alice, multipart(part("prompt", b"a paper boat"), part("nickname", b"y"))
    )
    as_file_part = await post_generation_multipart(
        client, alice, multipart(part("prompt", b"a paper boat"), extra_file)
    )

    for response in (as_json, as_text_part, as_file_part):
        assert "nickname" in str(assert_problem(response, 422, "validation_failed")["errors"])
    assert await quota_used(client, alice) == 0
    content = openapi["paths"]["/v1/generations"]["post"]["requestBody"]["content"]
    assert {media: body["schema"].get("additionalProperties") for media, body in content.items()} == {
        "application/json": False,
        "multipart/form-data": False,
    }


# =============================================================================================
# Guards: odd input and cross-user access that are already answered correctly.
# =============================================================================================

# --- POST /v1/generations, multipart --------------------------------------------------------

MULTIPART_REFUSALS: dict[str, bytes] = {
    "file in prompt": multipart(
        b'--XX\r\nContent-Disposition: form-data; name="prompt"; filename="p.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\na paper boat\r\n"
    ),
    "cameos as a file": multipart(
        part("prompt", b"x"),
        b'--XX\r\nContent-Disposition: form-data; name="cameos"; filename="c.txt"\r\n\r\nbob\r\n',
    ),
    "input_reference as text": multipart(part("prompt", b"x"), part("input_reference", b"not a file")),
    "seconds 08": multipart(part("prompt", b"x"), part("seconds", b"08")),
    "seconds with a space": multipart(part("prompt", b"x"), part("seconds", b" 8")),
    "seconds 8.0": multipart(part("prompt", b"x"), part("seconds", b"8.0")),
    "seconds huge": multipart(part("prompt", b"x"), part("seconds", b"9" * 40)),
    "seconds negative": multipart(part("prompt", b"x"), part("seconds", b"-8")),
    "seconds empty": multipart(part("prompt", b"x"), part("seconds", b"")),
    "cameos empty": multipart(part("prompt", b"x"), part("cameos", b"")),
    "three cameos": multipart(part("prompt", b"x"), *(part("cameos", n) for n in (b"ann", b"bob", b"cat"))),
    "unknown field": multipart(part("prompt", b"x"), part("nickname", b"y")),
    "nul in a field name": multipart(part(b"pro\x00mpt", b"x")),
    "part without a name": multipart(
        part("prompt", b"x"), b"--XX\r\nContent-Disposition: form-data\r\n\r\nx\r\n"
    ),
    "empty multipart": multipart(),
    "empty body": b"",
    "non-UTF-8 prompt": multipart(part("prompt", b"\xe9\xff")),
    "non-UTF-8 field name": multipart(part(b"pr\xffompt", b"x")),
    "undeclared charset mismatch": multipart(
        part("prompt", b"\xe9", b"Content-Type: text/plain; charset=ascii")
    ),
    "nul in the prompt": multipart(part("prompt", b"a\x00b")),
    "remix_of empty": multipart(part("prompt", b"x"), part("remix_of", b"")),
    "remix_of nul": multipart(part("prompt", b"x"), part("remix_of", b"a\x00b")),
    "remix_of unknown": multipart(part("prompt", b"x"), part("remix_of", UNKNOWN_UUID.encode())),
    "garbage": b"\x00\xff garbage",
    "unterminated": b'--XX\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhi',
    "reference not an image": multipart(
        part("prompt", b"x"),
        b'--XX\r\nContent-Disposition: form-data; name="input_reference"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\nnot really a png\r\n",
    ),
}


async def test_odd_multipart_generation_requests_are_refused(client, users):
    alice = await users.create("alice")

    failures = []
    for kind, body in MULTIPART_REFUSALS.items():
        failure = unexpected(await post_generation_multipart(client, alice, body))
        failures.append(f"{kind}: {failure}" if failure else None)
    for content_type in ("multipart/form-data", "multipart/form-data; boundary="):
        headers = {**alice.headers, "content-type": content_type}
        body = multipart(part("prompt", b"x"))
        failures.append(unexpected(await client.post("/v1/generations", content=body, headers=headers)))

    assert [failure for failure in failures if failure] == []
    assert await quota_used(client, alice) == 0


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"seconds": "4"}, {"seconds": 4}),
        ({"seconds": "12", "size": "1792x1024", "model": "sora-2-pro"}, {"seconds": 12, "size": "1792x1024"}),
        ({"prompt": "\U0001d538" * 4000}, {"prompt": "\U0001d538" * 4000}),
    ],
    ids=["seconds-4", "all-fields", "4000-astral"],
)
async def test_multipart_fields_are_read_like_json(client, users, fields, expected):
    alice = await users.create("alice")
    data = {"prompt": "a paper boat", **fields}
    parts = [(name, (None, value)) for name, value in data.items()]  # multipart, not a URL-encoded form

    response = await client.post("/v1/generations", files=parts, headers=alice.headers)

    assert response.status_code == 202, response.text
    assert {key: response.json()[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("mode", "size", "fmt"),
    [
        ("I;16", (16, 16), "PNG"),
        ("LA", (16, 16), "PNG"),
        ("P", (16, 16), "PNG"),
        ("1", (16, 16), "PNG"),
        ("CMYK", (16, 16), "JPEG"),
        ("RGBA", (16, 16), "WEBP"),
        ("RGB", (1, 1), "PNG"),
        ("RGB", (20_000, 1), "PNG"),
        ("RGB", (1, 20_000), "PNG"),
    ],
    ids=["16-bit", "grey-alpha", "palette", "1-bit", "cmyk-jpeg", "rgba-webp", "1x1", "20000x1", "1x20000"],
)
async def test_unusual_reference_images_are_fitted(client, users, mode, size, fmt):
    alice = await users.create("alice")

    response = await client.post(
        "/v1/generations",
        data={"prompt": "from a picture", "size": "1792x1024"},
        files={"input_reference": ("start", png_bytes(size, mode, fmt), "application/octet-stream")},
        headers=alice.headers,
    )

    assert response.status_code == 202, response.text


# --- POST /v1/generations and the video bodies, JSON -----------------------------------------

JSON_BODIES: dict[str, bytes] = {
    "non-UTF-8": b'{"prompt": "\xe9\xff", "caption": "\xe9", "body": "\xe9"}',
    "deeply nested": b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "nul": b'{"prompt": "a\\u0000b", "caption": "a\\u0000b", "body": "a\\u0000b"}',
    "lone surrogate": b'{"prompt": "\\ud800", "caption": "\\udfff", "body": "\\ud800"}',
    "number out of range": b'{"prompt": "x", "seconds": 1e999, "allow_remix": 1e999}',
    "huge integer": b'{"prompt": "x", "seconds": 123456789012345678901234567890}',
    "seconds as a string": b'{"prompt": "x", "seconds": "8"}',
    "seconds as a float": b'{"prompt": "x", "seconds": 8.0}',
    "wrong types": b'{"prompt": [], "caption": {}, "visibility": 1, "body": null, "ids": "x"}',
    "null": b"null",
    "array": b"[]",
    "truncated": b'{"prompt": ',
    "byte order mark": b'\xef\xbb\xbf{"prompt": "x"}',
    "remix_of nul": b'{"prompt": "x", "remix_of": "\\u0000"}',
    "remix_of too long": b'{"prompt": "x", "remix_of": "' + b"a" * 65 + b'"}',
    "parent_id too long": b'{"body": "x", "parent_id": "' + b"a" * 65 + b'"}',
}


@pytest.mark.parametrize("kind", list(JSON_BODIES), ids=list(JSON_BODIES))
async def test_odd_json_bodies_are_refused(client, users, videos, published, kind):
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    video_id = await published(alice)
    body = JSON_BODIES[kind]
    headers = {**alice.headers, "content-type": "application/json"}

    failures = []
    for method, path in (
        ("POST", "/v1/generations"),
        ("POST", f"/v1/videos/{draft.id}/publish"),
        ("PATCH", f"/v1/videos/{video_id}"),
        ("POST", f"/v1/videos/{video_id}/comments"),
        ("POST", "/v1/notifications/read"),
    ):
        response = await client.request(method, path, content=body, headers=headers)
        if path == "/v1/notifications/read" and response.status_code == 204:
            continue  # null is "mark everything read"
        if path.endswith("/publish") and kind == "null" and response.status_code == 200:
            continue  # the publish body is optional: null is "publish with the defaults"
        failures.append(unexpected(response))

    assert [failure for failure in failures if failure] == []
    assert await quota_used(client, alice) == 0
    expected = "published" if kind == "null" else "draft"
    assert (await video(client, alice, draft.id))["status"] == expected
    assert (await video(client, alice, video_id))["comment_count"] == 0


async def test_nul_in_a_caption_is_refused_and_changes_nothing(client, users, videos, published):
    alice = await users.create("alice")
    draft = await videos.draft(alice)
    video_id = await published(alice, caption="before")

    publish = await client.post(
        f"/v1/videos/{draft.id}/publish", json={"caption": "a\u0000b"}, headers=alice.headers
    )
    patch = await client.patch(f"/v1/videos/{video_id}", json={"caption": "a\u0000b"}, headers=alice.headers)

    assert_problem(publish, 422, "validation_failed")
    assert_problem(patch, 422, "validation_failed")
    assert (await video(client, alice, draft.id))["status"] == "draft"
    assert (await video(client, alice, video_id))["caption"] == "before"


# --- Ids, query parameters and cursors ------------------------------------------------------

ODD_IDS = ["a%00b", "%FF%FE", "a" * 1000, "%20", UNKNOWN_UUID, UNKNOWN_UUID.upper()]


@pytest.mark.parametrize("odd", ODD_IDS, ids=["nul", "bad-utf8", "1000-chars", "space", "unknown", "upper"])
async def test_odd_or_unknown_ids_are_404_everywhere(client, users, odd):
    alice = await users.create("alice")
    h = alice.headers

    failures = [
        unexpected(await client.request(method, path, headers=h, **kwargs), 404)
        for method, path, kwargs in (
            ("GET", f"/v1/generations/{odd}", {}),
            ("GET", f"/v1/generations/{odd}/events", {}),
            ("GET", f"/v1/videos/{odd}", {}),
            ("PATCH", f"/v1/videos/{odd}", {"json": {"caption": "x"}}),
            ("DELETE", f"/v1/videos/{odd}", {}),
            ("POST", f"/v1/videos/{odd}/publish", {"json": {}}),
            ("GET", f"/v1/videos/{odd}/content", {}),
            ("POST", f"/v1/videos/{odd}/like", {}),
            ("DELETE", f"/v1/videos/{odd}/like", {}),
            ("GET", f"/v1/videos/{odd}/comments", {}),
            ("POST", f"/v1/videos/{odd}/comments", {"json": {"body": "hi"}}),
            ("POST", f"/v1/videos/{odd}/views", {}),
            ("GET", f"/v1/videos/{odd}/lineage", {}),
            ("GET", f"/v1/videos/{odd}/remixes", {}),
            ("GET", f"/v1/videos/{odd}/tree", {}),
            ("DELETE", f"/v1/comments/{odd}", {}),
        )
    ]

    assert [failure for failure in failures if failure] == []


@pytest.mark.parametrize(
    "params",
    [
        {"variant": "VIDEO"},
        {"variant": ""},
        {"variant": "\u0000"},
        {"variant": "spritesheet"},
        {"max_depth": "0"},
        {"max_depth": "-1"},
        {"max_depth": "9" * 30},
        {"max_depth": "1.5"},
        {"max_depth": " 1"},
        {"max_depth": "\uff13"},
        {"max_depth": ""},
    ],
    ids=lambda params: f"{next(iter(params))}={next(iter(params.values()))!r}",
)
async def test_bad_variant_and_depth_are_client_errors(client, users, published, params):
    alice = await users.create("alice")
    video_id = await published(alice)
    path = "content" if "variant" in params else "tree"

    response = await client.get(f"/v1/videos/{video_id}/{path}", params=params, headers=alice.headers)

    assert_refused(response)


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "A" * 10_000},
        {"cursor": "A" * 512},
        {"cursor": "\u0000"},
        {"cursor": "\u00ff"},
        {"limit": "9" * 30},
    ],
    ids=["10k-cursor", "512-cursor", "nul-cursor", "latin1-cursor", "huge-limit"],
)
async def test_bad_cursors_and_limits_on_every_list(client, users, published, params):
    alice = await users.create("alice")
    video_id = await published(alice)

    failures = []
    for path in (
        "/v1/generations",
        "/v1/me/drafts",
        "/v1/notifications",
        "/v1/users/alice/videos",
        f"/v1/videos/{video_id}/comments",
        f"/v1/videos/{video_id}/remixes",
    ):
        failures.append(unexpected(await client.get(path, params=params, headers=alice.headers)))

    assert [failure for failure in failures if failure] == []


async def test_odd_parent_ids_are_refused(client, users, published):
    alice = await users.create("alice")
    video_id = await published(alice)
    elsewhere = await published(alice)
    foreign = (await comment(client, alice, elsewhere, "on another video")).json()["id"]

    failures = [
        unexpected(await comment(client, alice, video_id, "re", parent_id=parent), 422)
        for parent in ("", "x", "a\u0000b", UNKNOWN_UUID, foreign, "a" * 64, "a" * 65)
    ]

    assert [failure for failure in failures if failure] == []
    assert await all_items(client, alice, f"/v1/videos/{video_id}/comments") == []


@pytest.mark.parametrize("text", ["", " ", "\u3000\n\t", "\u0000", "a\u0000b", "x" * 1001], ids=repr)
async def test_empty_or_unstorable_comment_bodies_are_refused(client, users, published, text):
    alice = await users.create("alice")
    video_id = await published(alice)

    assert_problem(await comment(client, alice, video_id, text), 422)
    assert (await video(client, alice, video_id))["comment_count"] == 0


# --- Authorization: another user's generations, drafts, removed and deleted videos ----------


def every_video_endpoint(video_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("GET", f"/v1/videos/{video_id}", {}),
        ("PATCH", f"/v1/videos/{video_id}", {"json": {"caption": "mine now"}}),
        ("POST", f"/v1/videos/{video_id}/publish", {"json": {}}),
        ("GET", f"/v1/videos/{video_id}/content", {}),
        ("GET", f"/v1/videos/{video_id}/content?variant=thumbnail", {}),
        ("POST", f"/v1/videos/{video_id}/like", {}),
        ("DELETE", f"/v1/videos/{video_id}/like", {}),
        ("GET", f"/v1/videos/{video_id}/comments", {}),
        ("POST", f"/v1/videos/{video_id}/comments", {"json": {"body": "hi"}}),
        ("POST", f"/v1/videos/{video_id}/views", {}),
        ("GET", f"/v1/videos/{video_id}/lineage", {}),
        ("GET", f"/v1/videos/{video_id}/remixes", {}),
        ("GET", f"/v1/videos/{video_id}/tree", {}),
        ("POST", "/v1/generations", {"json": {"prompt": "steal it", "remix_of": video_id}}),
        ("DELETE", f"/v1/videos/{video_id}", {}),
    ]


@pytest.mark.parametrize("state", ["draft", "removed", "deleted"])
async def test_others_get_404_on_a_hidden_video_and_change_nothing(client, users, videos, resources, state):
    alice = await users.create("alice")
    mallory = await users.create("mallory")
    draft = await videos.draft(alice)
    video_id = draft.id
    if state != "draft":
        published = await client.post(f"/v1/videos/{video_id}/publish", json={}, headers=alice.headers)
        assert published.status_code == 200, published.text
        alices = (await comment(client, alice, video_id, "mine")).json()
        if state == "removed":
            await mark_removed(resources, video_id)
        else:
            assert (await client.delete(f"/v1/videos/{video_id}", headers=alice.headers)).status_code == 204
        delete = await client.delete(f"/v1/comments/{alices['id']}", headers=mallory.headers)
        assert_problem(delete, 404, "comment_not_found")

    failures = [
        unexpected(await client.request(method, path, headers=mallory.headers, **kwargs), 404)
        for method, path, kwargs in every_video_endpoint(video_id)
    ]

    assert [failure for failure in failures if failure] == []
    assert await quota_used(client, mallory) == 0
    assert await all_items(client, mallory, "/v1/users/alice/videos") == []
    assert await all_items(client, mallory, "/v1/me/drafts") == []
    if state != "deleted":
        seen = await video(client, alice, video_id)
        assert seen["status"] == state, seen
        assert (seen["caption"], seen["like_count"], seen["view_count"]) == ("", 0, 0)


async def test_a_deleted_video_is_gone_for_its_author_too(client, users, published):
    alice = await users.create("alice")
    video_id = await published(alice)
    assert (await client.delete(f"/v1/videos/{video_id}", headers=alice.headers)).status_code == 204

    failures = [
        unexpected(await client.request(method, path, headers=alice.headers, **kwargs), 404)
        for method, path, kwargs in every_video_endpoint(video_id)
    ]

    assert [failure for failure in failures if failure] == []


async def test_the_author_sees_a_removed_video_but_cannot_bring_it_back(client, users, published, resources):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    await mark_removed(resources, video_id)

    assert (await video(client, alice, video_id))["status"] == "removed"
    assert_problem(await client.post(f"/v1/videos/{video_id}/publish", json={}, headers=alice.headers), 409)
    assert_problem(await client.post(f"/v1/videos/{video_id}/like", headers=alice.headers), 409)
    remix = await client.post(
        "/v1/generations", json={"prompt": "again", "remix_of": video_id}, headers=alice.headers
    )
    assert_problem(remix, 403, "remix_not_allowed")
    assert await all_items(client, alice, "/v1/users/alice/videos") == []
    assert await all_items(client, bob, "/v1/users/alice/videos") == []


async def test_others_cannot_reach_a_generation_in_any_way(client, users):
    alice = await users.create("alice")
    mallory = await users.create("mallory")
    accepted = await generate(client, alice.headers)
    generation_id = accepted["id"]

    for path in (f"/v1/generations/{generation_id}", f"/v1/generations/{generation_id}/events"):
        for form in (generation_id, generation_id.upper(), "{" + generation_id + "}"):
            response = await client.get(path.replace(generation_id, form), headers=mallory.headers)
            assert_problem(response, 404, "generation_not_found")
    for status in ("queued", "in_progress", "completed"):
        listed = await client.get("/v1/generations", params={"status": status}, headers=mallory.headers)
        assert listed.json()["items"] == []
    assert (await client.get("/v1/me/quota", headers=mallory.headers)).json()["used"] == 0


async def test_a_third_person_cannot_delete_someone_elses_comment(client, users, published):
    alice = await users.create("alice")  # the video's author
    bob = await users.create("bob")  # the comment's author
    mallory = await users.create("mallory")
    video_id = await published(alice)
    bobs = (await comment(client, bob, video_id, "mine")).json()
    reply = (await comment(client, alice, video_id, "thanks", parent_id=bobs["id"])).json()

    for comment_id in (bobs["id"], reply["id"]):
        response = await client.delete(f"/v1/comments/{comment_id}", headers=mallory.headers)
        assert_problem(response, 403, "not_comment_author")
    # Blocked by the comment's author: the comment does not exist for mallory.
    assert (await block(client, bob.headers, "mallory")).status_code == 204
    assert_problem(await client.delete(f"/v1/comments/{bobs['id']}", headers=mallory.headers), 404)

    listed = await all_items(client, alice, f"/v1/videos/{video_id}/comments")
    assert {item["id"] for item in listed} == {bobs["id"], reply["id"]}
    assert (await video(client, alice, video_id))["comment_count"] == 2


async def test_notifications_are_the_recipients_alone(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    assert (await client.post(f"/v1/videos/{video_id}/like", headers=bob.headers)).status_code == 204
    (alices,) = await notifications(client, alice)

    assert await notifications(client, bob) == []
    for body in ({"ids": [alices["id"]]}, {"ids": [alices["id"].upper()]}, None):
        kwargs = {"json": body} if body is not None else {}
        assert (await client.post("/v1/notifications/read", headers=bob.headers, **kwargs)).status_code == 204
    assert [item["read"] for item in await notifications(client, alice)] == [False]
    # Page through alice's list with bob's token and a cursor of hers: refused.
    for _ in range(2):
        other = await published(alice)
        assert (await client.post(f"/v1/videos/{other}/like", headers=bob.headers)).status_code == 204
    page = (await client.get("/v1/notifications", params={"limit": 1}, headers=alice.headers)).json()
    assert page["next_cursor"]
    stolen = await client.get(
        "/v1/notifications", params={"cursor": page["next_cursor"]}, headers=bob.headers
    )
    assert_problem(stolen, 400, "invalid_cursor")
