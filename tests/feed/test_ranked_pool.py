"""for_you ranks once per feed session and pages through what it kept (feed.timeline.ranking): each
page still leaves out what was removed, deleted or blocked since, takes in a followed author's new
post, follows a change of follows or preferences at once, and is ranked again in the background
before it runs out."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
from saq.job import Status

from accounts.models import User
from app.jobs import RUN_AGAIN, TURN_AGAIN_SECONDS
from app.resources import Resources
from feed.jobs import RANKINGS_WAITING, rank_ahead, ranking_turns
from feed.timeline import ranking
from feed.timeline.ranking import RANK_AHEAD_JOB, FeedRanker, RankedPool, pool_key
from tests.accounts.helpers import block, follow, unfollow
from tests.feed.test_ranking import feed
from tests.processes import eventually


async def pool_is_kept(resources: Resources, user_id: str) -> bool:
    return bool(await resources.redis.exists(pool_key(resources.settings, uuid.UUID(user_id))))


async def kept_pool(resources: Resources, user_id: str) -> RankedPool:
    raw = await resources.redis.get(pool_key(resources.settings, uuid.UUID(user_id)))
    return msgspec.json.decode(raw, type=RankedPool)


async def test_each_page_of_a_kept_ranking_is_checked_again(client, users, published, resources):
    viewer = await users.create("viewer")
    friend = await users.create("friend")
    deleter, blocked = await users.create("deleter"), await users.create("blocked")
    assert (await follow(client, viewer.headers, "friend")).status_code == 204
    kept = [await published(friend) for _ in range(3)]
    deleted = await published(deleter)
    of_blocked = await published(blocked)
    still_there = await published(deleter)

    first = await feed(client, viewer, limit=1)
    assert first == [(kept[-1], "followed")]
    assert await pool_is_kept(resources, viewer.id)

    # Since the ranking: one video deleted by its author, another's author blocked by the viewer.
    assert (await client.delete(f"/v1/videos/{deleted}", headers=deleter.headers)).status_code == 204
    assert (await block(client, viewer.headers, "blocked")).status_code == 204

    rest = dict(await feed(client, viewer, limit=20))
    assert list(rest)[:2] == [kept[1], kept[0]]
    assert still_there in rest
    assert deleted not in rest
    assert of_blocked not in rest


async def test_a_followed_authors_new_post_joins_the_kept_ranking(client, users, published, resources):
    viewer = await users.create("viewer")
    friend = await users.create("friend")
    other = await users.create("other")
    assert (await follow(client, viewer.headers, "friend")).status_code == 204
    older = [await published(other) for _ in range(3)]
    assert await feed(client, viewer, limit=1) == [(older[-1], "popular")]

    fresh = await published(friend)  # fanned out into the viewer's inbox after the ranking

    assert await feed(client, viewer, limit=1) == [(fresh, "followed")]
    assert await feed(client, viewer, limit=5) == [(older[1], "popular"), (older[0], "popular")]


async def test_a_new_follow_is_ranked_on_the_next_page(client, users, published):
    viewer = await users.create("viewer")
    friend = await users.create("friend")
    of_friend = await published(friend)  # the oldest: last among the popular ones
    others = [await published(await users.create(f"maker{n}")) for n in range(4)]
    assert await feed(client, viewer, limit=1) == [(others[-1], "popular")]

    assert (await follow(client, viewer.headers, "friend")).status_code == 204

    assert await feed(client, viewer, limit=1) == [(of_friend, "followed")]


async def test_a_follow_and_an_unfollow_between_two_pages_rank_again(client, users, published, resources):
    """Every follow and every unfollow moves the viewer's follows version, so the pool is ranked
    again even though they follow the same people as before: telling that would take reading all
    their follows on each page."""
    viewer = await users.create("viewer")
    await users.create("passing")
    for n in range(3):
        await published(await users.create(f"maker{n}"))
    await feed(client, viewer, limit=1)
    ranked = await kept_pool(resources, viewer.id)

    assert (await follow(client, viewer.headers, "passing")).status_code == 204
    assert (await unfollow(client, viewer.headers, "passing")).status_code == 204
    await feed(client, viewer, limit=1)

    again = await kept_pool(resources, viewer.id)
    assert again.built_at != ranked.built_at
    assert again.follows_version == ranked.follows_version + 2


async def test_a_followed_authors_new_post_joins_the_kept_ranking_only_as_steering_allows(
    client, users, published, resources
):
    """A post merged into a kept ranking still leaves out an avoided topic, and with personalisation
    off there is no `followed` tier to put it at the head of."""
    steered, plain = await users.create("steered"), await users.create("plain")
    friend, other = await users.create("friend"), await users.create("other")
    for viewer, preferences in ((steered, {"steer": "no cats"}), (plain, {"personalized": False})):
        assert (await follow(client, viewer.headers, "friend")).status_code == 204
        response = await client.put("/v1/me/feed-preferences", headers=viewer.headers, json=preferences)
        assert response.status_code == 200, response.text
    older = [await published(other, caption="dogs at the beach") for _ in range(3)]
    for viewer in (steered, plain):
        assert await feed(client, viewer, limit=1) == [(older[-1], "popular")]

    await published(friend, caption="cats in the garden")  # fanned out after the rankings
    dogs = await published(friend, caption="dogs in the park")

    # Pages small enough to come from the kept rankings (a short one would rank again).
    assert await feed(client, steered, limit=2) == [(dogs, "followed"), (older[1], "popular")]
    assert await feed(client, plain, limit=2) == [(older[1], "popular"), (older[0], "popular")]


async def test_new_preferences_rank_again(client, users, published, resources):
    viewer = await users.create("viewer")
    maker = await users.create("maker")
    cats = await published(maker, caption="cats in the garden")
    dogs = await published(maker, caption="dogs at the beach")
    assert await feed(client, viewer, limit=1) == [(dogs, "popular")]
    assert await pool_is_kept(resources, viewer.id)

    response = await client.put("/v1/me/feed-preferences", headers=viewer.headers, json={"steer": "no cats"})
    assert response.status_code == 200, response.text
    assert not await pool_is_kept(resources, viewer.id)
    # Ranked again: the one left is about an avoided topic now.
    assert cats not in dict(await feed(client, viewer, limit=5))


async def test_a_pool_that_runs_out_soon_is_ranked_again_in_the_background(
    client, users, published, resources, monkeypatch
):
    monkeypatch.setattr(ranking, "POOL_SIZE", 4)
    # Scaled to a pool of four: the third page asks, not the second.
    monkeypatch.setattr(ranking, "AHEAD_PAGES", 2)
    viewer = await users.create("viewer")
    maker = await users.create("maker")
    for _ in range(8):
        await published(maker)

    served = [video_id for video_id, _ in await feed(client, viewer, limit=1)]
    ranked = await kept_pool(resources, viewer.id)
    assert len(ranked.entries) == 4
    # Two pages in, two entries are left: fewer than the page and AHEAD_PAGES more, so the page
    # asks for the next pool in the background and is served from the kept one meanwhile.
    for _ in range(2):
        served += [video_id for video_id, _ in await feed(client, viewer, limit=1)]

    async def ranked_again() -> bool:
        return (await kept_pool(resources, viewer.id)).built_at != ranked.built_at

    await eventually(ranked_again, within=30, what="the pool is ranked again in the background")
    ahead = await kept_pool(resources, viewer.id)
    assert len(ahead.entries) == 4
    assert not {entry[0] for entry in ahead.entries} & set(served)
    # The next page is served from it.
    assert [video_id for video_id, _ in await feed(client, viewer, limit=4)] == [e[0] for e in ahead.entries]


async def test_a_ranking_ahead_does_not_bring_back_a_pool_forgotten_while_it_ran(
    client, users, published, resources, monkeypatch
):
    viewer = await users.create("viewer")
    maker = await users.create("maker")
    cats = await published(maker, caption="cats in the garden")
    await published(maker, caption="dogs at the beach")
    await feed(client, viewer, limit=1)
    assert await pool_is_kept(resources, viewer.id)

    read_preferences = ranking.preferences_of

    async def steered_meanwhile(session, user_id):
        # The ranking ahead has read the old preferences when the viewer steers away from cats.
        found = await read_preferences(session, user_id)
        put = await client.put("/v1/me/feed-preferences", headers=viewer.headers, json={"steer": "no cats"})
        assert put.status_code == 200, put.text
        return found

    monkeypatch.setattr(ranking, "preferences_of", steered_meanwhile)
    assert await rank_ahead(resources, viewer.id) == 0
    monkeypatch.setattr(ranking, "preferences_of", read_preferences)

    assert not await pool_is_kept(resources, viewer.id)
    assert cats not in dict(await feed(client, viewer, limit=5))


async def test_a_short_pool_is_ranked_ahead_and_marked_when_that_finds_nothing_new(
    client, users, published, resources
):
    viewer = await users.create("viewer")
    maker = await users.create("maker")
    made = {await published(maker) for _ in range(4)}

    served = {video_id for video_id, _ in await feed(client, viewer, limit=2)}
    ranked = await kept_pool(resources, viewer.id)
    # Fewer entries than POOL_SIZE is no proof that they were all there is: the candidate sources
    # change (new posts, the popular set, likes). So it is ranked ahead when a page leaves it short.
    assert len(ranked.entries) == 4 and not ranked.exhaustive
    served |= {video_id for video_id, _ in await feed(client, viewer, limit=1)}

    async def ranked_again() -> bool:
        return (await kept_pool(resources, viewer.id)).built_at != ranked.built_at

    await eventually(ranked_again, within=30, what="the short pool is ranked again in the background")
    again = await kept_pool(resources, viewer.id)
    # Nothing new turned up: the pool says so, and pages stop asking until it runs short.
    assert again.exhaustive
    assert {entry[0] for entry in again.entries} == made - served


async def test_a_ranking_ahead_for_a_session_resumed_meanwhile_leaves_the_carried_pool(
    client, users, published, resources
):
    viewer = await users.create("viewer")
    maker = await users.create("maker")
    for _ in range(3):
        await published(maker)
    await feed(client, viewer, limit=1)
    carried = await resources.redis.get(pool_key(resources.settings, uuid.UUID(viewer.id)))

    # The job read the session before a resume replaced it and carried the pool into the new one.
    async with resources.session_factory() as session:
        user = await session.get(User, uuid.UUID(viewer.id))
        assert user is not None
        ranker = FeedRanker(session, resources.redis, resources.settings)
        assert await ranker.rank_ahead(user, "the-session-before-the-resume", frozenset()) is None

    assert await resources.redis.get(pool_key(resources.settings, uuid.UUID(viewer.id))) == carried


async def test_a_ranking_ahead_does_not_overwrite_a_pool_replaced_while_it_ran(
    client, users, published, resources, monkeypatch
):
    viewer = await users.create("viewer")
    maker = await users.create("maker")
    for _ in range(3):
        await published(maker)
    await feed(client, viewer, limit=1)
    key = pool_key(resources.settings, uuid.UUID(viewer.id))
    replaced = msgspec.structs.replace(await kept_pool(resources, viewer.id), built_at=1.0)

    read_preferences = ranking.preferences_of

    async def replaced_meanwhile(session, user_id):
        # Another ranking (a page's, say) stores its pool while this one runs.
        await resources.redis.set(key, msgspec.json.encode(replaced), ex=60)
        return await read_preferences(session, user_id)

    monkeypatch.setattr(ranking, "preferences_of", replaced_meanwhile)
    assert await rank_ahead(resources, viewer.id) == 0
    monkeypatch.setattr(ranking, "preferences_of", read_preferences)

    assert await kept_pool(resources, viewer.id) == replaced


async def test_rankings_ahead_take_turns_and_those_past_a_few_waiting_come_back_later(
    client, users, published, resources
):
    viewer = await users.create("viewer")
    maker = await users.create("maker")
    bystanders = [await users.create(f"bystander{n}") for n in range(RANKINGS_WAITING)]
    for _ in range(4):
        await published(maker)
    await feed(client, viewer, limit=2)
    ranked = await kept_pool(resources, viewer.id)

    turns = ranking_turns(resources)
    assert resources.settings.feed_rankings_at_once == 1
    await turns.running.acquire()  # the one turn is taken: a ranking ahead runs
    try:
        # A few wait for their turn in the worker's job slots...
        waiting = [asyncio.create_task(rank_ahead(resources, user.id)) for user in bystanders]

        async def all_wait() -> bool:
            return turns.waiting == RANKINGS_WAITING

        await eventually(all_wait, within=10, what="they wait for a turn")
        # ... and one more is asked to come back later instead of taking a slot.
        again = await rank_ahead(resources, viewer.id)
        assert isinstance(again, dict)
        assert TURN_AGAIN_SECONDS[0] <= again[RUN_AGAIN] <= TURN_AGAIN_SECONDS[1]

        # So is the ranking ahead a page asks for when it leaves the pool short: the worker runs it,
        # it finds no turn, and it is queued again for later, not dropped.
        await feed(client, viewer, limit=1)
        queue = resources.jobs.queue

        async def sent_back() -> bool:
            job = await queue.job(f"{RANK_AHEAD_JOB}:{viewer.id}")
            # Queued with a time to run (epoch seconds): one the page queued has none.
            return job is not None and job.status == Status.QUEUED and job.scheduled > 0

        await eventually(sent_back, within=15, what="the page's ranking ahead is sent back")
        assert (await kept_pool(resources, viewer.id)).built_at == ranked.built_at
        assert not any(task.done() for task in waiting)
    finally:
        turns.running.release()
    assert await asyncio.gather(*waiting) == [0] * RANKINGS_WAITING  # they had no pool to rank

    async def ranked_again() -> bool:
        return (await kept_pool(resources, viewer.id)).built_at != ranked.built_at

    await eventually(ranked_again, within=15, what="the sent-back ranking ahead runs once it has a turn")


async def test_a_viewer_who_has_seen_everything_rests_on_the_last_ranking_for_a_while(
    client, users, published, resources, monkeypatch
):
    viewer = await users.create("viewer")
    friend, stranger = await users.create("friend"), await users.create("stranger")
    assert (await follow(client, viewer.headers, "friend")).status_code == 204
    seen = [await published(stranger) for _ in range(3)]
    rankings = 0
    rank = ranking.queries.ranked

    async def counted(session, candidates):
        nonlocal rankings
        # Only this viewer's: a job a test before this one left may still rank someone else.
        rankings += candidates.viewer_id == uuid.UUID(viewer.id)
        return await rank(session, candidates)

    monkeypatch.setattr(ranking.queries, "ranked", counted)
    assert {video_id for video_id, _ in await feed(client, viewer, limit=5)} == set(seen)
    # Less than a page was there: the ranking says the viewer has seen all there is.
    assert (await kept_pool(resources, viewer.id)).exhaustive
    assert rankings == 1

    # Short pages a moment later are served from that ranking, not ranked again to find the same.
    assert await feed(client, viewer, limit=5) == []
    newer = await published(stranger)  # a new candidate the ranking has not seen: it waits
    assert await feed(client, viewer, limit=5) == []
    assert rankings == 1
    # A followed author's post still joins at once, from the inbox.
    of_friend = await published(friend)
    assert await feed(client, viewer, limit=5) == [(of_friend, "followed")]
    assert rankings == 1

    # Once the rest is over, a short page ranks again and finds what came meanwhile.
    monkeypatch.setattr(ranking, "DRY_RANK_AGAIN_SECONDS", 0)
    assert await feed(client, viewer, limit=5) == [(newer, "popular")]
    assert rankings == 2


async def test_a_follow_ends_the_rest_of_a_viewer_who_has_seen_everything(
    client, users, published, resources
):
    viewer = await users.create("viewer")
    friend = await users.create("friend")
    seen = await published(await users.create("maker"))
    assert await feed(client, viewer, limit=5) == [(seen, "popular")]
    assert (await kept_pool(resources, viewer.id)).exhaustive
    of_friend = await published(friend)  # not followed yet: in no inbox of the viewer's
    assert await feed(client, viewer, limit=5) == []

    # The follows changed, so the next page is ranked again at once.
    assert (await follow(client, viewer.headers, "friend")).status_code == 204
    assert await feed(client, viewer, limit=5) == [(of_friend, "followed")]
