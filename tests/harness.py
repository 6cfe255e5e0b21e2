"""Servers for a test run: the ones DATABASE_URL / REDIS_URL name, or embedded ones.

With DATABASE_URL set, the run creates its own database on that server and drops it afterwards;
with REDIS_URL set, it uses a namespace of its own and deletes only those keys. The user's data
is never touched either way.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis
from sqlalchemy.engine import make_url

from app.db import async_url
from app.embedded import EmbeddedPostgres, EmbeddedRedis
from app.migrate import upgrade


@dataclass
class RunServers:
    database_url: str
    redis_url: str
    redis_namespace: str
    embedded_postgres: EmbeddedPostgres | None = None
    embedded_redis: EmbeddedRedis | None = None
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for cleanup in reversed(self._cleanups):
            cleanup()


def _plain(url: str) -> str:
    return str(make_url(async_url(url)).set(drivername="postgresql"))


def start_test_servers(tmp: Path) -> RunServers:
    run_id = uuid.uuid4().hex[:10]
    cleanups: list[Callable[[], None]] = []

    external_db = os.environ.get("DATABASE_URL")
    embedded_pg: EmbeddedPostgres | None = None
    if external_db:
        database = f"remixfeed_test_{run_id}"
        server_url = make_url(async_url(external_db))
        admin_dsn = _plain(str(server_url.set(database="postgres")))
        asyncio.run(execute_statement(admin_dsn, f'CREATE DATABASE "{database}"'))
        database_url = str(server_url.set(database=database).render_as_string(hide_password=False))
        cleanups.append(
            lambda: asyncio.run(
                execute_statement(admin_dsn, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            )
        )
    else:
        embedded_pg = EmbeddedPostgres(tmp / "postgres", database="remixfeed_test")
        database_url = embedded_pg.url()
        cleanups.append(embedded_pg.stop)

    external_redis = os.environ.get("REDIS_URL")
    embedded_rd: EmbeddedRedis | None = None
    if external_redis:
        redis_url = external_redis
        namespace = f"remixfeed_test_{run_id}"
        cleanups.append(lambda: delete_namespace(redis_url, namespace))
    else:
        embedded_rd = EmbeddedRedis(tmp / "redis")
        redis_url = embedded_rd.url()
        namespace = "remixfeed_test"
        cleanups.append(embedded_rd.stop)

    servers = RunServers(database_url, redis_url, namespace, embedded_pg, embedded_rd, cleanups)
    try:
        upgrade(database_url)
    except BaseException:
        servers.close()
        raise
    return servers


async def execute_statement(dsn: str, statement: str) -> None:
    """One statement on its own connection (CREATE and DROP DATABASE cannot run in a transaction)."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def namespace_patterns(namespace: str) -> list[str]:
    # Our own keys, and SAQ's for the queue named after the namespace.
    # Prefixes, so namespaces tests derive from the run's (`<ns>-webhooks`) go too.
    return [f"{namespace}*", f"saq:{namespace}*", f"saq:job:{namespace}*"]


def delete_namespace(redis_url: str, namespace: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        for pattern in namespace_patterns(namespace):
            keys = list(client.scan_iter(match=pattern, count=500))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
