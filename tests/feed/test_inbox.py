"""Fan-out on write into followers' Redis inboxes: inline for small followings, in `feed.fan_out`
jobs (keyset batches) for large ones; the SQL rebuild of a missing inbox; follows and unfollows."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from saq.job import Status

from app.factory import create_app
from feed.timeline import fanout
from feed.timeline import inbox as inbox_module
from feed.timeline.inbox import Inboxes
from tests.accounts.helpers import follow
from tests.app.test_job_outbox import outbox_emptied, replay_due
from tests.conftest import make_settings, serve_in_process, wipe
from tests.factories import Actor, UserFactory
from tests.feed.factories import VideoFactory
from tests.feed.helpers import publish
from tests.processes import eventually


async def feed(client: Any, actor: Actor, cut: str = "for_you") -> list[tuple[str, str]]:
    response = await client.get("/v1/feed", headers=actor.headers, params={"cut": cut})
    assert response.status_code == 200, response.text
    return [(item["video"]["id"], item["reason"]) for item in response.json()["items"]]


async def inbox(resources: Any, actor: Actor) -> list[str]:
    inboxes = Inboxes(resources.redis, resources.settings)
    raw = await resources.redis.zrevrange(inboxes.inbox_key(uuid.UUID(actor.id)), 0, -1)
    return [item.decode() for item in raw]


async def test_publishing_pushes_into_built_inboxes_only(client, users, published, resources):
    author = await users.create("author")
    reader = await users.create("reader")  # has read their feed: an inbox
    away = await users.create("away")  # has not: no inbox is written for them
    for actor in (reader, away):
        assert (await follow(client, actor.headers, "author")).status_code == 204
    assert await feed(client, reader) == []

    video_id = await published(author)
    unlisted = await published(author, visibility="unlisted")

    assert await inbox(resources, reader) == [video_id]
    assert await inbox(resources, away) == []
    assert unlisted not in await inbox(resources, reader)
    # The one away gets it from the SQL rebuild on their next read.
    assert await feed(client, away) == [(video_id, "followed")]
    assert await inbox(resources, away) == [video_id]


async def test_a_missing_inbox_is_rebuilt_from_sql(client, users, published, resources):
    author = await users.create("author")
    reader = await users.create("reader")
    second = await users.create("second")  # to read the rebuilt inbox in a fresh feed session
    for actor in (reader, second):
        assert (await follow(client, actor.headers, "author")).status_code == 204
    first = await published(author)
    assert await feed(client, reader) == [(first, "followed")]
    later = await published(author)
    assert await inbox(resources, reader) == [later, first]

    # Redis lost it (flushed, or expired after a long absence): the next read rebuilds it.
    inboxes = Inboxes(resources.redis, resources.settings)
    for actor in (reader, second):
        await resources.redis.delete(
            inboxes.inbox_key(uuid.UUID(actor.id)), inboxes.sentinel_key(uuid.UUID(actor.id))
        )
    assert await feed(client, second) == [(later, "followed"), (first, "followed")]
    assert await inbox(resources, second) == [later, first]
    assert await resources.redis.exists(inboxes.sentinel_key(uuid.UUID(second.id))) == 1
    assert await feed(client, reader) == [(later, "followed")]  # `first` was served this session


async def test_new_follows_need_no_backfill_and_unfollows_drop_the_reason(
    client, users, published, resources
):
    # The empty first pages leave each reader resting on a ranking that found nothing
    # (feed.timeline.ranking.DRY_RANK_AGAIN_SECONDS); a follow and an unfollow each end that at once.
    author = await users.create("author")
    reader = await users.create("reader")
    later_reader = await users.create("later")
    for actor in (reader, later_reader):
        assert await feed(client, actor) == []  # inboxes built before following
    video_id = await published(author)
    assert await inbox(resources, reader) == []

    assert (await follow(client, reader.headers, "author")).status_code == 204
    assert await feed(client, reader) == [(video_id, "followed")]

    # An unfollow is filtered at read: the inbox still has it, the reason is no longer `followed`.
    assert (await follow(client, later_reader.headers, "author")).status_code == 204
    other = await published(author)
    assert await inbox(resources, later_reader) == [other]
    response = await client.delete("/v1/users/author/follow", headers=later_reader.headers)
    assert response.status_code == 204
    assert dict(await feed(client, later_reader)) == {other: "popular", video_id: "popular"}


async def test_a_post_fanned_out_late_past_an_unfollow_does_not_join_the_kept_pool_as_followed(
    client, users, published, resources
):
    """A fan-out that read the followers before an unfollow can land its post after the pool the
    unfollow led to was ranked: the kept pool then stands, and the post, newer than its inbox
    head, must not join it as `followed`."""
    author = await users.create("author")
    others = [await users.create(f"other{n}") for n in range(3)]
    reader = await users.create("reader")
    for other in others:
        await published(other)

    async def page() -> list[tuple[str, str]]:
        response = await client.get("/v1/feed", headers=reader.headers, params={"limit": 1})
        assert response.status_code == 200, response.text
        return [(item["video"]["id"], item["reason"]) for item in response.json()["items"]]

    assert (await follow(client, reader.headers, "author")).status_code == 204
    response = await client.delete("/v1/users/author/follow", headers=reader.headers)
    assert response.status_code == 204
    assert [reason for _, reason in await page()] == ["popular"]  # ranked after the unfollow
    post = await published(author)  # fanned out to no one now; the late push is played by hand
    inboxes = Inboxes(resources.redis, resources.settings)
    assert await inboxes.push([uuid.UUID(reader.id)], uuid.UUID(post), time.time() + 1) == 1
    assert await inbox(resources, reader) == [post]

    served = (await page()) + (await page()) + (await page())
    assert [reason for _, reason in served] == ["popular", "popular", "popular"], served


async def test_a_batch_is_pushed_in_chunks_each_into_its_built_inboxes(resources, monkeypatch):
    # Script calls of two followers each (a hundred in production), so Redis serves feed reads
    # between them; built and unbuilt inboxes straddle the chunks.
    monkeypatch.setattr(inbox_module, "PUSH_CHUNK", 2)
    inboxes = Inboxes(resources.redis, resources.settings)
    followers = [uuid.uuid4() for _ in range(7)]
    built = [followers[n] for n in (0, 2, 3, 6)]
    for follower in built:
        await resources.redis.set(inboxes.sentinel_key(follower), 1)
    video_id = uuid.uuid4()
    try:
        assert await inboxes.push(followers, video_id, 1_700_000_000.0) == 4
        held = [
            follower
            for follower in followers
            if await resources.redis.zscore(inboxes.inbox_key(follower), str(video_id)) is not None
        ]
        assert held == built
    finally:
        for follower in followers:
            await resources.redis.delete(inboxes.inbox_key(follower), inboxes.sentinel_key(follower))


async def test_large_followings_fan_out_in_batched_jobs(servers, simulator, tmp_path):
    # A namespace of its own, so its jobs run in its own worker, not in the shared test app's.
    settings = make_settings(
        servers,
        tmp_path,
        simulator,
        feed_fanout_batch=2,
        redis_namespace=f"{servers.redis_namespace}-batched",
    )
    app = create_app(settings)
    async with serve_in_process(app) as client:
        resources = app.state.resources
        await wipe(resources)
        users, videos = UserFactory(resources), VideoFactory(resources)
        author = await users.create("author")
        followers = [await users.create(f"follower{n}") for n in range(7)]
        for actor in followers:
            assert (await follow(client, actor.headers, "author")).status_code == 204
            assert await feed(client, actor) == []
        draft = await videos.draft(author)
        assert (await publish(client, author, draft.id)).status_code == 200

        # Two followers inline, then jobs of two at a time (keyset), until all seven have it.
        for _ in range(100):
            if [await inbox(resources, actor) for actor in followers] == [[draft.id]] * 7:
                break
            await asyncio.sleep(0.1)
        assert [await inbox(resources, actor) for actor in followers] == [[draft.id]] * 7
        await wipe(resources)


async def test_a_fan_out_batch_that_fails_for_good_is_run_again_from_the_outbox(
    client, users, videos, resources, monkeypatch
):
    """A large following's later batches are handed to a job, kept in the outbox like the first:
    when that job fails past its retries (PostgreSQL away for a few seconds), its row runs it again
    once its lease is over, and every follower's inbox gets the post. Handed on through Redis
    alone, the rest of the followers never had it (their inboxes live on while they read them)."""
    monkeypatch.setattr(resources, "settings", resources.settings.replace(feed_fanout_batch=1))
    author = await users.create("author")
    followers = [await users.create(f"follower{n}") for n in range(3)]
    for actor in followers:
        assert (await follow(client, actor.headers, "author")).status_code == 204
        assert await feed(client, actor) == []
    follower_batch = fanout.queries.follower_batch
    down = True

    async def database_away(session, author_id, *, after, limit):
        if down and after is not None:  # the request's inline batch reads; the job's do not
            raise OSError("connection refused")
        return await follower_batch(session, author_id, after=after, limit=limit)

    monkeypatch.setattr(fanout.queries, "follower_batch", database_away)
    draft = await videos.draft(author)
    assert (await publish(client, author, draft.id)).status_code == 200
    assert await inbox(resources, followers[0]) == [draft.id]
    key = f"{fanout.FAN_OUT_JOB}:{draft.id}:{followers[0].id}"

    async def failed_for_good() -> bool:
        job = await resources.jobs.queue.job(key)
        return job is not None and job.status == Status.FAILED

    await eventually(failed_for_good, within=30, what="the fan-out's job fails for good")
    assert [await inbox(resources, actor) for actor in followers[1:]] == [[], []]

    down = False
    await replay_due(resources)

    async def everyone_has_it() -> bool:
        return [await inbox(resources, actor) for actor in followers] == [[draft.id]] * 3

    await eventually(everyone_has_it, within=15, what="every follower's inbox has the post")
    await outbox_emptied(resources)
