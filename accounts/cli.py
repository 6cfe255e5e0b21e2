"""Account commands for `remixfeed` (registered by app.composition): `users create`, and the admin
made on the first start of the embedded default."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from datetime import date
from typing import Any

import click
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import queries
from accounts.models import Role
from accounts.schemas import SignupIn
from accounts.service import AuthService, NewAccount
from app.db import create_engine, create_session_factory, in_transaction
from app.embedded import start_embedded
from app.errors import AppError
from app.migrate import upgrade
from app.settings import Settings, SettingsError, load_settings


async def _create(settings: Settings, account: NewAccount) -> dict[str, str]:
    engine = create_engine(settings)

    async def work(session: AsyncSession) -> dict[str, str]:
        user = await AuthService(session, settings).create_user(account, require_invite=False)
        invite = await queries.invite_of(session, user.id)
        return {
            "id": str(user.id),
            "username": user.username,
            "role": user.role,
            "invite_code": invite.code if invite else "",
        }

    try:
        created: dict[str, str] = await in_transaction(create_session_factory(engine), work)
        return created
    finally:
        await engine.dispose()


@click.group()
def users() -> None:
    """Manage user accounts."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--role", type=click.Choice([role.value for role in Role]), default="user", show_default=True)
@click.option("--birthdate", default="1990-01-01", show_default=True, help="YYYY-MM-DD")
@click.option("--display-name", default=None)
def create_user(
    username: str, email: str, password: str, role: str, birthdate: str, display_name: str | None
) -> None:
    """Create an account with any role (no invite needed); prints it as JSON."""
    try:
        checked = msgspec.convert(
            {"username": username, "email": email, "password": password, "birthdate": birthdate},
            SignupIn,
            strict=False,
        )
        settings = load_settings()
    except (msgspec.ValidationError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from exc
    services = start_embedded(settings, redis=False)
    try:
        database_url = os.environ.get("DATABASE_URL") or settings.database_url or ""
        settings = settings.replace(database_url=database_url)
        upgrade(database_url)
        account = NewAccount(
            email=checked.email,
            password=checked.password,
            username=checked.username,
            birthdate=checked.birthdate,
            display_name=display_name,
            role=Role(role),
        )
        created = asyncio.run(_create(settings, account))
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        if services is not None:
            services.stop()
    click.echo(json.dumps(created, indent=2))


async def bootstrap_admin(settings: Settings) -> None:
    """First start of the embedded default: make an admin, so someone holds an invite code."""
    engine = create_engine(settings)
    password = secrets.token_urlsafe(12)

    async def work(session: AsyncSession) -> tuple[str, str] | None:
        if await queries.admin_exists(session):
            return None
        account = NewAccount(
            email="admin@remixfeed.local",
            password=password,
            username="admin",
            birthdate=date(1990, 1, 1),
            display_name="Admin",
            role=Role.ADMIN,
        )
        user = await AuthService(session, settings).create_user(account, require_invite=False)
        invite = await queries.invite_of(session, user.id)
        assert invite is not None
        return user.username, invite.code

    try:
        created: Any = await in_transaction(create_session_factory(engine), work)
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
