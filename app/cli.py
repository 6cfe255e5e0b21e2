"""`remixfeed`: one entry point for serving, working, migrating, creating users and the OpenAPI file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import click
import msgspec

from app.composition import CLI_GROUPS, FIRST_START_HOOKS, SERVE_CONTEXTS
from app.embedded import start_embedded
from app.settings import Settings, SettingsError, load_settings

OPENAPI_PATH = Path("openapi/openapi.json")


@click.group()
def main() -> None:
    """remixfeed: the API backend of a short-video social app."""


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API.

    With no DATABASE_URL / REDIS_URL it starts embedded servers and runs the job worker in-process;
    with no OPENAI_API_KEY it starts the local Sora API simulator.
    """
    from app.migrate import upgrade
    from app.security import resolve_secret_key

    settings = settings_or_exit()
    embedded = settings.embedded_database
    try:
        settings = resolve_secret_key(settings)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    services = start_embedded(settings, redis=True)
    try:
        # Server worker processes inherit these and so use the same servers, key and worker mode.
        os.environ["REMIXFEED_SECRET_KEY"] = settings.secret_key or ""
        if settings.worker_in_process is None:
            os.environ["REMIXFEED_WORKER_IN_PROCESS"] = "true" if services is not None else "false"
        settings = settings_or_exit()
        assert settings.database_url is not None
        upgrade(settings.database_url)
        if embedded:
            for hook in FIRST_START_HOOKS:
                asyncio.run(hook(settings))
        with contextlib.ExitStack() as serving:
            for context in SERVE_CONTEXTS:
                serving.enter_context(context(settings))
            click.echo(f"remixfeed listening on http://{host}:{port} (API docs at /schema)")
            _granian(host, port, workers, kill_timeout=workers_kill_timeout(settings))
    finally:
        if services is not None:
            services.stop()


# A serving worker gets this long to finish its requests and in-process jobs once asked to stop (and
# more if REMIXFEED_JOB_SHUTDOWN_GRACE_SECONDS asks for more); then it is killed. Besides bounding
# shutdown, this unsticks a worker that granian's own signal handling sometimes deadlocks (seen in
# CI: a Ctrl-C to the whole process group left a worker blocked inside granian's WorkerSignal.set,
# and `serve` waiting on it forever).
WORKERS_KILL_TIMEOUT_SECONDS = 30


def workers_kill_timeout(settings: Settings) -> int:
    return max(WORKERS_KILL_TIMEOUT_SECONDS, settings.job_shutdown_grace_seconds + 10)


def _granian(host: str, port: int, workers: int, *, kill_timeout: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "app.factory:create_served_app",
        factory=True,
        interface=Interfaces.ASGI,
        address=host,
        port=port,
        workers=workers,
        workers_kill_timeout=kill_timeout,
        log_access=False,
    ).serve()


@main.command()
def worker() -> None:
    """Run a job worker (production: run as many as you need, next to the API processes)."""
    from app.composition import JOBS
    from app.job_supervision import run_worker_process
    from app.jobs import build_worker
    from app.logging import configure_logging
    from app.mail import warn_if_mail_stays_local
    from app.resources import open_resources
    from app.security import resolve_secret_key

    settings = settings_or_exit()
    if settings.embedded_database or settings.embedded_redis:
        raise click.ClickException(
            "remixfeed worker needs DATABASE_URL and REDIS_URL; "
            "with the embedded servers the worker runs inside serve"
        )
    try:
        settings = resolve_secret_key(settings).replace(process_name="remixfeed-worker")
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings)
    warn_if_mail_stays_local(settings)
    if settings.worker_metrics_port:
        import prometheus_client

        # The API's /metrics does not see this process's counters: it serves its own.
        prometheus_client.start_http_server(settings.worker_metrics_port)

    async def run() -> None:
        resources = open_resources(settings)
        try:
            await build_worker(resources, JOBS, in_process=False).start()
        finally:
            await resources.close()

    run_worker_process(run())


@main.command()
def migrate() -> None:
    """Apply database migrations."""
    from app.migrate import upgrade

    settings = settings_or_exit()
    services = start_embedded(settings, redis=False)
    try:
        upgrade(os.environ.get("DATABASE_URL") or settings.database_url or "")
        click.echo("Database is up to date.")
    finally:
        if services is not None:
            services.stop()


def render_openapi() -> str:
    from app.factory import create_app

    # A fixed key: the document does not depend on settings, and this must not touch the data dir.
    app = create_app(Settings(secret_key="openapi-generation-" + "0" * 32))
    encoded = msgspec.json.encode(app.openapi_schema.to_schema(), order="sorted")
    return msgspec.json.format(encoded, indent=2).decode() + "\n"


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


for group in CLI_GROUPS:
    main.add_command(group)
