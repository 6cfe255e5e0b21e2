"""Defects found reviewing the cameo work (by reading the code against the issue, by probing the
routes with other users' ids and odd input, and by racing requests). Each test is named after the
defect it pins down."""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from accounts.models import User
from app.db import in_transaction
from app.resources import Resources
from tests.accounts.helpers import assert_problem
from tests.cameo.media import clip, start, upload
from tests.factories import Actor

# --- helpers -----------------------------------------------------------------------------------


def _understated_mp4(data: bytes, seconds: float) -> bytes:
    """An MP4 whose headers (mvhd, tkhd, mdhd) claim `seconds`, whatever its frames last."""
    out = bytearray(data)
    movie = out.find(b"mvhd")
    movie_scale = struct.unpack_from(">I", out, movie + 16)[0]
    struct.pack_into(">I", out, movie + 20, int(seconds * movie_scale))
    track = out.find(b"tkhd")
    struct.pack_into(">I", out, track + 24, int(seconds * movie_scale))
    media = out.find(b"mdhd")
    media_scale = struct.unpack_from(">I", out, media + 16)[0]
    struct.pack_into(">I", out, media + 20, int(seconds * media_scale))
    for box in (movie, track, media):
        assert out[box + 4] == 0, "version 0 boxes expected"
    return bytes(out)


def _webm_claiming(data: bytes, milliseconds: float) -> bytes:
    """A WebM whose Segment Info Duration says `milliseconds`, whatever its frames last."""
    out = bytearray(data)
    at = out.find(b"\x44\x89")
    size = out[at + 2]
    struct.pack_into(">d" if size == 0x88 else ">f", out, at + 3, milliseconds)
    return bytes(out)


async def _suspend(resources: Resources, actor: Actor) -> None:
    async def work(session: Any) -> None:
        user = await session.get(User, uuid.UUID(actor.id))
        assert user is not None
        user.suspended_until = datetime.now(UTC) + timedelta(days=1)

    await in_transaction(resources.session_factory, work)


async def _notifications(client: httpx.AsyncClient, actor: Actor) -> list[dict[str, Any]]:
    response = await client.get("/v1/notifications", params={"limit": 100}, headers=actor.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# --- the recording -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "forge"),
    [("mp4", lambda data: _understated_mp4(data, 5.0)), ("webm", lambda data: _webm_claiming(data, 5000.0))],
)
async def test_a_long_video_whose_headers_claim_a_short_length_is_refused(client, users, kind, forge):
    # Found by reading the probe: the length came from the container's header alone, and the
    # frames were only checked for falling short of it, so a 60 s video claiming 5 s was accepted.
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]

    response = await upload(client, alice, cameo_id, forge(clip(60, kind)))

    body = assert_problem(response, 422, "invalid_recording")
    assert "60.0 s" in body["detail"], body
    mine = await client.get("/v1/me/cameo", headers=alice.headers)
    assert mine.json()["status"] == "awaiting_recording"


async def test_absurd_duration_metadata_on_a_short_webm_is_not_taken_at_its_word(client, users):
    alice = await users.create("alice")
    cameo_id = (await start(client, alice))["cameo"]["id"]

    refused = await upload(client, alice, cameo_id, _webm_claiming(clip(3, "webm"), 1e15), filename="me.webm")
    assert_problem(refused, 422, "invalid_recording")
    accepted = await upload(client, alice, cameo_id, _webm_claiming(clip(3, "webm"), float("nan")))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["recording_seconds"] == pytest.approx(3.0)


# --- a suspended owner keeps control of their likeness -------------------------------------------


async def test_a_suspended_owner_may_still_close_their_cameo_but_not_open_it(
    client, users, cameos, resources
):
    # Found by probing as a suspended user: PATCH needed an active account, so a suspended owner
    # could not narrow who may cast their cameo (only revoke it outright), although withdrawing is
    # what a suspension leaves allowed.
    alice = await users.create("alice")
    cameo_id = await cameos.active(alice, permission="everyone")
    await _suspend(resources, alice)
    url = f"/v1/cameos/{cameo_id}"

    closed = await client.patch(url, json={"permission": "only_me"}, headers=alice.headers)
    assert closed.status_code == 200, closed.text
    assert closed.json()["permission"] == "only_me"
    limited = await client.patch(url, json={"restrictions": "never in ads"}, headers=alice.headers)
    assert limited.status_code == 200, limited.text
    assert limited.json()["restrictions"] == "never in ads"

    for body in ({"permission": "everyone"}, {"permission": "approved"}, {"preferences": "heroic"}):
        refused = await client.patch(url, json=body, headers=alice.headers)
        assert_problem(refused, 403, "account_suspended")
    mine = (await client.get("/v1/me/cameo", headers=alice.headers)).json()
    assert (mine["permission"], mine["preferences"]) == ("only_me", "")


# --- notifications across a block ---------------------------------------------------------------


async def test_the_author_is_told_when_a_cameo_owner_who_blocked_them_deletes_their_draft(
    client, users, cameos, videos
):
    # Found by reading the notification list: it leaves out actors across a block, so the author
    # of a draft deleted by a cameo owner who had blocked them was never told.
    alice = await users.create("alice")
    bob = await users.create("bob")
    cameo_id = await cameos.active(bob, permission="everyone")
    draft = await videos.draft(alice, appearances=[(bob, cameo_id)])
    blocked = await client.post("/v1/users/alice/block", headers=bob.headers)
    assert blocked.status_code == 204, blocked.text

    deleted = await client.delete(f"/v1/videos/{draft.id}", headers=bob.headers)
    assert deleted.status_code == 204, deleted.text

    told = [item for item in await _notifications(client, alice) if item["kind"] == "appearance_removed"]
    assert len(told) == 1, told
    assert told[0]["actor"] is None
    assert told[0]["subject"]["video_id"] == draft.id


async def test_a_cameo_owner_who_blocked_the_author_is_told_when_the_draft_is_posted(
    client, users, cameos, videos
):
    alice = await users.create("alice")
    bob = await users.create("bob")
    cameo_id = await cameos.active(bob, permission="everyone")
    draft = await videos.draft(alice, appearances=[(bob, cameo_id)])
    blocked = await client.post("/v1/users/alice/block", headers=bob.headers)
    assert blocked.status_code == 204, blocked.text

    posted = await client.post(f"/v1/videos/{draft.id}/publish", json={}, headers=alice.headers)
    assert posted.status_code == 200, posted.text

    told = [item for item in await _notifications(client, bob) if item["kind"] == "cameo_posted"]
    assert len(told) == 1, told
    assert told[0]["actor"] is None
    assert told[0]["subject"]["video_id"] == draft.id
