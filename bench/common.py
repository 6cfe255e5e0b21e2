"""What the bench scripts share: the sizes, the database and Redis they use, the known password."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url

from app.db import async_url
from app.settings import Settings, load_settings

# Every bench user logs in with this password (its Argon2 hash is computed once per build).
PASSWORD = "bench-password-1"  # noqa: S105 - a synthetic data set's shared password


@dataclass(frozen=True)
class Size:
    name: str
    users: int
    follows: int
    videos: int
    likes: int
    # Most followers one author may have (the power law's head is cut there).
    max_followers: int


SIZES = {
    "tiny": Size("tiny", users=1_000, follows=10_000, videos=5_000, likes=20_000, max_followers=500),
    "small": Size(
        "small", users=10_000, follows=200_000, videos=100_000, likes=1_000_000, max_followers=5_000
    ),
    "large": Size(
        "large", users=200_000, follows=5_000_000, videos=2_000_000, likes=20_000_000, max_followers=100_000
    ),
}


def server_url() -> str:
    """The PostgreSQL server named by DATABASE_URL (its database is ignored)."""
    return os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


def database_name(size: str) -> str:
    return f"remixfeed_bench_{size}"


def database_url(size: str, database: str | None = None) -> str:
    """A plain postgresql:// URL (asyncpg and the app both take it) of the bench database."""
    url = make_url(async_url(server_url())).set(
        drivername="postgresql", database=database or database_name(size)
    )
    return url.render_as_string(hide_password=False)


def redis_url() -> str:
    """BENCH_REDIS_URL, else the server REDIS_URL names but its database 15, away from the tests' and
    a developer's keys (the bench also uses a namespace of its own)."""
    if os.environ.get("BENCH_REDIS_URL"):
        return os.environ["BENCH_REDIS_URL"]
    base = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urlunsplit((base.scheme, base.netloc, "/15", base.query, base.fragment))


def redis_namespace(size: str) -> str:
    return f"remixfeed_bench_{size}"


def username(index: int) -> str:
    return f"user{index:07d}"


# The API under test: the bench's database, Redis database and namespace, a fixed key, quiet logs,
# rate limits out of the way of a pool of logins from one address, tokens that outlive a long run,
# and a feed break after 200 videos (10 pages) instead of 20, so nine pages in ten are plain pages.
# It cannot be "never": a session never repeats a video and POST /v1/feed/resume starts a new one
# only at a break, so an endless session runs out of videos and the load would measure empty
# pages. The load resumes (untimed) whenever a page carries the break.
BENCH_FEED_BREAK_AFTER = 200


def server_env(size: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(size),
        "REDIS_URL": redis_url(),
        "REMIXFEED_REDIS_NAMESPACE": redis_namespace(size),
        "REMIXFEED_SECRET_KEY": "bench-secret-key-" + "0" * 32,
        "REMIXFEED_LOG_LEVEL": "WARNING",
        "REMIXFEED_WORKER_IN_PROCESS": "false",
        "REMIXFEED_SCREENING_MODE": "local",
        "REMIXFEED_TOKEN_RATE_LIMIT": "100000/minute",
        "REMIXFEED_LOGIN_RATE_LIMIT": "100000/minute",
        "REMIXFEED_WRITE_RATE_LIMIT": "1000000/minute",
        "REMIXFEED_FEED_RATE_LIMIT": "1000000/minute",
        "REMIXFEED_READ_RATE_LIMIT": "1000000/minute",
        "REMIXFEED_IP_WRITE_RATE_LIMIT": "1000000/minute",
        "REMIXFEED_IP_READ_RATE_LIMIT": "1000000/minute",
        "REMIXFEED_ACCESS_TOKEN_TTL_SECONDS": str(24 * 3600),
        "REMIXFEED_FEED_BREAK_AFTER": str(BENCH_FEED_BREAK_AFTER),
        "REMIXFEED_TEEN_FEED_BREAK_AFTER": str(BENCH_FEED_BREAK_AFTER),
        "REMIXFEED_DATA_DIR": str(Path(tempfile.gettempdir()) / f"remixfeed-bench-{size}"),
    }


def bench_settings(size: str) -> Settings:
    return load_settings(server_env(size))
