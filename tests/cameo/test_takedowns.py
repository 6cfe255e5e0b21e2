"""Takedown requests: a video the requester can see goes to the `takedowns` queue with the video and
the requester; the decision is applied like any other, and the requester sees the outcome in their
list and a notification. Takedown requests and ordinary reports are kept apart."""

from __future__ import annotations

import asyncio
from typing import Any

from accounts.models import Role
from app.factory import create_app
from tests.accounts.helpers import assert_problem, block, error_fields
from tests.conftest import make_settings, serve_in_process
from tests.feed.helpers import all_items, get_video
from tests.moderation.helpers import (
    appeal,
    claimed,
    decided,
    decision_id_for,
    notifications_of,
    queues,
    reported,
)
from tests.moderation.helpers import takedown as request_takedown

QUEUE = "takedowns"
FIELDS = {"id", "status", "video_id", "reason", "details", "outcome", "created_at"}


async def requested(client, actor, video_id, reason="my_likeness", **extra) -> dict[str, Any]:
    response = await request_takedown(client, actor, video_id, reason, **extra)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def mine(client, actor) -> list[dict[str, Any]]:
    return await all_items(client, actor, "/v1/me/takedown-requests")


async def test_a_takedown_end_to_end_removes_the_video_and_tells_everyone(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    carol = await users.create("carol")
    mod = await users.create("mod", role=Role.MODERATOR)
    video_id = await published(alice, caption="that is not me")

    body = await requested(client, bob, video_id, "impersonation", details="  this pretends to be me  ")

    assert set(body) == FIELDS
    assert body["status"] == "open"
    assert body["video_id"] == video_id
    assert body["reason"] == "impersonation"
    assert body["details"] == "this pretends to be me"
    assert body["outcome"] is None
    second = await requested(client, carol, video_id, "my_likeness")
    assert (await queues(client, mod))[QUEUE]["open_count"] == 1
    assert (await queues(client, mod))["reports"]["open_count"] == 0

    held = await claimed(client, mod, QUEUE)

    assert held["target"] == {"type": "video", "id": video_id}
    assert held["subject"]["user"]["username"] == "alice"
    assert held["subject"]["snapshot"]["caption"] == "that is not me"
    assert [(report["reporter"], report["reason"]) for report in held["reports"]] == [
        ("bob", "impersonation"),
        ("carol", "my_likeness"),
    ]
    await decided(client, mod, held["id"], "remove_content", note="impersonation")

    assert_problem(await get_video(client, bob, video_id), 404)
    assert await all_items(client, carol, "/v1/users/alice/videos") == []
    (listed,) = await mine(client, bob)
    assert listed["id"] == body["id"]
    assert listed["status"] == "closed"
    assert listed["outcome"] == "remove_content"
    one = await client.get(f"/v1/takedown-requests/{body['id']}", headers=bob.headers)
    assert one.status_code == 200 and one.json()["outcome"] == "remove_content"
    for requester, request in ((bob, body), (carol, second)):
        (told,) = await notifications_of(client, requester, "takedown_outcome")
        assert told["subject"]["type"] == "takedown_request"
        assert told["subject"]["id"] == request["id"]
        assert told["subject"]["excerpt"] == "remove_content"
        assert await notifications_of(client, requester, "report_outcome") == []
    # The author is told as by any decision, and may appeal the removal.
    (decision,) = await notifications_of(client, alice, "moderation_decision")
    assert decision["subject"]["excerpt"] == "remove_content"
    assert (await appeal(client, alice, await decision_id_for(client, alice))).status_code == 201


async def test_a_dismissed_takedown_leaves_the_video(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    mod = await users.create("mod", role=Role.MODERATOR)
    video_id = await published(alice)
    body = await requested(client, bob, video_id, "other", details="looks like my cousin")

    await decided(client, mod, (await claimed(client, mod, QUEUE))["id"], "dismiss", note="no likeness")

    assert (await get_video(client, bob, video_id)).status_code == 200
    (listed,) = await mine(client, bob)
    assert (listed["id"], listed["status"], listed["outcome"], listed["reason"]) == (
        body["id"],
        "closed",
        "dismiss",
        "other",
    )
    (told,) = await notifications_of(client, bob, "takedown_outcome")
    assert told["subject"]["excerpt"] == "dismiss"
    assert await notifications_of(client, alice, "moderation_decision") == []


async def test_a_cameo_owner_may_ask_about_a_use_they_can_see(client, users, videos, cameos):
    alice = await users.create("alice")
    bob = await users.create("bob")
    mod = await users.create("mod", role=Role.MODERATOR)
    cameo = await cameos.active(bob)
    draft = await videos.draft(alice, appearances=[(bob, cameo)])

    await requested(client, bob, draft.id)

    held = await claimed(client, mod, QUEUE)
    assert held["subject"]["snapshot"]["status"] == "draft"
    assert held["subject"]["snapshot"]["cameos"] == ["bob"]


async def test_what_cannot_be_asked(client, users, videos, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    draft = await videos.draft(alice)
    video_id = await published(alice)
    blocked = await published(bob)
    assert (await block(client, bob.headers, "alice")).status_code in (200, 204)

    assert_problem(await request_takedown(client, bob, draft.id), 404, "video_not_found")
    assert_problem(await request_takedown(client, bob, "not-a-uuid"), 404, "video_not_found")
    assert_problem(await request_takedown(client, alice, video_id), 422, "cannot_report_self")
    bad = await request_takedown(client, alice, blocked, "spam")
    assert "reason" in error_fields(assert_problem(bad, 422, "validation_failed"))
    too_long = await request_takedown(client, alice, blocked, details="x" * 2001)
    assert "details" in error_fields(assert_problem(too_long, 422, "validation_failed"))
    assert await mine(client, alice) == []
    assert await mine(client, bob) == []


async def test_a_block_does_not_shield_a_published_video_from_a_takedown(client, users, videos, published):
    """An impersonator who blocks the person they impersonate cannot escape their request; their
    drafts stay out of reach (404) as everywhere."""
    alice = await users.create("alice")
    impostor = await users.create("impostor")
    posted = await published(impostor)
    draft = await videos.draft(impostor)
    assert (await block(client, impostor.headers, "alice")).status_code in (200, 204)
    assert (await client.get(f"/v1/videos/{posted}", headers=alice.headers)).status_code == 404

    created = await request_takedown(client, alice, posted, "impersonation")
    assert created.status_code == 201, created.text
    assert created.json()["video_id"] == posted
    assert [request["video_id"] for request in await mine(client, alice)] == [posted]
    assert_problem(await request_takedown(client, alice, draft.id), 404, "video_not_found")


async def test_takedowns_and_reports_are_listed_apart(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    video_id = await published(alice)
    report = await reported(client, bob, "video", video_id, "likeness")
    takedown = await requested(client, bob, video_id)

    assert [item["id"] for item in await mine(client, bob)] == [takedown["id"]]
    reports = await all_items(client, bob, "/v1/me/reports")
    assert [item["id"] for item in reports] == [report["id"]]
    assert_problem(await client.get(f"/v1/reports/{takedown['id']}", headers=bob.headers), 404)
    assert_problem(await client.get(f"/v1/takedown-requests/{report['id']}", headers=bob.headers), 404)
    assert_problem(await client.get(f"/v1/takedown-requests/{takedown['id']}", headers=alice.headers), 404)


async def test_takedown_requests_are_paginated_newest_first(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    made = [(await requested(client, bob, await published(alice)))["id"] for _ in range(3)]

    first = await client.get("/v1/me/takedown-requests", headers=bob.headers, params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [item["id"] for item in page["items"]] == made[:0:-1]
    second = await client.get(
        "/v1/me/takedown-requests", headers=bob.headers, params={"limit": 2, "cursor": page["next_cursor"]}
    )
    assert [item["id"] for item in second.json()["items"]] == made[:1]
    assert second.json()["next_cursor"] is None


async def test_takedown_requests_are_rate_limited_per_user(servers, tmp_path, client, users, published):
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    videos = [await published(alice) for _ in range(3)]
    app = create_app(make_settings(servers, tmp_path, report_rate_limit="2/hour"))
    async with serve_in_process(app) as limited:
        for video_id in videos[:2]:
            assert (await request_takedown(limited, bob, video_id)).status_code == 201
        refused = await request_takedown(limited, bob, videos[2])
        assert_problem(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) > 0
        assert (await request_takedown(limited, carol, videos[2])).status_code == 201


async def test_a_suspended_user_may_not_request_a_takedown(client, users, published):
    alice = await users.create("alice")
    bob = await users.create("bob")
    mod = await users.create("mod", role=Role.MODERATOR)
    video_id = await published(alice)
    await reported(client, alice, "user", bob.id)
    await decided(client, mod, (await claimed(client, mod))["id"], "suspend_user", duration_hours=1)

    assert_problem(await request_takedown(client, bob, video_id), 403, "account_suspended")
    assert await mine(client, bob) == []


async def test_a_second_request_while_the_first_is_open_is_409(client, users, published):
    """One open request per requester and video, also when two arrive at once; once the first is
    decided, a new one may be made."""
    alice, bob, carol = await users.create("alice"), await users.create("bob"), await users.create("carol")
    mod = await users.create("mod", role=Role.MODERATOR)
    video_id = await published(alice)
    first = await requested(client, bob, video_id)

    again = await request_takedown(client, bob, video_id, "impersonation", details="and it pretends")
    assert first["id"] in assert_problem(again, 409, "takedown_request_exists")["detail"]
    racing = await asyncio.gather(*(request_takedown(client, carol, video_id) for _ in range(2)))
    assert sorted(response.status_code for response in racing) == [201, 409]
    assert [request["id"] for request in await mine(client, bob)] == [first["id"]]
    assert len(await mine(client, carol)) == 1
    held = await claimed(client, mod, QUEUE)
    assert [report["reporter"] for report in held["reports"]] == ["bob", "carol"]
    assert held["report_count"] == 2

    await decided(client, mod, held["id"], "dismiss")
    assert (await request_takedown(client, bob, video_id)).status_code == 201


async def test_a_refused_duplicate_takedown_request_does_not_spend_the_rate_limit(
    servers, tmp_path, client, users, published
):
    """As for reports: a repeat of an open request (409 takedown_request_exists) is not counted."""
    alice, bob = await users.create("alice"), await users.create("bob")
    videos = [await published(alice) for _ in range(3)]
    app = create_app(make_settings(servers, tmp_path, report_rate_limit="2/hour"))
    async with serve_in_process(app) as limited:
        assert (await request_takedown(limited, bob, videos[0])).status_code == 201
        for _ in range(3):
            assert_problem(await request_takedown(limited, bob, videos[0]), 409, "takedown_request_exists")
        assert (await request_takedown(limited, bob, videos[1])).status_code == 201
        assert_problem(await request_takedown(limited, bob, videos[2]), 429, "rate_limited")
