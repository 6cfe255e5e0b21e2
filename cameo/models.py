"""Cameos: a person's verified likeness, who may cast it, and the ledger of every use."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase, orm_registry
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column


class CameoStatus(enum.StrEnum):
    AWAITING_RECORDING = "awaiting_recording"
    PENDING_REVIEW = "pending_review"
    ACTIVE = "active"
    REJECTED = "rejected"
    REVOKED = "revoked"


class Permission(enum.StrEnum):
    """Who besides the owner may cast the cameo, from narrowest to widest."""

    ONLY_ME = "only_me"
    APPROVED = "approved"
    MUTUALS = "mutuals"
    EVERYONE = "everyone"


class UseEvent(enum.StrEnum):
    """What the consent ledger records about one generation's use of a cameo."""

    REQUESTED = "requested"  # the check passed when the generation was requested
    SUBMITTED = "submitted"  # the check passed again right before the provider was asked
    REFUSED = "refused"  # the check failed before the provider was asked; nothing was made
    CANCELLED = "cancelled"  # the cameo was revoked while the generation ran; nothing was made
    APPEARED = "appeared"  # a draft video with the cameo in it was made


class Cameo(UUIDv7AuditBase):
    """One person's likeness. At most one per owner that is not revoked; a revoked cameo keeps its
    row (the ledger and past appearances point at it) but its recording is purged after the
    retention window."""

    __tablename__ = "cameos"
    __table_args__ = (
        CheckConstraint(
            "status IN ('awaiting_recording', 'pending_review', 'active', 'rejected', 'revoked')",
            name="status_known",
        ),
        CheckConstraint(
            "permission IN ('only_me', 'approved', 'mutuals', 'everyone')", name="permission_known"
        ),
        CheckConstraint("char_length(preferences) <= 1000", name="preferences_length"),
        CheckConstraint("char_length(restrictions) <= 1000", name="restrictions_length"),
        CheckConstraint("appearance_count >= 0", name="appearance_count_not_negative"),
        Index(
            "uq_cameos_owner_not_revoked",
            "owner_id",
            unique=True,
            postgresql_where=text("status <> 'revoked'"),
        ),
        # What the retention job scans: recordings whose keeping period is over.
        Index(
            "ix_cameos_recording_purge",
            "recording_purge_after",
            postgresql_where=text("recording_key IS NOT NULL AND recording_purge_after IS NOT NULL"),
        ),
    )

    owner_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(24), default=CameoStatus.AWAITING_RECORDING.value)
    permission: Mapped[str] = mapped_column(String(16), default=Permission.ONLY_ME.value)
    preferences: Mapped[str] = mapped_column(Text, default="", server_default="")
    restrictions: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The liveness challenge the recording must answer: three two-digit numbers read aloud and two
    # head turns, valid until challenge_expires_at.
    challenge_phrase: Mapped[str] = mapped_column(String(16))
    challenge_head_turns: Mapped[list[str]] = mapped_column(ARRAY(String(8)))
    challenge_expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    # The recording: private to the owner and moderators, deleted after recording_purge_after.
    recording_key: Mapped[str | None] = mapped_column(String(255), default=None)
    recording_content_type: Mapped[str | None] = mapped_column(String(64), default=None)
    recording_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    recording_bytes: Mapped[int | None] = mapped_column(Integer, default=None)
    recorded_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    recording_purge_after: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    recording_purged_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # Who revoked it: `owner` or `moderation`.
    revoked_by: Mapped[str | None] = mapped_column(String(16), default=None)
    # The status it had then (None for cameos revoked before this was kept: they were active).
    revoked_from: Mapped[str | None] = mapped_column(String(24), default=None)
    # The provider's character made from the recording, when the provider supports characters.
    provider_character_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # When making that character was given up (the provider refused it, or kept failing for
    # hours): the sweep that finds lost registrations leaves the cameo alone until it is approved
    # again.
    provider_character_given_up_at: Mapped[datetime | None] = mapped_column(
        DateTimeUTC(timezone=True), default=None
    )
    appearance_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


cameo_approvals = Table(
    "cameo_approvals",
    orm_registry.metadata,
    Column("cameo_id", ForeignKey("cameos.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTimeUTC(timezone=True), nullable=False, server_default=func.now()),
)


class CameoUse(UUIDv7AuditBase):
    """The consent ledger: append-only, one row per event of one generation's use of a cameo, with
    the permission level in force and the rule that allowed the caster (`basis`). Plain ids for the
    generation and video: the record outlives them."""

    __tablename__ = "cameo_uses"
    __table_args__ = (
        CheckConstraint(
            "event IN ('requested', 'submitted', 'refused', 'cancelled', 'appeared')", name="event_known"
        ),
        Index("ix_cameo_uses_cameo_created", "cameo_id", "created_at", "id"),
        Index("ix_cameo_uses_generation", "generation_id"),
    )

    cameo_id: Mapped[UUID] = mapped_column(ForeignKey("cameos.id", ondelete="CASCADE"))
    caster_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    generation_id: Mapped[UUID] = mapped_column()
    video_id: Mapped[UUID | None] = mapped_column(default=None)
    event: Mapped[str] = mapped_column(String(16))
    # The cameo's permission level at that moment, and which rule let the caster in (`owner`,
    # `approved`, `mutuals`, `everyone`), or why not (`refused` and `cancelled` events).
    permission: Mapped[str] = mapped_column(String(16))
    basis: Mapped[str] = mapped_column(String(32))
