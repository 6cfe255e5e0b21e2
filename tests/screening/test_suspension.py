"""A suspended account (users.suspended_until in the future) gets 403 account_suspended on the
routes that post: generating, publishing, editing a video, commenting, and changing what others see
of its profile (display name, bio, avatar). It can still read, like and
unlike, record views, unfollow and delete its own content; once the suspension ends it can post
again. Suspensions are set in the database directly here (moderation's suspend_user sets the same
column)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from app.resources import Resources
from generation.simulator import SimulatorHandle
from tests.accounts.helpers import assert_problem
from tests.factories import Actor, UserFactory
from tests.feed.factories import VideoFactory
from tests.feed.helpers import comment, publish, video
from tests.generation.helpers import generate, simulator_control, wait_until_done
from tests.screening.helpers import published_video, suspend


async def blocked_writes(
    client: httpx.AsyncClient, actor: Actor, draft_id: str, own_id: str, other_id: str
) -> None:
    """Every posting route answers 403 account_suspended, whose detail says until when."""
    responses = [
        await client.post("/v1/generations", json={"prompt": "a fox in the snow"}, headers=actor.headers),
        await publish(client, actor, draft_id, caption="look"),
        await client.patch(f"/v1/videos/{own_id}", json={"caption": "new words"}, headers=actor.headers),
        await client.patch(f"/v1/videos/{own_id}", json={"visibility": "unlisted"}, headers=actor.headers),
        await comment(client, actor, other_id, "hello"),
        await comment(client, actor, other_id, "a beheading"),  # suspended first, screened never
        await client.patch("/v1/me", json={"bio": "new words"}, headers=actor.headers),
        await client.put(
            "/v1/me/avatar",
            files={"file": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")},
            headers=actor.headers,
        ),
    ]
    for response in responses:
        body = assert_problem(response, 403, "account_suspended")
        assert "suspended until" in body["detail"]


async def test_a_suspended_user_cannot_post_but_can_still_read(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    resources: Resources,
    simulator: SimulatorHandle,
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    bobs = await published_video(client, videos, bob)
    own = await published_video(client, videos, alice)
    draft = await videos.draft(alice)
    earlier = await comment(client, alice, bobs, "before the suspension")
    assert earlier.status_code == 201
    assert (await client.post("/v1/users/bob/follow", headers=alice.headers)).status_code == 204

    screened = (await simulator_control(simulator, "stats"))["requests"]["moderations"]
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    await suspend(resources, alice, until)
    await blocked_writes(client, alice, draft.id, own, bobs)
    detail = assert_problem(await comment(client, alice, bobs, "x"), 403, "account_suspended")["detail"]
    assert until.isoformat().replace("+00:00", "Z") in detail

    # Nothing was made or changed.
    assert (await client.get("/v1/generations", headers=alice.headers)).json()["items"] == []
    assert (await video(client, alice, draft.id))["status"] == "draft"
    mine = await video(client, alice, own)
    assert (mine["caption"], mine["visibility"]) == ("", "public")
    assert (await video(client, bob, bobs))["comment_count"] == 1
    stats = await simulator_control(simulator, "stats")
    assert (stats["requests"]["moderations"], stats["jobs_created"]) == (screened, 0)

    # Reading stays allowed.
    for path in (
        "/v1/me",
        f"/v1/videos/{bobs}",
        f"/v1/videos/{bobs}/comments",
        f"/v1/videos/{own}/content",
        "/v1/me/drafts",
        "/v1/generations",
        "/v1/me/quota",
        "/v1/users/bob",
        "/v1/users/bob/videos",
        "/v1/notifications",
    ):
        response = await client.get(path, headers=alice.headers)
        assert response.status_code == 200, (path, response.text)

    # So do the writes that post nothing: likes, views, unfollowing, deleting one's own content.
    for method, path in (
        ("POST", f"/v1/videos/{bobs}/like"),
        ("DELETE", f"/v1/videos/{bobs}/like"),
        ("POST", f"/v1/videos/{bobs}/views"),
        ("DELETE", "/v1/users/bob/follow"),
        ("DELETE", f"/v1/comments/{earlier.json()['id']}"),
    ):
        response = await client.request(method, path, headers=alice.headers)
        assert response.status_code == 204, (method, path, response.text)

    # Nobody else is affected.
    assert (await comment(client, bob, own, "hang in there")).status_code == 201


async def test_posting_works_again_once_the_suspension_has_ended(
    client: httpx.AsyncClient, users: UserFactory, videos: VideoFactory, resources: Resources
) -> None:
    alice, bob = await users.create("alice"), await users.create("bob")
    bobs = await published_video(client, videos, bob)
    own = await published_video(client, videos, alice)
    draft = await videos.draft(alice)

    await suspend(resources, alice, datetime.now(UTC) + timedelta(minutes=5))
    await blocked_writes(client, alice, draft.id, own, bobs)

    await suspend(resources, alice, datetime.now(UTC) - timedelta(seconds=1))  # it has just ended
    assert (await publish(client, alice, draft.id, caption="back")).status_code == 200
    patched = await client.patch(f"/v1/videos/{own}", json={"caption": "again"}, headers=alice.headers)
    assert patched.status_code == 200, patched.text
    assert (await comment(client, alice, bobs, "hello again")).status_code == 201
    accepted = await generate(client, alice.headers, prompt="a fox in the snow")
    assert (await wait_until_done(client, alice.headers, accepted["id"]))["status"] == "completed"

    await suspend(resources, alice, None)  # lifted
    assert (await comment(client, alice, bobs, "and again")).status_code == 201
