"""Regression tests for what a review of the paced feed found (issue 6), through HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.factory import create_app
from feed import pacing
from feed.pacing import FeedPacer, SessionReplaced
from feed.timeline import queries
from tests.accounts.helpers import assert_problem
from tests.conftest import make_settings, serve_in_process
from tests.factories import Actor
from tests.harness import RunServers


async def feed(client: httpx.AsyncClient, actor: Actor, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/feed", headers=actor.headers, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def reasons(page: dict[str, Any]) -> dict[str, str]:
    return {item["video"]["id"]: item["reason"] for item in page["items"]}


@asynccontextmanager
async def paced(servers: RunServers, data_dir: Path, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(create_app(make_settings(servers, data_dir, **overrides))) as http:
        yield http


async def test_drafts_do_not_crowd_published_videos_out_of_the_cameo_and_remix_tiers(
    client, users, videos, cameos, published, monkeypatch: pytest.MonkeyPatch
):
    # The cameo and remix sources are bounded (newest first); drafts and the viewer's own remixes
    # used to fill those bounds, so a published cameo or remix fell to `popular`.
    monkeypatch.setattr(queries, "CAMEO_VIDEOS", 2)
    monkeypatch.setattr(queries, "REMIXES_PER_VIDEO", 2)
    viewer = await users.create("viewer")
    caster = await users.create("caster")
    remixer = await users.create("remixer")
    own = await published(viewer)
    viewers = await cameos.active(viewer)
    cast_in = await videos.draft(caster, appearances=[(viewer, viewers)])
    assert (await client.post(f"/v1/videos/{cast_in.id}/publish", headers=caster.headers, json={})).is_success
    remix = await published(remixer, remix_of=own)
    for _ in range(3):  # newer drafts: the viewer's cameo cast again, and remixes not published
        await videos.draft(caster, appearances=[(viewer, viewers)])
        await videos.draft(remixer, remix_of=own)
    await published(viewer, remix_of=own)  # the viewer's own remix never shows either

    got = reasons(await feed(client, viewer))
    assert got == {cast_in.id: "cameo_of_you", remix: "remix_of_yours"}


async def test_a_session_past_a_lowered_threshold_is_at_a_break_and_can_be_resumed(
    servers: RunServers, tmp_path: Path, users, published
):
    # Two API processes with different thresholds (a rolling deploy that lowers it): the session
    # that one served past the other's threshold used to get empty pages with no break, and resume
    # did nothing, so the feed stayed empty for the day.
    author, viewer = await users.create(), await users.create()
    for _ in range(6):
        await published(author)
    async with paced(servers, tmp_path, feed_break_after=5) as before:
        assert len((await feed(before, viewer, cut="latest", limit=4))["items"]) == 4
    async with paced(servers, tmp_path, feed_break_after=3) as after:
        held = await feed(after, viewer, cut="latest")
        assert held["items"] == [] and held["next_cursor"] is None
        assert held["break"] is not None and held["break"]["reason"] == "paced"
        assert held["break"]["videos_seen"] == 4
        assert (await after.post("/v1/feed/resume", headers=viewer.headers)).status_code == 204
        assert len((await feed(after, viewer, cut="latest", limit=2))["items"]) == 2


async def test_steering_keeps_words_with_accents_and_other_scripts(client, users, published):
    viewer, author = await users.create(), await users.create()
    response = await client.put(
        "/v1/me/feed-preferences", headers=viewer.headers, json={"steer": "más café, sin política"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["favour_topics"] == ["más", "café", "sin", "política"]
    response = await client.put(
        "/v1/me/feed-preferences", headers=viewer.headers, json={"steer": "cafe\u0301, no política, 猫咪"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["favour_topics"] == ["café"] and body["avoid_topics"] == ["política", "猫咪"]
    coffee = await published(author, caption="un café en la plaza")
    await published(author, caption="debate de política")
    assert reasons(await feed(client, viewer)) == {coffee: "steered"}


async def test_a_session_replaced_again_while_filling_a_page_is_503_not_500(
    client, users, published, monkeypatch: pytest.MonkeyPatch
):
    # Resumes from other devices between reading the session and reserving in it: the page was
    # retried once, and a second replacement escaped as a 500.
    viewer, author = await users.create(), await users.create()
    await published(author)

    async def replaced(*_: object, **__: object) -> None:
        raise SessionReplaced()

    monkeypatch.setattr(FeedPacer, "reserve", replaced)
    response = await client.get("/v1/feed", headers=viewer.headers)
    assert_problem(response, 503, "feed_unavailable")


async def test_a_teen_stopped_for_the_day_at_a_session_break_finds_the_feed_open_after_midnight(
    servers: RunServers, tmp_path: Path, users, published, monkeypatch: pytest.MonkeyPatch
):
    # With the defaults (a break every 10, a cap of 50) the cap always falls on a session break.
    # `resume_at` promises the feed opens again on its own at midnight, but the session was still
    # at its break, so the next day began with a `paced` break until resume.
    author = await users.create()
    teen = await users.create(birthdate=date(datetime.now(UTC).year - 15, 1, 1))
    for _ in range(4):
        await published(author)
    settings = {"teen_feed_break_after": 2, "teen_daily_feed_limit": 2}
    noon = datetime.combine(datetime.now(UTC).date(), time(12), tzinfo=UTC)
    monkeypatch.setattr(pacing, "now", lambda: noon)
    async with paced(servers, tmp_path, **settings) as client:
        capped = await feed(client, teen, cut="latest", limit=10)
        assert len(capped["items"]) == 2
        assert capped["break"]["reason"] == "teen_daily_limit" and capped["break"]["resume_at"]
        again = await feed(client, teen, cut="latest")
        assert again["items"] == [] and again["break"]["reason"] == "teen_daily_limit"

        # Past midnight UTC: the pacer's clock on the next day, whose count starts afresh (in Redis
        # and in PostgreSQL alike; deleting the day's Redis counter no longer resets it).
        monkeypatch.setattr(pacing, "now", lambda: noon + timedelta(days=1))
        opened = await feed(client, teen, cut="latest", limit=10)
        assert opened["break"] is not None and opened["break"]["reason"] == "teen_daily_limit"
        assert len(opened["items"]) == 2
