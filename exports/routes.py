"""HTTP routes of personal data exports: thin controllers that parse, call the service and return
a schema. Always the caller's own exports: anyone else's id is 404, as every per-object route."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.status_codes import HTTP_202_ACCEPTED

from accounts.deps import CurrentUser
from app.byte_ranges import media_ask, media_response
from app.dependencies import DbSession, SettingsDep, StorageDep
from app.errors import problem_responses
from app.openapi import binary_responses
from app.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page
from app.resources import Resources
from exports.schemas import ExportOut
from exports.service import ExportService

AUTHENTICATED: list[dict[str, list[str]]] = [{"bearer": []}]


def provide_export_service(
    db_session: DbSession, settings: SettingsDep, storage: StorageDep, resources: NamedDependency[Resources]
) -> ExportService:
    return ExportService(db_session, settings, resources.signing_keys, storage, resources.jobs)


Exports = NamedDependency[ExportService]


class ExportsController(Controller):
    path = "/v1/me/exports"
    tags = ["accounts"]
    security = AUTHENTICATED
    dependencies = {"exports": Provide(provide_export_service, sync_to_thread=False)}

    @post("/", status_code=HTTP_202_ACCEPTED, responses=problem_responses(401, 409, 429))
    async def request_export(self, current_user: CurrentUser, exports: Exports) -> ExportOut:
        """Ask for an archive of everything the service keeps about the caller (GDPR access and
        portability): a zip of JSON files and the media they own, built in the background. The
        answer is the export, `pending`; it turns `ready` (with a notification of kind
        `export_ready`) or `failed`. 409 export_in_progress while another is pending; 429
        rate_limited past REMIXFEED_EXPORT_RATE_LIMIT (default one a day; failed ones are not
        counted), with Retry-After. Allowed while suspended."""
        return await exports.request(current_user)

    @get("/", responses=problem_responses(400, 401, 422))
    async def list_exports(
        self,
        current_user: CurrentUser,
        exports: Exports,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[ExportOut]:
        """The caller's exports, newest first."""
        return await exports.page(current_user, cursor, limit)

    @get("/{export_id:str}", responses=problem_responses(401, 404))
    async def export(
        self, export_id: FromPath[str], current_user: CurrentUser, exports: Exports
    ) -> ExportOut:
        """One of the caller's exports (anyone else's is 404 export_not_found)."""
        return await exports.one(current_user, export_id)

    @get(
        "/{export_id:str}/archive",
        responses=problem_responses(401, 404, 409, 410, 416),
        media_type="application/zip",
        operation_class=binary_responses("application/zip", ranges=True),
    )
    async def archive(
        self,
        request: Request[Any, Any, Any],
        export_id: FromPath[str],
        current_user: CurrentUser,
        exports: Exports,
    ) -> Response[Any]:
        """The ready export's zip (a single byte range may be asked for, to resume a download).
        409 export_not_ready while it is pending or after it failed; 410 export_expired once its
        archive was deleted (REMIXFEED_EXPORT_RETENTION_DAYS after it was ready)."""
        body = await exports.archive(current_user, export_id, media_ask(request))
        return media_response(
            body,
            {
                "Cache-Control": "private, no-store",
                "Content-Disposition": f'attachment; filename="remixfeed-export-{UUID(export_id)}.zip"',
            },
        )


route_handlers = [ExportsController]
