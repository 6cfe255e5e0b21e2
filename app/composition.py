"""The composition root: the one place that reaches up into every domain to assemble the app's
routes, app-wide dependencies, background jobs and commands (see the import-linter contracts)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Any

import click
from litestar.di import Provide

from accounts import cli as accounts_cli
from accounts import jobs as accounts_jobs
from accounts import routes as accounts_routes
from accounts.deps import provide_current_user
from app.jobs import Job
from app.settings import Settings
from feed import routes as feed_routes
from generation import cli as generation_cli
from generation import embedded as generation_embedded
from generation import jobs as generation_jobs
from generation import routes as generation_routes

ROUTE_HANDLERS: list[Any] = [
    *accounts_routes.route_handlers,
    *feed_routes.route_handlers,
    *generation_routes.route_handlers,
]

DEPENDENCIES: dict[str, Provide] = {"current_user": Provide(provide_current_user)}

JOBS: list[Job] = [*accounts_jobs.jobs, *generation_jobs.jobs]

CLI_GROUPS: list[click.Command] = [accounts_cli.users, generation_cli.simulator_command]

# Run by `remixfeed serve` after migrating, on the embedded default only.
FIRST_START_HOOKS: list[Callable[[Settings], Coroutine[Any, Any, None]]] = [accounts_cli.bootstrap_admin]

# Entered by `remixfeed serve` around the server, in the parent process (the local simulator).
SERVE_CONTEXTS: list[Callable[[Settings], AbstractContextManager[None]]] = [
    generation_embedded.simulator_while_serving
]
