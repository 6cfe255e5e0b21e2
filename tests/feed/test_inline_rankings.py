"""A page that needs a ranking while every inline turn of its process is taken (InlineRankings) does
not wait for one: it is served from a quick ranking (the inbox, the popular set, the newest posts)
and the full ranking follows in the background, so that many pools running dry at once cannot pile
ranking statements on the database."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from app.resources import Resources
from feed.timeline import queries
from feed.timeline.ranking import InlineRankings, pool_key
from tests.accounts.helpers import block, follow
from tests.feed.helpers import comment
from tests.feed.test_ranked_pool import kept_pool
from tests.feed.test_ranking import feed
from tests.processes import eventually


def rankings(how: str) -> float:
    return REGISTRY.get_sample_value("remixfeed_feed_rankings_total", {"how": how}) or 0.0


def test_a_process_runs_no_more_rankings_inline_than_its_turns():
    turns = InlineRankings(at_once=2)
    with turns.turn() as first, turns.turn() as second:
        with turns.turn() as third:
            assert (first, second, third) == (True, True, False)
        assert turns.running == 2
    assert turns.running == 0
    with turns.turn() as again:
        assert again


async def test_a_page_finding_every_turn_taken_ranks_quickly_and_the_full_ranking_follows(
    client, users, published, resources: Resources
):
    viewer = await users.create("viewer")
    friend, talker = await users.create("friend"), await users.create("talker")
    assert (await follow(client, viewer.headers, "friend")).status_code == 204
    talked = await published(talker)
    assert (await comment(client, viewer, talked, "lovely")).status_code == 201
    of_friend = await published(friend)
    of_talker = await published(talker)

    turns = InlineRankings.of(resources)
    assert turns.at_once == resources.settings.feed_inline_rankings_at_once == 2
    quick_before, inline_before = rankings("quick"), rankings("inline")
    with turns.turn(), turns.turn():
        first = await feed(client, viewer, limit=1)
    # The quick sources know whom the viewer follows, not whom they talked to: the talker's posts
    # come in only as the newest, unconnected.
    assert first == [(of_friend, "followed")]
    assert (await kept_pool(resources, viewer.id)).quick
    assert (rankings("quick"), rankings("inline")) == (quick_before + 1, inline_before)

    async def ranked_fully() -> bool:
        return not (await kept_pool(resources, viewer.id)).quick

    await eventually(ranked_fully, within=30, what="the full ranking replaces the quick one")
    assert dict(await feed(client, viewer, limit=5)) == {of_talker: "interacted", talked: "interacted"}


async def test_a_quick_ranking_leaves_out_all_that_a_full_one_does(client, users, published, resources):
    viewer = await users.create("viewer")
    maker, blocked = await users.create("maker"), await users.create("blocked")
    own = await published(viewer)
    cats = await published(maker, caption="Cats napping in the sun")
    plain = await published(maker, caption="a quiet lake")
    of_blocked = await published(blocked)
    unseen = await published(maker, caption="see less of this")
    assert (await block(client, viewer.headers, "blocked")).status_code == 204
    put = await client.put("/v1/me/feed-preferences", headers=viewer.headers, json={"steer": "no cats"})
    assert put.status_code == 200, put.text
    see_less = await client.post(f"/v1/videos/{unseen}/see-less", headers=viewer.headers)
    assert see_less.status_code == 204, see_less.text

    turns = InlineRankings.of(resources)
    with turns.turn(), turns.turn():
        served = dict(await feed(client, viewer, limit=20))
    assert (await kept_pool(resources, viewer.id)).quick
    assert served == {plain: "popular"}
    assert not {own, cats, of_blocked, unseen} & set(served)


async def test_a_quick_ranking_reads_past_what_the_session_was_served(
    client, users, published, resources, monkeypatch
):
    monkeypatch.setattr(queries, "QUICK_READ", 2)
    viewer = await users.create("viewer")
    maker = await users.create("maker")
    made = [await published(maker) for _ in range(5)]
    first = [video_id for video_id, _ in await feed(client, viewer, limit=2)]
    assert first == made[:-3:-1]
    await resources.redis.delete(pool_key(resources.settings, uuid.UUID(viewer.id)))

    turns = InlineRankings.of(resources)
    with turns.turn(), turns.turn():
        # The two newest and the two most popular were served: the quick ranking reads the next.
        assert await feed(client, viewer, limit=2) == [(made[2], "popular"), (made[1], "popular")]
    assert (await kept_pool(resources, viewer.id)).quick
