"""Business rules of moderation. Services flush, never commit."""

from moderation.service.appeals import AppealService
from moderation.service.audit import AuditService
from moderation.service.decisions import DecisionService
from moderation.service.queues import QueueService
from moderation.service.reports import ReportService
from moderation.service.takedowns import TakedownService

__all__ = [
    "AppealService",
    "AuditService",
    "DecisionService",
    "QueueService",
    "ReportService",
    "TakedownService",
]
