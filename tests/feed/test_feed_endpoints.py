"""Feed preferences, wellbeing check-ins and see-less through HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from app.resources import Resources
from feed.models import FeedCheckin, see_less
from tests.accounts.helpers import assert_problem
from tests.factories import Actor, UserFactory
from tests.feed.factories import VideoFactory
from tests.statements import statements_of

Publish = Callable[..., Awaitable[str]]
PREFERENCES = "/v1/me/feed-preferences"


async def preferences(client: httpx.AsyncClient, actor: Actor) -> dict[str, Any]:
    response = await client.get(PREFERENCES, headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def put_preferences(client: httpx.AsyncClient, actor: Actor, **body: Any) -> httpx.Response:
    return await client.put(PREFERENCES, headers=actor.headers, json=body)


async def checkin(client: httpx.AsyncClient, actor: Actor, **body: Any) -> httpx.Response:
    return await client.post("/v1/feed/checkins", headers=actor.headers, json=body)


async def count(resources: Resources, statement: Any) -> int:
    async with resources.session_factory() as session:
        return int(await session.scalar(statement) or 0)


async def test_preferences_default_then_round_trip(client: httpx.AsyncClient, users: UserFactory) -> None:
    viewer = await users.create()
    assert await preferences(client, viewer) == {
        "steer": "",
        "personalized": True,
        "favour_topics": [],
        "avoid_topics": [],
        "mood_bias": 0.0,
        "updated_at": None,
    }

    response = await put_preferences(
        client, viewer, steer="more cats and cooking, no horror", personalized=False
    )
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["steer"] == "more cats and cooking, no horror"
    assert saved["personalized"] is False
    assert {"cats", "cooking"} <= set(saved["favour_topics"])
    assert saved["avoid_topics"] == ["horror"]
    assert saved["updated_at"] is not None
    assert await preferences(client, viewer) == saved

    # Omitted fields keep their value; a new steer is interpreted afresh.
    toggled = (await put_preferences(client, viewer, personalized=True)).json()
    assert toggled["steer"] == saved["steer"] and toggled["personalized"] is True
    assert toggled["favour_topics"] == saved["favour_topics"]
    cleared = (await put_preferences(client, viewer, steer="")).json()
    assert cleared["steer"] == "" and cleared["favour_topics"] == [] and cleared["avoid_topics"] == []
    assert cleared["personalized"] is True

    # Each user has their own.
    other = await users.create()
    assert (await preferences(client, other))["updated_at"] is None


async def test_preferences_validation(client: httpx.AsyncClient, users: UserFactory) -> None:
    viewer = await users.create()
    assert (await put_preferences(client, viewer, steer="x" * 500)).status_code == 200
    assert_problem(await put_preferences(client, viewer, steer="x" * 501), 422, "validation_failed")
    body = assert_problem(await put_preferences(client, viewer, steer="ok", mood_bias=1), 422)
    assert [error["field"] for error in body["errors"]] == ["mood_bias"]
    assert_problem(await put_preferences(client, viewer, personalized="yes"), 422)
    assert_problem(await put_preferences(client, viewer, steer=5), 422)
    malformed = await client.put(PREFERENCES, headers=viewer.headers, content=b"{not json")
    assert_problem(malformed, 400)
    assert (await preferences(client, viewer))["steer"] == "x" * 500
    assert_problem(await client.get(PREFERENCES), 401)
    assert_problem(await client.put(PREFERENCES, json={"steer": "cats"}), 401)


async def test_checkins_move_mood_bias_and_are_stored(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    viewer = await users.create()
    biases = []
    for want in ("more_relaxed", "more_relaxed", "more_relaxed", "same", "more_energized", "more_energized"):
        response = await checkin(client, viewer, mood=3, want=want)
        assert response.status_code == 204, response.text
        biases.append((await preferences(client, viewer))["mood_bias"])
    # Steps of 0.5, clamped to -1..1; `same` halves the nudge toward 0.
    assert biases == [-0.5, -1.0, -1.0, -0.5, 0.0, 0.5]
    for _ in range(3):
        assert (await checkin(client, viewer, mood=5, want="more_energized")).status_code == 204
    assert (await preferences(client, viewer))["mood_bias"] == 1.0
    stored = await count(resources, select(func.count()).select_from(FeedCheckin))
    assert stored == 9
    # A check-in leaves the steering alone.
    assert (await preferences(client, viewer))["steer"] == ""


async def test_checkin_validation(
    client: httpx.AsyncClient, users: UserFactory, resources: Resources
) -> None:
    viewer = await users.create()
    for body in (
        {"mood": 0, "want": "same"},
        {"mood": 6, "want": "same"},
        {"mood": 3, "want": "calmer"},
        {"mood": 2.5, "want": "same"},
        {"mood": 3},
        {"want": "same"},
        {"mood": 3, "want": "same", "note": "hi"},
    ):
        assert_problem(await checkin(client, viewer, **body), 422, "validation_failed")
    assert_problem(await client.post("/v1/feed/checkins", json={"mood": 3, "want": "same"}), 401)
    assert await count(resources, select(func.count()).select_from(FeedCheckin)) == 0
    assert (await preferences(client, viewer))["mood_bias"] == 0.0


async def test_see_less_needs_a_visible_video_and_is_idempotent(
    client: httpx.AsyncClient,
    users: UserFactory,
    videos: VideoFactory,
    published: Publish,
    resources: Resources,
) -> None:
    author, viewer, blocker = await users.create(), await users.create(), await users.create()
    video_id = await published(author)
    for _ in range(2):
        response = await client.post(f"/v1/videos/{video_id}/see-less", headers=viewer.headers)
        assert response.status_code == 204, response.text
    rows = await count(
        resources, select(func.count()).select_from(see_less).where(see_less.c.video_id == video_id)
    )
    assert rows == 1

    draft = await videos.draft(author)
    assert_problem(
        await client.post(f"/v1/videos/{draft.id}/see-less", headers=viewer.headers), 404, "video_not_found"
    )
    assert_problem(
        await client.post("/v1/videos/00000000-0000-0000-0000-000000000000/see-less", headers=viewer.headers),
        404,
        "video_not_found",
    )
    assert_problem(await client.post("/v1/videos/not-an-id/see-less", headers=viewer.headers), 404)
    # Across a block the video is not there for the blocked side either.
    assert (
        await client.post(f"/v1/users/{blocker.username}/block", headers=author.headers)
    ).status_code == 204
    assert_problem(await client.post(f"/v1/videos/{video_id}/see-less", headers=blocker.headers), 404)
    assert_problem(await client.post(f"/v1/videos/{video_id}/see-less"), 401)


async def test_a_see_less_mark_reads_its_caller_again_in_the_statement_that_adds_it(
    client: httpx.AsyncClient, users: UserFactory, published: Publish, resources: Resources
) -> None:
    """The mark's insert also reads its caller again under the users row's key-share lock
    (`caller_presence`), new or already there: a read of the caller in a statement of its own, one
    more per mark, fails this."""
    author, viewer = await users.create(), await users.create()
    video_id = await published(author)

    async def mark() -> None:
        response = await client.post(f"/v1/videos/{video_id}/see-less", headers=viewer.headers)
        assert response.status_code == 204, response.text

    for _ in range(2):  # new, then already there
        sent = [" ".join(statement.split()) for statement, _ in await statements_of(resources, bool, mark)]
        marks = [n for n, statement in enumerate(sent) if "INSERT INTO see_less " in statement]
        assert len(marks) == 1, sent
        added = sent[marks[0]]
        assert "FROM users WHERE users.id" in added and "FOR KEY SHARE" in added, added
        # Then only the ranked pool's forgetting, kept in the outbox and done after the commit.
        after = sent[marks[0] + 1 :]
        assert after and all(" deferred_jobs " in statement for statement in after), after
    rows = await count(
        resources, select(func.count()).select_from(see_less).where(see_less.c.video_id == video_id)
    )
    assert rows == 1
