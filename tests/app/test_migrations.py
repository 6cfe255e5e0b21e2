"""The migrations are the schema: the tests run on migrated databases, and the models must agree."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import async_url
from app.migrate import alembic_config, upgrade
from migrations.models import metadata
from tests.harness import RunServers


def _diff(connection) -> list[object]:  # type: ignore[no-untyped-def]
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


async def test_models_and_migrations_agree(servers: RunServers) -> None:
    engine = create_async_engine(async_url(servers.database_url))
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_diff)
    finally:
        await engine.dispose()
    assert differences == [], f"models and migrations disagree; write a migration for: {differences}"


def _scratch_database(servers: RunServers) -> tuple[str, str]:
    url = make_url(async_url(servers.database_url))
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    return admin, url.set(database=name).render_as_string(hide_password=False)


async def _run(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def test_migrations_upgrade_downgrade_and_upgrade_again(servers: RunServers) -> None:
    admin, scratch_url = _scratch_database(servers)
    name = make_url(scratch_url).database
    await _run(admin, f'CREATE DATABASE "{name}"')
    try:
        await asyncio.to_thread(upgrade, scratch_url)
        await asyncio.to_thread(command.downgrade, alembic_config(scratch_url), "base")
        await asyncio.to_thread(upgrade, scratch_url)
        connection = await asyncpg.connect(
            make_url(scratch_url).set(drivername="postgresql").render_as_string(False)
        )
        try:
            tables = {row["tablename"] for row in await connection.fetch("SELECT tablename FROM pg_tables")}
        finally:
            await connection.close()
        assert {"users", "invites", "refresh_tokens", "follows", "blocks", "alembic_version"} <= tables
    finally:
        await _run(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_constraint_names_follow_the_convention() -> None:
    prefixes = ("pk_", "fk_", "uq_", "ix_", "ck_")
    for table in metadata.sorted_tables:
        for constraint in table.constraints:
            assert str(constraint.name).startswith(prefixes), (table.name, constraint.name)
        for index in table.indexes:
            assert str(index.name).startswith(prefixes), (table.name, index.name)


async def test_migration_0015_counts_listed_videos_only(servers: RunServers) -> None:
    """Counts kept by the older rule (every published video) are taken again: an unlisted or a
    deleted video counts neither on its author's post_count nor on its parent's remix_count."""
    admin, scratch_url = _scratch_database(servers)
    name = make_url(scratch_url).database
    await _run(admin, f'CREATE DATABASE "{name}"')
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(scratch_url), "0014")
        dsn = make_url(scratch_url).set(drivername="postgresql").render_as_string(False)
        connection = await asyncpg.connect(dsn)
        try:
            author, parent = uuid.uuid4(), uuid.uuid4()
            await connection.execute(
                "INSERT INTO users (id, username, email, password_hash, birthdate, post_count, created_at,"
                " updated_at) VALUES ($1, 'alice', 'a@example.com', 'x', '2000-01-01', 3, now(), now())",
                author,
            )
            video = (
                "INSERT INTO videos (id, author_id, status, visibility, prompt, model, seconds, size,"
                " video_key, thumbnail_key, remix_of_id, remix_root_id, remix_depth, remix_count, deleted_at,"
                " created_at, updated_at) VALUES ($1, $2, 'published', $3, 'p', 'sora-2', 8, '720x1280', 'v',"
                " 't', $4, $4, CASE WHEN $4::uuid IS NULL THEN 0 ELSE 1 END, $5, $6, now(), now())"
            )
            await connection.execute(video, parent, author, "public", None, 2, None)
            await connection.execute(video, uuid.uuid4(), author, "unlisted", parent, 0, None)
            await connection.execute(video, uuid.uuid4(), author, "public", parent, 0, None)
            await connection.execute(video, uuid.uuid4(), author, "public", parent, 0, datetime.now(UTC))

            await asyncio.to_thread(upgrade, scratch_url)

            assert await connection.fetchval("SELECT post_count FROM users WHERE id = $1", author) == 2
            assert await connection.fetchval("SELECT remix_count FROM videos WHERE id = $1", parent) == 1
        finally:
            await connection.close()
    finally:
        await _run(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_migration_0021_makes_a_login_of_each_refresh_token_family(servers: RunServers) -> None:
    """Logins made before 0021 are listed and can be ended: each family becomes a login, logged in
    at its first token, last used at its newest, ended unless a token of it is still live."""
    day = timedelta(days=1)
    login_at = datetime(2026, 11, 1, tzinfo=UTC)
    admin, scratch_url = _scratch_database(servers)
    name = make_url(scratch_url).database
    await _run(admin, f'CREATE DATABASE "{name}"')
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(scratch_url), "0020")
        dsn = make_url(scratch_url).set(drivername="postgresql").render_as_string(False)
        connection = await asyncpg.connect(dsn)
        try:
            user, live, ended = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            await connection.execute(
                "INSERT INTO users (id, username, email, password_hash, birthdate, created_at, updated_at)"
                " VALUES ($1, 'alice', 'a@example.com', 'x', '2000-01-01', now(), now())",
                user,
            )
            token = (
                "INSERT INTO refresh_tokens (id, user_id, family_id, token_digest, expires_at, rotated_at,"
                " revoked_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
            )
            # The live login: logged in, then refreshed a day later; and a login that logged out.
            for family, digest, expires, rotated, revoked, issued in (
                (live, "a", login_at + 30 * day, login_at + day, None, login_at),
                (live, "b", login_at + 31 * day, None, None, login_at + day),
                (ended, "c", login_at + 30 * day, None, login_at + day, login_at),
            ):
                await connection.execute(
                    token, uuid.uuid4(), user, family, digest * 64, expires, rotated, revoked, issued
                )

            await asyncio.to_thread(upgrade, scratch_url)

            rows = {
                row["id"]: row
                for row in await connection.fetch(
                    "SELECT id, user_id, device, created_at, last_used_at, expires_at, revoked_at"
                    " FROM login_sessions"
                )
            }
        finally:
            await connection.close()
    finally:
        await _run(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    assert set(rows) == {live, ended}
    assert rows[live]["user_id"] == user
    assert rows[live]["device"] == "Unknown device"
    assert (rows[live]["created_at"], rows[live]["last_used_at"]) == (login_at, login_at + day)
    assert rows[live]["expires_at"] == login_at + 31 * day
    assert rows[live]["revoked_at"] is None
    assert rows[ended]["revoked_at"] == login_at + day
