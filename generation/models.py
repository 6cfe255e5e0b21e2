"""Generations: one request to the video provider, from queued to a draft video (or an error)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column


class GenerationStatus(enum.StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        GenerationStatus.COMPLETED,
        GenerationStatus.FAILED,
        GenerationStatus.BLOCKED,
        GenerationStatus.CANCELLED,
    }
)


class Generation(UUIDv7AuditBase):
    __tablename__ = "generations"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'in_progress', 'completed', 'failed', 'blocked', 'cancelled')",
            name="status_known",
        ),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_percent"),
        # The caller's list and the daily quota count.
        Index("ix_generations_user_created", "user_id", "created_at", "id"),
        Index("ix_generations_provider_video_id", "provider_video_id"),
        Index("ix_generations_cameo_ids", "cameo_ids", postgresql_using="gin"),
        # Generations still pointing at a reference image: those under way, and the few ended ones
        # the sweep of `generation.references` has yet to release.
        Index(
            "ix_generations_input_reference",
            "id",
            postgresql_where=text("input_reference_key IS NOT NULL"),
        ),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=GenerationStatus.QUEUED.value)
    progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    prompt: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(32))
    seconds: Mapped[int] = mapped_column(Integer)
    size: Mapped[str] = mapped_column(String(16))
    cameos: Mapped[list[str]] = mapped_column(ARRAY(String(30)), default=list, server_default="{}")
    # The cameos cast, by id, in the order of `cameos`: checked again before the provider is asked,
    # and how a revocation finds the generations it cancels.
    cameo_ids: Mapped[list[UUID]] = mapped_column(ARRAY(Uuid), default=list, server_default="{}")
    remix_of_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("videos.id", ondelete="SET NULL"), default=None
    )
    input_reference_key: Mapped[str | None] = mapped_column(String(255), default=None)
    provider: Mapped[str] = mapped_column(String(32))
    provider_video_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # Calls made to the provider for this generation, and when the next may be made after a refusal.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retry_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    video_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("videos.id", ondelete="SET NULL"), default=None, unique=True
    )
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    completed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)

    def end(self, status: GenerationStatus, code: str | None, message: str | None) -> None:
        """Ends the generation with `status` and, unless it completed, why."""
        self.status = status.value
        self.error_code = code
        self.error_message = message
        self.completed_at = datetime.now(UTC)
        self.retry_at = None


__all__ = ["TERMINAL_STATUSES", "Generation", "GenerationStatus"]
