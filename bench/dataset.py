"""Builds the synthetic bench data set straight into PostgreSQL with COPY.

    python -m bench.dataset --size small [--rebuild]

It creates the database `remixfeed_bench_<size>` on the server DATABASE_URL names, applies the
migrations, drops the loaded tables' secondary indexes and foreign keys (and the primary keys of
`likes` and `follows`), streams the rows in with COPY, then rebuilds and validates all of them and
runs VACUUM (FREEZE, ANALYZE). The database's comment records the size once the build is complete,
so a second run reuses it (unless --rebuild).

The shape: follower counts follow a power law (user 0 has the most, capped at `max_followers`),
prolific posters are the popular ones, likes per video are heavy-tailed, every count column
(`like_count`, `remix_count`, `view_count`, `users.post_count`, `users.follower_count` and
`following_count`) agrees with the rows, captions and prompts come from a small vocabulary (so
steering's full-text search has matches), 5% of users are teens, some videos are remixes, some
unlisted, removed, deleted or drafts, some cast a user's cameo, and a few users block others.
Everyone's password is `bench.common.PASSWORD`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from argon2 import PasswordHasher

from app.migrate import upgrade
from bench.common import PASSWORD, SIZES, Size, database_name, database_url, username

MARKER_VERSION = 1
SEED = 20261122
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
# Videos were published over these last days.
SPAN_DAYS = 60
LOADED_TABLES = ("users", "follows", "blocks", "videos", "likes", "video_appearances", "feed_preferences")
# Without other tables' foreign keys pointing at them, their primary keys can be rebuilt after loading.
REBUILT_PRIMARY_KEYS = ("follows", "likes", "blocks", "video_appearances")

SUBJECTS = [
    "cat", "dog", "fox", "robot", "astronaut", "dragon", "surfer", "skateboarder", "chef", "dancer",
    "owl", "penguin", "octopus", "knight", "wizard", "drummer", "cyclist", "panda", "whale", "horse",
]  # fmt: skip
ACTIONS = [
    "dancing", "cooking ramen", "surfing a wave", "skateboarding", "playing guitar", "juggling",
    "racing", "meditating", "painting", "sleeping", "singing", "running", "flying", "reading a book",
    "playing football", "baking bread", "climbing", "swimming", "drumming", "knitting",
]  # fmt: skip
PLACES = [
    "on the moon", "in a neon city", "in a misty forest", "on a tropical beach", "in the desert",
    "in a snowy mountain village", "under the ocean", "in a cozy kitchen", "at a rainy bus stop",
    "in a jungle", "on a rooftop at sunset", "in a space station", "in a medieval castle",
    "at a football stadium", "in a library", "in a garden", "in Tokyo", "in Paris", "on a farm",
    "in a volcano",
]  # fmt: skip
STYLES = [
    "cinematic", "anime style", "stop motion", "claymation", "watercolor", "pixel art", "documentary",
    "slow motion", "hyperreal", "vintage film", "calm and relaxing", "high energy", "dreamy", "noir",
]  # fmt: skip
STEERS = [
    ("more cats and cooking, less football", ["cat", "cook"], ["footbal"]),
    ("calm ocean and forest videos", ["calm", "ocean", "forest"], []),
    ("space and robots please, no horror", ["space", "robot"], ["horror"]),
    ("dancing and music", ["danc", "music"], []),
]


@dataclass
class Plan:
    """What was generated, in the order it is written."""

    size: Size
    user_ids: list[UUID] = field(default_factory=list)
    teen: list[bool] = field(default_factory=list)
    post_count: list[int] = field(default_factory=list)
    video_ids: list[UUID] = field(default_factory=list)
    video_author: list[int] = field(default_factory=list)
    video_published: list[datetime | None] = field(default_factory=list)
    video_status: list[str] = field(default_factory=list)
    video_public: list[bool] = field(default_factory=list)
    video_deleted: list[bool] = field(default_factory=list)
    video_parent: list[int] = field(default_factory=list)  # -1 for an original
    video_root: list[int] = field(default_factory=list)
    video_depth: list[int] = field(default_factory=list)
    video_likes: list[int] = field(default_factory=list)
    video_remixes: list[int] = field(default_factory=list)
    video_appearance: list[int] = field(default_factory=list)  # -1 for none


def uuid7_at(moment: datetime, rng: random.Random) -> UUID:
    """A UUIDv7 whose time is `moment`, so ids sort like the rows' times (as the app's do)."""
    millis = int(moment.timestamp() * 1000)
    value = (millis << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62) | rng.getrandbits(62)
    return UUID(int=value)


def zipf_counts(total: int, n: int, exponent: float, cap: int) -> list[int]:
    """`n` counts summing to about `total`, the i-th proportional to 1/(i+1)^exponent, none above `cap`."""
    weights = [1.0 / (i + 1) ** exponent for i in range(n)]
    scale = total / sum(weights)
    # Raise the scale until the capped counts reach the total (the head is cut at `cap`).
    for _ in range(30):
        counts = [min(cap, int(w * scale)) for w in weights]
        missing = total - sum(counts)
        if missing <= total * 0.001:
            break
        scale *= 1 + missing / total
    return counts


def strided(start: int, count: int, modulus: int, stride: int) -> Iterator[int]:
    """`count` distinct values in range(modulus) (stride coprime with modulus)."""
    value = start
    for _ in range(count):
        yield value
        value += stride
        if value >= modulus:
            value -= modulus


def coprime_strides(modulus: int, rng: random.Random, how_many: int = 64) -> list[int]:
    strides: list[int] = []
    while len(strides) < how_many:
        candidate = rng.randrange(1, modulus)
        if math.gcd(candidate, modulus) == 1:
            strides.append(candidate)
    return strides


def plan_users(plan: Plan, rng: random.Random) -> None:
    size = plan.size
    start = NOW - timedelta(days=SPAN_DAYS + 30)
    for i in range(size.users):
        plan.user_ids.append(uuid7_at(start + timedelta(seconds=i), rng))
        plan.teen.append(i > 50 and rng.random() < 0.05)
    plan.post_count = [0] * size.users


def _listed(plan: Plan, video: int) -> bool:
    """Published, public and not deleted: what anyone may list, so what the counts count."""
    return (
        plan.video_status[video] == "published" and plan.video_public[video] and not plan.video_deleted[video]
    )


def plan_videos(plan: Plan, rng: random.Random) -> None:
    """Authors follow the follower power law more gently; ids and times increase together."""
    size = plan.size
    n = size.videos
    weights = [1.0 / (i + 1) ** 0.5 for i in range(size.users)]
    authors = rng.choices(range(size.users), cum_weights=list(_accumulate(weights)), k=n)
    begin = NOW - timedelta(days=SPAN_DAYS)
    step = SPAN_DAYS * 86400 / n
    like_weights = [rng.paretovariate(1.5) for _ in range(n)]
    for i in range(n):
        moment = begin + timedelta(seconds=i * step)
        plan.video_ids.append(uuid7_at(moment, rng))
        plan.video_author.append(authors[i])
        roll = rng.random()
        status, public, deleted = "published", True, False
        if roll < 0.02:
            status = "draft"
        elif roll < 0.03:
            status = "removed"
        elif roll < 0.035:
            deleted = True
        elif roll < 0.075:
            public = False
        plan.video_status.append(status)
        plan.video_public.append(public)
        plan.video_deleted.append(deleted)
        plan.video_published.append(None if status == "draft" else moment)
        if status == "published" and public and not deleted:  # what anyone may list counts
            plan.post_count[authors[i]] += 1
        parent = -1
        if status != "draft" and i > 10 and rng.random() < 0.08:
            candidate = rng.randrange(0, i)
            if plan.video_status[candidate] == "published" and not plan.video_deleted[candidate]:
                parent = candidate
        plan.video_parent.append(parent)
        if parent >= 0:
            plan.video_root.append(plan.video_root[parent] if plan.video_parent[parent] >= 0 else parent)
            plan.video_depth.append(plan.video_depth[parent] + 1)
        else:
            plan.video_root.append(-1)
            plan.video_depth.append(0)
        plan.video_appearance.append(rng.randrange(size.users) if rng.random() < 0.03 else -1)
    plan.video_remixes = [0] * n
    for child, parent in enumerate(plan.video_parent):
        if parent >= 0 and _listed(plan, child):
            plan.video_remixes[parent] += 1
    # Likes only on what people can find: published, public, not deleted.
    likable = [i for i in range(n) if _listed(plan, i)]
    plan.video_likes = [0] * n
    cap = size.users - 1
    scale = size.likes / sum(like_weights[i] for i in likable)
    # Raise the scale until the capped counts reach the target (the heaviest videos hit the cap).
    for _ in range(20):
        for i in likable:
            plan.video_likes[i] = min(cap, round(like_weights[i] * scale))
        missing = size.likes - sum(plan.video_likes)
        if missing <= size.likes * 0.002:
            break
        scale *= 1 + missing / size.likes


def _accumulate(values: Sequence[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def user_rows(plan: Plan, password_hash: str, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    start = NOW - timedelta(days=SPAN_DAYS + 30)
    adult = date(1990, 5, 17)
    teen = date(NOW.year - 15, 3, 1)
    for i, user_id in enumerate(plan.user_ids):
        name = username(i)
        created = start + timedelta(seconds=i)
        yield (
            user_id,
            name,
            f"{name}@bench.example",
            password_hash,
            f"Bench {i}",
            teen if plan.teen[i] else adult,
            "user",
            plan.post_count[i],
            created,
            created,
        )


def follow_rows(plan: Plan, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Followee i has zipf_counts(...)[i] followers, picked with a stride so they are distinct."""
    size = plan.size
    counts = zipf_counts(size.follows, size.users, 1.0, size.max_followers)
    strides = coprime_strides(size.users, rng)
    moments = [NOW - timedelta(seconds=rng.randrange(86400 * (SPAN_DAYS + 20))) for _ in range(4096)]
    ids = plan.user_ids
    for followee, count in enumerate(counts):
        if count == 0:
            continue
        followee_id = ids[followee]
        written = 0
        for follower in strided(rng.randrange(size.users), count + 1, size.users, rng.choice(strides)):
            if follower == followee:
                continue
            yield (ids[follower], followee_id, moments[(follower + followee) & 4095])
            written += 1
            if written == count:
                break


def block_rows(plan: Plan, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    seen: set[tuple[int, int]] = set()
    for _ in range(plan.size.users // 100):
        blocker, blocked = rng.randrange(plan.size.users), rng.randrange(plan.size.users)
        if blocker != blocked and (blocker, blocked) not in seen:
            seen.add((blocker, blocked))
            yield (plan.user_ids[blocker], plan.user_ids[blocked], NOW - timedelta(days=3))


def video_rows(plan: Plan, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    ids = plan.video_ids
    for i, video_id in enumerate(ids):
        subject, action, place, style = (
            rng.choice(SUBJECTS),
            rng.choice(ACTIONS),
            rng.choice(PLACES),
            rng.choice(STYLES),
        )
        caption = f"{subject} {action} {place}" if rng.random() < 0.8 else ""
        prompt = f"A {style} shot of a {subject} {action} {place}"
        published = plan.video_published[i]
        created = (published or NOW - timedelta(days=rng.randrange(SPAN_DAYS))) - timedelta(minutes=5)
        status = plan.video_status[i]
        parent, root = plan.video_parent[i], plan.video_root[i]
        appearance = plan.video_appearance[i]
        likes = plan.video_likes[i]
        yield (
            video_id,
            plan.user_ids[plan.video_author[i]],
            status,
            "public" if plan.video_public[i] else "unlisted",
            caption,
            prompt,
            rng.random() < 0.9,
            "sora-2",
            rng.choice((4, 8, 12)),
            "720x1280",
            [username(appearance)] if appearance >= 0 else [],
            f"videos/{video_id}.mp4",
            f"thumbnails/{video_id}.webp",
            ids[parent] if parent >= 0 else None,
            ids[root] if root >= 0 else None,
            plan.video_depth[i],
            likes,
            plan.video_remixes[i],
            likes * rng.randrange(3, 20),
            published,
            published + timedelta(hours=2) if status == "removed" and published else None,
            published + timedelta(hours=1) if plan.video_deleted[i] and published else None,
            created,
            created,
        )


def like_rows(plan: Plan, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Video i gets exactly video_likes[i] distinct likers (so like_count is right)."""
    users = plan.size.users
    strides = coprime_strides(users, rng)
    ids, user_ids = plan.video_ids, plan.user_ids
    offsets = [timedelta(seconds=rng.randrange(86400 * 2)) for _ in range(4096)]
    for i, count in enumerate(plan.video_likes):
        if count == 0:
            continue
        video_id, published = ids[i], plan.video_published[i]
        assert published is not None
        for user in strided(rng.randrange(users), count, users, rng.choice(strides)):
            yield (video_id, user_ids[user], published + offsets[user & 4095])


def appearance_rows(plan: Plan) -> Iterator[tuple[Any, ...]]:
    for i, owner in enumerate(plan.video_appearance):
        if owner >= 0:
            moment = plan.video_published[i] or NOW
            yield (plan.video_ids[i], plan.user_ids[owner], UUID(int=owner + 1), moment)


def preference_rows(plan: Plan, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for user_id in plan.user_ids:
        if rng.random() < 0.1:
            steer, favour, avoid = rng.choice(STEERS)
            moment = NOW - timedelta(days=1)
            yield (uuid7_at(moment, rng), user_id, steer, True, favour, avoid, 0.0, moment, moment)


COLUMNS: dict[str, list[str]] = {
    "users": [
        "id", "username", "email", "password_hash", "display_name", "birthdate", "role", "post_count",
        "created_at", "updated_at",
    ],
    "follows": ["follower_id", "followee_id", "created_at"],
    "blocks": ["blocker_id", "blocked_id", "created_at"],
    "videos": [
        "id", "author_id", "status", "visibility", "caption", "prompt", "show_prompt", "model", "seconds",
        "size", "cameos", "video_key", "thumbnail_key", "remix_of_id", "remix_root_id", "remix_depth",
        "like_count", "remix_count", "view_count", "published_at", "removed_at", "deleted_at",
        "created_at", "updated_at",
    ],
    "likes": ["video_id", "user_id", "created_at"],
    "video_appearances": ["video_id", "user_id", "cameo_id", "created_at"],
    "feed_preferences": [
        "id", "user_id", "steer", "personalized", "favour_topics", "avoid_topics", "mood_bias",
        "created_at", "updated_at",
    ],
}  # fmt: skip


@dataclass
class Saved:
    """The DDL taken off the loaded tables, to put back after COPY."""

    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)
    primary_keys: list[tuple[str, str, str]] = field(default_factory=list)
    indexes: list[tuple[str, str]] = field(default_factory=list)


async def strip_tables(conn: asyncpg.Connection) -> Saved:
    saved = Saved()
    rows = await conn.fetch(
        """
        SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def,
               c.contype::text AS contype
        FROM pg_constraint c
        WHERE c.conrelid::regclass::text = ANY($1::text[]) AND c.contype IN ('f', 'p')
        """,
        list(LOADED_TABLES),
    )
    for row in rows:
        if row["contype"] == "f":
            saved.foreign_keys.append((row["tbl"], row["conname"], row["def"]))
        elif row["tbl"] in REBUILT_PRIMARY_KEYS:
            saved.primary_keys.append((row["tbl"], row["conname"], row["def"]))
    indexes = await conn.fetch(
        """
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
        FROM pg_index i
        WHERE i.indrelid::regclass::text = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        list(LOADED_TABLES),
    )
    saved.indexes = [(row["name"], row["def"]) for row in indexes]
    for table, name, _ in saved.foreign_keys + saved.primary_keys:
        await conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    for name, _ in saved.indexes:
        await conn.execute(f'DROP INDEX "{name}"')
    return saved


async def restore_tables(conn: asyncpg.Connection, saved: Saved) -> None:
    for table, name, definition in saved.primary_keys:
        await timed(
            f"  primary key {name}",
            conn.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'),
        )
    for name, definition in saved.indexes:
        await timed(f"  index {name}", conn.execute(definition))
    for table, name, definition in saved.foreign_keys:
        await timed(
            f"  foreign key {name}",
            conn.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'),
        )


async def timed(label: str, awaitable: Any) -> Any:
    started = time.perf_counter()
    result = await awaitable
    print(f"{label}: {time.perf_counter() - started:.1f} s", flush=True)
    return result


async def copy(conn: asyncpg.Connection, table: str, rows: Iterator[tuple[Any, ...]]) -> None:
    started = time.perf_counter()
    counted = _Counter(rows)
    await conn.copy_records_to_table(table, records=counted, columns=COLUMNS[table])
    elapsed = time.perf_counter() - started
    print(f"  COPY {table}: {counted.count:,} rows in {elapsed:.1f} s", flush=True)


class _Counter:
    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for row in self.rows:
            self.count += 1
            yield row


async def existing_marker(size: str) -> dict[str, Any] | None:
    conn = await asyncpg.connect(database_url(size, "postgres"))
    try:
        comment = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            database_name(size),
        )
    finally:
        await conn.close()
    if not comment:
        return None
    try:
        marker: dict[str, Any] = json.loads(comment)
    except ValueError:
        return None
    return marker


async def recreate_database(size: str) -> None:
    conn = await asyncpg.connect(database_url(size, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database_name(size)}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{database_name(size)}"')
    finally:
        await conn.close()


async def load(size: Size) -> dict[str, int]:
    rng = random.Random(SEED)
    started = time.perf_counter()
    plan = Plan(size)
    plan_users(plan, rng)
    plan_videos(plan, rng)
    print(f"planned in {time.perf_counter() - started:.1f} s", flush=True)
    password_hash = PasswordHasher().hash(PASSWORD)
    conn = await asyncpg.connect(database_url(size.name))
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '1GB'")
        saved = await strip_tables(conn)
        await copy(conn, "users", user_rows(plan, password_hash, rng))
        await copy(conn, "follows", follow_rows(plan, rng))
        await copy(conn, "blocks", block_rows(plan, rng))
        await copy(conn, "videos", video_rows(plan, rng))
        await copy(conn, "likes", like_rows(plan, rng))
        await copy(conn, "video_appearances", appearance_rows(plan))
        await copy(conn, "feed_preferences", preference_rows(plan, rng))
        print("rebuilding keys and indexes:", flush=True)
        await restore_tables(conn, saved)
        await timed("follow counts", conn.execute(FOLLOW_COUNTS))
        # As autovacuum would have done long since on a live database (and may be off on this
        # server): freshly copied rows have no hint bits and no visibility map, so the first reads of
        # every page would write it back, and index-only scans would visit the heap.
        await timed("VACUUM (FREEZE, ANALYZE)", conn.execute("VACUUM (FREEZE, ANALYZE)"))
        counts = {
            table: int(await conn.fetchval(f'SELECT count(*) FROM "{table}"'))  # noqa: S608 - fixed names
            for table in ("users", "follows", "videos", "likes")
        }
        await check_counts(conn)
    finally:
        await conn.close()
    return counts


# users.follower_count and following_count, as the app keeps them, from the rows just loaded.
FOLLOW_COUNTS = """
UPDATE users SET follower_count = counted.n
FROM (SELECT followee_id, count(*) AS n FROM follows GROUP BY followee_id) AS counted
WHERE users.id = counted.followee_id;
UPDATE users SET following_count = counted.n
FROM (SELECT follower_id, count(*) AS n FROM follows GROUP BY follower_id) AS counted
WHERE users.id = counted.follower_id;
"""


async def check_counts(conn: asyncpg.Connection) -> None:
    """The count columns agree with the rows (a guard against a generator bug)."""
    bad_likes = await conn.fetchval(
        """SELECT count(*) FROM videos v
           WHERE v.like_count <> (SELECT count(*) FROM likes l WHERE l.video_id = v.id)"""
    )
    bad_posts = await conn.fetchval(
        """SELECT count(*) FROM users u WHERE u.post_count <> (SELECT count(*) FROM videos v
           WHERE v.author_id = u.id AND v.status = 'published' AND v.visibility = 'public'
             AND v.deleted_at IS NULL)"""
    )
    bad_remixes = await conn.fetchval(
        """SELECT count(*) FROM videos p WHERE p.remix_count <> (SELECT count(*) FROM videos v
           WHERE v.remix_of_id = p.id AND v.status = 'published' AND v.visibility = 'public'
             AND v.deleted_at IS NULL)"""
    )
    bad_follows = await conn.fetchval(
        """SELECT count(*) FROM users u
           WHERE u.follower_count <> (SELECT count(*) FROM follows f WHERE f.followee_id = u.id)
              OR u.following_count <> (SELECT count(*) FROM follows f WHERE f.follower_id = u.id)"""
    )
    if bad_likes or bad_posts or bad_remixes or bad_follows:
        raise SystemExit(
            f"inconsistent counts: {bad_likes} videos' like_count, {bad_posts} users' post_count, "
            f"{bad_remixes} videos' remix_count, {bad_follows} users' follow counts"
        )


async def build(size_name: str, rebuild: bool) -> None:
    size = SIZES[size_name]
    marker = await existing_marker(size_name)
    if marker and marker.get("size") == size_name and marker.get("version") == MARKER_VERSION and not rebuild:
        print(f"{database_name(size_name)} is already built ({marker}); --rebuild to build it again")
        return
    started = time.perf_counter()
    await recreate_database(size_name)
    await asyncio.to_thread(upgrade, database_url(size_name))
    print(f"database {database_name(size_name)} created and migrated", flush=True)
    counts = await load(size)
    elapsed = time.perf_counter() - started
    new_marker = {"size": size_name, "version": MARKER_VERSION, "seconds": round(elapsed), **counts}
    conn = await asyncpg.connect(database_url(size_name, "postgres"))
    try:
        literal = json.dumps(new_marker).replace("'", "''")
        await conn.execute(f"COMMENT ON DATABASE \"{database_name(size_name)}\" IS '{literal}'")
    finally:
        await conn.close()
    print(f"built {size_name} in {elapsed:.0f} s: {counts}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument(
        "--rebuild", action="store_true", help="drop and build the database even if it exists"
    )
    args = parser.parse_args()
    asyncio.run(build(args.size, args.rebuild))


if __name__ == "__main__":
    main()
