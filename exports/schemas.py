"""Output schemas of personal data exports (asking for one takes no body)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

ExportStatusName = Literal["pending", "ready", "failed", "expired"]


class ExportError(msgspec.Struct):
    code: str
    message: str


class ExportOut(msgspec.Struct, kw_only=True):
    id: str
    status: Annotated[
        ExportStatusName,
        Meta(description="pending (being built), ready (downloadable until expires_at), failed, expired"),
    ]
    requested_at: datetime
    completed_at: Annotated[datetime | None, Meta(description="When it became ready or failed")]
    expires_at: Annotated[
        datetime | None, Meta(description="When a ready archive is deleted; null until ready")
    ]
    size_bytes: Annotated[int | None, Meta(description="The archive's size, once ready")]
    archive_url: Annotated[
        str | None, Meta(description="Where to download the zip (bearer token required), while ready")
    ]
    error: ExportError | None
