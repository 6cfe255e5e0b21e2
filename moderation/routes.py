"""HTTP routes of moderation: thin controllers that parse, call a service and return a schema.

Reports, takedown requests and appeals are for every signed-in user (a suspended one may appeal,
not report or request a takedown); the
queues, items, decisions and the audit log need role moderator or admin (403 insufficient_role).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from accounts.deps import ACTIVE_USER_DEPENDENCY, ActiveUser, CurrentUser
from app.dependencies import SettingsDep, provide_rate_limiter
from app.errors import problem_responses
from app.pagination import DEFAULT_LIMIT, CursorParam, LimitParam, Page
from app.ratelimit import RateLimiter
from app.security import access_claims
from moderation import deps
from moderation.deps import Appeals, AuditLog, Decisions, Moderator, Queues, Reports, Takedowns
from moderation.errors import ReportExists, TakedownRequestExists
from moderation.schemas import (
    AppealIn,
    AppealOut,
    AuditEntryOut,
    DecisionIn,
    ItemOut,
    QueueOut,
    ReportIn,
    ReportOut,
    TakedownIn,
    TakedownOut,
)

AUTHENTICATED: list[dict[str, list[str]]] = [{"bearer": []}]

REPORTS = {
    "reports": Provide(deps.provide_report_service, sync_to_thread=False),
    "limiter": Provide(provide_rate_limiter, sync_to_thread=False),
    **ACTIVE_USER_DEPENDENCY,
}


class ReportsController(Controller):
    path = "/v1/reports"
    tags = ["moderation"]
    security = AUTHENTICATED
    dependencies = REPORTS

    @post("/", status_code=HTTP_201_CREATED, responses=problem_responses(400, 401, 403, 404, 409, 422, 429))
    async def report(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ReportIn],
        active_user: ActiveUser,
        reports: Reports,
        limiter: NamedDependency[RateLimiter],
        settings: SettingsDep,
    ) -> ReportOut:
        """Report a video, comment, user or cameo the caller can see (not their own) to the moderators.
        Reports on the same target join one item. One open report per reporter and target
        (409 report_exists). Rate limited per user; a refused duplicate is not counted."""
        async with limiter.charged(
            "report", access_claims(request).user_id, settings.report_limit, refund_on=(ReportExists,)
        ):
            return await reports.report(active_user, data)

    @get("/{report_id:str}", responses=problem_responses(401, 404))
    async def own_report(
        self, report_id: FromPath[str], current_user: CurrentUser, reports: Reports
    ) -> ReportOut:
        """One of the caller's own reports, with its status and outcome (anyone else's is 404)."""
        return await reports.own(current_user, report_id)


class MyReportsController(Controller):
    path = "/v1/me/reports"
    tags = ["moderation"]
    security = AUTHENTICATED
    dependencies = {"reports": Provide(deps.provide_report_service, sync_to_thread=False)}

    @get("/", responses=problem_responses(400, 401, 422))
    async def my_reports(
        self,
        current_user: CurrentUser,
        reports: Reports,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[ReportOut]:
        """The caller's own reports, newest first, with status and outcome."""
        return await reports.mine(current_user, cursor, limit)


TAKEDOWNS = {
    "takedowns": Provide(deps.provide_takedown_service, sync_to_thread=False),
    "limiter": Provide(provide_rate_limiter, sync_to_thread=False),
    **ACTIVE_USER_DEPENDENCY,
}


class TakedownRequestsController(Controller):
    path = "/v1/takedown-requests"
    tags = ["moderation", "cameos"]
    security = AUTHENTICATED
    dependencies = TAKEDOWNS

    @post("/", status_code=HTTP_201_CREATED, responses=problem_responses(400, 401, 403, 404, 409, 422, 429))
    async def request_takedown(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TakedownIn],
        active_user: ActiveUser,
        takedowns: Takedowns,
        limiter: NamedDependency[RateLimiter],
        settings: SettingsDep,
    ) -> TakedownOut:
        """Ask for a video the caller can see (not their own) to be taken down because it shows
        their likeness or impersonates them. Enters the `takedowns` queue with the video and the
        requester; requests on one video join one item. One open request per requester and video
        (409 takedown_request_exists). Rate limited per user, as reports are (a refused duplicate
        is not counted)."""
        async with limiter.charged(
            "takedown",
            access_claims(request).user_id,
            settings.report_limit,
            refund_on=(TakedownRequestExists,),
        ):
            return await takedowns.request(active_user, data)

    @get("/{request_id:str}", responses=problem_responses(401, 404))
    async def own_takedown_request(
        self, request_id: FromPath[str], current_user: CurrentUser, takedowns: Takedowns
    ) -> TakedownOut:
        """One of the caller's own requests, with its status and outcome (anyone else's is 404)."""
        return await takedowns.own(current_user, request_id)


class MyTakedownRequestsController(Controller):
    path = "/v1/me/takedown-requests"
    tags = ["moderation", "cameos"]
    security = AUTHENTICATED
    dependencies = {"takedowns": Provide(deps.provide_takedown_service, sync_to_thread=False)}

    @get("/", responses=problem_responses(400, 401, 422))
    async def my_takedown_requests(
        self,
        current_user: CurrentUser,
        takedowns: Takedowns,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[TakedownOut]:
        """The caller's takedown requests, newest first: `open`, or `closed` with the `outcome`
        (the action the moderator took). Ordinary reports are in /v1/me/reports."""
        return await takedowns.mine(current_user, cursor, limit)


class AppealsController(Controller):
    path = "/v1/appeals"
    tags = ["moderation"]
    security = AUTHENTICATED
    dependencies = {"appeals": Provide(deps.provide_appeal_service, sync_to_thread=False)}

    @post("/", status_code=HTTP_201_CREATED, responses=problem_responses(400, 401, 404, 409, 422))
    async def appeal(
        self, data: JSONBody[AppealIn], current_user: CurrentUser, appeals: Appeals
    ) -> AppealOut:
        """Appeal a removal, warning, suspension or cameo rejection that was about the caller, once
        per decision (the decision id is in the `moderation_decision` notification). Enters the
        `appeals` queue."""
        return await appeals.appeal(current_user, data)


CLAIM_RESPONSES = {
    200: ResponseSpec(ItemOut, description="The item, leased to the caller", generate_examples=False),
    204: ResponseSpec(None, description="Nothing in the queue can be claimed now"),
}


class ModerationController(Controller):
    path = "/v1/moderation"
    tags = ["moderation"]
    security = AUTHENTICATED
    dependencies = {
        "moderator": Provide(deps.provide_moderator),
        "queues": Provide(deps.provide_queue_service, sync_to_thread=False),
        "decisions": Provide(deps.provide_decision_service, sync_to_thread=False),
        "audit_log": Provide(deps.provide_audit_service, sync_to_thread=False),
    }

    @get("/queues", responses=problem_responses(401, 403))
    async def queues(self, moderator: Moderator, queues: Queues) -> list[QueueOut]:
        """Every queue with its undecided items and the age of the oldest."""
        return await queues.queues()

    @post(
        "/queues/{name:str}/claim",
        status_code=HTTP_200_OK,
        responses={**CLAIM_RESPONSES, **problem_responses(401, 403, 404)},
    )
    async def claim(
        self, name: FromPath[str], moderator: Moderator, queues: Queues
    ) -> Response[ItemOut | None]:
        """Claim the next item (by priority, then age) under a lease only the caller holds until
        `lease_expires_at`. 204 when nothing is claimable. Escalated items go to admins only."""
        item = await queues.claim(moderator, name)
        if item is None:
            return Response(None, status_code=HTTP_204_NO_CONTENT)
        return Response(item, status_code=HTTP_200_OK)

    @get("/items/{item_id:str}", responses=problem_responses(401, 403, 404))
    async def item(self, item_id: FromPath[str], moderator: Moderator, queues: Queues) -> ItemOut:
        """An item with the target's snapshot, every report, its priority and its decisions so far.
        404 for an item about the caller, as a claim never hands it to them."""
        return await queues.item(moderator, item_id)

    @post(
        "/items/{item_id:str}/decision",
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 401, 403, 404, 409, 422),
    )
    async def decide(
        self, item_id: FromPath[str], data: JSONBody[DecisionIn], moderator: Moderator, decisions: Decisions
    ) -> ItemOut:
        """Decide on an item the caller holds the lease on (409 lease_not_held otherwise). It takes
        effect at once, is written to the audit log, and the people concerned are told."""
        return await decisions.decide(moderator, item_id, data)

    @post(
        "/items/{item_id:str}/release",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(401, 403, 404, 409),
    )
    async def release(self, item_id: FromPath[str], moderator: Moderator, queues: Queues) -> None:
        """Give a held item back to its queue at once (the lease holder only)."""
        await queues.release(moderator, item_id)

    @get("/audit-log", responses=problem_responses(400, 401, 403, 422))
    async def audit_log(
        self,
        moderator: Moderator,
        audit_log: AuditLog,
        limit: LimitParam = DEFAULT_LIMIT,
        cursor: CursorParam = None,
    ) -> Page[AuditEntryOut]:
        """Every decision, newest first: who, what, when, why, and about whom."""
        return await audit_log.page(cursor, limit)


route_handlers = [
    ReportsController,
    MyReportsController,
    TakedownRequestsController,
    MyTakedownRequestsController,
    AppealsController,
    ModerationController,
]
