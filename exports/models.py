"""One personal data export: asked for, built in the background, downloadable until it expires."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column


class ExportStatus(enum.StrEnum):
    PENDING = "pending"  # asked for; its archive is being built
    READY = "ready"  # its archive can be downloaded until expires_at
    FAILED = "failed"  # the build was given up (error_code, error_message)
    EXPIRED = "expired"  # its archive was deleted after expires_at


class DataExport(UUIDv7AuditBase):
    """`created_at` is when it was asked for. At most one pending per user (a partial unique index,
    on top of the request's lock). The archive lives in media storage under `archive_key` while
    ready; each build writes its own key, so a run that lost the race deletes only its own."""

    __tablename__ = "data_exports"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'ready', 'failed', 'expired')", name="status_known"),
        CheckConstraint("(status = 'ready') = (archive_key IS NOT NULL)", name="archive_only_when_ready"),
        Index(
            "uq_data_exports_user_pending",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        # The owner's list, newest first, and the request's count of recent ones.
        Index("ix_data_exports_user_created", "user_id", "created_at", "id"),
        # What the sweep of stalled builds scans.
        Index("ix_data_exports_pending", "created_at", postgresql_where=text("status = 'pending'")),
        # What the expiry job scans.
        Index("ix_data_exports_ready_expiry", "expires_at", postgresql_where=text("status = 'ready'")),
        # What the retention job deletes, oldest ended first: spelled as `export_ended_at` and
        # `ENDED` below, which its query uses so that the planner matches them.
        Index(
            "ix_data_exports_ended",
            text("coalesce(expires_at, completed_at, created_at)"),
            postgresql_where=text("status IN ('expired', 'failed')"),
        ),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ExportStatus.PENDING.value)
    # Build runs started (a run that dies counts too): past the limit the export is given up.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    archive_key: Mapped[str | None] = mapped_column(String(255), default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    completed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)


# The sweep's and the expiry job's predicates, literal as their partial indexes' (a bound parameter
# would not prove them to a generic plan, which a prepared statement may come to use).
PENDING = text("data_exports.status = 'pending'")
READY = text("data_exports.status = 'ready'")

# Exports that ended, the only ones the retention job deletes: expired (their archive deleted first)
# or failed (none was kept). Never a pending or ready one. Literal, as `ix_data_exports_ended`'s
# predicate: a bound parameter would not prove it to a generic plan.
ENDED = text("status IN ('expired', 'failed')")

# When an export ended, as `ix_data_exports_ended` indexes it: an expired one at its expiry, a failed
# one when it was given up (`created_at` if neither is known; never NULL).
export_ended_at: ColumnElement[datetime] = func.coalesce(
    DataExport.expires_at, DataExport.completed_at, DataExport.created_at, type_=DateTimeUTC(timezone=True)
)
