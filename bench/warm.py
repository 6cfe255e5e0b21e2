"""Warms the Redis feed inboxes the load will read, with the app's own code (feed.timeline).

    python -m bench.warm --size small [--users N]

The load's pool of users get their inboxes rebuilt exactly as the API rebuilds one on a miss
(`queries.inbox_entries` then `Inboxes.replace`), and the popular set is computed as its cron job
does (`refresh_popular`). For the fan-out test, every follower of the most-followed author needs a
built inbox (fan-out pushes only into built inboxes, as Mastodon's does): up to FULL_FOLLOWERS of
them are rebuilt in full too; past that (the large set's 100k) the rest are marked built with an
empty inbox through the same `Inboxes.replace`, which costs the push the same and keeps Redis at a
few hundred MB instead of gigabytes.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import func, select

from accounts.models import User, follows
from app.resources import Resources, open_resources
from bench.common import SIZES, bench_settings
from feed.timeline import queries
from feed.timeline.fanout import refresh_popular
from feed.timeline.inbox import Inboxes

FULL_FOLLOWERS = 20_000
CONCURRENCY = 8


async def pool_users(resources: Resources, count: int, author_id: UUID) -> list[tuple[UUID, str]]:
    """The load's users: adults (a teen's daily cap would stop them), in a fixed order, but not the
    fan-out author."""
    async with resources.session_factory() as session:
        rows = await session.execute(
            select(User.id, User.username)
            .where(User.birthdate < func.current_date() - 18 * 366, User.id != author_id)
            .order_by(User.username)
            .limit(count)
        )
        return [(row[0], row[1]) for row in rows]


async def fanout_author(resources: Resources) -> tuple[UUID, str, int]:
    """The most-followed user, with their follower count."""
    async with resources.session_factory() as session:
        followers = func.count().label("followers")
        row = (
            await session.execute(
                select(follows.c.followee_id, followers)
                .group_by(follows.c.followee_id)
                # Several authors reach the cap: the tie is broken by id, so every call agrees.
                .order_by(followers.desc(), follows.c.followee_id)
                .limit(1)
            )
        ).one()
        name = (await session.execute(select(User.username).where(User.id == row[0]))).scalar_one()
        return row[0], name, int(row[1])


async def follower_ids(resources: Resources, author_id: UUID) -> list[UUID]:
    """In the order fan-out pushes them (follow time, follower id), so the last is reached last."""
    async with resources.session_factory() as session:
        rows = await session.execute(
            select(follows.c.follower_id)
            .where(follows.c.followee_id == author_id)
            .order_by(follows.c.created_at, follows.c.follower_id)
        )
        return [row[0] for row in rows]


async def rebuild(resources: Resources, user_ids: Sequence[UUID], *, full: bool) -> None:
    """The one place that calls the app's inbox code for a user."""
    inboxes = Inboxes(resources.redis, resources.settings)
    size = resources.settings.feed_inbox_size
    queue = list(user_ids)

    async def worker() -> None:
        async with resources.session_factory() as session:
            while queue:
                user_id = queue.pop()
                entries = await queries.inbox_entries(session, user_id, size) if full else []
                await inboxes.replace(user_id, entries)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def warm(resources: Resources, pool: Sequence[UUID], followers: Sequence[UUID]) -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    await refresh_popular(resources)
    timings["popular_s"] = time.perf_counter() - started

    started = time.perf_counter()
    await rebuild(resources, pool, full=True)
    timings["pool_s"] = time.perf_counter() - started

    in_pool = set(pool)
    rest = [user for user in followers if user not in in_pool]
    full, light = rest[:FULL_FOLLOWERS], rest[FULL_FOLLOWERS:]
    started = time.perf_counter()
    await rebuild(resources, full, full=True)
    await rebuild(resources, light, full=False)
    timings["followers_s"] = time.perf_counter() - started
    timings["followers_full"] = len(full)
    timings["followers_light"] = len(light)
    return timings


async def clear_namespace(resources: Resources) -> int:
    """Drops the bench namespace's keys (sessions, inboxes, rate limits) from an earlier run."""
    deleted = 0
    pattern = f"{resources.settings.redis_namespace}:*"
    batch: list[bytes] = []
    async for found in resources.redis.scan_iter(match=pattern, count=5000):
        batch.append(found)
        if len(batch) >= 5000:
            deleted += await resources.redis.unlink(*batch)
            batch = []
    if batch:
        deleted += await resources.redis.unlink(*batch)
    return deleted


async def main_async(size: str, users: int) -> None:
    resources = open_resources(bench_settings(size))
    try:
        cleared = await clear_namespace(resources)
        author_id, author, count = await fanout_author(resources)
        pool = await pool_users(resources, users, author_id)
        followers = await follower_ids(resources, author_id)
        timings = await warm(resources, [user for user, _ in pool], followers)
        print(
            f"cleared {cleared} keys; warmed {len(pool)} pool users and {count} followers of {author}: "
            f"{timings}"
        )
    finally:
        await resources.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--users", type=int, default=128)
    args = parser.parse_args()
    asyncio.run(main_async(args.size, args.users))


if __name__ == "__main__":
    main()
