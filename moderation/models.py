"""Reports, queue items with leases, decisions, appeals and the append-only audit log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column


class Queue(enum.StrEnum):
    REPORTS = "reports"
    TAKEDOWNS = "takedowns"
    CAMEO_VERIFICATION = "cameo_verification"
    APPEALS = "appeals"
    AUTOMATED = "automated"


class ItemStatus(enum.StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    CLOSED = "closed"


class Action(enum.StrEnum):
    DISMISS = "dismiss"
    REMOVE_CONTENT = "remove_content"
    RESTORE_CONTENT = "restore_content"
    WARN_USER = "warn_user"
    SUSPEND_USER = "suspend_user"
    APPROVE_CAMEO = "approve_cameo"
    REJECT_CAMEO = "reject_cameo"
    ESCALATE = "escalate"


# The rules a decision may name as broken: the report reasons (POST /v1/reports).
_REASONS = (
    "('harassment', 'sexual', 'violence', 'hate', 'self_harm', 'spam', 'likeness', 'minor_safety', 'other')"
)
_QUEUES = "('reports', 'takedowns', 'cameo_verification', 'appeals', 'automated')"
_TARGETS = "('video', 'comment', 'user', 'cameo', 'decision')"


class ModerationItem(UUIDv7AuditBase):
    """One thing for a moderator to look at. Reports on the same target join its open item; the
    item is claimed under a lease, and closed by a decision."""

    __tablename__ = "moderation_items"
    __table_args__ = (
        CheckConstraint(f"queue IN {_QUEUES}", name="queue_known"),
        CheckConstraint("status IN ('open', 'claimed', 'closed')", name="status_known"),
        CheckConstraint(f"target_type IN {_TARGETS}", name="target_type_known"),
        CheckConstraint(
            "(status = 'claimed') = (lease_holder_id IS NOT NULL)", name="lease_only_when_claimed"
        ),
        # Reports on one target while it is open join one item.
        Index(
            "uq_moderation_items_open_target",
            "queue",
            "target_type",
            "target_id",
            unique=True,
            postgresql_where=text("status <> 'closed'"),
        ),
        # What a claim scans: the next open (or lapsed) item of a queue, by priority then age.
        Index(
            "ix_moderation_items_claimable",
            "queue",
            text("priority DESC"),
            "created_at",
            postgresql_where=text("status <> 'closed'"),
        ),
    )

    queue: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.OPEN.value)
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[UUID] = mapped_column()
    # The user the item is about (a video's author, a comment's author, the reported user).
    subject_user_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # What the target looked like when it entered the queue, so a later edit cannot hide it.
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    report_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    escalated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    lease_holder_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class Report(UUIDv7AuditBase):
    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint(f"target_type IN {_TARGETS}", name="target_type_known"),
        CheckConstraint(
            "reason IN ('harassment', 'sexual', 'violence', 'hate', 'self_harm', 'spam', 'likeness', "
            "'minor_safety', 'other', 'my_likeness', 'impersonation')",
            name="reason_known",
        ),
        Index("ix_reports_reporter_created", "reporter_id", "created_at"),
    )

    reporter_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[UUID] = mapped_column(ForeignKey("moderation_items.id", ondelete="CASCADE"), index=True)
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[UUID] = mapped_column()
    reason: Mapped[str] = mapped_column(String(32))
    details: Mapped[str] = mapped_column(Text, default="", server_default="")


class Decision(UUIDv7AuditBase):
    """What a moderator decided on an item, and whom it affected. Appealable once. One against a
    user names the rule broken (`reason`, the moderator's or inferred) and may explain it
    (`statement`): both are told to them, the `note` never is. Null on the other actions, and on
    decisions made before reasons were."""

    __tablename__ = "moderation_decisions"
    __table_args__ = (
        CheckConstraint(
            "action IN ('dismiss', 'remove_content', 'restore_content', 'warn_user', 'suspend_user', "
            "'approve_cameo', 'reject_cameo', 'escalate')",
            name="action_known",
        ),
        CheckConstraint(f"reason IS NULL OR reason IN {_REASONS}", name="reason_known"),
    )

    item_id: Mapped[UUID] = mapped_column(ForeignKey("moderation_items.id", ondelete="RESTRICT"), index=True)
    moderator_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    duration_hours: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    statement: Mapped[str | None] = mapped_column(Text, default=None)
    affected_user_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )


class Appeal(UUIDv7AuditBase):
    __tablename__ = "moderation_appeals"

    decision_id: Mapped[UUID] = mapped_column(
        ForeignKey("moderation_decisions.id", ondelete="RESTRICT"), unique=True
    )
    appellant_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[UUID] = mapped_column(ForeignKey("moderation_items.id", ondelete="RESTRICT"))
    statement: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)


class AuditEntry(UUIDv7AuditBase):
    """Append-only: a trigger in the migration refuses UPDATE and DELETE on this table."""

    __tablename__ = "moderation_audit_log"
    __table_args__ = (Index("ix_moderation_audit_log_created", "created_at", "id"),)

    # Plain ids, no foreign keys: the record outlives whatever it names.
    moderator_id: Mapped[UUID | None] = mapped_column()
    decision_id: Mapped[UUID | None] = mapped_column()
    item_id: Mapped[UUID] = mapped_column()
    action: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The decision's statement of reasons, as it was told to the affected user.
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    statement: Mapped[str | None] = mapped_column(Text, default=None)
    subject: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
