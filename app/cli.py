"""`remixfeed`: one entry point for serving, working, migrating, creating users and the OpenAPI file."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from app.settings import Settings, SettingsError, load_settings

OPENAPI_PATH = Path("openapi/openapi.json")


@click.group()
def main() -> None:
    """remixfeed: the API backend of a short-video social app."""


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _start_embedded(settings: Settings, *, redis: bool) -> Any:
    """Start embedded servers for whatever the environment does not point at; returns a stopper."""
    from app.embedded import EmbeddedServices

    want_database, want_redis = settings.embedded_database, settings.embedded_redis and redis
    if not (want_database or want_redis):
        return None
    click.echo(f"Starting embedded {' and '.join(n for n, w in (('PostgreSQL', want_database), ('Redis', want_redis)) if w)}"
               f" with data in {settings.data_dir.resolve()}")
    return EmbeddedServices(settings.data_dir, database=want_database, redis=want_redis)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API. With no DATABASE_URL / REDIS_URL, start embedded servers and an in-process job worker."""
    from granian import Granian
    from granian.constants import Interfaces

    from app.migrate import upgrade
    from app.security import resolve_secret_key

    settings = _settings()
    embedded = settings.embedded_database
    try:
        settings = resolve_secret_key(settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    services = _start_embedded(settings, redis=True)
    try:
        # Server worker processes inherit these and so use the same servers, key and worker mode.
        os.environ["REMIXFEED_SECRET_KEY"] = settings.secret_key or ""
        if settings.worker_in_process is None:
            os.environ["REMIXFEED_WORKER_IN_PROCESS"] = "true" if services is not None else "false"
        settings = _settings()
        assert settings.database_url is not None
        upgrade(settings.database_url)
        if embedded:
            asyncio.run(_bootstrap_admin(settings))
        click.echo(f"remixfeed listening on http://{host}:{port} (API docs at /schema)")
        Granian(
            "app.factory:create_app",
            factory=True,
            interface=Interfaces.ASGI,
            address=host,
            port=port,
            workers=workers,
            log_access=False,
        ).serve()
    finally:
        if services is not None:
            services.stop()


async def _bootstrap_admin(settings: Settings) -> None:
    """First start of the embedded default: make an admin so there is someone to invite others."""
    from accounts import queries
    from accounts.models import Role
    from accounts.service import NewAccount
    from app.db import create_engine, create_session_factory, in_transaction

    from accounts.service import AuthService

    engine = create_engine(settings)
    password = secrets.token_urlsafe(12)

    async def work(session: Any) -> tuple[str, str] | None:
        if await queries.admin_exists(session):
            return None
        user = await AuthService(session, settings).create_user(
            NewAccount(email="admin@remixfeed.local", password=password, username="admin",
                       birthdate=date(1990, 1, 1), display_name="Admin", role=Role.ADMIN),
            require_invite=False,
        )
        invite = await queries.invite_of(session, user.id)
        assert invite is not None
        return user.username, invite.code

    try:
        created = await in_transaction(create_session_factory(engine), work)
    finally:
        await engine.dispose()
    if created:
        username, code = created
        click.echo("")
        click.echo("First start: created an admin account. Keep these; the password is not shown again.")
        click.echo(f"  login:       {username}")
        click.echo(f"  password:    {password}")
        click.echo(f"  invite code: {code}  (sign-ups need an invite code)")
        click.echo("")


@main.command()
def worker() -> None:
    """Run a job worker (production: run as many as you need, next to the API processes)."""
    from app.composition import JOBS
    from app.jobs import build_worker
    from app.logging import configure_logging
    from app.resources import open_resources
    from app.security import resolve_secret_key

    settings = _settings()
    if settings.embedded_database or settings.embedded_redis:
        raise click.ClickException(
            "remixfeed worker needs DATABASE_URL and REDIS_URL; with the embedded servers the worker runs inside serve"
        )
    try:
        settings = resolve_secret_key(settings).replace(process_name="remixfeed-worker")
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings)

    async def run() -> None:
        resources = open_resources(settings)
        try:
            await build_worker(resources, JOBS, in_process=False).start()
        finally:
            await resources.close()

    asyncio.run(run())


@main.command()
def migrate() -> None:
    """Apply database migrations."""
    from app.migrate import upgrade

    settings = _settings()
    services = _start_embedded(settings, redis=False)
    try:
        upgrade(os.environ.get("DATABASE_URL") or settings.database_url or "")
        click.echo("Database is up to date.")
    finally:
        if services is not None:
            services.stop()


@main.group()
def users() -> None:
    """Manage user accounts."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--role", type=click.Choice(["user", "moderator", "admin"]), default="user", show_default=True)
@click.option("--birthdate", default="1990-01-01", show_default=True, help="YYYY-MM-DD")
@click.option("--display-name", default=None)
def create_user(username: str, email: str, password: str, role: str, birthdate: str, display_name: str | None) -> None:
    """Create an account with any role (no invite needed)."""
    import msgspec

    from accounts.errors import AgeRestricted, EmailTaken, UsernameTaken
    from accounts.models import Role
    from accounts.schemas import SignupIn
    from app.errors import AppError
    from app.migrate import upgrade

    try:
        msgspec.convert(
            {"username": username, "email": email, "password": password, "birthdate": birthdate},
            SignupIn,
            strict=False,
        )
    except msgspec.ValidationError as exc:
        raise click.BadParameter(str(exc)) from exc

    settings = _settings()
    services = _start_embedded(settings, redis=False)
    try:
        settings = _settings()
        assert settings.database_url is not None
        upgrade(settings.database_url)
        created = asyncio.run(
            _create_user(settings, username, email, password, Role(role), date.fromisoformat(birthdate), display_name)
        )
    except (UsernameTaken, EmailTaken, AgeRestricted, AppError) as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        if services is not None:
            services.stop()
    click.echo(json.dumps(created, indent=2))


async def _create_user(
    settings: Settings, username: str, email: str, password: str, role: Any, birthdate: date, display_name: str | None
) -> dict[str, str]:
    from accounts import queries
    from accounts.service import AuthService, NewAccount
    from app.db import create_engine, create_session_factory, in_transaction

    engine = create_engine(settings)

    async def work(session: Any) -> dict[str, str]:
        user = await AuthService(session, settings).create_user(
            NewAccount(email=email, password=password, username=username, birthdate=birthdate,
                       display_name=display_name, role=role),
            require_invite=False,
        )
        invite = await queries.invite_of(session, user.id)
        return {"id": str(user.id), "username": user.username, "role": user.role,
                "invite_code": invite.code if invite else ""}

    try:
        result: dict[str, str] = await in_transaction(create_session_factory(engine), work)
        return result
    finally:
        await engine.dispose()


def render_openapi() -> str:
    from app.factory import create_app

    # A fixed key: the document does not depend on settings, and this must not touch the data dir.
    app = create_app(Settings(secret_key="openapi-generation-" + "0" * 32))
    return json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True) + "\n"


@main.command()
@click.option("--check", is_flag=True, help="Fail if openapi/openapi.json differs from what the app serves.")
def openapi(check: bool) -> None:
    """Write openapi/openapi.json from the app (or check that it is current)."""
    document = render_openapi()
    if check:
        if not OPENAPI_PATH.exists() or OPENAPI_PATH.read_text() != document:
            click.echo(f"{OPENAPI_PATH} is stale: run `remixfeed openapi` and commit it.", err=True)
            sys.exit(1)
        click.echo(f"{OPENAPI_PATH} is current.")
        return
    OPENAPI_PATH.parent.mkdir(parents=True, exist_ok=True)
    OPENAPI_PATH.write_text(document)
    click.echo(f"Wrote {OPENAPI_PATH}.")
