"""Pacing of GET /v1/feed through HTTP: breaks after a set number of videos, resume, wellbeing
checks, the teens' threshold and daily cap (kept in PostgreSQL too, so that it holds when Redis
loses its data), concurrency and several API processes, no repeats in a session, cursors bound to
caller, session and cut, and Redis being down.

Apps with small thresholds are built per test (make_settings + serve_in_process) on the run's
servers and Redis namespace; the videos come from the shared `published` fixture."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from accounts.jobs import purge_deleted_account
from app.factory import create_app
from app.redis import key
from app.resources import Resources
from feed import pacing
from feed.errors import FeedUnavailable
from feed.timeline import FeedRanker, ranking
from tests.accounts.helpers import assert_problem, follow
from tests.conftest import make_settings, serve_in_process
from tests.factories import Actor, UserFactory
from tests.feed.test_ranked_pool import kept_pool
from tests.harness import RunServers
from tests.processes import eventually
from tests.statements import statements_of

Publish = Callable[..., Awaitable[str]]


@asynccontextmanager
async def paced(servers: RunServers, data_dir: Path, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(create_app(make_settings(servers, data_dir, **overrides))) as http:
        yield http


async def feed(client: httpx.AsyncClient, actor: Actor, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/feed", headers=actor.headers, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def ids(page: dict[str, Any]) -> list[str]:
    return [item["video"]["id"] for item in page["items"]]


async def resume(client: httpx.AsyncClient, actor: Actor) -> None:
    response = await client.post("/v1/feed/resume", headers=actor.headers)
    assert response.status_code == 204, response.text


def teen_birthdate() -> date:
    return date(datetime.now(UTC).year - 15, 1, 1)


class Clock:
    """The pacer's clock (feed.pacing.now), set by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def pacer_clock(monkeypatch: pytest.MonkeyPatch, at: datetime) -> Clock:
    clock = Clock(at)
    monkeypatch.setattr(pacing, "now", clock)
    return clock


def pacer_clock_at_noon(monkeypatch: pytest.MonkeyPatch) -> tuple[datetime, Clock]:
    """Today's UTC noon and the pacer's clock set to it: hours from either end of the teen's day."""
    noon = datetime.combine(datetime.now(UTC).date(), time(12), tzinfo=UTC)
    return noon, pacer_clock(monkeypatch, noon)


async def test_break_after_threshold_and_resume_starts_a_new_session(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish
) -> None:
    author, viewer = await users.create(), await users.create()
    made = [await published(author) for _ in range(5)]
    async with paced(servers, tmp_path, feed_break_after=3) as client:
        first = await feed(client, viewer, cut="latest", limit=2)
        assert ids(first) == made[::-1][:2]
        assert first["break"] is None and first["next_cursor"]

        # The page that reaches the threshold carries its items and the break.
        second = await feed(client, viewer, cut="latest", limit=2, cursor=first["next_cursor"])
        assert ids(second) == made[::-1][2:3]
        assert second["break"]["reason"] == "paced"
        assert second["break"]["videos_seen"] == 3
        assert second["break"]["resume_at"] is None
        assert second["break"]["message"]
        assert second["next_cursor"] is None

        # Until resume: the break and nothing else, whatever the cut or limit.
        for cut in ("latest", "for_you", "following"):
            held = await feed(client, viewer, cut=cut, limit=10)
            assert held["items"] == [] and held["break"]["reason"] == "paced"
            assert held["break"]["videos_seen"] == 3

        await resume(client, viewer)
        fresh = await feed(client, viewer, cut="latest", limit=10)
        # A new session may serve them again; it breaks after three as well.
        assert ids(fresh) == made[::-1][:3]
        assert fresh["break"]["reason"] == "paced"

        # A cursor of the old session is refused.
        stale = await client.get(
            "/v1/feed", headers=viewer.headers, params={"cut": "latest", "cursor": first["next_cursor"]}
        )
        assert_problem(stale, 400, "invalid_cursor")


async def test_resume_before_a_break_changes_nothing(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish
) -> None:
    author, viewer = await users.create(), await users.create()
    for _ in range(4):
        await published(author)
    async with paced(servers, tmp_path, feed_break_after=3) as client:
        first = await feed(client, viewer, cut="latest", limit=2)
        await resume(client, viewer)
        # Same session: the cursor still holds and the count goes on to the break.
        second = await feed(client, viewer, cut="latest", limit=5, cursor=first["next_cursor"])
        assert len(second["items"]) == 1
        assert second["break"]["videos_seen"] == 3
        assert not set(ids(first)) & set(ids(second))


async def test_for_you_goes_on_after_a_resume_where_the_break_left_it(
    servers: RunServers,
    tmp_path: Path,
    users: UserFactory,
    published: Publish,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No ranking ahead here: it would replace the carried pool this test reads back.
    monkeypatch.setattr(ranking, "AHEAD_PAGES", 0)
    author, viewer = await users.create(), await users.create()
    for _ in range(6):
        await published(author)
    async with paced(servers, tmp_path, feed_break_after=2) as client:
        first = await feed(client, viewer, limit=5)
        assert len(ids(first)) == 2 and first["break"]["reason"] == "paced"
        ranked = await kept_pool(resources, viewer.id)

        await resume(client, viewer)
        second = await feed(client, viewer, limit=2)

        # The new session goes on with the kept ranking instead of opening on the same videos:
        # carried into it without what the ended session served, not ranked again.
        assert len(ids(second)) == 2
        assert not set(ids(first)) & set(ids(second))
        carried = await kept_pool(resources, viewer.id)
        assert carried.built_at == ranked.built_at
        assert carried.session_id != ranked.session_id
        assert [entry[0] for entry in carried.entries] == [
            entry[0] for entry in ranked.entries if entry[0] not in ids(first)
        ]


async def test_a_carried_ranking_that_runs_out_soon_is_ranked_again_in_the_background(
    servers: RunServers,
    tmp_path: Path,
    users: UserFactory,
    published: Publish,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ranking, "POOL_SIZE", 4)
    author, viewer = await users.create(), await users.create()
    for _ in range(8):
        await published(author)
    async with paced(servers, tmp_path, feed_break_after=2) as client:
        served = ids(await feed(client, viewer, limit=2))
        ranked = await kept_pool(resources, viewer.id)
        assert len(ranked.entries) == 4 and not ranked.exhaustive
        await resume(client, viewer)
        # Carried with two entries left: this page takes them and asks for the next ranking.
        served += ids(await feed(client, viewer, limit=2))

        async def ranked_again() -> bool:
            return (await kept_pool(resources, viewer.id)).built_at != ranked.built_at

        await eventually(ranked_again, within=30, what="the carried pool is ranked again in the background")
        assert len(served) == 4 == len(set(served))
        # The new ranking leaves out what this session served (only a session never repeats).
        ahead = await kept_pool(resources, viewer.id)
        assert not {entry[0] for entry in ahead.entries} & set(served[2:])


async def test_every_kth_break_is_a_wellbeing_check(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish
) -> None:
    author, viewer = await users.create(), await users.create()
    await published(author)
    async with paced(servers, tmp_path, feed_break_after=1, feed_wellbeing_every=2) as client:
        reasons = []
        for _ in range(4):
            page = await feed(client, viewer, cut="latest")
            assert len(page["items"]) == 1
            reasons.append(page["break"]["reason"])
            await resume(client, viewer)
        assert reasons == ["paced", "wellbeing_check", "paced", "wellbeing_check"]
        # The wellbeing message points at the check-in.
        await feed(client, viewer, cut="latest")
        await resume(client, viewer)
        page = await feed(client, viewer, cut="latest")
        assert page["break"]["reason"] == "wellbeing_check"
        assert "/v1/feed/checkins" in page["break"]["message"]


async def test_teens_break_sooner_and_stop_for_the_day_whatever_they_resume(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish
) -> None:
    author = await users.create()
    teen = await users.create(birthdate=teen_birthdate())
    adult = await users.create()
    made = [await published(author) for _ in range(6)]
    settings = {"feed_break_after": 10, "teen_feed_break_after": 2, "teen_daily_feed_limit": 3}
    async with paced(servers, tmp_path, **settings) as client:
        first = await feed(client, teen, cut="latest", limit=10)
        assert len(first["items"]) == 2 and first["break"]["reason"] == "paced"
        await resume(client, teen)

        capped = await feed(client, teen, cut="latest", limit=10)
        assert len(capped["items"]) == 1
        brk = capped["break"]
        assert brk["reason"] == "teen_daily_limit"
        assert brk["videos_seen"] == 3
        tomorrow = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(0), tzinfo=UTC)
        assert datetime.fromisoformat(brk["resume_at"]) == tomorrow

        await resume(client, teen)
        still = await feed(client, teen, cut="latest", limit=10)
        assert still["items"] == [] and still["break"]["reason"] == "teen_daily_limit"

        # Adults are held to the adult threshold only.
        grown = await feed(client, adult, cut="latest", limit=10)
        assert sorted(ids(grown)) == sorted(made) and grown["break"] is None


async def test_concurrent_requests_cannot_exceed_the_threshold(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish
) -> None:
    author, viewer = await users.create(), await users.create()
    for _ in range(8):
        await published(author)
    async with paced(servers, tmp_path, feed_break_after=3) as client:
        pages = await asyncio.gather(*(feed(client, viewer, cut="latest", limit=2) for _ in range(6)))
        served = [video_id for page in pages for video_id in ids(page)]
        assert len(served) <= 3
        assert len(served) == len(set(served))
        after = await feed(client, viewer, cut="latest", limit=10)
        assert len(served) + len(after["items"]) == 3
        assert after["break"]["videos_seen"] == 3
        assert not set(ids(after)) & set(served)


async def test_counting_is_shared_by_api_processes(
    servers: RunServers, tmp_path_factory: pytest.TempPathFactory, users: UserFactory, published: Publish
) -> None:
    author, viewer = await users.create(), await users.create()
    for _ in range(5):
        await published(author)
    async with (
        paced(servers, tmp_path_factory.mktemp("a"), feed_break_after=3) as one,
        paced(servers, tmp_path_factory.mktemp("b"), feed_break_after=3) as other,
    ):
        first = await feed(one, viewer, cut="latest", limit=2)
        # The other process continues the same session: the cursor, the count and the served set.
        second = await feed(other, viewer, cut="latest", limit=2, cursor=first["next_cursor"])
        assert len(second["items"]) == 1 and second["break"]["videos_seen"] == 3
        assert not set(ids(first)) & set(ids(second))
        held = await feed(one, viewer, cut="for_you")
        assert held["items"] == [] and held["break"]["reason"] == "paced"
        await resume(other, viewer)
        assert len((await feed(one, viewer, cut="latest", limit=1))["items"]) == 1


async def test_no_video_twice_in_a_session_across_pages_and_cuts(
    client: httpx.AsyncClient, users: UserFactory, published: Publish
) -> None:
    author, viewer = await users.create(), await users.create()
    assert (
        await client.post(f"/v1/users/{author.username}/follow", headers=viewer.headers)
    ).status_code == 204
    made = [await published(author) for _ in range(5)]
    seen: list[str] = []
    following = await feed(client, viewer, cut="following", limit=2)
    seen += ids(following)
    seen += ids(await feed(client, viewer, cut="following", limit=1, cursor=following["next_cursor"]))
    seen += ids(await feed(client, viewer, cut="latest", limit=10))
    seen += ids(await feed(client, viewer, cut="for_you", limit=10))
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(made)
    # Nothing is left for this session in any cut.
    for cut in ("for_you", "following", "latest"):
        empty = await feed(client, viewer, cut=cut)
        assert empty["items"] == [] and empty["next_cursor"] is None and empty["break"] is None


async def test_cursors_are_bound_to_the_caller_the_cut_and_untampered(
    client: httpx.AsyncClient, users: UserFactory, published: Publish
) -> None:
    author, viewer, other = await users.create(), await users.create(), await users.create()
    for _ in range(4):
        await published(author)
    page = await feed(client, viewer, cut="latest", limit=1)
    cursor = page["next_cursor"]
    ranked = await feed(client, viewer, cut="for_you", limit=1)
    assert ranked["next_cursor"]

    def get(actor: Actor, cut: str, value: str) -> Awaitable[httpx.Response]:
        return client.get("/v1/feed", headers=actor.headers, params={"cut": cut, "cursor": value})

    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    assert_problem(await get(viewer, "latest", tampered), 400, "invalid_cursor")
    assert_problem(await get(viewer, "latest", "not-a-cursor"), 400, "invalid_cursor")
    assert_problem(await get(other, "latest", cursor), 400, "invalid_cursor")
    assert_problem(await get(viewer, "following", cursor), 400, "invalid_cursor")
    assert_problem(await get(viewer, "latest", ranked["next_cursor"]), 400, "invalid_cursor")
    assert (await get(viewer, "latest", cursor)).status_code == 200


async def test_bad_cut_and_limit_are_422_and_anonymous_is_401(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    viewer = await users.create()
    assert_problem(await client.get("/v1/feed", headers=viewer.headers, params={"cut": "trending"}), 422)
    assert_problem(await client.get("/v1/feed", headers=viewer.headers, params={"limit": 0}), 422)
    assert_problem(await client.get("/v1/feed"), 401)
    assert_problem(await client.post("/v1/feed/resume"), 401)


async def test_redis_down_is_503_feed_unavailable(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish
) -> None:
    author, viewer = await users.create(), await users.create()
    await published(author)
    app = create_app(make_settings(servers, tmp_path))
    async with serve_in_process(app) as client:
        resources: Resources = app.state.resources
        working = resources.redis
        # Nothing listens on port 1: every command fails to connect.
        resources.redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
        try:
            for response in (
                await client.get("/v1/feed", headers=viewer.headers),
                await client.post("/v1/feed/resume", headers=viewer.headers),
            ):
                assert_problem(response, 503, "feed_unavailable")
                assert response.headers["Retry-After"]
        finally:
            await resources.redis.aclose()
            resources.redis = working
        assert len((await feed(client, viewer, cut="latest"))["items"]) == 1


async def test_a_viewer_who_had_seen_everything_is_ranked_again_after_a_resume(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish, resources: Resources
) -> None:
    author, viewer = await users.create(), await users.create()
    made = {await published(author) for _ in range(2)}
    async with paced(servers, tmp_path, feed_break_after=3) as client:
        assert (await follow(client, viewer.headers, author.username)).status_code == 204
        first = await feed(client, viewer, limit=5)
        assert set(ids(first)) == made and first["break"] is None
        # Less than a page: the viewer rests on this ranking for a while (DRY_RANK_AGAIN_SECONDS).
        assert (await kept_pool(resources, viewer.id)).exhaustive
        newest = await published(author)  # joins from the inbox, and the session reaches its break
        second = await feed(client, viewer, limit=5)
        assert ids(second) == [newest] and second["break"]["reason"] == "paced"

        await resume(client, viewer)
        # Not across a resume: the new session may show what the ended one served, so its short
        # first page is ranked again instead of coming back empty.
        assert not (await kept_pool(resources, viewer.id)).exhaustive
        assert set(ids(await feed(client, viewer, limit=5))) == made | {newest}


async def test_a_teen_page_ranked_across_utc_midnight_counts_on_the_new_day(
    servers: RunServers,
    tmp_path: Path,
    users: UserFactory,
    published: Publish,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The day was read when the page opened the session, so what a page opened at 23:59:59 served
    # after midnight counted on the old day: the teen hit yesterday's cap, told to wait for a
    # midnight already past.
    author = await users.create()
    teen = await users.create(birthdate=teen_birthdate())
    for _ in range(6):
        await published(author)
    midnight = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(0), tzinfo=UTC)
    clock = pacer_clock(monkeypatch, midnight - timedelta(seconds=2))
    settings = {"teen_feed_break_after": 10, "teen_daily_feed_limit": 3}
    async with paced(servers, tmp_path, **settings) as client:
        first = await feed(client, teen, cut="latest", limit=2)
        assert len(first["items"]) == 2 and first["break"] is None

        select = FeedRanker.select

        async def ranked_across_midnight(self: FeedRanker, *args: Any, **kwargs: Any) -> Any:
            clock.at = midnight + timedelta(seconds=1)
            return await select(self, *args, **kwargs)

        clock.at = midnight - timedelta(seconds=1)
        monkeypatch.setattr(FeedRanker, "select", ranked_across_midnight)
        second = await feed(client, teen, cut="latest", limit=2, cursor=first["next_cursor"])
        monkeypatch.setattr(FeedRanker, "select", select)
        # Served after midnight: the new day's first two, with one left before its cap.
        assert len(second["items"]) == 2 and second["break"] is None

        third = await feed(client, teen, cut="latest", limit=10, cursor=second["next_cursor"])
        assert len(third["items"]) == 1
        brk = third["break"]
        assert brk["reason"] == "teen_daily_limit" and brk["videos_seen"] == 3
        assert datetime.fromisoformat(brk["resume_at"]) == midnight + timedelta(days=1)
        assert not {*ids(first), *ids(second)} & set(ids(third))


async def test_a_daily_cap_on_a_break_keeps_the_wellbeing_checks_in_step(
    servers: RunServers,
    tmp_path: Path,
    users: UserFactory,
    published: Publish,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The cap landing on the session's threshold took a break number though the break shown was
    # `teen_daily_limit`: with a wellbeing check every second break, each day's cap took the
    # second one, and the teen was never asked.
    author = await users.create()
    teen = await users.create(birthdate=teen_birthdate())
    await published(author)
    noon, clock = pacer_clock_at_noon(monkeypatch)
    settings = {"teen_feed_break_after": 1, "teen_daily_feed_limit": 2, "feed_wellbeing_every": 2}
    async with paced(servers, tmp_path, **settings) as client:
        shown = []
        for day in range(3):
            clock.at = noon + timedelta(days=day)
            page = await feed(client, teen, cut="latest")
            assert len(page["items"]) == 1
            shown.append(page["break"]["reason"])
            await resume(client, teen)
            capped = await feed(client, teen, cut="latest")
            assert len(capped["items"]) == 1 and capped["break"]["reason"] == "teen_daily_limit"
        assert shown == ["paced", "wellbeing_check", "paced"]


async def test_a_session_the_daily_cap_ended_opens_the_next_day_if_its_renewal_failed(
    servers: RunServers,
    tmp_path: Path,
    users: UserFactory,
    published: Publish,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The session the cap ends at its threshold is renewed right after that page. If Redis fails
    # then, the page was 503, though its videos were counted toward the day: the teen never saw
    # the day's last ones. The page is served; the next day finds the session at its unnumbered
    # break and renews it instead of serving nothing.
    author = await users.create()
    teen = await users.create(birthdate=teen_birthdate())
    await published(author)
    noon, clock = pacer_clock_at_noon(monkeypatch)
    renew = pacing.FeedPacer.resume

    async def unreachable(self: pacing.FeedPacer, user: Any) -> None:
        raise FeedUnavailable()

    async with paced(servers, tmp_path, teen_feed_break_after=1, teen_daily_feed_limit=1) as client:
        monkeypatch.setattr(pacing.FeedPacer, "resume", unreachable)
        capped = await feed(client, teen, cut="latest")
        assert len(capped["items"]) == 1 and capped["break"]["reason"] == "teen_daily_limit"
        monkeypatch.setattr(pacing.FeedPacer, "resume", renew)

        clock.at = noon + timedelta(days=1)
        page = await feed(client, teen, cut="latest")
        assert len(page["items"]) == 1 and page["break"]["reason"] == "teen_daily_limit"


async def test_a_page_resumed_under_by_another_device_serves_what_it_had_taken(
    servers: RunServers,
    tmp_path: Path,
    users: UserFactory,
    published: Publish,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A page fills in rounds. When another device took the session to its break and resumed
    # between two rounds, the page started over in the new session: what its first round took,
    # counted in the ended session and toward a teen's day, was never shown.
    author = await users.create()
    teen = await users.create(birthdate=teen_birthdate())
    for _ in range(8):
        await published(author)
    settings = {"teen_feed_break_after": 3, "teen_daily_feed_limit": 5}
    async with paced(servers, tmp_path, **settings) as client:
        reserve = pacing.FeedPacer.reserve
        other_device: list[str] = []
        rounds = 0

        async def meanwhile(self: pacing.FeedPacer, user: Any, pace: Any, candidates: Any) -> Any:
            nonlocal rounds
            rounds += 1
            if rounds == 1:
                # Another device's page takes the rest of what this round ranked first.
                return await reserve(self, user, pace, candidates[:1])
            if rounds == 2:
                # ... and, before this page's next round, reaches the break and resumes.
                page = await feed(client, teen, cut="for_you", limit=10)
                assert page["break"]["reason"] == "paced"
                other_device.extend(ids(page))
                await resume(client, teen)
            return await reserve(self, user, pace, candidates)

        monkeypatch.setattr(pacing.FeedPacer, "reserve", meanwhile)
        first = await feed(client, teen, cut="latest", limit=3)
        monkeypatch.setattr(pacing.FeedPacer, "reserve", reserve)

        shown = other_device + ids(first)
        page = first
        while page["break"] is None:
            page = await feed(client, teen, cut="latest", limit=10, cursor=page["next_cursor"])
            shown += ids(page)
        # Every video counted toward the day was shown.
        assert page["break"]["reason"] == "teen_daily_limit" and page["break"]["videos_seen"] == 5
        assert len(shown) == 5


async def test_wellbeing_checks_come_round_for_a_viewer_back_after_more_than_a_day(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish, resources: Resources
) -> None:
    # The break count lived in the session's hash, which expires after a day unused: someone with
    # fewer breaks a visit than a wellbeing check is apart, back every few days, was never asked.
    author, viewer = await users.create(), await users.create()
    await published(author)
    namespace = resources.settings.redis_namespace
    async with paced(servers, tmp_path, feed_break_after=1, feed_wellbeing_every=2) as client:
        shown = []
        for _ in range(3):
            page = await feed(client, viewer, cut="latest")
            assert len(page["items"]) == 1
            shown.append(page["break"]["reason"])
            await resume(client, viewer)
            # Two days away: the session and what it served have expired.
            await resources.redis.delete(
                f"{namespace}:feed:session:{viewer.id}", f"{namespace}:feed:served:{viewer.id}"
            )
        assert shown == ["paced", "wellbeing_check", "paced"]
        kept = await resources.redis.ttl(f"{namespace}:feed:breaks:{viewer.id}")
        assert 0 < kept <= pacing.BREAKS_TTL_SECONDS


async def test_a_session_counting_its_breaks_in_its_hash_carries_them_over_once(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish, resources: Resources
) -> None:
    # A session left by the code that kept the break count in the session's hash.
    author, viewer = await users.create(), await users.create()
    await published(author)
    session = f"{resources.settings.redis_namespace}:feed:session:{viewer.id}"
    await resources.redis.hset(session, mapping={"sid": "0" * 32, "served": 0, "breaks": 3})
    async with paced(servers, tmp_path, feed_break_after=1, feed_wellbeing_every=2) as client:
        shown = []
        for _ in range(3):
            page = await feed(client, viewer, cut="latest")
            assert len(page["items"]) == 1
            shown.append(page["break"]["reason"])
            await resume(client, viewer)
        # Breaks 4, 5 and 6.
        assert shown == ["wellbeing_check", "paced", "wellbeing_check"]
        assert not await resources.redis.hexists(session, "breaks")


async def test_a_page_whose_later_round_fails_serves_what_it_had_taken(
    servers: RunServers,
    tmp_path: Path,
    users: UserFactory,
    published: Publish,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # When the ranking of a page's second round failed (here the database), the page was a 500:
    # what its first round took, counted toward the break (and a teen's day), was never shown.
    author, viewer = await users.create(), await users.create()
    made = [await published(author) for _ in range(5)]
    async with paced(servers, tmp_path, feed_break_after=3) as client:
        reserve, select = pacing.FeedPacer.reserve, FeedRanker.select
        rounds = 0

        async def first_takes_one(self: pacing.FeedPacer, user: Any, pace: Any, candidates: Any) -> Any:
            # Another device takes the rest of the first round's videos meanwhile.
            return await reserve(self, user, pace, candidates[:1] if rounds == 1 else candidates)

        async def second_fails(self: FeedRanker, *args: Any, **kwargs: Any) -> Any:
            nonlocal rounds
            rounds += 1
            if rounds == 2:
                await self.session.execute(text("SELECT 1 / 0"))
            return await select(self, *args, **kwargs)

        monkeypatch.setattr(pacing.FeedPacer, "reserve", first_takes_one)
        monkeypatch.setattr(FeedRanker, "select", second_fails)
        first = await feed(client, viewer, cut="latest", limit=3)
        monkeypatch.setattr(pacing.FeedPacer, "reserve", reserve)
        monkeypatch.setattr(FeedRanker, "select", select)
        assert rounds == 2
        assert ids(first) == made[::-1][:1] and first["break"] is None and first["next_cursor"]

        # The cursor goes on after what was ranked, and the break comes after three shown.
        second = await feed(client, viewer, cut="latest", limit=10, cursor=first["next_cursor"])
        assert ids(second) == made[::-1][3:5]
        assert second["break"]["reason"] == "paced" and second["break"]["videos_seen"] == 3


async def test_a_head_of_the_feed_counts_nothing(
    servers: RunServers, tmp_path: Path, users: UserFactory, published: Publish
) -> None:
    # Answered as the GET, a HEAD filled a page nobody was shown: its videos counted toward the
    # break (and a teen's day) and were never served again in the session.
    author, viewer = await users.create(), await users.create()
    video_id = await published(author)
    async with paced(servers, tmp_path, feed_break_after=1) as client:
        head = await client.head("/v1/feed", headers=viewer.headers, params={"cut": "latest"})
        assert head.status_code == 200 and head.content == b""
        page = await feed(client, viewer, cut="latest")
        assert ids(page) == [video_id]
        assert page["break"]["reason"] == "paced"


# --- a teen's daily cap when Redis loses its data ------------------------------------------------


async def redis_loses_feed_state(resources: Resources, actor: Actor) -> None:
    """What a flush (or a failover without persistence) does to one user's pacing: their session,
    what it served, their break count and every day's count are gone. The rest of the shared Redis
    (other tests' users) is left alone."""
    settings, who = resources.settings, actor.id
    keys = [key(settings, "feed", part, who) for part in ("session", "served", "breaks")]
    days = [found async for found in resources.redis.scan_iter(match=key(settings, "feed", "day", who, "*"))]
    assert days, "the teen's day was counted in Redis"
    await resources.redis.delete(*keys, *days)


async def kept_teen_days(resources: Resources, actor: Actor) -> dict[date, int]:
    async with resources.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT day, served FROM feed_teen_days WHERE user_id = :user_id"),
            {"user_id": UUID(actor.id)},
        )
        return {day: served for day, served in rows.all()}


async def teen_and_videos(users: UserFactory, published: Publish, videos: int) -> Actor:
    """A teen, and `videos` published by someone else for their feed."""
    author = await users.create()
    teen = await users.create(birthdate=teen_birthdate())
    for _ in range(videos):
        await published(author)
    return teen


async def test_a_teens_daily_cap_holds_after_redis_loses_their_count(
    servers: RunServers,
    tmp_path: Path,
    users: UserFactory,
    published: Publish,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The count lived only in Redis: after a flush the teen started the day again from zero and
    # saw a second daily cap of videos.
    teen = await teen_and_videos(users, published, 6)
    noon, _ = pacer_clock_at_noon(monkeypatch)
    settings = {"teen_feed_break_after": 10, "teen_daily_feed_limit": 3}
    async with paced(servers, tmp_path, **settings) as client:
        capped = await feed(client, teen, cut="latest", limit=10)
        assert len(capped["items"]) == 3 and capped["break"]["reason"] == "teen_daily_limit"

        await redis_loses_feed_state(resources, teen)

        for cut in ("latest", "for_you"):
            still = await feed(client, teen, cut=cut, limit=10)
            assert still["items"] == [] and still["next_cursor"] is None
            brk = still["break"]
            assert brk["reason"] == "teen_daily_limit" and brk["videos_seen"] == 3
            assert datetime.fromisoformat(brk["resume_at"]) == noon.replace(hour=0) + timedelta(days=1)
        # A resume lifts it no more than before the loss.
        await resume(client, teen)
        assert (await feed(client, teen, cut="latest", limit=10))["items"] == []
        assert await kept_teen_days(resources, teen) == {noon.date(): 3}


async def test_a_teen_part_way_through_the_day_counts_on_after_redis_loses_their_count(
    servers: RunServers,
    tmp_path: Path,
    users: UserFactory,
    published: Publish,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    teen = await teen_and_videos(users, published, 8)
    noon, _ = pacer_clock_at_noon(monkeypatch)
    settings = {"teen_feed_break_after": 10, "teen_daily_feed_limit": 5}
    async with paced(servers, tmp_path, **settings) as client:
        first = await feed(client, teen, cut="latest", limit=3)
        assert len(first["items"]) == 3 and first["break"] is None

        await redis_loses_feed_state(resources, teen)

        # A new session (Redis's sessions are not kept), but the day goes on from 3: two more.
        rest = await feed(client, teen, cut="latest", limit=10)
        assert len(rest["items"]) == 2
        assert rest["break"]["reason"] == "teen_daily_limit" and rest["break"]["videos_seen"] == 5
        assert await kept_teen_days(resources, teen) == {noon.date(): 5}
        # Redis counts from there again.
        day_key = key(resources.settings, "feed", "day", teen.id, noon.date().isoformat())
        assert int(await resources.redis.get(day_key) or 0) == 5


async def test_a_count_redis_held_before_the_upgrade_is_kept_on_the_teens_next_page(
    servers: RunServers,
    tmp_path: Path,
    users: UserFactory,
    published: Publish,
    resources: Resources,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Counted by the code before `feed_teen_days`: only in Redis. The teen's next page (here one at
    # the cap, which reserves nothing) writes it, so a loss of Redis afterwards loses none of it.
    teen = await teen_and_videos(users, published, 1)
    noon, _ = pacer_clock_at_noon(monkeypatch)
    day_key = key(resources.settings, "feed", "day", teen.id, noon.date().isoformat())
    await resources.redis.set(day_key, 4, ex=3600)
    async with paced(servers, tmp_path, teen_feed_break_after=10, teen_daily_feed_limit=4) as client:
        capped = await feed(client, teen, cut="latest")
        assert capped["items"] == [] and capped["break"]["reason"] == "teen_daily_limit"
        await redis_loses_feed_state(resources, teen)
        still = await feed(client, teen, cut="latest")
        assert still["items"] == [] and still["break"]["videos_seen"] == 4
        assert await kept_teen_days(resources, teen) == {noon.date(): 4}


def _statements(sent: list[tuple[str, Any]]) -> list[str]:
    return [" ".join(statement.split()) for statement, _ in sent]


def _writes(statements: list[str]) -> list[str]:
    return [statement for statement in statements if statement.split()[0] in ("INSERT", "UPDATE", "DELETE")]


async def test_an_adults_page_sends_no_sql_for_pacing_and_a_teens_one_read_and_one_write(
    client: httpx.AsyncClient, users: UserFactory, published: Publish, resources: Resources
) -> None:
    """The durable count is the teens' alone: an adult's page (the hot path) reads and writes
    nothing of it, and takes no lock on the account; a teen's page reads its count with its
    presence in one statement and writes the count it reached in one more."""
    author, adult = await users.create(), await users.create()
    teen = await users.create(birthdate=teen_birthdate())
    for _ in range(3):
        await published(author)

    def page(actor: Actor, cut: str) -> Callable[[], Awaitable[None]]:
        async def one() -> None:
            assert len((await feed(client, actor, cut=cut, limit=1))["items"]) == 1

        return one

    for cut in ("for_you", "latest"):
        adults = _statements(await statements_of(resources, bool, page(adult, cut)))
        assert adults, "the page's statements were seen"
        assert not [statement for statement in adults if "feed_teen_days" in statement], adults
        assert not _writes(adults), adults
        assert not [statement for statement in adults if "FOR KEY SHARE" in statement], adults

        teens = _statements(await statements_of(resources, bool, page(teen, cut)))
        counted = [statement for statement in teens if "feed_teen_days" in statement]
        assert len(counted) == 2, teens
        assert counted[0].startswith("SELECT") and "FOR KEY SHARE" in counted[0], counted
        assert counted[1].startswith("INSERT INTO feed_teen_days"), counted
        assert _writes(teens) == counted[1:], teens
    assert sum((await kept_teen_days(resources, teen)).values()) == 2


async def test_a_deleted_teens_daily_counts_go_with_the_purge(
    client: httpx.AsyncClient, users: UserFactory, published: Publish, resources: Resources
) -> None:
    # The users row stays as a tombstone, so the foreign key's ON DELETE CASCADE never runs.
    teen = await teen_and_videos(users, published, 1)
    assert len((await feed(client, teen, cut="latest"))["items"]) == 1
    assert sum((await kept_teen_days(resources, teen)).values()) == 1
    deleted = await client.request("DELETE", "/v1/me", headers=teen.headers, json={"password": teen.password})
    assert deleted.status_code == 204, deleted.text

    assert await purge_deleted_account(resources, user_id=teen.id) is True
    assert await kept_teen_days(resources, teen) == {}
