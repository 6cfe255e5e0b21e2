"""Providers of the moderation services for its routes, and who counts as a moderator."""

from __future__ import annotations

from litestar.di import NamedDependency

from accounts.deps import require_role
from accounts.models import Role, User
from app.dependencies import DbSession, SettingsDep, SigningKeysDep
from app.resources import Resources
from moderation.service import (
    AppealService,
    AuditService,
    DecisionService,
    QueueService,
    ReportService,
    TakedownService,
)

Reports = NamedDependency[ReportService]
Takedowns = NamedDependency[TakedownService]
Queues = NamedDependency[QueueService]
Decisions = NamedDependency[DecisionService]
Appeals = NamedDependency[AppealService]
AuditLog = NamedDependency[AuditService]
# The caller, when their role is moderator or admin (403 insufficient_role otherwise).
Moderator = NamedDependency[User]

provide_moderator = require_role(Role.MODERATOR, Role.ADMIN)


def provide_report_service(db_session: DbSession, signing_keys: SigningKeysDep) -> ReportService:
    return ReportService(db_session, signing_keys)


def provide_takedown_service(db_session: DbSession, signing_keys: SigningKeysDep) -> TakedownService:
    return TakedownService(db_session, signing_keys)


def provide_queue_service(db_session: DbSession, settings: SettingsDep) -> QueueService:
    return QueueService(db_session, settings.moderation_lease_seconds)


def provide_decision_service(
    db_session: DbSession, settings: SettingsDep, resources: NamedDependency[Resources]
) -> DecisionService:
    return DecisionService(db_session, resources.jobs, settings.cameo_recording_retention_days)


def provide_appeal_service(db_session: DbSession) -> AppealService:
    return AppealService(db_session)


def provide_audit_service(db_session: DbSession, signing_keys: SigningKeysDep) -> AuditService:
    return AuditService(db_session, signing_keys)
