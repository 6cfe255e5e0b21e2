"""The composition root: the one place that reaches up into every domain to assemble the app's
routes, app-wide dependencies, background jobs and commands (see the import-linter contracts)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager
from typing import Any

import click
from litestar.di import Provide

from accounts import cli as accounts_cli
from accounts import hooks as accounts_hooks
from accounts import jobs as accounts_jobs
from accounts import notifications as accounts_notifications
from accounts import routes as accounts_routes
from accounts.deps import provide_current_user
from app import jobs as app_jobs
from app import media_deletion, retention
from app.jobs import Job
from app.resources import Resources
from app.settings import Settings
from cameo import hooks as cameo_hooks
from cameo import jobs as cameo_jobs
from cameo import routes as cameo_routes
from cameo.service import account_deletion as cameo_account_deletion
from exports import jobs as exports_jobs
from exports import routes as exports_routes
from feed import hooks as feed_hooks
from feed import jobs as feed_jobs
from feed import queries as feed_queries
from feed import routes as feed_routes
from feed.service import account_deletion as feed_account_deletion
from generation import account_deletion as generation_account_deletion
from generation import cameos as generation_cameos
from generation import cli as generation_cli
from generation import embedded as generation_embedded
from generation import jobs as generation_jobs
from generation import provider_deletion as generation_provider_deletion
from generation import routes as generation_routes
from moderation import jobs as moderation_jobs
from moderation import metrics as moderation_metrics
from moderation import routes as moderation_routes
from moderation.service import cameos as moderation_cameos
from moderation.service import decisions as moderation_decisions

ROUTE_HANDLERS: list[Any] = [
    *accounts_routes.route_handlers,
    *feed_routes.route_handlers,
    *cameo_routes.route_handlers,
    *generation_routes.route_handlers,
    *moderation_routes.route_handlers,
    *exports_routes.route_handlers,
]

# What other domains do when a cameo changes (cameo may not import them; see cameo/hooks.py).
cameo_hooks.on_recording_submitted(moderation_cameos.file_verification)
cameo_hooks.on_revoked(generation_cameos.cancel_generations_using)
# What a change that widens a video's reach checks in other domains (feed may not import them;
# see feed/hooks.py).
feed_hooks.on_widening(generation_cameos.refuse_widening_revoked)
feed_hooks.on_deleted(generation_provider_deletion.video_deleted)
# What the notification list leaves out for other domains (accounts may not import feed).
accounts_notifications.show_only_when(feed_queries.notification_about_viewable_video)
# What reaches its recipient across a block, naming no actor (accounts may not import them).
accounts_notifications.reach_across_blocks(
    generation_cameos.CAMEO_USED, feed_queries.CAMEO_POSTED, feed_queries.APPEARANCE_REMOVED
)
# What stays when the video it names is taken down or deleted (accounts may not import them).
accounts_notifications.outlive_their_video(moderation_decisions.MODERATION_DECISION)
# What the notification retention keeps whatever its age: where a decision is found to appeal it.
accounts_notifications.outlive_retention(moderation_decisions.MODERATION_DECISION)

# What other domains do when an account is deleted (accounts may not import them; see
# accounts/hooks.py): in the request, its generations under way stopped first (a step making a
# draft for it is waited for, so the videos hidden next include that draft), then the videos
# hidden, then the cameo revoked (the order a publish takes them: video, then its cameos); in the
# purge after it, in this order (the feed's part last, so it also hides anything left behind).
accounts_hooks.on_account_deleted(generation_account_deletion.cancel_unfinished)
accounts_hooks.on_account_deleted(feed_account_deletion.hide_account_videos)
accounts_hooks.on_account_deleted(cameo_account_deletion.revoke_account_cameo)
accounts_hooks.on_account_purge(generation_account_deletion.purge_account)
accounts_hooks.on_account_purge(cameo_account_deletion.purge_account)
accounts_hooks.on_account_purge(feed_account_deletion.purge_account)
accounts_hooks.on_account_purge(exports_jobs.purge_account)

DEPENDENCIES: dict[str, Provide] = {"current_user": Provide(provide_current_user)}

JOBS: list[Job] = [
    *media_deletion.jobs,
    *retention.jobs,
    *accounts_jobs.jobs,
    *feed_jobs.jobs,
    *cameo_jobs.jobs,
    *generation_jobs.jobs,
    *moderation_jobs.jobs,
    *exports_jobs.jobs,
]

CLI_GROUPS: list[click.Command] = [accounts_cli.users, generation_cli.simulator_command]

# Run by `remixfeed serve` after migrating, on the embedded default only.
FIRST_START_HOOKS: list[Callable[[Settings], Coroutine[Any, Any, None]]] = [accounts_cli.bootstrap_admin]

# Entered by `remixfeed serve` around the server, in the parent process (the local simulator).
SERVE_CONTEXTS: list[Callable[[Settings], AbstractContextManager[None]]] = [
    generation_embedded.simulator_while_serving
]

# Awaited by GET /metrics before it renders, to refresh gauges that are read from the database.
METRICS_REFRESHERS: list[Callable[[Resources], Awaitable[None]]] = [
    app_jobs.refresh_queue_gauges,
    app_jobs.refresh_kept_job_gauges,
    moderation_metrics.refresh_queue_gauges,
]
