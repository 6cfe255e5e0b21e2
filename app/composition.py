"""The composition root: the one place that reaches up into every domain to assemble the app's
routes, app-wide dependencies and background jobs (see the import-linter contracts)."""

from __future__ import annotations

from typing import Any

from litestar.di import Provide

from accounts import jobs as accounts_jobs
from accounts import routes as accounts_routes
from accounts.deps import provide_current_user
from app.jobs import Job

ROUTE_HANDLERS: list[Any] = [*accounts_routes.route_handlers]

DEPENDENCIES: dict[str, Provide] = {"current_user": Provide(provide_current_user)}

JOBS: list[Job] = [*accounts_jobs.jobs]
