"""The migrations are the schema: the tests run on migrated databases, and the models must agree."""

from __future__ import annotations

import asyncio
import uuid

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
